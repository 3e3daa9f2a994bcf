"""The measurements. Each returns plain data for the report.

"Added" numbers are ChatKit's percentile minus the same percentile of the mock answering
the same load directly, so the mock's fixed latency and the client's own cost cancel out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import resource
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench import calls, procs
from bench.client import Call, Connection, Sample, closed_loop, open_loop
from bench.setup import Setup


@dataclass
class Env:
    ports: dict[str, int]
    """Mock listeners by pacing: ``reply``, ``stream``, ``slow``, ``instant``; ``dead`` refuses."""
    core: str | None
    redis: int | None
    workers: int
    """Workers for the throughput sections; latency sections use one."""
    scale: float
    """Multiplies every duration (``--quick`` runs shorter)."""
    postgres: int | None = None
    """Port of a throwaway PostgreSQL, when chatkit-postgres is installed."""
    pids: dict[str, int] = field(default_factory=dict)
    """The helper processes, for their CPU: ``mock``, ``redis``, ``postgres``."""

    def seconds(self, value: float) -> float:
        return max(1.0, value * self.scale)


@contextlib.contextmanager
def serving(env: Env, setup: Setup, workers: int = 1, name: str = "chatkit", shared: bool = False
            ) -> Iterator[tuple[int, list[int]]]:
    """ChatKit with ``setup``; several workers (or ``shared``) keep conversations in a fresh SQLite
    file, as ChatKit requires (the memory store lives in one process), as does the SQLite store
    without a URL."""
    if ((workers > 1 or shared) and setup.store == "memory") or (setup.store == "sqlite" and not setup.store_url):
        for stale in procs.LOGS.glob(f"{name}.sqlite3*"):
            stale.unlink()
        setup = dataclasses.replace(setup, store="sqlite", store_url=f"sqlite:///{procs.LOGS}/{name}.sqlite3")
    with procs.chatkit(setup.toml(), workers, None, env.core, name) as (port, proc):
        yield port, procs.workers(proc)


def live(env: Env, kind: str = "ollama", pacing: str = "reply", **setup: object) -> Setup:
    return Setup([("live", kind, env.ports[pacing])], **setup)


def pool(rate: float, seconds_each: float) -> int:
    """Connections enough for ``rate`` requests each busy ``seconds_each``, with room for spikes."""
    return max(32, int(rate * seconds_each * 3))


async def _connect(port: int, count: int, chats: int | None) -> list[Connection]:
    connections = [Connection("127.0.0.1", port) for _ in range(count)]
    if chats is None:
        await asyncio.gather(*(c.open() for c in connections))
    else:
        await calls.prepare(connections, chats)
    return connections


async def run(port: int, call: Call, rate: float | None, duration: float, connections: int,
              pids: list[int] | None = None, chatkit: bool = True, others: dict[str, list[int]] | None = None,
              ) -> dict:
    """One load run; ``rate`` None is closed-loop. With ``pids``, also their CPU per request; with
    ``others`` (named groups of pids), theirs, the load client's own, each worker's busy cores, how
    busy the whole machine was and the cores other work on it took meanwhile."""
    opened = await _connect(port, connections, int((rate or 2000) * duration) if chatkit else None)
    groups = {"server": pids or [], **(others or {}), **{str(pid): [pid] for pid in (pids or []) if others}}
    before = {name: procs.cpu_seconds(group) for name, group in groups.items()}
    machine, client, began = procs.machine_seconds(), _own_cpu(), time.perf_counter()
    try:
        sample: Sample = await (open_loop(opened, call, rate, duration) if rate
                                else closed_loop(opened, call, duration))
    finally:
        for connection in opened:
            connection.close()
    used = {name: procs.cpu_seconds(group) - before[name] for name, group in groups.items()}
    wall, requests = time.perf_counter() - began, max(sample.count, 1)
    result = sample.summary()
    if pids:
        result["server_cpu_ms_per_request"] = used["server"] / requests * 1000
    if others:
        result |= {f"{name}_cpu_ms_per_request": used[name] / requests * 1000 for name in others}
        client_used = _own_cpu() - client
        result["client_cpu_ms_per_request"] = client_used / requests * 1000
        result["worker_cores"] = [used[str(pid)] / wall for pid in pids or []]
        busy, total = (now - then for now, then in zip(procs.machine_seconds(), machine, strict=True))
        ours = used["server"] + sum(used[name] for name in others) + client_used
        result["machine_busy"] = busy / total if total else None
        result["other_cores"] = max(busy - ours, 0.0) / wall  # other users' work: the cores this run did not get
    return result


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def added(chatkit: dict, direct: dict) -> dict:
    out = {}
    for key in ("p50_ms", "p99_ms", "ttft_p50_ms", "ttft_p99_ms"):
        if chatkit.get(key) == chatkit.get(key) and direct.get(key) == direct.get(key):  # both not NaN
            out[f"added_{key}"] = chatkit[key] - direct[key]
    return out


async def warm(port: int, call: Call, rate: float = 50, chatkit: bool = True) -> None:
    await run(port, call, rate, 1.5, 16, chatkit=chatkit)


async def fixed_rates(env: Env, rates: list[int], kinds: list[str]) -> list[dict]:
    """1. Non-streamed chat at constant arrival rates: ChatKit vs the mock directly."""
    rows = []
    for kind in kinds:
        direct = calls.direct(kind)
        chat = calls.chatkit_chat(stream=False)
        kind_rates = rates if kind == "ollama" else rates[:1]
        baselines = {rate: await run(env.ports["reply"], direct, rate, env.seconds(8), pool(rate, 0.06),
                                     chatkit=False) for rate in kind_rates}
        with serving(env, live(env, kind), name=f"chatkit-rates-{kind}") as (port, pids):
            await warm(port, chat)
            for rate in kind_rates:
                result = await run(port, chat, rate, env.seconds(8), pool(rate, 0.06), pids)
                rows.append({"provider": kind, "rate": rate, "direct": baselines[rate], "chatkit": result,
                             **added(result, baselines[rate])})
    return rows


def shared_stores(env: Env) -> list[tuple[str, str, str | None]]:
    """``(store, url, helper)``: the stores several workers can share here, and the helper process
    whose CPU they add (SQLite's work is the workers' own)."""
    stores: list[tuple[str, str, str | None]] = [("sqlite", "", None)]
    if env.redis:
        stores.append(("redis", f"redis://127.0.0.1:{env.redis}/1", "redis"))
    if env.postgres:
        stores.append(("postgres", f"postgresql://chatkit@127.0.0.1:{env.postgres}/postgres", "postgres"))
    return stores


async def max_sustained(env: Env) -> list[dict]:
    """2. Highest constant rate with < 1% errors and p99 added latency < 10 ms: one worker with the
    memory store, then ``env.workers`` workers sharing the store made for it (PostgreSQL or Redis
    when here, else SQLite)."""
    if env.workers == 1:
        return [await _max_sustained(env, 1)]
    store, url, _ = shared_stores(env)[-1]
    return [await _max_sustained(env, 1), await _max_sustained(env, env.workers, store, url)]


async def _max_sustained(env: Env, workers: int, store: str = "memory", url: str = "") -> dict:
    chat = calls.chatkit_chat(stream=False)
    setup = live(env, store=store, store_url=url)
    with serving(env, setup, workers, name=f"chatkit-max-{workers}") as (port, pids):
        await warm(port, chat)
        estimate = await run(port, chat, None, env.seconds(6), 128, pids)
        capacity = estimate["rps"]
        tried = []
        for fraction in (1.0, 0.85, 0.7, 0.55, 0.4, 0.25, 0.1):
            rate = max(10, round(capacity * fraction))
            direct = await run(env.ports["reply"], calls.direct("ollama"), rate, env.seconds(5),
                               pool(rate, 0.06), chatkit=False)
            result = await run(port, chat, rate, env.seconds(5), pool(rate, 0.06), pids)
            row = {"rate": rate, "chatkit": result, "direct": direct, **added(result, direct)}
            tried.append(row)
            if result["error_rate"] < 0.01 and row.get("added_p99_ms", 1e9) < 10:
                break
        else:
            rate = None
    store = "sqlite" if store == "memory" and workers > 1 else store
    return {"workers": workers, "store": store, "closed_loop": estimate, "sustained_rps": rate, "tried": tried}


SCALING_CONNECTIONS = 256
"""uvicorn's workers accept from one shared socket, and which takes a new connection is luck:
128 keep-alive connections split as unevenly as 85/43, and a worker left with too few to keep
it busy would hide what a second worker adds. 256 keep each one saturated."""


async def scaling(env: Env, pairs: int = 3) -> list[dict]:
    """2b. Closed-loop throughput of one worker and of ``env.workers`` on each store several workers
    can share, alternating in ``pairs`` so that machine load hits both alike; with the CPU per
    request of the workers, the store's own process, the mock and the load client."""
    rows = []
    for store, url, helper in shared_stores(env):
        runs = []
        for pair in range(pairs):
            for workers in (1, env.workers):
                setup = live(env, store=store, store_url=url)
                runs.append(await _scaling_run(env, setup, workers, helper, f"chatkit-scaling-{store}-{pair}"))
        ratios = [two["rps"] / one["rps"] for one, two in zip(runs[::2], runs[1::2], strict=True) if one["rps"]]
        rows.append({"store": store, "workers": env.workers, "runs": runs, "ratios": ratios,
                     "ratio": statistics.median(ratios) if ratios else None})
    return rows


async def _scaling_run(env: Env, setup: Setup, workers: int, helper: str | None, name: str) -> dict:
    chat = calls.chatkit_chat(stream=False)
    with serving(env, setup, workers, name=f"{name}-{workers}", shared=True) as (port, pids):
        await warm(port, chat)
        others = {"mock": [env.pids["mock"]]} if "mock" in env.pids else {}
        if helper and helper in env.pids:
            others["store"] = procs.tree(env.pids[helper])  # PostgreSQL: a backend per connection
        result = await run(port, chat, None, env.seconds(6), SCALING_CONNECTIONS, pids, others=others)
    return {"workers": workers, **result}


async def streaming(env: Env, kinds: list[str], rate: float = 50) -> list[dict]:
    """3. Time to first token of streamed answers (50 chunks 20 ms apart)."""
    rows = []
    for kind in kinds:
        direct = await run(env.ports["stream"], calls.direct(kind), rate, env.seconds(8), pool(rate, 1.1),
                           chatkit=False)
        with serving(env, live(env, kind, "stream"), name=f"chatkit-stream-{kind}") as (port, pids):
            await warm(port, calls.chatkit_chat(stream=True), rate=20)
            result = await run(port, calls.chatkit_chat(stream=True), rate, env.seconds(8), pool(rate, 1.1), pids)
        rows.append({"provider": kind, "rate": rate, "direct": direct, "chatkit": result, **added(result, direct)})
    return rows


async def _sample_rss(pids: list[int], peaks: dict[int, float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for pid in pids:
            with contextlib.suppress(OSError):
                peaks[pid] = max(peaks.get(pid, 0.0), procs.rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def concurrent_streams(env: Env, count: int = 1000) -> dict:
    """4. ``count`` SSE streams open at once: started over 5 s, each 40 chunks 250 ms apart (10 s)."""
    with serving(env, live(env, pacing="slow"), env.workers, name="chatkit-streams") as (port, pids):
        await warm(port, calls.chatkit_chat(stream=True), rate=20)
        idle = {pid: procs.rss_mb(pid) for pid in pids}
        peaks: dict[int, float] = {}
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_rss(pids, peaks, stop))
        began = time.perf_counter()
        result = await run(port, calls.chatkit_chat(stream=True), count / 5, 5.0, count, pids)
        stop.set()
        await sampler
    return {"streams": count, "workers": len(pids), "chatkit": result, "wall_s": time.perf_counter() - began,
            "rss_idle_mb": list(idle.values()), "rss_peak_mb": list(peaks.values())}


async def session_memory(env: Env, sessions: int = 10_000, budget: float = 150) -> dict:
    """5. One worker's RSS idle, then while filling ``sessions`` conversations of 20 messages."""
    setup = live(env, pacing="instant")
    with serving(env, setup, name="chatkit-rss") as (port, pids):
        await asyncio.sleep(1)
        idle = procs.rss_mb(pids[0])
        connections = await _connect(port, 32, None)
        filled = 0
        checkpoints: list[dict] = []
        deadline = time.perf_counter() + budget * env.scale
        chat = calls.chatkit_chat(stream=False)

        async def fill(connection: Connection) -> None:
            nonlocal filled
            while filled < sessions and time.perf_counter() < deadline:
                filled += 1
                connection.sessions = calls.Sessions([await calls.new_session(connection)])
                for _ in range(calls.CHATS_PER_SESSION):
                    reply = await chat(connection)
                    if reply.status != 200:
                        raise RuntimeError(f"chat answered {reply.status} while filling sessions")
                if filled % 1000 == 0:
                    checkpoints.append({"sessions": filled, "rss_mb": procs.rss_mb(pids[0])})

        began = time.perf_counter()
        await asyncio.gather(*(fill(c) for c in connections))
        elapsed = time.perf_counter() - began
        for connection in connections:
            connection.close()
        await asyncio.sleep(0.5)
        final = procs.rss_mb(pids[0])
    per_session_kb = (final - idle) * 1024 / max(filled, 1)
    return {"rss_idle_mb": idle, "sessions_filled": filled, "messages_each": 2 * calls.CHATS_PER_SESSION,
            "rss_after_mb": final, "per_session_kb": per_session_kb, "fill_seconds": elapsed,
            "checkpoints": checkpoints, "complete": filled >= sessions,
            "rss_at_target_mb": final if filled >= sessions else idle + per_session_kb * sessions / 1024}


async def fallback(env: Env, rate: float = 100) -> list[dict]:
    """6. Chain [dead, live]: refused every time, and with the dead provider's circuit open."""
    chat = calls.chatkit_chat(stream=False)
    chain = [("dead", "ollama", env.ports["dead"]), ("live", "ollama", env.ports["reply"])]
    cases = [
        ("live only", Setup(chain[1:])),
        ("refused (retries=0)", Setup(chain, chain={"retries": 0, "breaker_failures": 1_000_000_000})),
        ("refused (retries=1, backoff)", Setup(chain, chain={"breaker_failures": 1_000_000_000})),
        ("circuit open", Setup(chain)),
    ]
    rows = []
    for index, (label, setup) in enumerate(cases):
        with serving(env, setup, name=f"chatkit-fallback-{index}") as (port, pids):
            await warm(port, chat, rate=20)  # opens the circuit where the breaker allows it
            result = await run(port, chat, rate, env.seconds(6), pool(rate, 0.3), pids)
        rows.append({"case": label, "rate": rate, "chatkit": result})
    base = rows[0]["chatkit"]
    for row in rows[1:]:
        row.update(added(row["chatkit"], base))
    return rows


async def limiter_storage(env: Env) -> list[dict]:
    """7. Closed-loop throughput of one worker without a limiter, with memory:// and with redis:// storage."""
    variants: list[tuple[str, Setup]] = [("no limiter", live(env, limiter=None)),
                                          ("memory://", live(env, limiter="memory://"))]
    if env.redis:
        variants.append(("redis://", live(env, limiter=f"redis://127.0.0.1:{env.redis}/0")))
    rows = []
    chat = calls.chatkit_chat(stream=False)
    for label, setup in variants:
        with serving(env, setup, name="chatkit-limiter-" + label.split(":")[0].replace(" ", "-")) as (port, pids):
            await warm(port, chat)
            result = await run(port, chat, None, env.seconds(6), 128, pids)
        rows.append({"variant": label, "chatkit": result})
    return rows
