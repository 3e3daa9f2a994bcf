"""Sessions and their messages in Redis, shared by every backend instance.

Keys, under ``key_prefix``:

- ``session:ID``: a hash with ``created_at``, ``last_seen`` and ``metadata`` (JSON), and the
  conversation's attachments (see :mod:`chatkit_redis.attachments`);
- ``messages:ID``: a list of messages (msgspec JSON), oldest first;
- ``sessions``: a sorted set of live session ids scored by last activity, for ``count``;
- ``console:*``: the console's listing and search index (see :mod:`chatkit_redis.console`);
- ``handoff:*``, ``handoffs:open``: handoffs to a person (see :mod:`chatkit_redis.handoffs`).

Both per-session keys carry the session's TTL, refreshed by every append. An append, with its
console indexing, is one Lua script, so writers on different instances never interleave
half-written state; a chat is two of them (the question with the history read, the answer).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

import structlog

from chatkit_core.chat.attachments import AttachmentStore, StoredAttachment
from chatkit_core.chat.handoff_store import conversation_id_of
from chatkit_core.chat.health import Health
from chatkit_core.chat.listing import ConversationPage, ConversationQuery, Listing, decode_cursor
from chatkit_core.chat.sessions import SessionStore, SessionStoreOptions, StoreUnavailable
from chatkit_core.codec import decode_message, decode_metadata, encode
from chatkit_core.models import Feedback, Message, Session
from chatkit_core.platform import redisclient
from chatkit_core.platform.environment import EnvSetter, fallback
from chatkit_redis.attachments import SESSION_FIELDS, RedisAttachments
from chatkit_redis.console import ConsoleIndex
from chatkit_redis.handoffs import RedisHandoffs
from chatkit_redis.migrate import migrate

if TYPE_CHECKING:
    from redis.typing import EncodableT

# Storing a message and indexing it for the console, in one call. KEYS: session hash, message
# list, sessions index, then the console's (:meth:`ConsoleIndex.keys`): started, seen, the
# conversation's keys set, the sets to join. ARGV: message, max messages, TTL ms, now, id.
_STORE = """
local function store()
    redis.call('RPUSH', KEYS[2], ARGV[1])
    redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
end

local function touch()
    redis.call('HSET', KEYS[1], 'last_seen', ARGV[4])
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
    redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
    local created = redis.call('HGET', KEYS[1], 'created_at')
    redis.call('ZADD', KEYS[4], 'NX', created, ARGV[5])
    redis.call('ZADD', KEYS[5], ARGV[4], ARGV[5])
    for i = 7, #KEYS do
        redis.call('ZADD', KEYS[i], created, ARGV[5])
        redis.call('SADD', KEYS[6], KEYS[i])
    end
end
"""

# A message already last in the list (its id makes it unique) is not pushed again, so the
# reconnect after a lost connection cannot store it twice.
_APPEND = _STORE + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('LINDEX', KEYS[2], -1) ~= ARGV[1] then store() end
touch()
return 1
"""

# The same for a visitor's question, also returning the history: ARGV[6] the question's
# content and ARGV[7] how many messages to return. A question equal to the last, still
# unanswered one is not stored again. Returns nil when the session is gone, else the last
# messages, oldest first.
_ASK = _STORE + """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local last = redis.call('LINDEX', KEYS[2], -1)
if last then
    local message = cjson.decode(last)
    if message.role == 'user' and message.content == ARGV[6] then
        return redis.call('LRANGE', KEYS[2], -tonumber(ARGV[7]), -1)
    end
end
store()
touch()
return redis.call('LRANGE', KEYS[2], -tonumber(ARGV[7]), -1)
"""

log = structlog.get_logger("chatkit.redis")


class RedisOptions(SessionStoreOptions, kw_only=True, forbid_unknown_fields=True):
    env: ClassVar[dict[str, EnvSetter]] = {"REDIS_URL": fallback("url")}
    key_prefix: str = "chatkit:"
    """Prefix of every key, so several deployments can share one Redis database."""
    timeout: float = 2.0
    """Seconds to connect or to wait for an answer before the store counts as unavailable."""
    max_connections: int = 50
    """Redis connections per process; more concurrent requests wait (up to ``timeout``) for one."""

    def __post_init__(self) -> None:
        super().__post_init__()
        redisclient.check_options(self.url, self.timeout, self.max_connections, "redis://127.0.0.1:6379/1")


class RedisStore(SessionStore, Listing, RedisHandoffs, AttachmentStore):
    """Conversations in Redis. A Redis outage raises :class:`StoreUnavailable` (the API answers
    503 and the visitor tries again); beyond one reconnect for a lost connection nothing is
    retried here, and the first call after Redis is back succeeds."""

    Options = RedisOptions
    options: RedisOptions

    def __init__(self, options: RedisOptions) -> None:
        super().__init__(options)
        self._redis = redisclient.client(options.url, timeout=options.timeout,
                                         max_connections=options.max_connections)
        self._append = self._redis.register_script(_APPEND)
        self._ask = self._redis.register_script(_ASK)
        self._ttl_ms = int(self.ttl * 1000)
        self._index = options.key_prefix + "sessions"
        self.console = ConsoleIndex(self._redis, options.key_prefix, self._keys)
        self._init_handoffs()
        self.files = RedisAttachments(self._redis, self._keys)

    async def start(self) -> None:
        from redis.exceptions import RedisError

        try:
            await migrate(self._redis, self.options.key_prefix)
        except RedisError as error:  # Redis is down: the next start migrates; until then, 503s as ever
            log.warning("redis_migration_deferred", error=str(error))

    async def close(self) -> None:
        await self._redis.aclose()

    def _keys(self, session_id: str) -> tuple[str, str]:
        prefix = self.options.key_prefix
        return f"{prefix}session:{session_id}", f"{prefix}messages:{session_id}"

    async def create(self, metadata: dict[str, Any]) -> Session:
        session = self._new_session(metadata)
        session_key, _ = self._keys(session.id)
        fields: dict[EncodableT, EncodableT] = {
            "created_at": repr(session.created_at), "last_seen": repr(session.last_seen), "metadata": encode(metadata)}
        async with _unavailable(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(session_key, mapping=fields)
            pipe.pexpire(session_key, self._ttl_ms)
            pipe.zadd(self._index, {session.id: session.last_seen})
            # Expired sessions leave the index here, so it stays bounded without a sweeper.
            pipe.zremrangebyscore(self._index, "-inf", session.last_seen - self.ttl)
            await pipe.execute()
        return session

    async def get(self, session_id: str) -> Session | None:
        session_key, _ = self._keys(session_id)
        async with _unavailable():
            created_at, last_seen, metadata = await self._redis.hmget(session_key, SESSION_FIELDS)
        if created_at is None or last_seen is None:
            return None
        return Session(id=session_id, created_at=float(created_at), last_seen=float(last_seen),
                       metadata=decode_metadata(metadata or b"{}"))

    async def append(self, session_id: str, message: Message) -> bool:
        async with _unavailable():
            return bool(await self._append(keys=self._store_keys(session_id, message), args=self._store_args(
                session_id, message)))

    async def ask(self, session_id: str, question: Message, limit: int) -> list[Message] | None:
        args = [*self._store_args(session_id, question), question.content, limit]
        async with _unavailable():
            found = await self._ask(keys=self._store_keys(session_id, question), args=args)
        return None if found is None else [decode_message(item) for item in found]

    def _store_keys(self, session_id: str, message: Message) -> list[str]:
        return [*self._keys(session_id), self._index, *self.console.keys(session_id, message, self.search_index)]

    def _store_args(self, session_id: str, message: Message) -> list[EncodableT]:
        return [encode(message), self.options.max_messages, self._ttl_ms, repr(time.time()), session_id]

    async def messages(self, session_id: str, limit: int | None = None) -> list[Message] | None:
        session_key, messages_key = self._keys(session_id)
        async with _unavailable(), self._redis.pipeline(transaction=True) as pipe:
            pipe.exists(session_key)
            pipe.lrange(messages_key, -limit if limit else 0, -1)
            exists, items = await pipe.execute()
        if not exists:
            return None
        return [decode_message(item) for item in items]

    async def delete(self, session_id: str) -> bool:
        async with _unavailable(), self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*self._keys(session_id))
            pipe.zrem(self._index, session_id)
            deleted, _ = await pipe.execute()
        await self.forget_handoff(conversation_id_of(session_id))
        return deleted > 0

    async def count(self) -> int:
        async with _unavailable(), self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(self._index, "-inf", time.time() - self.ttl)
            pipe.zcard(self._index)
            _, live = await pipe.execute()
        return live

    async def set_feedback(self, session_id: str, message_id: str, feedback: Feedback) -> Message | None:
        async with _unavailable():
            return await self.console.set_feedback(session_id, message_id, feedback)

    async def add_attachment(self, session_id: str, attachment: StoredAttachment, max_per_session: int) -> bool | None:
        async with _unavailable():
            return await self.files.add(session_id, attachment, max_per_session)

    async def attachments(self, session_id: str, ids: list[str]) -> list[StoredAttachment]:
        async with _unavailable():
            return await self.files.read(session_id, ids)

    async def list_conversations(self, query: ConversationQuery, cursor: str | None = None,
                                 limit: int = 50) -> ConversationPage:
        after = decode_cursor(cursor) if cursor else None
        async with _unavailable():
            return await self.console.page(query, after, limit, time.time() - self.ttl)

    async def erase_inactive(self, before: float) -> int:
        async with _unavailable():
            return await self.console.erase_inactive(before)

    async def revoke(self, sign_in: str, until: float) -> None:
        milliseconds = max(1, int((until - time.time()) * 1000))
        async with _unavailable():
            await self._redis.set(f"{self.options.key_prefix}console:revoked:{sign_in}", b"1", px=milliseconds)

    async def revoked(self, sign_in: str) -> bool:
        async with _unavailable():
            return bool(await self._redis.exists(f"{self.options.key_prefix}console:revoked:{sign_in}"))

    async def health(self) -> Health:
        from redis.exceptions import RedisError

        try:
            await self._redis.ping()
        except RedisError as error:
            # /health is public: name the failure, keep addresses for the logs.
            return Health("down", f"redis unreachable ({type(error).__name__})")
        return Health("up")


@contextlib.asynccontextmanager
async def _unavailable() -> AsyncIterator[None]:
    from redis.exceptions import RedisError  # already loaded by the client; not at plugin import

    try:
        yield
    except RedisError as error:
        raise StoreUnavailable(f"redis: {error}") from error
