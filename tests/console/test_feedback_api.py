"""POST /api/session/{id}/messages/{messageId}/feedback: rating answers through the API."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from tests.core.conftest import CANNED, config_from, new_session

LIMITED = CANNED.replace('type = "none"', 'type = "limits"\nper_ip = ["4/minute"]\nper_session = ["100/minute"]')


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def client(request, tmp_path):
    url = {"memory": "", "sqlite": f"sqlite:///{tmp_path}/s.db"}.get(request.param)
    if url is None:
        url = request.getfixturevalue("postgres_url")
    table = f'\n[sessions]\nstore = "{request.param}"\nurl = "{url}"\n'
    app = create_app(build_runtime(config_from(CANNED + table)))
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        yield client


async def chatted(client) -> tuple[str, dict, dict]:
    session = await new_session(client)
    reply = (await client.post("/api/chat", json={"sessionId": session, "message": "Hi"})).json()["message"]
    question = (await client.get(f"/api/session/{session}/messages")).json()["messages"][0]
    return session, question, reply


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"].endswith(".")
    return error


async def test_rating_is_stored_replaced_and_returned_in_history(client):
    session, _, reply = await chatted(client)
    url = f"/api/session/{session}/messages/{reply['id']}/feedback"
    rated = await client.post(url, json={"rating": "down", "comment": "  Not <b>what</b> I asked <script>x</script> "})
    assert rated.status_code == 200, rated.text
    body = rated.json()
    assert body["id"] == reply["id"] and body["content"] == reply["content"]
    assert body["feedback"]["rating"] == "down"
    assert "<script" not in body["feedback"]["comment"] and body["feedback"]["comment"].startswith("Not")
    history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
    assert history[-1]["feedback"] == body["feedback"]
    again = (await client.post(url, json={"rating": "up"})).json()
    assert again["feedback"] == {"rating": "up", "comment": ""}
    history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
    assert history[-1]["feedback"] == {"rating": "up", "comment": ""} and history[0]["feedback"] is None
    metrics = (await client.get("/metrics")).text
    assert 'chatkit_feedback_total{provider="demo",rating="down"} 1.0' in metrics
    assert "rating=\"up\"" not in metrics  # rating again replaces the rating; it counts once per answer


async def test_unknown_session_or_message(client):
    session, question, reply = await chatted(client)
    error_of(await client.post(f"/api/session/nope/messages/{reply['id']}/feedback", json={"rating": "up"}),
             404, "session_not_found")
    error_of(await client.post(f"/api/session/{session}/messages/msg_nope/feedback", json={"rating": "up"}),
             404, "message_not_found")
    error_of(await client.post(f"/api/session/{session}/messages/{question['id']}/feedback", json={"rating": "up"}),
             404, "message_not_found")


@pytest.mark.parametrize("body, field", [
    ({}, "rating"),
    ({"rating": "meh"}, "rating"),
    ({"rating": 1}, "rating"),
    ({"rating": "up", "comment": 5}, "comment"),
    ({"rating": "down", "comment": "x" * 501}, "comment"),
])
async def test_invalid_bodies(client, body, field):
    session, _, reply = await chatted(client)
    response = await client.post(f"/api/session/{session}/messages/{reply['id']}/feedback", json=body)
    error = error_of(response, 400, "invalid_request")
    assert error.get("field") == field
    history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
    assert history[-1]["feedback"] is None


async def test_ratings_are_rate_limited_like_chat():
    app = create_app(build_runtime(config_from(LIMITED)))
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        session, _, reply = await chatted(client)  # create-session and chat spend 2 of 4
        url = f"/api/session/{session}/messages/{reply['id']}/feedback"
        assert (await client.post(url, json={"rating": "up"})).status_code == 200
        assert (await client.post(url, json={"rating": "up"})).status_code == 200
        refused = await client.post(url, json={"rating": "down"})
        error_of(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1
