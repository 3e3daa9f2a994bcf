"""Console listing and search at scale: ``python -m bench.console [--conversations N]``.

Fills a SQLite store, a Redis store (a redis-server started here, on a free port) and a
PostgreSQL store (a server started here from Debian's ``postgresql``) with N conversations
(default 100,000) through the stores' own schema, triggers, scripts and functions, then times
the first page of the console's listing for each kind of query. Writes
``bench/results/console.md``; the target is p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec

from chatkit_core.builtins.sqlite_store import SQLiteStore
from chatkit_core.chat.listing import ConversationQuery
from chatkit_core.chat.sessions import SessionStore, SessionStoreOptions
from chatkit_core.models import Feedback, Message, Source, new_session_id, to_rfc3339

RESULTS = Path(__file__).resolve().parent / "results" / "console.md"
TARGET_MS = 50.0
RUNS = 40
SPAN = 20 * 3600
"""Conversations start over the last 20 hours, inside the default 24-hour session TTL."""

TOPICS = ["opening hours", "delivery to canada", "refund policy", "gift cards", "gluten free bread", "birthday cake",
          "parking", "vegan options", "wholesale prices", "job openings", "allergens", "sourdough starter"]
VOCABULARY = [f"word{index}" for index in range(5000)]

QUERIES: dict[str, ConversationQuery] = {
    "newest first, no filter": ConversationQuery(),
    "search, common word (~8%)": ConversationQuery(text="refund"),
    "search, rarer word (~0.3%)": ConversationQuery(text="word4321"),
    "search, two rare words": ConversationQuery(text="word4321 word17"),
    "search, no match": ConversationQuery(text="zebra"),
    "search, two words": ConversationQuery(text="birthday cake"),
    "thumbs down (~3%)": ConversationQuery(thumbs_down=True),
    "fell back (~10%)": ConversationQuery(fell_back=True),
    "incomplete (~2%)": ConversationQuery(incomplete=True),
    "no sources (~30%)": ConversationQuery(unsourced=True),
    "provider cloud (~10%)": ConversationQuery(provider="cloud"),
    "search + thumbs down": ConversationQuery(text="refund", thumbs_down=True),
}


def conversation(rng: random.Random, started: float) -> tuple[str, float, list[Message]]:
    """A question and an answer, with the mix of outcomes the filters look for."""
    topic = rng.choice(TOPICS)
    extra = " ".join(rng.choices(VOCABULARY, k=3))
    fell_back = rng.random() < 0.10
    question = Message(id="msg_q" + str(rng.getrandbits(48)), role="user", created_at=to_rfc3339(started),
                       content=f"Hello, a question about {topic}: {extra}?")
    answer = Message(
        id="msg_a" + str(rng.getrandbits(48)), role="assistant", created_at=to_rfc3339(started + 1.5),
        content=f"Here is what I know about {topic}. " + " ".join(rng.choices(VOCABULARY, k=12)),
        provider="cloud" if fell_back else "local", model="m", fallbacks=["local:timeout"] if fell_back else [],
        incomplete=rng.random() < 0.02, usage={"ttftMs": rng.randint(80, 900)},
        sources=[] if rng.random() < 0.3 else [Source("Opening hours", "/hours")],
        feedback=Feedback(rating="down") if rng.random() < 0.03 else None)
    return new_session_id(), started, [question, answer]


def conversations(count: int, seed: int = 7) -> list[tuple[str, float, list[Message]]]:
    rng = random.Random(seed)
    now = time.time()
    return [conversation(rng, now - SPAN + SPAN * index / count) for index in range(count)]


def fill_sqlite(db: sqlite3.Connection, data: list[tuple[str, float, list[Message]]]) -> None:
    """Plain inserts in big transactions: the store's triggers build its console index."""
    encode = msgspec.json.encode
    for start in range(0, len(data), 10_000):
        batch = data[start:start + 10_000]
        db.execute("BEGIN")
        db.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?)",
                       [(sid, created, created + 2, b"{}") for sid, created, _ in batch])
        db.executemany("INSERT INTO messages (session_id, body) VALUES (?, ?)",
                       [(sid, encode(message)) for sid, _, messages in batch for message in messages])
        db.execute("COMMIT")


async def fill_redis(store, data: list[tuple[str, float, list[Message]]]) -> None:
    """The store's own writes (session hash, append script with its console indexing), pipelined."""
    redis = store._redis
    for start in range(0, len(data), 2000):
        async with redis.pipeline(transaction=False) as pipe:
            for sid, created, messages in data[start:start + 2000]:
                session_key, messages_key = store._keys(sid)
                pipe.hset(session_key, mapping={"created_at": repr(created), "last_seen": repr(created + 2),
                                                "metadata": b"{}"})
                pipe.pexpire(session_key, store._ttl_ms)
                pipe.zadd(store._index, {sid: created + 2})
                for message in messages:
                    keys = [session_key, messages_key, store._index, *store.console.keys(sid, message)]
                    await store._append(keys=keys, client=pipe, args=[
                        msgspec.json.encode(message), store.options.max_messages, store._ttl_ms,
                        repr(created + 2), sid])
            await pipe.execute()


async def fill_postgres(store, data: list[tuple[str, float, list[Message]]]) -> None:
    """Sessions by COPY, then each message through the store's own ``chatkit_append``."""
    from chatkit_postgres.store import _APPEND, _title, _words

    from chatkit_core.chat.listing import Flags

    async with store.pool.connection() as conn:
        await conn.execute("SET statement_timeout = 0")  # bulk loading, not the store's own calls
        await conn.copy_records_to_table("chatkit_sessions", columns=["id", "created_at", "last_seen"],
                                         records=[(sid, created, created + 2) for sid, created, _ in data],
                                         timeout=600)
        for start in range(0, len(data), 5000):
            rows = []
            for sid, created, messages in data[start:start + 5000]:
                for message in messages:
                    flags = Flags.of([message])
                    rows.append((sid, 0.0, created + 2, store.options.max_messages, message.id, message.role,
                                 msgspec.json.encode(message).decode(), _title(message.content),
                                 next(iter(flags.providers), None), flags.thumbs_down, flags.incomplete,
                                 flags.fell_back, flags.unsourced, _words(message.content)))
            await conn.executemany(_APPEND, rows, timeout=600)
        await conn.execute("ANALYZE", timeout=600)
        await conn.execute("RESET statement_timeout")


async def timed(call: Callable[[], Awaitable[object]], runs: int = RUNS) -> list[float]:
    await call()  # warm caches and connections
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        await call()
        times.append((time.perf_counter() - began) * 1000)
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


async def measure(store: SessionStore) -> dict[str, tuple[float, float, int]]:
    results = {}
    for name, query in QUERIES.items():
        page = await store.list_conversations(query, limit=50)
        times = await timed(lambda query=query: store.list_conversations(query, limit=50))
        results[name] = (statistics.median(times), p95(times), len(page.items))
    cursor = (await store.list_conversations(ConversationQuery(), limit=50)).next
    times = await timed(lambda: store.list_conversations(ConversationQuery(), cursor=cursor, limit=50))
    results["second page (cursor)"] = (statistics.median(times), p95(times), 50)
    return results


@contextlib.asynccontextmanager
async def redis_server(directory: Path) -> AsyncIterator[str]:
    from bench.procs import free_port

    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(directory)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            await asyncio.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


async def run(count: int) -> dict[str, dict[str, tuple[float, float, int]]]:
    data = conversations(count)
    results: dict[str, dict[str, tuple[float, float, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp}/bench.sqlite3"))
        await store.start()
        began = time.perf_counter()
        await store._run(fill_sqlite, data)
        print(f"sqlite: {count} conversations stored in {time.perf_counter() - began:.1f}s")
        results["SQLite"] = await measure(store)
        await store.close()
        if shutil.which("redis-server"):
            import msgspec as _msgspec
            from chatkit_redis import RedisOptions, RedisStore

            async with redis_server(Path(tmp)) as url:
                redis_store = RedisStore(_msgspec.convert({"store": "redis", "url": url, "timeout": 30}, RedisOptions))
                began = time.perf_counter()
                await fill_redis(redis_store, data)
                print(f"redis: {count} conversations stored in {time.perf_counter() - began:.1f}s")
                results["Redis"] = await measure(redis_store)
                await redis_store.close()
        results.update(await run_postgres(data))
    return results


async def run_postgres(data: list[tuple[str, float, list[Message]]]) -> dict[str, dict[str, tuple[float, float, int]]]:
    from chatkit_postgres import PostgresOptions, PostgresStore

    from tests.support.postgres import BIN, PostgresServer, init_cluster

    if BIN is None:
        return {}
    template = init_cluster()
    server = PostgresServer(template)
    server.start()
    try:
        store = PostgresStore(msgspec.convert({"store": "postgres", "url": server.create_database("console")},
                                              PostgresOptions))
        await store.start()
        began = time.perf_counter()
        await fill_postgres(store, data)
        print(f"postgres: {len(data)} conversations stored in {time.perf_counter() - began:.1f}s")
        results = {"PostgreSQL": await measure(store)}
        await store.close()
    finally:
        server.remove()
        shutil.rmtree(template.parent, ignore_errors=True)
    return results


def report(count: int, results: dict[str, dict[str, tuple[float, float, int]]]) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# Console listing and search",
        "",
        f"First page (50 conversations) of the console's listing with {count:,} stored conversations,",
        f"{RUNS} runs per query after one warm-up, on this machine ({stamp}).",
        f"Target: p95 <= {TARGET_MS:.0f} ms. Reproduce with `python -m bench.console`.",
        "",
    ]
    for store, rows in results.items():
        lines += [f"## {store}", "", "| query | p50 ms | p95 ms | rows | target |", "|---|---:|---:|---:|---|"]
        for name, (median, high, rows_found) in rows.items():
            verdict = "ok" if high <= TARGET_MS else "**over**"
            lines.append(f"| {name} | {median:.1f} | {high:.1f} | {rows_found} | {verdict} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = asyncio.run(run(args.conversations))
    text = report(args.conversations, results)
    args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
