"""RFC 9457 problem bodies for every error the service returns.

Every error response has the content type ``application/problem+json`` and a body with
``type``, ``title``, ``status``, ``detail``, ``instance`` (the request path) and, when a single
request parameter is at fault, ``field``. Plain HTTP errors (unknown route, wrong method, body
too large...) use ``type: "about:blank"`` and the HTTP reason phrase as ``title``; errors
specific to alsosee use ``urn:alsosee:problem:<slug>`` type URIs:

* ``urn:alsosee:problem:unknown-article`` (404) - the article id is not in the model;
* ``urn:alsosee:problem:invalid-parameter`` (400) - ``field`` names the parameter;
* ``urn:alsosee:problem:malformed-body`` (400) - the request body is not a JSON object;
* ``urn:alsosee:problem:unsupported-media-type`` (415) - POST without ``application/json``;
* ``urn:alsosee:problem:no-model`` (503) - the worker started without a loadable model;
* ``urn:alsosee:problem:not-ready`` (503) - the model failed its readiness probe;
* ``urn:alsosee:problem:state-unavailable`` (503) - the state database is locked/unreadable;
* ``urn:alsosee:problem:unauthorized`` (401) / ``forbidden`` (403) - missing / wrong API key;
* ``urn:alsosee:problem:reload-failed`` (409) - a new model was refused; the old one serves;
* ``urn:alsosee:problem:internal`` (500) - a bug; details are only logged server-side.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from flask import Flask, Response, current_app, has_request_context, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from recommender.errors import (
    AlsoseeError,
    InvalidParameterError,
    StateError,
    TooLargeError,
    UnknownArticleError,
    UnusableValueError,
)

PROBLEM_MIMETYPE = "application/problem+json"
TYPE_PREFIX = "urn:alsosee:problem:"

# Headers of a werkzeug HTTPException that describe its own (HTML) body, not the error.
_BODY_HEADERS = {"content-type", "content-length"}


class Problem(Exception):
    """An error the service reports as a problem body (raise it from a view)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        field: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = f"{TYPE_PREFIX}{slug}" if slug else "about:blank"
        self.title = title or HTTP_STATUS_CODES.get(status, "Error")
        self.field = field
        self.headers = list(headers)


def invalid_parameter(field: str, detail: str) -> Problem:
    return Problem(400, detail, slug="invalid-parameter", title="Invalid parameter", field=field)


def problem_response(problem: Problem) -> Response:
    body: dict[str, object] = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.field is not None:
        body["field"] = problem.field
    if has_request_context():
        body["instance"] = request.path
    response = Response(
        json.dumps(body, ensure_ascii=False) + "\n",
        status=problem.status,
        mimetype=PROBLEM_MIMETYPE,
    )
    for name, value in problem.headers:
        response.headers.add(name, value)
    return response


def _handle_problem(exc: Problem) -> Response:
    return problem_response(exc)


def _handle_unknown_article(exc: UnknownArticleError) -> Response:
    return problem_response(
        Problem(404, str(exc), slug="unknown-article", title="Unknown article")
    )


def _handle_invalid_parameter(exc: InvalidParameterError) -> Response:
    return problem_response(invalid_parameter(exc.field, exc.message))


def _handle_unusable_value(exc: UnusableValueError) -> Response:
    # Well-formed (the OpenAPI description allows it) but naming what the corpus lacks: a
    # 400 as the API contract specifies ("a clear 400/404 problem body naming the field") and as
    # shipped; its own type (".../unusable-value") tells it from a syntax error.
    return problem_response(Problem(400, exc.message, slug="unusable-value",
                                    title="Unusable value", field=exc.field))


def _handle_too_large(exc: TooLargeError) -> Response:
    return problem_response(Problem(413, exc.message, slug="too-large", title="Content too large",
                                    field=exc.field))


def _body_limit_detail() -> str:
    """The 413 of a request body over its byte limit, naming the limit and its setting."""
    limit = request.max_content_length
    setting = ("ALSOSEE_MAX_BODY_BYTES" if limit == current_app.config.get("MAX_CONTENT_LENGTH")
               else "ALSOSEE_MAX_BATCH_BYTES")
    size = (f"is {request.content_length:,} bytes" if request.content_length
            else "is too large")
    return f"The request body {size}; this endpoint accepts at most {limit:,} bytes ({setting})."


def _handle_alsosee_error(exc: AlsoseeError) -> Response:
    return problem_response(Problem(400, str(exc), slug="invalid-request", title="Invalid request"))


_ABS_PATH_RE = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)*([^\s/:'\"]*)")


def public_message(text: str | None) -> str | None:
    """*text* without absolute paths (each replaced by its last component): error messages
    shown to anonymous clients (``/v1/model``, ``/readyz``, 503 bodies)."""
    if text is None:
        return None
    return _ABS_PATH_RE.sub(lambda m: m.group(1) or "<path>", text)

def _handle_state_error(exc: StateError) -> Response:
    current_app.logger.error("state database error on %s %s: %s", request.method, request.path,
                             exc)
    return problem_response(
        Problem(503, f"The live-state database is unavailable: {public_message(str(exc))}",
                slug="state-unavailable",
                title="State database unavailable", headers=[("Retry-After", "5")])
    )


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = [
        (name, value)
        for name, value in exc.get_headers()
        if name.lower() not in _BODY_HEADERS
    ]
    if status == 413 and has_request_context() and request.max_content_length:
        detail = _body_limit_detail()
    else:
        detail = exc.description or HTTP_STATUS_CODES.get(status, "")
    return problem_response(Problem(status, detail, headers=headers))


def _handle_unexpected(exc: Exception) -> Response:
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return problem_response(
        Problem(
            500,
            "The server failed to answer this request; the error has been logged.",
            slug="internal",
        )
    )


def register(app: Flask) -> None:
    """Install the problem-body error handlers on *app* (app-wide, incl. routing errors)."""
    app.register_error_handler(Problem, _handle_problem)
    app.register_error_handler(UnknownArticleError, _handle_unknown_article)
    app.register_error_handler(InvalidParameterError, _handle_invalid_parameter)
    app.register_error_handler(UnusableValueError, _handle_unusable_value)
    app.register_error_handler(TooLargeError, _handle_too_large)
    app.register_error_handler(StateError, _handle_state_error)
    app.register_error_handler(AlsoseeError, _handle_alsosee_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
