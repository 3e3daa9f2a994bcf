"""The handoff store interface on every store type: optimistic writes (one claim of two wins),
numbered bounded event logs, and nothing left once the session is gone."""

from __future__ import annotations

import asyncio

import msgspec

from chatkit_core.chat.handoff_store import MAX_EVENTS, EventDraft, HandoffRecord, conversation_id_of


def record_for(session_id: str, **fields) -> HandoffRecord:
    return HandoffRecord(conversation_id=conversation_id_of(session_id), session_id=session_id, **fields)


def draft(text: str = "x") -> EventDraft:
    return EventDraft(kind="message", audience="all", data=f'{{"text": "{text}"}}')


async def test_a_record_is_written_once_per_version(store):
    session = await store.create({})
    record = record_for(session.id, state="waiting", requested_at=1.0)
    first = await store.put_handoff(record, draft("asked"))
    assert first is not None and first.seq == 1
    assert await store.put_handoff(record) is None  # version 0 again: someone wrote first
    stored = await store.handoff(record.conversation_id)
    assert stored is not None and stored.version == 1 and stored.state == "waiting"
    stored.state, stored.operator = "active", "alice"
    assert (await store.put_handoff(stored)).seq == 0
    again = await store.handoff(record.conversation_id)
    assert (again.state, again.operator, again.version) == ("active", "alice", 2)


async def test_of_two_claims_at_once_exactly_one_is_stored(store):
    session = await store.create({})
    await store.put_handoff(record_for(session.id, state="waiting"))
    read = [await store.handoff(conversation_id_of(session.id)) for _ in range(2)]
    for who, record in zip(("alice", "bob"), read, strict=True):
        record.state, record.operator = "active", who
    results = await asyncio.gather(*(store.put_handoff(record, draft(record.operator)) for record in read))
    assert sum(result is not None for result in results) == 1
    winner = "alice" if results[0] is not None else "bob"
    assert (await store.handoff(conversation_id_of(session.id))).operator == winner


async def test_events_are_numbered_replayed_after_a_number_and_bounded(store):
    session = await store.create({})
    cid = conversation_id_of(session.id)
    assert await store.add_event(cid, draft()) is None  # no record, no log
    await store.put_handoff(record_for(session.id, state="waiting"), draft("0"))
    for index in range(1, 8):
        assert (await store.add_event(cid, draft(str(index)))).seq == index + 1
    after = await store.events(cid, 5)
    assert [e.seq for e in after] == [6, 7, 8] and msgspec.json.decode(after[0].data) == {"text": "5"}
    assert [e.seq for e in await store.events(cid, 0, limit=2)] == [1, 2]
    for _ in range(MAX_EVENTS):
        await store.add_event(cid, draft())
    kept = [e.seq for e in await store.events(cid, 0, limit=MAX_EVENTS + 10)]
    assert len(kept) == MAX_EVENTS and kept[-1] == MAX_EVENTS + 8


async def test_open_handoffs_are_listed_newest_first_without_closed_ones(store):
    ids = []
    for index, state in enumerate(("waiting", "active", "closed", "waiting")):
        session = await store.create({})
        ids.append(conversation_id_of(session.id))
        await store.put_handoff(record_for(session.id, state=state, requested_at=float(index)))
    assert [r.conversation_id for r in await store.open_handoffs()] == [ids[3], ids[1], ids[0]]


async def test_erasing_the_session_erases_its_handoff(store):
    session = await store.create({})
    cid = conversation_id_of(session.id)
    await store.put_handoff(record_for(session.id, state="waiting"), draft())
    assert await store.delete(session.id)
    assert await store.handoff(cid) is None
    assert await store.events(cid, 0) == [] and await store.open_handoffs() == []


async def test_a_record_for_a_session_that_is_gone_is_not_written(store):
    assert await store.put_handoff(record_for("no-such-session", state="waiting")) is None


def test_the_conversation_id_names_the_session_without_being_it():
    cid = conversation_id_of("a" * 43)
    assert cid.startswith("conv_") and "a" * 8 not in cid and cid == conversation_id_of("a" * 43)
    assert cid != conversation_id_of("b" * 43)
