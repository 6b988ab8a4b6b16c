"""Fuzz the running API (real gunicorn) from its own OpenAPI description with schemathesis.

Every operation of ``/openapi.json`` gets up to ``MAX_EXAMPLES`` generated requests (valid and
invalid ones); every response must: not be a 5xx, match the description (status, content type,
headers, body schema), and, for every error, be an RFC 9457 problem body. The number of
operations and examples is written to ``test-artifacts/schemathesis.json``.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from livesrv import ROOT, live_server
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

# slow: real servers (and browsers), left out of the quick subset
pytestmark = [pytest.mark.server, pytest.mark.slow]

MAX_EXAMPLES = 15
API_KEY = "fuzz-key-0123456789abcdef"
PROBLEM_FIELDS = {"type": str, "title": str, "status": int, "detail": str}
# Operations whose bodies are validated beyond what their schema says (the body's id must
# match the URL's; an HTML title must keep some text once tags are stripped; dates must
# parse): a schema-valid body may still be a 400 problem there.
SEMANTIC_VALIDATION = {
    ("PUT", "/v1/articles/{article_id}"), ("POST", "/v1/articles:batch"),
}
# Valid data must be accepted: never a 400 that says "breaks the documented syntax". Two
# documented refusals of valid syntax count as accepted: a 400 of type "unusable-value" (a
# well-formed value naming what the corpus lacks, an unknown section: the API contract asks for a
# 400 there), see positive_data_accepted, and 414, a request line over the server's 8,190
# bytes (1,000 repeated values are valid; no schema can bound a whole URL).
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "414", "429", "5xx"]
# Invalid data must be refused: schemathesis' list plus 414 (the server's own refusal of an
# over-long request line, e.g. a 600-character id of multi-byte characters).
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422", "428", "429",
           "5xx"]

schema = schemathesis.pytest.from_fixture("api_schema")
_counts: Counter[str] = Counter()
_statuses: Counter[int] = Counter()
_lock = threading.Lock()


@pytest.fixture(scope="module")
def live(trained_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    # No rate limit: every generated request must reach the code under test.
    env = {"ALSOSEE_API_KEYS": API_KEY, "ALSOSEE_STATE_DB": str(tmp / "state.db"),
           "ALSOSEE_RATE_LIMIT": "off"}
    with live_server(trained_model_dir, tmp / "server.log", env=env) as server:
        yield server
        log = server.log()
    assert "Traceback" not in log, log[-3000:]
    documented = {key for key in _counts if key in _documented}
    report = {"operations": len(documented), "operations_and_undeclared_methods": len(_counts),
              "examples": sum(_counts.values()),
              "per_operation": dict(sorted(_counts.items())),
              "statuses": {str(k): v for k, v in sorted(_statuses.items())},
              "max_examples": MAX_EXAMPLES}
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "schemathesis.json").write_text(json.dumps(report, indent=2))


_documented: set[str] = set()


@pytest.fixture(scope="module")
def api_schema(live):
    spec = requests.get(f"{live.base}/openapi.json", timeout=10).json()
    _documented.update(f"{method.upper()} {path}" for path, item in spec["paths"].items()
                       for method in item)
    config = SchemathesisConfig.from_dict(
        {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED},
                    "negative_data_rejection": {"expected-statuses": REFUSED}}})
    return schemathesis.openapi.from_url(f"{live.base}/openapi.json", config=config)


def problem_body(ctx, response, case) -> None:
    """Every error (4xx/5xx) is an RFC 9457 problem body whose status matches."""
    with _lock:
        _counts[f"{case.method} {case.path}"] += 1
        _statuses[response.status_code] += 1
    if response.status_code < 400:
        return
    headers = {name.lower(): value for name, value in response.headers.items()}
    ctype = headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    assert ctype.startswith("application/problem+json"), (
        f"{response.status_code} with Content-Type {ctype!r}")
    body = json.loads(response.content)
    for name, kind in PROBLEM_FIELDS.items():
        assert isinstance(body.get(name), kind), f"problem body without {name}: {body}"
    assert body["status"] == response.status_code, body


def positive_data_accepted(ctx, response, case) -> None:
    """schemathesis' positive-data acceptance, except a 400 ``unusable-value`` problem."""
    meta = case.meta
    if (response.status_code == 400 and meta is not None and meta.generation.mode.is_positive
            and json.loads(response.content).get("type", "").endswith(":unusable-value")):
        return None
    return positive_data_acceptance(ctx, response, case)


def no_server_error(ctx, response, case) -> None:
    """No 5xx, except the 501 that oEmbed prescribes for ``format=xml`` (documented)."""
    if response.status_code < 500:
        return
    query = case.query or {}
    allowed = (response.status_code == 501 and case.path == "/oembed"
               and query.get("format") == "xml")
    assert allowed, f"server error {response.status_code}: {response.content[:300]!r}"


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_description(case):
    excluded = [not_a_server_error, positive_data_acceptance]
    checks = [problem_body, no_server_error]
    if (case.method, case.path) not in SEMANTIC_VALIDATION:
        checks.append(positive_data_accepted)
    case.call_and_validate(headers={"Authorization": f"Bearer {API_KEY}"},
                           additional_checks=checks,
                           excluded_checks=excluded, timeout=10)
