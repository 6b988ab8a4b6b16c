"""A Python client of the alsosee HTTP API, for CMS back-ends (Django, Wagtail) and scripts.

It needs only ``requests`` and the standard library: the ``alsosee-client`` distribution
(``client/`` of the repository) installs it without the server.

Example
-------
>>> from alsosee_client import AlsoSeeClient
>>> with AlsoSeeClient("http://127.0.0.1:8000", api_key="...") as alsosee:  # doctest: +SKIP
...     result = alsosee.related("gv-316447", k=5)
...     [(r.title, r.url) for r in result.related]
...     alsosee.publish({"id": "wp-42", "title": "Floods", "body": "..."})
...     alsosee.takedown("wp-41", reason="legal request")

Errors are exceptions carrying the problem body (RFC 9457) the service sent:
:class:`NotFoundError` (404), :class:`AuthError` (401/403), :class:`InvalidRequestError`
(other 4xx), :class:`ServerError` (5xx), and :class:`TransportError` when the service cannot
be reached at all. Only 502, 503, 504 and connection failures are retried, with exponential
backoff (``Retry-After`` is honoured, within ``max_backoff``); a read timeout, a 500 or any
4xx is not retried, since the request may have been processed or will fail the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

__all__ = [
    "AlsoSeeClient",
    "ApiError",
    "Article",
    "AuthError",
    "ClientError",
    "DraftResult",
    "InvalidRequestError",
    "ModelInfo",
    "NotFoundError",
    "Pin",
    "Recommendation",
    "RelatedResult",
    "ServerError",
    "Takedown",
    "TransportError",
    "WriteResult",
]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})
USER_AGENT = "alsosee-client/1"


# ----------------------------------------------------------------------------- errors
class ClientError(Exception):
    """Base class of every error this client raises."""


class TransportError(ClientError):
    """The service could not be reached (connection refused, DNS, timeout), after retries."""


class ApiError(ClientError):
    """The service answered with an error status.

    Attributes
    ----------
    status : int
        The HTTP status.
    problem : dict
        The RFC 9457 problem body (``type``, ``title``, ``status``, ``detail``, ``field``...);
        a synthesised one when the response was not a problem body (e.g. from a proxy).
    """

    def __init__(self, status: int, problem: Mapping[str, Any], method: str, url: str) -> None:
        self.status = status
        self.problem = dict(problem)
        self.method = method
        self.url = url
        detail = self.problem.get("detail") or self.problem.get("title") or ""
        field_ = f" (field {self.problem['field']!r})" if self.problem.get("field") else ""
        super().__init__(f"{method} {url}: {status} {self.problem.get('title', '')}: "
                         f"{detail}{field_}")

    @property
    def type(self) -> str:
        return str(self.problem.get("type", "about:blank"))

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail", ""))

    @property
    def field(self) -> str | None:
        return self.problem.get("field")


class NotFoundError(ApiError):
    """404: unknown article (or path)."""


class AuthError(ApiError):
    """401 (no key) or 403 (wrong key)."""


class InvalidRequestError(ApiError):
    """Any other 4xx: invalid parameter or body; ``field`` names the culprit."""


class ServerError(ApiError):
    """5xx (after retries for 502/503/504)."""


def _error_class(status: int) -> type[ApiError]:
    if status == 404:
        return NotFoundError
    if status in (401, 403):
        return AuthError
    if 400 <= status < 500:
        return InvalidRequestError
    return ServerError


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Mapping):  # section_half_life={"News": 2}
        return ",".join(f"{key}:{'none' if days is None else days}"
                        for key, days in value.items())
    if isinstance(value, (list, tuple)):
        return [_query_value(item) for item in value]
    return value


# ----------------------------------------------------------------------------- results
def _split(data: Mapping[str, Any], known: tuple[str, ...]) -> tuple[dict, dict]:
    return ({k: data.get(k) for k in known},
            {k: v for k, v in data.items() if k not in known})


@dataclass(frozen=True)
class Article:
    """An article as the API describes it; fields the client does not know go to ``extra``."""

    id: str
    title: str
    url: str | None = None
    published_at: str | None = None
    section: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Article:
        known, extra = _split(data, ("id", "title", "url", "published_at", "section"))
        return cls(id=str(known["id"]), title=str(known["title"] or ""), url=known["url"],
                   published_at=known["published_at"], section=known["section"], extra=extra)


@dataclass(frozen=True)
class Recommendation:
    """One related story."""

    id: str
    title: str
    url: str | None
    published_at: str | None
    section: str | None
    score: float
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recommendation:
        known, extra = _split(data, ("id", "title", "url", "published_at", "section", "score"))
        return cls(id=str(known["id"]), title=str(known["title"] or ""), url=known["url"],
                   published_at=known["published_at"], section=known["section"],
                   score=float(known["score"] or 0.0), extra=extra)


@dataclass(frozen=True)
class ModelInfo:
    version: str
    trained_at: str | None
    articles: int | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        return cls(version=str(data.get("version")), trained_at=data.get("trained_at"),
                   articles=data.get("articles"))


@dataclass(frozen=True)
class RelatedResult:
    """``related(id)``: the article, its related stories (best first) and the model."""

    article: Article
    related: list[Recommendation]
    model: ModelInfo
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DraftResult:
    """``related_to_text(...)``: related stories of a draft."""

    title: str
    related: list[Recommendation]
    model: ModelInfo
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteResult:
    """Answer of publish/unpublish/batch: the ids written and the new state version."""

    ids: list[str]
    status: str
    state_version: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WriteResult:
        known, extra = _split(data, ("ids", "status", "state_version"))
        return cls(ids=list(known["ids"] or []), status=str(known["status"] or ""),
                   state_version=known["state_version"], extra=extra)


@dataclass(frozen=True)
class Takedown:
    article_id: str
    reason: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Takedown:
        # The server names the taken-down id (or URL) "id"; "article_id" is accepted too.
        known, extra = _split(data, ("id", "article_id", "reason"))
        article_id = known["article_id"] if known["article_id"] is not None else known["id"]
        return cls(article_id=str(article_id), reason=known["reason"], extra=extra)


@dataclass(frozen=True)
class Pin:
    article_id: str
    ids: list[str]
    expires_at: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pin:
        known, extra = _split(data, ("article_id", "ids", "expires_at"))
        return cls(article_id=str(known["article_id"]), ids=list(known["ids"] or []),
                   expires_at=known["expires_at"], extra=extra)


# ----------------------------------------------------------------------------- client
def quote_id(article_id: str) -> str:
    """An article id as one path segment: ``/`` -> ``%2F`` and ``.`` -> ``%2E`` (so that
    ``..`` never becomes a dot-segment a proxy would collapse)."""
    if not isinstance(article_id, str) or not article_id:
        raise ValueError(f"an article id must be a non-empty string, got {article_id!r}")
    return quote(article_id, safe="").replace(".", "%2E")


class AlsoSeeClient:
    """Client of one alsosee service.

    Parameters
    ----------
    base_url : str
        e.g. ``"https://alsosee.example.org"`` (a path prefix is kept).
    api_key : str, optional
        Sent as ``Authorization: Bearer <key>``; needed by write methods (publish,
        unpublish, takedown, pin, block).
    timeout : float or (float, float), default=5.0
        Seconds per attempt (``requests``' connect/read timeout).
    retries : int, default=3
        Extra attempts after a 502/503/504 or a connection failure.
    backoff : float, default=0.2
        First wait in seconds; doubled at each retry, with +-25% jitter.
    max_backoff : float, default=5.0
        Upper bound of one wait (also caps ``Retry-After``).
    session : requests.Session, optional
        To share connection pools or add adapters; closed by :meth:`close` only if created here.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float | tuple[float, float] = 5.0,
        *,
        retries: int = 3,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._own_session = session is None
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> AlsoSeeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AlsoSeeClient({self.base_url!r}, api_key={'***' if self.api_key else None})"

    def _wait(self, attempt: int, response: requests.Response | None) -> float:
        delay = self.backoff * (2 ** attempt) * random.uniform(0.75, 1.25)
        if response is not None:
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.strip().isdigit():
                delay = max(delay, float(retry_after))
        return min(delay, self.max_backoff)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        auth: bool = False,
        accept: str = "application/json",
    ) -> requests.Response:
        """Send one request (with retries); return the successful response or raise."""
        url = self.base_url + path
        headers = {"Accept": f"{accept}, application/problem+json"}
        if auth or self.api_key:
            if not self.api_key and auth:
                raise AuthError(401, {"title": "Unauthorized", "status": 401,
                                      "detail": "this call needs an api_key"}, method, url)
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempt = 0
        while True:
            response: requests.Response | None = None
            try:
                response = self.session.request(method, url, params=params, json=json,
                                                headers=headers, timeout=self.timeout)
            except requests.ConnectionError as exc:  # includes ConnectTimeout
                if attempt >= self.retries:
                    raise TransportError(f"{method} {url}: cannot reach the service after "
                                         f"{attempt + 1} attempt(s): {exc}") from exc
                failure = f"connection error: {exc}"
            except requests.Timeout as exc:  # read timeout: may have been processed
                raise TransportError(f"{method} {url}: no answer within {self.timeout} s") \
                    from exc
            except requests.RequestException as exc:
                raise TransportError(f"{method} {url}: {exc}") from exc
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                    raise self._error(response, method, url)
                failure = f"HTTP {response.status_code}"
            delay = self._wait(attempt, response)
            log.warning("%s %s: %s; retry %d/%d in %.2f s", method, url, failure,
                        attempt + 1, self.retries, delay)
            time.sleep(delay)
            attempt += 1

    @staticmethod
    def _error(response: requests.Response, method: str, url: str) -> ApiError:
        status = response.status_code
        problem: dict[str, Any] | None = None
        try:
            body = response.json()
            if isinstance(body, dict):
                problem = body
        except ValueError:
            pass
        if problem is None:
            text = response.text[:500].strip()
            problem = {"type": "about:blank", "title": response.reason or str(status),
                       "status": status, "detail": text or f"HTTP {status}"}
        return _error_class(status)(status, problem, method, url)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise ServerError(response.status_code,
                              {"title": "Not JSON", "status": response.status_code,
                               "detail": f"expected JSON, got {response.text[:200]!r}"},
                              method, self.base_url + path) from exc

    @staticmethod
    def _params(k: int | None, extra: Mapping[str, Any]) -> dict[str, Any]:
        # The query grammar of service/ranking_params.py: true/false (requests would send
        # Python's True), ISO 8601 dates, SECTION:DAYS pairs; lists repeat the parameter.
        params = {key: _query_value(value) for key, value in extra.items() if value is not None}
        if k is not None:
            params["k"] = k
        return params

    # ------------------------------------------------------------------ reads
    def related(self, article_id: str, k: int = 5, **params: Any) -> RelatedResult:
        """Related stories of an article (``GET /v1/articles/<id>/related``).

        Extra keyword arguments are sent as query parameters (the ranking options the service
        documents in ``/openapi.json``); ``None`` values are left out.
        """
        body = self._json("GET", f"/v1/articles/{quote_id(article_id)}/related",
                          params=self._params(k, params))
        extra = {key: v for key, v in body.items() if key not in {"article", "related", "model"}}
        return RelatedResult(
            article=Article.from_dict(body["article"]),
            related=[Recommendation.from_dict(item) for item in body["related"]],
            model=ModelInfo.from_dict(body.get("model") or {}), extra=extra)

    def related_to_text(self, title: str = "", body: str = "", k: int = 5,
                        tags: Iterable[str] | None = None, **options: Any) -> DraftResult:
        """Related stories of a draft (``POST /v1/related``); extra keyword arguments go into
        the JSON body."""
        payload: dict[str, Any] = {"title": title, "body": body, "k": k}
        if tags is not None:
            payload["tags"] = list(tags)
        payload.update({key: v for key, v in options.items() if v is not None})
        data = self._json("POST", "/v1/related", json=payload)
        extra = {key: v for key, v in data.items() if key not in {"article", "related", "model"}}
        return DraftResult(
            title=str((data.get("article") or {}).get("title", title)),
            related=[Recommendation.from_dict(item) for item in data["related"]],
            model=ModelInfo.from_dict(data.get("model") or {}), extra=extra)

    def related_html(self, article_id: str, k: int = 5, **params: Any) -> str:
        """The "ALSO SEE:" HTML fragment (escaped by the service; ``""`` when empty)."""
        response = self.request("GET", f"/v1/articles/{quote_id(article_id)}/related.html",
                                params=self._params(k, params), accept="text/html")
        return response.text

    def oembed(self, url: str, **params: Any) -> dict[str, Any]:
        """The oEmbed (``rich``) response for the article published at *url*."""
        return self._json("GET", "/oembed", params={"url": url, "format": "json",
                                                    **self._params(None, params)})

    def model(self) -> dict[str, Any]:
        """The loaded model's public manifest."""
        return self._json("GET", "/v1/model")

    def ready(self) -> bool:
        """True when the service has a model that answers (``/readyz`` 200)."""
        try:
            self.request("GET", "/readyz")
        except (ApiError, TransportError):
            return False
        return True

    # ------------------------------------------------------------------ writes
    def publish(self, article: Mapping[str, Any] | Article) -> WriteResult:
        """Add or replace one live article (``PUT /v1/articles/<id>``); needs ``api_key``.

        *article* is a mapping of corpus fields (``id``, ``title``, ``body``, ``url``,
        ``published_at``, ``section``, ``tags``...) or an :class:`Article`.
        """
        if isinstance(article, Article):
            record: dict[str, Any] = {"id": article.id, "title": article.title,
                                      "url": article.url, "published_at": article.published_at,
                                      "section": article.section, **article.extra}
        else:
            record = dict(article)
        article_id = record.get("id")
        if not isinstance(article_id, str) or not article_id:
            raise ValueError("the article needs a non-empty string 'id'")
        record = {key: value for key, value in record.items() if value is not None}
        return WriteResult.from_dict(self._json("PUT", f"/v1/articles/{quote_id(article_id)}",
                                                json=record, auth=True))

    def publish_many(self, articles: Iterable[Mapping[str, Any]],
                     unpublish: Iterable[str] = ()) -> WriteResult:
        """Publish and unpublish several articles in one transaction
        (``POST /v1/articles:batch``); needs ``api_key``."""
        payload: dict[str, Any] = {}
        articles = [dict(a) for a in articles]
        unpublish = list(unpublish)
        if articles:
            payload["articles"] = articles
        if unpublish:
            payload["unpublish"] = unpublish
        return WriteResult.from_dict(self._json("POST", "/v1/articles:batch", json=payload,
                                                auth=True))

    def unpublish(self, article_id: str) -> WriteResult:
        """Unpublish an article (``DELETE /v1/articles/<id>``); needs ``api_key``."""
        return WriteResult.from_dict(self._json("DELETE", f"/v1/articles/{quote_id(article_id)}",
                                                auth=True))

    def takedown(self, article_id: str, reason: str, *, force: bool = False) -> Takedown:
        """Never recommend *article_id* again (``PUT /v1/takedowns/<id>``); needs ``api_key``.

        ``force`` allows an id the model does not know (yet)."""
        data = self._json("PUT", f"/v1/takedowns/{quote_id(article_id)}",
                          json={"reason": reason, "force": force}, auth=True)
        return Takedown.from_dict(data.get("takedown", data))

    def undo_takedown(self, article_id: str) -> None:
        """Lift a takedown (``DELETE /v1/takedowns/<id>``); needs ``api_key``."""
        self._json("DELETE", f"/v1/takedowns/{quote_id(article_id)}", auth=True)

    def pin(self, article_id: str, ids: Iterable[str], *,
            expires_at: str | None = None) -> Pin:
        """Pin *ids* at the top of *article_id*'s list (``PUT /v1/articles/<id>/pins``,
        replacing earlier pins); needs ``api_key``."""
        payload: dict[str, Any] = {"ids": list(ids)}
        if expires_at is not None:
            payload["expires_at"] = expires_at
        return Pin.from_dict(self._json("PUT", f"/v1/articles/{quote_id(article_id)}/pins",
                                        json=payload, auth=True))

    def unpin(self, article_id: str) -> None:
        """Remove *article_id*'s pins (``DELETE /v1/articles/<id>/pins``); needs ``api_key``."""
        self._json("DELETE", f"/v1/articles/{quote_id(article_id)}/pins", auth=True)

    def block(self, article_id: str, ids: Iterable[str]) -> list[str]:
        """Never show *ids* in *article_id*'s list (``PUT /v1/articles/<id>/blocks``);
        needs ``api_key``. Returns the blocked ids."""
        data = self._json("PUT", f"/v1/articles/{quote_id(article_id)}/blocks",
                          json={"ids": list(ids)}, auth=True)
        return list(data.get("ids", []))

    def unblock(self, article_id: str) -> None:
        """Remove *article_id*'s blocks; needs ``api_key``."""
        self._json("DELETE", f"/v1/articles/{quote_id(article_id)}/blocks", auth=True)
