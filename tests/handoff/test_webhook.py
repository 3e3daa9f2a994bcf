"""The handoff webhook at a real HTTP receiver on loopback: signed, retried with backoff after
failures, never holding up the visitor's request, and sent once when a request waits too long."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest

from chatkit_core.chat.webhook import Notice, Webhook, signature
from tests.core.conftest import new_session
from tests.fakes.webhook import FakeWebhook
from tests.handoff.conftest import handoff_config

SECRET = "webhook-secret-0123456789abcdef"


@pytest.fixture
def receiver():
    with FakeWebhook(SECRET) as fake:
        yield fake


def hook(receiver: FakeWebhook, extra: str = "") -> str:
    return handoff_config(f'webhook = "{receiver.url}/hook"\nwebhook_secret = "{SECRET}"\n'
                          f"webhook_backoff = 0.1\n{extra}")


async def test_asking_for_a_person_posts_a_signed_notice_retried_until_it_lands(make_client, receiver):
    receiver.statuses.extend([500, 503])  # the first two attempts fail
    async with make_client(hook(receiver)) as client:
        session = await new_session(client)
        began = time.monotonic()
        response = await client.post(f"/api/session/{session}/handoff", json={"message": "Call me?"})
        assert response.status_code == 202 and time.monotonic() - began < 0.5  # never waits for the hook
        cid = response.json()["handoff"]["conversationId"]
        assert await asyncio.to_thread(receiver.wait_for, lambda fake: len(fake.deliveries()) == 3, 10)
    deliveries = receiver.deliveries()
    assert all(receiver.valid(delivery) for delivery in deliveries)
    assert len({delivery.headers["x-chatkit-delivery"] for delivery in deliveries}) == 1
    assert deliveries[0].headers["content-type"] == "application/json"
    body = msgspec.json.decode(deliveries[-1].body)
    assert body == {"event": "handoff.requested", "conversationId": cid, "message": "Call me?",
                    "requestedAt": response.json()["handoff"]["requestedAt"]}
    assert session not in deliveries[-1].body.decode()


async def test_a_request_waiting_too_long_is_notified_once(make_client, receiver):
    async with make_client(hook(receiver, 'wait_alert = "0.4s"\n')) as client:
        session = await new_session(client)
        await client.post(f"/api/session/{session}/handoff")
        assert await asyncio.to_thread(receiver.wait_for, lambda fake: len(fake.deliveries()) == 2, 10)
        await asyncio.sleep(0.6)
    events = [msgspec.json.decode(d.body)["event"] for d in receiver.deliveries()]
    assert events == ["handoff.requested", "handoff.waiting_too_long"]


async def test_a_final_refusal_is_not_retried_and_attempts_are_bounded(receiver):
    receiver.statuses.extend([400, 500, 500, 500])
    webhook = Webhook(f"{receiver.url}/hook", SECRET, attempts=3, backoff=0.05, timeout=1.0)
    await webhook.start()
    try:
        for event in ("one", "two"):
            webhook.send(Notice(event=event, conversation_id="conv_x", message=None, requested_at="t"))
        assert await asyncio.to_thread(receiver.wait_for, lambda fake: len(fake.deliveries()) == 4, 10)
        await asyncio.sleep(0.3)
    finally:
        await webhook.close()
    assert len(receiver.deliveries()) == 4  # one refused for good, the other tried three times


async def test_a_receiver_that_hangs_costs_one_timeout_per_attempt():
    hung = FakeWebhook(SECRET)

    async def never(request, respond):
        await respond.hang()

    hung.handle = never  # type: ignore[method-assign]
    with hung:
        webhook = Webhook(f"{hung.url}/hook", SECRET, attempts=2, backoff=0.0, timeout=0.3)
        await webhook.start()
        try:
            webhook.send(Notice(event="e", conversation_id="c", message=None, requested_at="t"))
            began = time.monotonic()
            assert await asyncio.to_thread(hung.wait_for, lambda fake: len(fake.requests) == 2, 5)
            await asyncio.sleep(0.4)
            assert time.monotonic() - began < 2.0
        finally:
            await webhook.close()


def test_the_signature_is_the_hmac_of_the_raw_body():
    import hashlib
    import hmac

    body = b'{"event":"handoff.requested"}'
    assert signature(SECRET, body) == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


async def test_the_queue_is_bounded(receiver, monkeypatch):
    monkeypatch.setattr("chatkit_core.chat.webhook.MAX_PENDING", 2)
    webhook = Webhook(f"{receiver.url}/hook", SECRET)
    for index in range(5):
        webhook.send(Notice(event=str(index), conversation_id="c", message=None, requested_at="t"))
    assert webhook.queue.qsize() == 2
