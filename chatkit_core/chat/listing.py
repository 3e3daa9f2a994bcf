"""Listing and search of conversations, for the console: the query language, the summaries and
pages a store returns, and :class:`Listing`, the interface a store implements to offer them.

A store that does not implement it still keeps conversations; the console is then off.
"""

from __future__ import annotations

import base64
import binascii
import re

import msgspec

from chatkit_core.models import Message, Session

WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORD = 64
MAX_INDEXED_WORDS = 64
"""Distinct words of one message a store indexes for search: a message of random words must not
make a store keep a set per word."""


def words(text: str) -> list[str]:
    """The words search matches: lower-cased runs of letters and digits."""
    return [w[:MAX_WORD] for w in WORD.findall(text.lower())]


def indexed_words(text: str) -> list[str]:
    """The distinct words of ``text`` a store indexes, at most :data:`MAX_INDEXED_WORDS`."""
    return list(dict.fromkeys(words(text)))[:MAX_INDEXED_WORDS]


class ConversationQuery(msgspec.Struct, kw_only=True, frozen=True):
    """What the console asks a store for. Empty fields do not filter."""

    text: str = ""
    """Words that must all occur in the conversation's messages."""
    thumbs_down: bool = False
    incomplete: bool = False
    fell_back: bool = False
    unsourced: bool = False
    """An answer with no sources (with a knowledge base, it found nothing)."""
    provider: str = ""
    since: float | None = None
    """Conversations started at or after this time (epoch seconds)."""
    until: float | None = None
    """Conversations started before this time."""


class ConversationSummary(msgspec.Struct, kw_only=True):
    id: str
    created_at: float
    last_seen: float
    title: str
    """The first question, as stored (sanitized text)."""
    messages: int
    providers: list[str] = msgspec.field(default_factory=list)
    thumbs_down: bool = False
    incomplete: bool = False
    fell_back: bool = False
    unsourced: bool = False


class ConversationPage(msgspec.Struct, kw_only=True):
    items: list[ConversationSummary]
    next: str | None = None
    """Cursor of the following page; None on the last."""


class BadCursor(ValueError):
    """A cursor that no listing produced."""


class Flags(msgspec.Struct, kw_only=True):
    """What the filters look at, gathered over a conversation's answers."""

    providers: set[str] = msgspec.field(default_factory=set)
    thumbs_down: bool = False
    incomplete: bool = False
    fell_back: bool = False
    unsourced: bool = False

    @classmethod
    def of(cls, messages: list[Message]) -> Flags:
        flags = cls()
        for message in messages:
            if message.role != "assistant":
                continue
            if message.provider:
                flags.providers.add(message.provider)
            flags.thumbs_down |= message.feedback is not None and message.feedback.rating == "down"
            flags.incomplete |= message.incomplete
            flags.fell_back |= bool(message.fallbacks)
            flags.unsourced |= not message.sources
        return flags

    def match(self, query: ConversationQuery) -> bool:
        return ((not query.thumbs_down or self.thumbs_down) and (not query.incomplete or self.incomplete)
                and (not query.fell_back or self.fell_back) and (not query.unsourced or self.unsourced)
                and (not query.provider or query.provider in self.providers))


def summary(session: Session, messages: list[Message]) -> ConversationSummary:
    flags = Flags.of(messages)
    title = next((m.content for m in messages if m.role == "user"), "")
    return ConversationSummary(
        id=session.id, created_at=session.created_at, last_seen=session.last_seen, title=title[:200],
        messages=len(messages), providers=sorted(flags.providers), thumbs_down=flags.thumbs_down,
        incomplete=flags.incomplete, fell_back=flags.fell_back, unsourced=flags.unsourced)


def encode_cursor(created_at: float, session_id: str) -> str:
    raw = msgspec.json.encode([created_at, session_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, session_id = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)),
                                                     type=tuple[float, str])
    except (ValueError, msgspec.DecodeError, binascii.Error):
        raise BadCursor("not a cursor from this listing") from None
    return created_at, session_id


class Listing:
    """What a session store implements, besides :class:`~chatkit_core.chat.sessions.SessionStore`,
    for the console to list, search and age out conversations."""

    search_index: bool = True
    """False when the console is off (the core sets it): a store need not index words then."""

    async def list_conversations(self, query: ConversationQuery, cursor: str | None = None,
                                 limit: int = 50) -> ConversationPage:
        """Conversations holding at least one message, newest (by start) first.

        ``cursor`` is the opaque ``next`` of the previous page; a malformed one raises
        :class:`BadCursor`. A conversation matches when every word of ``query.text`` occurs in
        its messages and each set filter holds for at least one of its answers.
        """
        raise NotImplementedError

    async def erase_inactive(self, before: float) -> int:
        """Erase every conversation whose last activity is older than ``before`` (epoch seconds);
        how many went. The retention sweep calls it."""
        raise NotImplementedError

    async def revoke(self, sign_in: str, until: float) -> None:
        """Remember until ``until`` (epoch seconds) that the console sign-in ``sign_in`` was ended
        (sign-out), for every instance that shares the store."""
        raise NotImplementedError

    async def revoked(self, sign_in: str) -> bool:
        raise NotImplementedError
