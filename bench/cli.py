"""``python -m bench``: start the mocks and redis, run the scenarios, write the report."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import traceback
from datetime import UTC, datetime

import uvloop

from bench import peers, procs, report, scenarios
from bench.setup import has_limiter, has_openai

SECTIONS = ("fixed_rates", "peers", "max_sustained", "scaling", "streaming", "concurrent_streams",
            "session_memory", "fallback", "limiter_storage", "answer_cache")
PACINGS = {"reply": "0.05:10:0", "stream": "0.05:50:0.02", "slow": "0.05:40:0.25", "instant": "0:10:0"}
"""Mock listeners, ``LATENCY:CHUNKS:INTERVAL``: answers after 50 ms; streams of 50 chunks 20 ms apart;
long streams that keep 1,000 connections open; instant answers to fill the session store fast."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    top.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}; or `knowledge` alone "
                                    "(the knowledge index: python -m bench.knowledge)")
    top.add_argument("--skip", help="comma-separated sections to leave out, e.g. peers")
    top.add_argument("--workers", type=int, default=2,
                     help="workers for the throughput sections (default 2: both cores)")
    top.add_argument("--quick", action="store_true", help="shorter runs, for trying the bench itself")
    top.add_argument("--core", help="run the server with the chatkit_core package from this tree (A/B checks)")
    top.add_argument("--no-write", action="store_true", help="print the report, leave bench/results alone")
    return top


async def _run(env: scenarios.Env, sections: list[str], failed: dict[str, str]) -> dict:
    """Each section in turn; one that fails is noted in ``failed`` and the others still run."""
    results: dict = {}
    for section in sections:
        print(f"== {section}", flush=True)
        try:
            result = await _section(env, section)
        except Exception as error:  # reported; the other sections still run
            traceback.print_exc()
            failed[section] = f"{type(error).__name__}: {error}"
            continue
        if result is not None:
            results[section] = result
    return results


async def _section(env: scenarios.Env, section: str) -> object:
    kinds = ["ollama", *(["openai"] if has_openai() else [])]
    if section == "fixed_rates":
        return await scenarios.fixed_rates(env, [100, 500, 1000], kinds)
    if section == "streaming":
        return await scenarios.streaming(env, kinds)
    if section == "peers":
        return await peers.section(env)
    if section == "scaling":
        return await scenarios.scaling(env, pairs=3 if env.scale >= 1 else 1)
    if section == "limiter_storage":
        return await scenarios.limiter_storage(env) if has_limiter() else None
    if section == "answer_cache":
        return await _answer_cache(env)
    return await getattr(scenarios, section)(env)


async def _answer_cache(env: scenarios.Env) -> dict:
    """Cached answers beside model answers (bench.cache); "not measured" when the server refuses the cache."""
    from bench import cache

    try:
        return await cache.answer_cache(env, sessions=max(20, round(200 * env.scale)))
    except RuntimeError as error:
        if "exited" not in str(error):
            raise
        return {"skipped": f"the server did not start with [cache] enabled = true ({error}): "
                           f"{procs.tail('cache', 1)}"}


def _notes(env: scenarios.Env) -> list[str]:
    notes = [
        "Added latency = ChatKit percentile minus the same percentile of the mock answering the same load "
        "directly; open-loop runs measure each request from the moment it was due.",
        "The server runs the rate limiter (type limits, moving window, limits too high to refuse) and the "
        "session store (memory for one worker; for several, the one section 2b names) with access logging at "
        "info level, as deployed.",
        "Each client connection uses its own loopback source address (many visitors for per-IP limits) and its "
        "own conversations.",
        "Load generator, mock upstream and server share the machine's cores; other work on the machine "
        "(see load average) inflates absolute numbers, server CPU ms per request is the steadier figure.",
    ]
    if not has_limiter():
        notes.append("chatkit_ratelimit is not installed: no limiter in the runs, section 7 skipped.")
    if env.redis is None:
        notes.append("redis-server is not installed: the redis:// limiter row and the Redis store are missing.")
    missing = procs.postgres_missing()
    if missing:
        notes.append(f"{missing}: the PostgreSQL store is not measured.")
    return notes


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sections = args.only.split(",") if args.only else list(SECTIONS)
    if sections == ["knowledge"]:
        from bench import knowledge

        return knowledge.main(["--no-write"] if args.no_write else [])
    skipped = args.skip.split(",") if args.skip else []
    unknown = set(sections + skipped) - set(SECTIONS)
    if unknown:
        parser().error(f"unknown sections: {', '.join(sorted(unknown))}")
    sections = [section for section in sections if section not in skipped]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ports = {name: procs.free_port() for name in PACINGS}
    ports["dead"] = procs.free_port()  # nothing listens: connections are refused
    load_before = os.getloadavg()
    wanted = ("max_sustained" in sections or "scaling" in sections)
    with procs.mock([f"{ports[name]}:{PACINGS[name]}" for name in PACINGS], None) as mock, \
            procs.redis_server(None) as redis, \
            (procs.postgres_server(None) if wanted else contextlib.nullcontext()) as postgres:
        env = scenarios.Env(ports, args.core, redis and redis.port, args.workers, 0.4 if args.quick else 1.0,
                            postgres and postgres.port)
        env.pids = {"mock": mock.pid, **({"redis": redis.pid} if redis else {}),
                    **({"postgres": postgres.pid} if postgres else {})}
        failed: dict[str, str] = {}
        results = uvloop.run(_run(env, sections, failed))
    data = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": procs.cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "workers": args.workers, "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in os.getloadavg()], "core": args.core or "working tree"},
        "scenarios": results,
        "failed": failed,
        "notes": _notes(env),
    }
    print(report.markdown(data))
    if not args.no_write:
        for path in report.write(data):
            print(f"wrote {path}")
    print("\n" + report.targets_table(data))
    return 0
