"""Broker type ``redis``: handoff events between instances through one Redis Stream.

    [handoff]
    broker = "redis://127.0.0.1:6379/0"

Every instance appends its events to the stream ``chatkit:handoff:events`` (``XADD`` with
``MAXLEN ~ 10000``, so it stays bounded) and reads everyone else's with ``XREAD BLOCK`` from the
last entry it saw, handing them to the streams open in its process. Each instance must see every
event, so it reads the stream itself rather than through a consumer group, which would hand each
entry to one consumer only. Events are also in the session store's log: an instance that was cut
off from Redis catches up from there, and a stream never shows one twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING, Any, cast

import msgspec
import structlog

from chatkit_core.chat.broker import Broker
from chatkit_core.chat.handoff_store import StoredEvent, decode_event
from chatkit_core.platform import redisclient

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger("chatkit.broker")

STREAM = "chatkit:handoff:events"
MAXLEN = 10_000
BLOCK_MS = 1000
"""How long one ``XREAD`` waits; the socket timeout is longer."""


class RedisBroker(Broker):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        redisclient.check_options(url, 5.0, 4, "redis://127.0.0.1:6379/0")
        self.instance = secrets.token_hex(8).encode()
        self._redis: Redis | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._redis = redisclient.client(self.url, timeout=5.0, max_connections=8)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def publish(self, event: StoredEvent) -> None:
        from redis.exceptions import RedisError

        self.deliver(event)
        assert self._redis is not None
        try:
            await self._redis.xadd(STREAM, {"from": self.instance, "event": msgspec.json.encode(event)},
                                   maxlen=MAXLEN, approximate=True)
        except RedisError as error:  # the store has it: other instances catch up from there
            log.warning("broker_publish_failed", error=str(error))

    async def _read(self) -> None:
        from redis.exceptions import RedisError

        assert self._redis is not None
        last: bytes | None = None
        pause = 0.5
        while True:
            try:
                if last is None:  # from the newest entry on: earlier ones are in the store's log
                    newest = cast("list[Any]", await self._redis.xrevrange(STREAM, count=1))
                    last = newest[0][0] if newest else b"0-0"
                assert last is not None
                found = cast("list[Any]", await self._redis.xread({STREAM: last}, count=200, block=BLOCK_MS))
                pause = 0.5
            except RedisError as error:
                log.warning("broker_read_failed", error=str(error), retry_in=pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            for _, entries in found:
                for entry_id, fields in entries:
                    last = entry_id
                    if fields.get(b"from") != self.instance:
                        self._deliver_raw(fields.get(b"event", b""))

    def _deliver_raw(self, raw: bytes) -> None:
        try:
            event = decode_event(raw)
        except msgspec.DecodeError:
            log.warning("broker_bad_entry")
            return
        self.deliver(event)
