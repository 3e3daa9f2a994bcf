"""Sessions, messages, feedback and the console's queries in PostgreSQL, shared by every instance.

Each call is one statement (the chat's writes are the functions of :mod:`chatkit_postgres.schema`)
or one transaction, so nothing is ever half-applied: a message with its trim and the session's
activity time, an erase with every message of the conversation. PostgreSQL down, restarting or too
slow makes a call raise :class:`StoreUnavailable` (the API answers 503); the pool reconnects by
itself when the server is back.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from chatkit_core.chat.attachments import AttachmentStore, StoredAttachment
from chatkit_core.chat.health import Health
from chatkit_core.chat.listing import (
    ConversationPage,
    ConversationQuery,
    Flags,
    Listing,
    decode_cursor,
    indexed_words,
)
from chatkit_core.chat.sessions import SessionStore, StoreUnavailable
from chatkit_core.codec import decode_metadata, encode
from chatkit_core.models import Feedback, Message, Session
from chatkit_postgres import attachments, console
from chatkit_postgres.migrate import LATEST, migrate
from chatkit_postgres.options import PostgresOptions

if TYPE_CHECKING:
    import asyncpg

log = structlog.get_logger("chatkit.postgres")

_ASK = "SELECT chatkit_ask($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
_APPEND = "SELECT chatkit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
_MESSAGES = "SELECT chatkit_recent(id, $2) FROM chatkit_sessions WHERE id = $1 AND last_seen > $3"
_CREATE = ("INSERT INTO chatkit_sessions (id, created_at, last_seen, metadata) VALUES ($1, $2, $3, $4) "
           "ON CONFLICT (id) DO NOTHING")
_GET = "SELECT created_at, last_seen, metadata FROM chatkit_sessions WHERE id = $1 AND last_seen > $2"
# The session row first, as every write takes it: a rating and an append trimming the rated
# answer queue on it instead of deadlocking on each other's rows.
_LOCK = "SELECT 1 FROM chatkit_sessions WHERE id = $1 AND last_seen > $2 FOR UPDATE"
_RATED = "SELECT seq, body, down FROM chatkit_messages WHERE session_id = $1 AND id = $2 AND role = 'assistant'"
_RATE = """
WITH rated AS (UPDATE chatkit_messages SET body = $3, down = $4 WHERE session_id = $1 AND seq = $2)
UPDATE chatkit_sessions SET down = down + $4::integer - $5::integer WHERE id = $1
"""
_LEASE = """
INSERT INTO chatkit_leases AS l (name, holder, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE l.holder = excluded.holder OR l.expires_at < now()
RETURNING holder
"""
_ERASE_BATCH = 1000
"""Sessions one retention statement erases, so each stays well inside the statement timeout."""
_ERASE = """
DELETE FROM chatkit_sessions WHERE id IN (SELECT id FROM chatkit_sessions WHERE last_seen < $1 LIMIT $2)
"""
_decode_messages = msgspec.json.Decoder(list[Message]).decode
_decode_message = msgspec.json.Decoder(Message).decode


class PostgresStore(SessionStore, Listing, AttachmentStore):
    """Conversations in PostgreSQL (``[sessions] store = "postgres"``)."""

    Options = PostgresOptions
    options: PostgresOptions

    def __init__(self, options: PostgresOptions) -> None:
        super().__init__(options)
        from chatkit_postgres.connection import Pool  # asyncpg loads only where this store is configured

        self.pool = Pool(options)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        """This instance's name in ``chatkit_leases``."""
        self._ready = False
        self._migrating: asyncio.Task[None] | None = None
        self._leading = False

    async def start(self) -> None:
        """Open the pool and bring the schema up to date. A server that cannot be reached yet is
        waited for (calls answer 503 until it is, then migrate first); any other failure, such as
        a refused password or a missing database, stops the start with its reason."""
        from chatkit_postgres.connection import UNREACHABLE

        await self.pool.open()
        try:
            await self._prepare()
        except StoreUnavailable as error:
            if not isinstance(error.__cause__, UNREACHABLE):
                await self.pool.close()
                raise
            log.warning("postgres_unreachable", error=str(error), url=self.pool.where)

    async def close(self) -> None:
        if self._migrating is not None and not self._migrating.done():
            self._migrating.cancel()
        await self.pool.close()

    async def _prepare(self) -> None:
        """Bring the schema up to date, once: calls arriving meanwhile share the attempt (and its
        failure, while the server is unreachable) instead of queueing one each."""
        if self._migrating is None or self._migrating.done():
            self._migrating = asyncio.create_task(self._migrate())
            self._migrating.add_done_callback(lambda task: task.cancelled() or task.exception())
        await asyncio.shield(self._migrating)

    async def _migrate(self) -> None:
        async with self.pool.connection() as conn:
            outcome = await migrate(conn)
        if outcome.applied:
            log.info("postgres_migrated", before=outcome.before, after=outcome.after)
        if outcome.before > LATEST:
            log.warning("postgres_schema_newer", found=outcome.before, known=LATEST,
                        detail="this instance is older than the schema; upgrade chatkit-postgres")
        self._ready = True

    async def _run(self, work: Any, *args: Any) -> Any:
        if not self._ready:
            await self._prepare()
        return await self.pool.run(work, *args)

    async def _value(self, sql: str, *args: Any) -> Any:
        return await self._run(lambda conn: conn.fetchval(sql, *args))

    # The chat's calls.

    async def create(self, metadata: dict[str, Any]) -> Session:
        session = self._new_session(metadata)
        await self._run(lambda conn: conn.execute(_CREATE, session.id, session.created_at, session.last_seen,
                                                  encode(metadata).decode()))
        return session

    async def get(self, session_id: str) -> Session | None:
        row = await self._run(lambda conn: conn.fetchrow(_GET, session_id, time.time() - self.ttl))
        if row is None:
            return None
        return Session(id=session_id, created_at=row[0], last_seen=row[1], metadata=decode_metadata(row[2]))

    async def append(self, session_id: str, message: Message) -> bool:
        now = time.time()
        flags = Flags.of([message])
        return bool(await self._value(
            _APPEND, session_id, now - self.ttl, now, self.options.max_messages, message.id, message.role,
            encode(message).decode(), _title(message.content), next(iter(flags.providers), None), flags.thumbs_down,
            flags.incomplete, flags.fell_back, flags.unsourced, self._words(message.content)))

    async def ask(self, session_id: str, question: Message, limit: int) -> list[Message] | None:
        now = time.time()
        history = await self._value(
            _ASK, session_id, now - self.ttl, now, self.options.max_messages, limit, question.id,
            encode(question).decode(), question.content, _title(question.content), self._words(question.content))
        return None if history is None else _decode_messages(history)

    async def messages(self, session_id: str, limit: int | None = None) -> list[Message] | None:
        history = await self._run(lambda conn: conn.fetchrow(_MESSAGES, session_id, limit, time.time() - self.ttl))
        return None if history is None else _decode_messages(history[0])

    async def delete(self, session_id: str) -> bool:
        """The session and every message of it, in one statement (the messages go by cascade)."""
        done = await self._run(lambda conn: conn.execute("DELETE FROM chatkit_sessions WHERE id = $1", session_id))
        return done != "DELETE 0"

    async def count(self) -> int:
        return int(await self._value("SELECT count(*) FROM chatkit_sessions WHERE last_seen > $1",
                                     time.time() - self.ttl))

    async def health(self) -> Health:
        try:
            await self._value("SELECT 1")
        except StoreUnavailable as error:
            # /health is public: name the failure, keep addresses and server messages for the logs.
            kind = type(error.__cause__).__name__ if error.__cause__ else "not ready"
            return Health("down", f"postgres unreachable ({kind})")
        return Health("up")

    # The operator's view.

    async def set_feedback(self, session_id: str, message_id: str, feedback: Feedback) -> Message | None:
        async def rate(conn: asyncpg.Connection) -> Message | None:
            async with conn.transaction():
                if await conn.fetchval(_LOCK, session_id, time.time() - self.ttl) is None:
                    return None
                row = await conn.fetchrow(_RATED, session_id, message_id)
                if row is None:
                    return None
                message = _decode_message(row[1])
                message.feedback = feedback
                await conn.execute(_RATE, session_id, row[0], encode(message).decode(), feedback.rating == "down",
                                   row[2])
            return message

        return await self._run(rate)

    async def add_attachment(self, session_id: str, attachment: StoredAttachment, max_per_session: int) -> bool | None:
        return await self._run(attachments.add, session_id, time.time() - self.ttl, attachment, max_per_session)

    async def attachments(self, session_id: str, ids: list[str]) -> list[StoredAttachment]:
        return await self._run(attachments.read, session_id, time.time() - self.ttl, ids)

    async def list_conversations(self, query: ConversationQuery, cursor: str | None = None,
                                 limit: int = 50) -> ConversationPage:
        after = decode_cursor(cursor) if cursor else None  # a bad cursor is the caller's error, before any I/O
        return await self._run(console.page, query, after, limit, time.time() - self.ttl)

    async def erase_inactive(self, before: float) -> int:
        """Erase in batches, each a statement of its own (a conversation goes whole or not at all),
        on one instance at a time: the one holding the ``retention`` lease; the others erase
        nothing and answer 0."""
        if not await self._lease("retention"):
            return 0
        erased = 0
        while True:
            done = await self._run(lambda conn: conn.execute(_ERASE, before, _ERASE_BATCH))
            count = int(done.split()[-1])
            erased += count
            if count < _ERASE_BATCH:
                return erased

    async def revoke(self, sign_in: str, until: float) -> None:
        await self._run(lambda conn: conn.execute(_REVOKE, sign_in, until, time.time()))

    async def revoked(self, sign_in: str) -> bool:
        return bool(await self._value(_IS_REVOKED, sign_in, time.time()))

    def _words(self, content: str) -> list[str]:
        """The words search finds a message by: none with the console off, at most 64 with it on."""
        return indexed_words(content) if self.search_index else []

    async def _lease(self, name: str) -> bool:
        """Take or renew the lease ``name`` unless another live instance holds it."""
        holder = await self._value(_LEASE, name, self.holder, self.options.sweep_lease_seconds)
        leading = holder is not None
        if leading and not self._leading:
            log.info("postgres_lease_taken", lease=name, holder=self.holder)
        self._leading = leading
        return leading


def _title(content: str) -> str:
    return content[:200].replace("\x00", "")


_REVOKE = """
WITH gone AS (DELETE FROM chatkit_console_revoked WHERE until < $3)
INSERT INTO chatkit_console_revoked (sign_in, until) VALUES ($1, $2)
ON CONFLICT (sign_in) DO UPDATE SET until = excluded.until
"""
_IS_REVOKED = "SELECT true FROM chatkit_console_revoked WHERE sign_in = $1 AND until > $2"

