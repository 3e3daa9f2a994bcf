"""Schemathesis over the served OpenAPI schema (/schema/openapi.json), in-process over ASGI."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from tests.core.conftest import config_from
from tests.security.conftest import canned

app = create_app(build_runtime(config_from(canned(extra="[server]\nmax_body_bytes = 8192\nmax_message_chars = 200\n"))))
# A schema-valid message can still be refused: one without attachments that is empty, blank,
# invisible or all markup has no text left once sanitized (400 invalid_request, documented),
# which no JSON Schema pattern can express exactly. Only for /api/chat does positive-data
# acceptance also allow that 400.
# A schema-violating body over the size limit is rejected with 413 body_too_large.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
CONFIG = schemathesis.config.SchemathesisConfig.from_dict({
    "checks": {"negative_data_rejection": {"expected-statuses": REJECTED}},
    "operations": [{
        "include-path": "/api/chat",
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404"]}},
    }],
})
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app, config=CONFIG)
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@EXAMPLES
def test_no_server_error_and_every_error_in_the_one_shape(case) -> None:
    response = case.call()
    assert response.status_code < 500, response.text
    assert response.headers.get("x-content-type-options") == ["nosniff"]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and error["message"].strip()


@schema.parametrize()
@EXAMPLES
def test_every_response_is_as_the_schema_documents(case) -> None:
    """Every schemathesis check, response-schema conformance and positive-data acceptance included."""
    case.call_and_validate()


def test_the_schema_says_what_the_server_accepts_and_answers() -> None:
    raw = schema.raw_schema
    body = raw["components"]["schemas"]["ChatBody"]["properties"]
    assert "minLength" not in body["message"]  # empty is fine with attachments
    answers = raw["paths"]["/api/chat"]["post"]["responses"]["200"]["content"]
    assert answers["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatReply"}
    events = answers["text/event-stream"]["schema"]
    assert events["contentMediaType"] == "text/event-stream" and "done" in events["description"]
    assert "415" in raw["paths"]["/api/chat"]["post"]["responses"]
