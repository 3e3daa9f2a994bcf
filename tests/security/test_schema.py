"""Schemathesis over the served OpenAPI schema (/schema/openapi.json), in-process over ASGI."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from chatkit_core.app import create_app
from tests.core.conftest import config_from
from tests.security.conftest import canned

app = create_app(config_from(canned(extra="[server]\nmax_body_bytes = 8192\nmax_message_chars = 200\n")))
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _errors_documented() -> bool:
    return "ErrorBody" in str(schema.raw_schema.get("components", {}).get("schemas", {}))


@schema.parametrize()
@EXAMPLES
def test_no_server_error_and_every_error_in_the_one_shape(case) -> None:
    response = case.call()
    assert response.status_code < 500, response.text
    assert response.headers.get("x-content-type-options") == ["nosniff"]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and error["message"].strip()


# A schema-valid message can still be refused: one that is blank, or all markup, has no text
# left once sanitized (400 invalid_request, documented), so that check does not apply.
@pytest.mark.xfail(not _errors_documented(), reason="the schema does not document the API's error responses yet")
@schema.parametrize()
@EXAMPLES
def test_every_response_is_as_the_schema_documents(case) -> None:
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
