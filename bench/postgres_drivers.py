"""psycopg 3 against asyncpg on the PostgreSQL store's hot path: ``python -m bench.postgres_drivers``.

One exchange is what a chat turn asks of the store: ``ask`` (store the visitor's question, read
the recent history, one call of ``chatkit_ask``) then ``append`` (store the answer, one call of
``chatkit_append``), with the store's own encoding and decoding around them. Each driver runs
the same exchanges against one real PostgreSQL started here (Debian's ``postgresql``), through
its own pool (psycopg_pool; asyncpg's own with its defaults; asyncpg's as chatkit-postgres opens
it, which runs no reset query when a connection goes back), at two concurrencies: 1 (latency
of each call) and 16 (CPU per exchange when the pool is busy). Rounds alternate between the
drivers and the median round is reported; CPU is this process's CPU time (the client's: what a
ChatKit worker spends), not the server's.

Writes ``bench/results/postgres-drivers.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from chatkit_postgres.schema import MIGRATIONS

from chatkit_core.chat.listing import words
from chatkit_core.models import Message, new_message_id, new_session_id, now_rfc3339
from tests.support.postgres import BIN, PostgresServer, init_cluster

RESULTS = Path(__file__).resolve().parent / "results" / "postgres-drivers.md"
SESSIONS = 200
HISTORY = 20
KEEP = 1000
ASK = "SELECT chatkit_ask($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
APPEND = "SELECT chatkit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
ANSWER = ("We bake sourdough, rye and spelt every morning; the gluten-free loaves come on Fridays. "
          "Orders for cakes need two days' notice.")

Call = Callable[[str, tuple[Any, ...]], Awaitable[Any]]


def ask_args(session_id: str, number: int) -> tuple[Any, ...]:
    content = f"Do you have rye bread today? ({number})"
    question = Message(id=new_message_id(), role="user", content=content, created_at=now_rfc3339())
    now = time.time()
    return (session_id, now - 86400, now, KEEP, HISTORY, question.id, msgspec.json.encode(question).decode(),
            content, content[:200], list(dict.fromkeys(words(content))))


def append_args(session_id: str) -> tuple[Any, ...]:
    answer = Message(id=new_message_id(), role="assistant", content=ANSWER, created_at=now_rfc3339(),
                     provider="local", model="llama3.2", usage={"ttftMs": 120})
    now = time.time()
    return (session_id, now - 86400, now, KEEP, answer.id, "assistant", msgspec.json.encode(answer).decode(), "",
            answer.provider, False, False, False, True, list(dict.fromkeys(words(answer.content))))


async def exchange(call: Call, session_id: str, number: int, latencies: dict[str, list[float]]) -> None:
    began = time.perf_counter()
    history = await call(ASK, ask_args(session_id, number))
    msgspec.json.decode(history, type=list[Message])
    asked = time.perf_counter()
    assert await call(APPEND, append_args(session_id))
    latencies["ask"].append((asked - began) * 1000)
    latencies["append"].append((time.perf_counter() - asked) * 1000)


def psycopg_sql(sql: str) -> str:
    """``$1, $2`` placeholders as psycopg's ``%s``."""
    import re

    return re.sub(r"\$\d+", "%s", sql)


async def psycopg_calls(url: str, size: int) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(url, min_size=size, max_size=size, open=False, kwargs={"autocommit": True})
    await pool.open(wait=True)
    statements = {ASK: psycopg_sql(ASK), APPEND: psycopg_sql(APPEND)}

    async def call(sql: str, args: tuple[Any, ...]) -> Any:
        async with pool.connection() as conn:
            row = await (await conn.execute(statements[sql], args)).fetchone()
            return row[0] if row else None

    return call, pool.close


async def asyncpg_calls(url: str, size: int) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import asyncpg

    pool = await asyncpg.create_pool(url, min_size=size, max_size=size)

    async def call(sql: str, args: tuple[Any, ...]) -> Any:
        return await pool.fetchval(sql, *args)

    return call, pool.close


async def store_calls(url: str, size: int) -> tuple[Call, Callable[[], Awaitable[None]]]:
    """asyncpg through the pool chatkit-postgres opens (no reset query on release)."""
    from chatkit_postgres.connection import open_pool
    from chatkit_postgres.options import PostgresOptions

    pool = await open_pool(msgspec.convert({"store": "postgres", "url": url, "max_connections": size},
                                           PostgresOptions))

    async def call(sql: str, args: tuple[Any, ...]) -> Any:
        return await pool.fetchval(sql, *args)

    return call, pool.close


DRIVERS = {"psycopg 3": psycopg_calls, "asyncpg": asyncpg_calls, "asyncpg, chatkit-postgres's pool": store_calls}


async def one_round(driver: str, url: str, sessions: list[str], exchanges: int, concurrency: int) -> dict[str, float]:
    call, close = await DRIVERS[driver](url, max(concurrency, 2))
    latencies: dict[str, list[float]] = {"ask": [], "append": []}
    try:
        for number in range(20):  # warm: connections, prepared statements, caches
            await exchange(call, sessions[number % len(sessions)], number, {"ask": [], "append": []})
        queue = iter(range(exchanges))

        async def worker() -> None:
            for number in queue:
                await exchange(call, sessions[number % len(sessions)], number, latencies)

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await close()
    return {"cpu_ms": cpu / exchanges * 1000, "per_s": exchanges / wall,
            "ask_p50": statistics.median(latencies["ask"]), "ask_p95": p95(latencies["ask"]),
            "append_p50": statistics.median(latencies["append"]), "append_p95": p95(latencies["append"])}


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def prepare(server: PostgresServer) -> tuple[str, list[str]]:
    url = server.create_database("drivers")
    for migration in MIGRATIONS:
        server.psql(migration.sql, "drivers")
    sessions = [new_session_id() for _ in range(SESSIONS)]
    now = time.time()
    values = ", ".join(f"('{sid}', {now}, {now})" for sid in sessions)
    server.psql(f"INSERT INTO chatkit_sessions (id, created_at, last_seen) VALUES {values}", "drivers")
    return url, sessions


async def run(rounds: int, exchanges: int) -> dict[tuple[str, int], dict[str, float]]:
    assert BIN is not None, "needs PostgreSQL (apt-get install postgresql)"
    template = init_cluster()
    server = PostgresServer(template)
    server.start()
    try:
        url, sessions = prepare(server)
        results: dict[tuple[str, int], list[dict[str, float]]] = {}
        for _ in range(rounds):
            for concurrency in (1, 16):
                for driver in DRIVERS:
                    measured = await one_round(driver, url, sessions, exchanges, concurrency)
                    results.setdefault((driver, concurrency), []).append(measured)
                    print(driver, concurrency, {k: round(v, 3) for k, v in measured.items()}, flush=True)
    finally:
        server.remove()
        shutil.rmtree(template.parent, ignore_errors=True)
    return {key: median_round(rows) for key, rows in results.items()}


def median_round(rows: list[dict[str, float]]) -> dict[str, float]:
    """The round with the median CPU per exchange (its other figures with it)."""
    return sorted(rows, key=lambda row: row["cpu_ms"])[len(rows) // 2]


def report(results: dict[tuple[str, int], dict[str, float]], rounds: int, exchanges: int, load: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# PostgreSQL drivers on the store's hot path",
        "",
        f"{exchanges} exchanges (`ask` + `append`) per round, {rounds} rounds per driver and concurrency,",
        f"median round; one local PostgreSQL, pool as large as the concurrency. {stamp}, load average",
        f"{load} before the run (a shared 2-core machine). Reproduce with `python -m bench.postgres_drivers`.",
        "",
        "| driver | in flight | client CPU per exchange (ms) | exchanges/s | ask p50 / p95 (ms) "
        "| append p50 / p95 (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for (driver, concurrency), row in results.items():
        lines.append(f"| {driver} | {concurrency} | {row['cpu_ms']:.3f} | {row['per_s']:.0f} | "
                     f"{row['ask_p50']:.2f} / {row['ask_p95']:.2f} | "
                     f"{row['append_p50']:.2f} / {row['append_p95']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--exchanges", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    results = asyncio.run(run(args.rounds, args.exchanges))
    text = report(results, args.rounds, args.exchanges, load)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
