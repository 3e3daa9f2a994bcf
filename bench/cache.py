"""The answer cache: what a cached answer costs the server, beside a model answer in the same run.

``python -m bench.cache`` starts the mock upstream and ``chatkit serve`` (one worker,
``[cache] enabled = true``), asks one question in each of 200 fresh conversations (cached:
the same question, answered once beforehand; model: a new question each time, so the chain
runs), alternating the two batches, and prints per batch kind: worker CPU per request, the
server's own request time (its ``chatkit_request_duration_seconds`` for ``/api/chat``),
client latency p50/p99, and the upstream calls the batch caused (``chatkit_provider_requests``;
0 for cached answers). ``answer_cache(env)`` is the same measurement for ``bench.scenarios``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import uvloop

from bench import calls, procs
from bench.client import Connection, HTTPError, json_body, percentile
from bench.scenarios import Env, live

TARGET_MS = 5.0
_SAMPLE = re.compile(r"^(\w+)(\{[^}]*\})? (\S+)$", re.M)


def _cpu_ns(pids: list[int]) -> int:
    """Time the processes' threads have run, in nanoseconds (schedstat: finer than clock ticks)."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


async def _counters(connection: Connection) -> dict[str, float]:
    """Upstream calls, and the server's time and count for /api/chat, from its /metrics."""
    text = (await connection.request("GET", "/metrics")).body.decode()
    found = {"upstream": 0.0, "seconds": 0.0, "chats": 0.0, "hits": 0.0}
    for name, labels, value in _SAMPLE.findall(text):
        if name == "chatkit_provider_requests_total":
            found["upstream"] += float(value)
        elif name == "chatkit_answer_cache_total" and 'result="hit"' in labels:
            found["hits"] += float(value)
        elif 'route="/api/chat"' in (labels or ""):
            if name == "chatkit_request_duration_seconds_sum":
                found["seconds"] += float(value)
            elif name == "chatkit_request_duration_seconds_count":
                found["chats"] += float(value)
    return found


async def _batch(connection: Connection, pids: list[int], questions: list[str], stream: bool) -> dict:
    """One question in each of ``len(questions)`` fresh conversations, one after the other."""
    sessions = [await calls.new_session(connection) for _ in questions]
    before, cpu = await _counters(connection), _cpu_ns(pids)
    latencies = []
    for session, question in zip(sessions, questions, strict=True):
        began = time.perf_counter()
        reply = await connection.request("POST", "/api/chat", json_body(
            {"sessionId": session, "message": question, "stream": stream}), calls.SSE_TOKEN if stream else None)
        latencies.append(time.perf_counter() - began)
        if reply.status != 200 or (stream and b"event: done" not in reply.body):
            raise HTTPError(f"chat answered {reply.status}: {reply.body[:200]!r}")
    cpu = _cpu_ns(pids) - cpu
    after = await _counters(connection)
    return {"cpu_ns": cpu, "latencies": latencies, **{key: after[key] - before[key] for key in after}}


def _summary(batches: list[dict]) -> dict:
    count = sum(len(b["latencies"]) for b in batches)
    latencies = [value for b in batches for value in b["latencies"]]
    return {
        "requests": count,
        "server_cpu_ms_per_request": sum(b["cpu_ns"] for b in batches) / count / 1e6,
        "server_time_ms_per_request": sum(b["seconds"] for b in batches) / max(sum(b["chats"] for b in batches), 1)
        * 1000,
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "upstream_calls": int(sum(b["upstream"] for b in batches)), "cache_hits": int(sum(b["hits"] for b in batches)),
    }


async def answer_cache(env: Env, sessions: int = 200, rounds: int = 2, stream: bool = False) -> dict:
    """Cached answers against model answers, alternating batches of ``sessions`` conversations."""
    setup = live(env)
    config = setup.toml() + "[cache]\nenabled = true\n"
    with procs.chatkit(config, 1, None, env.core, "cache") as (port, proc):
        pids = procs.workers(proc)
        connection = Connection("127.0.0.1", port)
        try:
            await _batch(connection, pids, [calls.QUESTION] * 20 + [f"warm-up {n}" for n in range(20)], stream)
            cached: list[dict] = []
            model: list[dict] = []
            for round_ in range(rounds):
                cached.append(await _batch(connection, pids, [calls.QUESTION] * sessions, stream))
                model.append(await _batch(connection, pids, [f"{calls.QUESTION} ({round_}-{n})"
                                                             for n in range(sessions)], stream))
        finally:
            connection.close()
    result = {"stream": stream, "cached": _summary(cached), "model": _summary(model)}
    result["target_met"] = (result["cached"]["server_time_ms_per_request"] <= TARGET_MS
                            and result["cached"]["upstream_calls"] == 0)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200, help="conversations per batch (default 200)")
    parser.add_argument("--rounds", type=int, default=2, help="cached/model batch pairs (default 2)")
    parser.add_argument("--stream", action="store_true", help="ask for Server-Sent Events instead of JSON")
    parser.add_argument("--core", help="run the server with the chatkit_core package from this tree (A/B)")
    args = parser.parse_args(argv)
    ports = {"reply": procs.free_port()}
    with procs.mock([f"{ports['reply']}:0.05:10:0"], None):
        env = Env(ports, args.core, None, 1, 1.0)
        result = uvloop.run(answer_cache(env, args.sessions, args.rounds, args.stream))
    print(json.dumps(result, indent=2))
    cached = result["cached"]
    print(f"cached answer: {cached['server_time_ms_per_request']:.2f} ms server time, "
          f"{cached['server_cpu_ms_per_request']:.2f} ms CPU, {cached['upstream_calls']} upstream calls "
          f"(target <= {TARGET_MS} ms and 0): {'met' if result['target_met'] else 'not met'}")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
