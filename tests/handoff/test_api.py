"""The handoff over HTTP, in process, against a real (fake) OpenAI upstream that counts requests:
asking, claiming, replies, the visitor's 202 while held, hand-back, auth, and the event streams."""

from __future__ import annotations

import re

import pytest

from chatkit_core.chat.handoff_store import conversation_id_of
from tests.console.helpers import csrf_of, sign_in
from tests.core.conftest import CANNED as CANNED_BASE
from tests.core.conftest import new_session
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script
from tests.handoff.conftest import OPERATOR, handoff_config

OPENAI = """
[chain]
order = ["cloud"]
retries = 0
[providers.cloud]
type = "openai"
base_url = "{url}/v1"
model = "gpt-4o-mini"
api_key = "sk-test"
[rate_limit]
type = "none"
"""


@pytest.fixture
def upstream():
    with FakeOpenAI(api_key="sk-test") as fake:
        fake.default = Script(text="The assistant answers.")
        yield fake


@pytest.fixture
async def client(make_client, upstream):
    async with make_client(handoff_config(base=OPENAI.format(url=upstream.url))) as test_client:
        yield test_client


def events_of(text: str) -> list[tuple[str, str, str]]:
    """(id, event, data) of each event in an SSE body."""
    found = []
    for block in re.split(r"\r?\n\r?\n", text):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            found.append((fields.get("id", ""), fields["event"], fields["data"]))
    return found


async def asked(client, message: str = "I need a human") -> tuple[str, str]:
    session = await new_session(client)
    response = await client.post(f"/api/session/{session}/handoff", json={"message": message, "locale": "en"})
    assert response.status_code == 202, response.text
    return session, response.json()["handoff"]["conversationId"]


async def test_while_an_operator_holds_it_the_visitor_is_answered_202_and_no_model_is_called(client, upstream):
    session, cid = await asked(client)
    waiting = await client.post("/api/chat", json={"sessionId": session, "message": "Still there?"})
    assert waiting.status_code == 200 and len(upstream.chat_requests()) == 1  # waiting: the assistant answers
    claim = await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice"}, headers=OPERATOR)
    assert claim.status_code == 200 and claim.json()["handoff"] == {
        "conversationId": cid, "state": "active", "operator": "Alice",
        "requestedAt": claim.json()["handoff"]["requestedAt"]}
    for stream in (False, True):
        held = await client.post("/api/chat", json={"sessionId": session, "message": "Hello?", "stream": stream})
        assert held.status_code == 202
        body = held.json()
        assert body["message"]["role"] == "user" and body["message"]["content"] == "Hello?"
        assert body["handoff"]["state"] == "active" and body["sessionId"] == session
    assert len(upstream.chat_requests()) == 1
    reply = await client.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "Hi, <b>Alice</b> here"},
                              headers=OPERATOR)
    assert reply.status_code == 201 and reply.json()["message"]["role"] == "operator"
    assert reply.json()["message"]["content"] == "Hi, Alice here"  # the output rules: no markup
    history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
    assert [m["role"] for m in history][-3:] == ["user", "user", "operator"]
    released = await client.post(f"/admin/api/handoffs/{cid}/release", headers=OPERATOR)
    assert released.status_code == 200 and released.json()["handoff"]["state"] == "closed"
    again = await client.post("/api/chat", json={"sessionId": session, "message": "Thanks!"})
    assert again.status_code == 200 and again.json()["message"]["content"] == "The assistant answers."
    sent = upstream.chat_requests()[-1].json["messages"]
    assert {"role": "assistant", "content": "Hi, Alice here"} in sent  # the model reads the operator's reply


async def test_a_conversation_belongs_to_one_operator_at_a_time(client):
    _, cid = await asked(client)
    assert (await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice"},
                              headers=OPERATOR)).status_code == 200
    taken = await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Bob"}, headers=OPERATOR)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_claimed"
    same = await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice"}, headers=OPERATOR)
    assert same.status_code == 200
    by_bob = await client.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "Hi", "operator": "Bob"},
                               headers=OPERATOR)
    assert by_bob.status_code == 409 and by_bob.json()["error"]["code"] == "already_claimed"
    header = await client.post(f"/admin/api/handoffs/{cid}/release", headers={**OPERATOR, "X-ChatKit-Operator": "Bob"})
    assert header.status_code == 409
    assert (await client.post(f"/admin/api/handoffs/{cid}/release", json={"operator": "Alice"},
                              headers=OPERATOR)).status_code == 200
    closed = await client.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "Hi"}, headers=OPERATOR)
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "not_claimed"
    late = await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Bob"}, headers=OPERATOR)
    assert late.status_code == 409 and late.json()["error"]["code"] == "handoff_closed"


async def test_a_waiting_request_can_be_closed_and_asked_again(client):
    session, cid = await asked(client)
    closed = await client.post(f"/admin/api/handoffs/{cid}/release", headers=OPERATOR)
    assert closed.json()["handoff"]["state"] == "closed"
    assert (await client.get("/admin/api/handoffs", headers=OPERATOR)).json()["handoffs"] == []
    again = await client.post(f"/api/session/{session}/handoff", json={})
    assert again.status_code == 202 and again.json()["handoff"]["state"] == "waiting"
    twice = await client.post(f"/api/session/{session}/handoff")
    assert twice.json()["handoff"]["requestedAt"] == again.json()["handoff"]["requestedAt"]
    detail = (await client.get(f"/admin/api/handoffs/{cid}", headers=OPERATOR)).json()
    assert [entry["what"] for entry in detail["audit"]] == [
        "asked for a person", "closed the request without taking it", "asked for a person"]
    assert all(entry["at"].endswith("Z") for entry in detail["audit"])


async def test_operator_routes_need_the_token_and_say_nothing_without_it(client):
    _, cid = await asked(client)
    routes = [("GET", "/admin/api/handoffs", None), ("GET", f"/admin/api/handoffs/{cid}", None),
              ("POST", f"/admin/api/handoffs/{cid}/claim", {"operator": "Eve"}),
              ("POST", "/admin/api/handoffs/conv_nothing/claim", {"operator": "Eve"}),
              ("POST", f"/admin/api/handoffs/{cid}/messages", {"content": "hi"}),
              ("POST", f"/admin/api/handoffs/{cid}/release", None),
              ("GET", f"/admin/api/handoffs/{cid}/events", None), ("GET", "/admin/api/handoff-events", None)]
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "Basic abc"}):
        for method, path, body in routes:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.json()["error"]["code"] == "unauthorized"
    unknown = await client.post("/admin/api/handoffs/conv_nothing/claim", json={"operator": "A"}, headers=OPERATOR)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "conversation_not_found"


async def test_the_console_cookie_works_and_changes_need_its_csrf_token(client):
    _, cid = await asked(client)
    await sign_in(client)
    assert (await client.get("/admin/api/handoffs")).status_code == 200
    refused = await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    csrf = csrf_of((await client.get("/admin/handoffs")).text)
    foreign = await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice"},
                                headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert foreign.status_code == 403
    claimed = await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice"},
                                headers={"X-CSRF-Token": csrf})
    assert claimed.status_code == 200


async def test_the_visitor_stream_replays_after_last_event_id_and_shows_only_their_side(client):
    session, cid = await asked(client, "help")
    await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice"}, headers=OPERATOR)
    await client.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "Hello"}, headers=OPERATOR)
    await client.post("/api/chat", json={"sessionId": session, "message": "Hi Alice"})
    stream = await client.get(f"/api/session/{session}/events")
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    seen = events_of(stream.text)
    assert [kind for _, kind, _ in seen] == ["handoff", "handoff", "message"]
    assert '"role":"operator"' in seen[-1][2] and "conversationId" in seen[0][2]
    assert session not in stream.text
    numbers = [int(number) for number, _, _ in seen]
    assert numbers == sorted(numbers)
    resumed = await client.get(f"/api/session/{session}/events", headers={"Last-Event-ID": str(numbers[1])})
    assert [kind for _, kind, _ in events_of(resumed.text)] == ["message"]
    operator = await client.get(f"/admin/api/handoffs/{cid}/events", headers=OPERATOR)
    kinds = [(kind, '"role":"user"' in data) for _, kind, data in events_of(operator.text)]
    assert ("message", True) in kinds  # the operator sees the visitor's messages too
    bad = await client.get(f"/api/session/{session}/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400


async def test_no_stream_for_a_session_that_is_gone_and_none_beyond_the_bound(make_client):
    async with make_client(handoff_config("max_streams_per_session = 1\n")) as client:
        assert (await client.get("/api/session/nope/events")).status_code == 404
        session = await new_session(client)
        slots = client.app.state.handoff_streams
        slots.open["conv_other"] = 1
        with slots.held(conversation_id_of(session)):
            refused = await client.get(f"/api/session/{session}/events")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_streams"
        assert "1 live connections" in refused.json()["error"]["message"]


async def test_handoff_routes_do_not_exist_when_it_is_off(make_client):
    async with make_client() as client:
        session = await new_session(client)
        state = await client.get(f"/api/session/{session}/handoff")  # the widget asks: no failed request
        assert state.status_code == 200 and state.json() == {"handoff": None, "offer": "never"}
        assert (await client.post(f"/api/session/{session}/handoff")).status_code == 405  # only the state
        assert (await client.get(f"/api/session/{session}/events")).status_code == 404
        assert (await client.get("/admin/api/handoffs", headers=OPERATOR)).status_code == 404


async def test_bad_input_gets_a_clear_error(client):
    session = await new_session(client)
    long = await client.post(f"/api/session/{session}/handoff", json={"message": "x" * 5000})
    assert long.status_code == 413
    assert (await client.post("/api/session/nope/handoff")).status_code == 404
    _, cid = await asked(client)
    nameless = await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": ""}, headers=OPERATOR)
    assert nameless.status_code == 400 and nameless.json()["error"]["field"] == "operator"
    await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice"}, headers=OPERATOR)
    huge = await client.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "y" * 4001}, headers=OPERATOR)
    assert huge.status_code == 413
    markup = await client.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "<img src=x>"},
                               headers=OPERATOR)
    assert markup.status_code == 400 and markup.json()["error"]["field"] == "content"


async def test_a_visitor_reads_only_their_own_conversation(client):
    mine, cid = await asked(client, "mine")
    theirs, other = await asked(client, "theirs")
    await client.post(f"/admin/api/handoffs/{other}/claim", json={"operator": "Alice"}, headers=OPERATOR)
    await client.post(f"/admin/api/handoffs/{other}/messages", json={"content": "For the other visitor"},
                      headers=OPERATOR)
    seen = (await client.get(f"/api/session/{mine}/events")).text
    assert "For the other visitor" not in seen and other not in seen and cid in seen
    assert "For the other visitor" in (await client.get(f"/api/session/{theirs}/events")).text


async def test_streams_are_bounded_per_process(make_client):
    async with make_client(handoff_config("max_streams = 2\n")) as client:
        session = await new_session(client)
        slots = client.app.state.handoff_streams
        slots.open.update({"conv_a": 1, "operator:conv_b": 1})
        refused = await client.get(f"/api/session/{session}/events")
        assert refused.status_code == 429 and "Too many live connections" in refused.json()["error"]["message"]
        listed = await client.get("/admin/api/handoff-events", headers=OPERATOR)
        assert listed.status_code == 429


async def test_with_site_keys_the_visitor_routes_need_one_and_the_stream_takes_it_in_the_query(make_client):
    from chatkit_core.http.site_keys import hash_site_key

    shop = "https://shop.example"
    keyed = (f'[server]\nallowed_origins = ["{shop}"]\n'
             f'[middleware.site_keys.keys]\n"{hash_site_key("ck_pub_shop")}" = ["{shop}"]\n')
    async with make_client(handoff_config('stream_seconds = "0.3s"\n', base=keyed + CANNED_BASE)) as client:
        key = {"X-ChatKit-Site-Key": "ck_pub_shop", "Origin": shop}
        session = (await client.post("/api/create-session", headers=key)).json()["sessionId"]
        assert (await client.post(f"/api/session/{session}/handoff", headers={"Origin": shop})).status_code == 403
        assert (await client.post(f"/api/session/{session}/handoff", headers=key)).status_code == 202
        assert (await client.get(f"/api/session/{session}/events", headers={"Origin": shop})).status_code == 403
        by_query = await client.get(f"/api/session/{session}/events?siteKey=ck_pub_shop", headers={"Origin": shop})
        assert by_query.status_code == 200 and "event: handoff" in by_query.text
        wrong = await client.get(f"/api/session/{session}/events?siteKey=ck_pub_guess", headers={"Origin": shop})
        assert wrong.status_code == 403
        assert (await client.get(f"/api/session/{session}/handoff?siteKey=ck_pub_shop")).status_code == 403


async def test_a_note_of_markup_only_asks_without_a_message(client):
    session = await new_session(client)
    response = await client.post(f"/api/session/{session}/handoff", json={"message": "<b> </b>"})
    assert response.status_code == 202
    assert (await client.get(f"/api/session/{session}/messages")).json()["messages"] == []
