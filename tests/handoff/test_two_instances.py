"""The issue's acceptance test: two real ``chatkit serve`` processes sharing a real redis-server
(sessions and the broker), a fake OpenAI upstream that counts calls, and a webhook receiver.

A visitor on instance A asks for a person; an operator on instance B claims and replies; the
visitor sees it within a second and answers back; no model is called while the operator holds
the conversation; the webhook arrived signed; handing back resumes the assistant; restarting A
or dropping the visitor's stream loses no message and shows none twice.
"""

from __future__ import annotations

import json
import time

import httpx

from tests.console.helpers import ADMIN
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script
from tests.fakes.webhook import FakeWebhook
from tests.handoff.conftest import OPERATOR
from tests.handoff.sse import Listener
from tests.support.server import free_port, running_server

SECRET = "webhook-secret-0123456789abcdef"


def config(redis_url: str, upstream: str, hook: str) -> str:
    return f"""
[chain]
order = ["cloud"]
retries = 0
[providers.cloud]
type = "openai"
base_url = "{upstream}/v1"
model = "gpt-4o-mini"
api_key = "sk-test"
[sessions]
store = "redis"
url = "{redis_url}"
[rate_limit]
type = "none"
[handoff]
enabled = true
broker = "{redis_url}"
webhook = "{hook}/hook"
webhook_secret = "{SECRET}"
webhook_backoff = 0.2
heartbeat = 0.5
{ADMIN}"""


def messages_of(listener: Listener) -> list[dict]:
    return [json.loads(e.data)["message"] for e in listener.events if e.event == "message"]


def test_a_visitor_on_one_instance_and_an_operator_on_another(redis_server):
    with FakeOpenAI(api_key="sk-test") as upstream, FakeWebhook(SECRET) as receiver:
        upstream.default = Script(text="The assistant is back.")
        receiver.statuses.append(500)  # the first delivery fails and is retried
        text = config(redis_server.url, upstream.url, receiver.url)
        port_a = free_port()
        with running_server(text, port=port_a) as a, running_server(text) as b:
            visitor = httpx.Client(base_url=a, timeout=10)
            operator = httpx.Client(base_url=b, timeout=10, headers=OPERATOR)
            session = visitor.post("/api/create-session").json()["sessionId"]
            asked = visitor.post(f"/api/session/{session}/handoff", json={"message": "A person, please"})
            assert asked.status_code == 202
            cid = asked.json()["handoff"]["conversationId"]
            assert cid in [h["conversationId"] for h in operator.get("/admin/api/handoffs").json()["handoffs"]]

            stream = Listener(f"{a}/api/session/{session}/events")
            watching = Listener(f"{b}/admin/api/handoffs/{cid}/events", OPERATOR)
            assert stream.wait_for(lambda events: any(e.event == "handoff" for e in events))
            assert operator.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice"}).status_code == 200
            sent = operator.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "Hello, Alice here."})
            at = time.monotonic()
            assert sent.status_code == 201
            assert stream.wait_for(lambda events: any(e.event == "message" for e in events), 5)
            arrived = next(e for e in stream.events if e.event == "message")
            assert arrived.at - at < 1.0, f"took {arrived.at - at:.3f}s"
            assert json.loads(arrived.data)["message"]["content"] == "Hello, Alice here."

            answer = visitor.post("/api/chat", json={"sessionId": session, "message": "Thanks Alice!"})
            assert answer.status_code == 202 and answer.json()["handoff"]["operator"] == "Alice"
            assert watching.wait_for(lambda events: any(m["content"] == "Thanks Alice!" for m in
                                                        [json.loads(e.data)["message"] for e in events
                                                         if e.event == "message"]), 5)
            assert upstream.chat_requests() == []  # no model while the operator holds it
            stream.close()
            watching.close()

            # The visitor's stream drops; the operator writes; the visitor comes back: the message, once.
            seen = stream.last_id
            operator.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "While you were away."})
            back = Listener(f"{a}/api/session/{session}/events", {"Last-Event-ID": seen})
            assert back.wait_for(lambda events: any(e.event == "message" for e in events), 5)
            assert [m["content"] for m in messages_of(back)] == ["While you were away."]
            back.close()
            seen = back.last_id

        # Instance A restarts while B goes on: a message written meanwhile reaches the visitor once.
        with running_server(text) as b:
            operator = httpx.Client(base_url=b, timeout=10, headers=OPERATOR)
            operator.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "Sent during the restart."})
            with running_server(text, port=port_a) as a:
                visitor = httpx.Client(base_url=a, timeout=10)
                again = Listener(f"{a}/api/session/{session}/events", {"Last-Event-ID": seen})
                assert again.wait_for(lambda events: any(e.event == "message" for e in events), 5)
                time.sleep(0.3)
                assert [m["content"] for m in messages_of(again)] == ["Sent during the restart."]
                live = time.monotonic()
                operator.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "And after it."})
                assert again.wait_for(lambda events: len([e for e in events if e.event == "message"]) == 2, 5)
                assert again.events[-1].at - live < 1.0

                released = operator.post(f"/admin/api/handoffs/{cid}/release", json={"operator": "Alice"})
                assert released.json()["handoff"]["state"] == "closed"
                assert again.wait_for(lambda events: any('"state":"closed"' in e.data for e in events), 5)
                resumed = visitor.post("/api/chat", json={"sessionId": session, "message": "One more question"})
                assert resumed.status_code == 200 and resumed.json()["message"]["content"] == "The assistant is back."
                assert len(upstream.chat_requests()) == 1
                again.close()
                history = [m["content"] for m in visitor.get(f"/api/session/{session}/messages").json()["messages"]]
                assert history == ["A person, please", "Hello, Alice here.", "Thanks Alice!", "While you were away.",
                                   "Sent during the restart.", "And after it.", "One more question",
                                   "The assistant is back."]

        assert receiver.wait_for(lambda fake: len(fake.deliveries()) >= 2, 10)
        deliveries = receiver.deliveries()
        assert all(receiver.valid(d) for d in deliveries)
        assert json.loads(deliveries[-1].body)["event"] == "handoff.requested"
        assert json.loads(deliveries[-1].body)["conversationId"] == cid
