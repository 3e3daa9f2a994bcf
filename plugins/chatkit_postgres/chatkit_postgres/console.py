"""The console's listing and search as SQL over the store's tables.

A conversation is a session holding a message. A page walks the sessions newest first, through
``chatkit_sessions_listed`` or, with a flag filter, that flag's partial index (each session
counts its flagged answers); the provider and each search word are an ``EXISTS`` over the
conversation's messages, answered from the provider index or the GIN index on ``words`` (the
planner drives from a rare word's hits instead of walking). The providers a page shows are
gathered for its conversations only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatkit_core.chat.listing import ConversationPage, ConversationQuery, ConversationSummary, encode_cursor, words

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection | PoolConnectionProxy

FLAG_COLUMNS = {"thumbs_down": "down", "incomplete": "incomplete", "fell_back": "fell_back", "unsourced": "unsourced"}

_HAS = "EXISTS (SELECT 1 FROM chatkit_messages m WHERE m.session_id = s.id AND {})"

_PAGE = """
SELECT s.id, s.created_at, s.last_seen, s.title, s.messages, s.down, s.incomplete, s.fell_back, s.unsourced
FROM chatkit_sessions s
WHERE s.messages > 0 AND {where}
ORDER BY s.created_at DESC, s.id DESC LIMIT {limit}
"""

_PROVIDERS = """
SELECT session_id, array_agg(DISTINCT provider ORDER BY provider) FROM chatkit_messages
WHERE session_id = ANY($1::text[]) AND provider IS NOT NULL GROUP BY session_id
"""


def page_query(query: ConversationQuery, after: tuple[float, str] | None, limit: int,
               alive_after: float) -> tuple[str, list[Any]]:
    """The SQL and arguments of one page (``limit + 1`` rows: the last says whether more follow)."""
    args: list[Any] = [alive_after]
    where = ["s.last_seen > $1"]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where += [f"s.{column} > 0" for flag, column in FLAG_COLUMNS.items() if getattr(query, flag)]
    if query.provider:
        where.append(_HAS.format(f"m.provider = {arg(query.provider)}"))
    for word in dict.fromkeys(words(query.text)):
        where.append(_HAS.format(f"m.words @> ARRAY[{arg(word)}::text]"))
    if query.since is not None:
        where.append(f"s.created_at >= {arg(query.since)}")
    if query.until is not None:
        where.append(f"s.created_at < {arg(query.until)}")
    if after is not None:
        where.append(f"(s.created_at, s.id) < ({arg(after[0])}, {arg(after[1])})")
    return _PAGE.format(where=" AND ".join(where), limit=int(limit) + 1), args


async def page(conn: Conn, query: ConversationQuery, after: tuple[float, str] | None, limit: int,
               alive_after: float) -> ConversationPage:
    sql, args = page_query(query, after, limit, alive_after)
    rows = await conn.fetch(sql, *args)
    more, rows = len(rows) > limit, rows[:limit]
    providers: dict[str, list[str]] = {
        found[0]: found[1] for found in await conn.fetch(_PROVIDERS, [row[0] for row in rows])} if rows else {}
    items = [_summary(row, providers.get(row[0], [])) for row in rows]
    return ConversationPage(items=items, next=encode_cursor(items[-1].created_at, items[-1].id) if more else None)


def _summary(row: asyncpg.Record, providers: list[str]) -> ConversationSummary:
    return ConversationSummary(
        id=row[0], created_at=row[1], last_seen=row[2], title=row[3], messages=row[4], providers=list(providers),
        thumbs_down=row[5] > 0, incomplete=row[6] > 0, fell_back=row[7] > 0, unsourced=row[8] > 0)
