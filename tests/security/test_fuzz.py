"""Property tests: any body, path, method or header on every JSON route gets a documented answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from tests.core.conftest import config_from
from tests.security.conftest import canned, sse_events

EXAMPLES = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
DOCUMENTED = {  # 403: a change asked by another site's page (a foreign Origin)
    "create-session": {201, 400, 403, 413, 415},
    "chat": {200, 400, 403, 404, 413, 415},
    "messages": {200, 404, 405},  # 405: an id holding "/" reaches another route's path
    "delete": {204, 403, 404, 405},
}
ERROR_CODES = {"invalid_request", "session_not_found", "message_too_long", "body_too_large", "not_found",
               "unsupported_media_type", "forbidden",
               "method_not_allowed"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(build_runtime(config_from(canned(extra="[server]\nmax_body_bytes = 4096\nmax_message_chars = 300\n"
                                    "[sessions]\nnew_per_minute = 0\n"))))  # bodies here, not quotas
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def session(client: TestClient) -> str:
    return client.post("/api/create-session").json()["sessionId"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
session_ids = st.just("REAL") | st.text(max_size=60) | st.binary(max_size=40).map(lambda b: b.hex())
chat_bodies = st.fixed_dictionaries({}, optional={
    "sessionId": session_ids | json_values, "message": st.text(max_size=400) | json_values,
    "stream": st.booleans() | json_values, "metadata": json_values,
})
bodies = (st.binary(max_size=300) | json_values.map(json.dumps) | chat_bodies.map(json.dumps)
          | st.dictionaries(st.text(max_size=10), json_values, max_size=4).map(lambda d: json.dumps({"metadata": d})))
headers = st.fixed_dictionaries({}, optional={
    "Content-Type": st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                     "multipart/form-data", "application/json; charset=latin-1"]),
    "Accept": st.sampled_from(["text/event-stream", "application/json", "*/*", "text/html"]),
    "Origin": st.sampled_from(["https://evil.example", "null", "http://localhost:8080"]),
    "X-ChatKit-Site-Key": st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
    "X-Forwarded-For": st.sampled_from(["1.2.3.4", "garbage", "::1, 10.0.0.1"]),
    "X-Request-ID": st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80),
})


def check(response, route: str) -> None:
    assert response.status_code in DOCUMENTED[route], (route, response.status_code, response.text[:300])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] in ERROR_CODES and error["message"].strip()


def resolve(value: bytes | str, session: str) -> bytes:
    text = value if isinstance(value, str) else None
    if text is None:
        return value  # raw bytes stay raw
    return text.replace('"REAL"', json.dumps(session)).encode()


@EXAMPLES
@given(body=bodies, extra=headers)
def test_create_session_answers_any_body(client, session, body, extra) -> None:
    check(client.post("/api/create-session", content=resolve(body, session), headers=extra), "create-session")


@EXAMPLES
@given(body=bodies, extra=headers)
def test_chat_answers_any_body(client, session, body, extra) -> None:
    response = client.post("/api/chat", content=resolve(body, session), headers=extra)
    check(response, "chat")
    if response.headers["content-type"].startswith("text/event-stream"):
        assert sse_events(response.text)[-1][0] in ("done", "error")


def paths(session: str) -> st.SearchStrategy[str]:
    raw = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=80)
    return st.just(session) | raw.map(lambda s: quote(s, safe="")) | raw.map(lambda s: quote(s, safe="~-._=&;:@+$,"))


@EXAMPLES
@given(data=st.data(), extra=headers)
def test_messages_answers_any_id(client, session, data, extra) -> None:
    session_id = data.draw(paths(session))
    check(client.get(f"/api/session/{session_id}/messages", headers=extra), "messages")


@EXAMPLES
@given(data=st.data(), extra=headers)
def test_delete_answers_any_id(client, session, data, extra) -> None:
    session_id = data.draw(paths("a" + session))  # never the shared session itself
    check(client.delete(f"/api/session/{session_id}", headers=extra), "delete")
