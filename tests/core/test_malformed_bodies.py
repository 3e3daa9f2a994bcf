"""A thousand malformed request bodies: each gets a documented 4xx, never a 500."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from tests.core.conftest import CANNED, config_from

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
chat_like = st.fixed_dictionaries({}, optional={
    "sessionId": json_values, "message": json_values, "stream": json_values, "extra": json_values,
})
bodies = (st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode())
          | chat_like.map(lambda v: json.dumps(v).encode()))

app = create_app(build_runtime(config_from(CANNED + "[sessions]\nnew_per_minute = 0\n")))  # bodies here, not quotas
ALLOWED = {"/api/chat": {400, 404, 413, 415}, "/api/create-session": {201, 400, 413, 415}}


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, path=st.sampled_from(sorted(ALLOWED)), content_type=st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]))
def test_malformed_bodies_never_500(body, path, content_type):
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(path, content=body, headers={"content-type": content_type} if content_type else {})
    assert response.status_code in ALLOWED[path], (response.status_code, response.text)
    assert (response.status_code == 415) == (bool(body) and content_type != "application/json")
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] in {"invalid_request", "session_not_found", "body_too_large",
                                 "unsupported_media_type"} and error["message"]
