"""``python -m bench.profile``: where one worker's CPU goes under a constant load.

Runs the mock and one ChatKit worker, sends chat at a fixed rate and samples the worker
with ``py-spy record --gil`` (only while it holds the GIL, so time spent waiting on
sockets is left out). Prints the share of samples by component and the busiest frames.
Needs py-spy (``pip install py-spy``); as root, or with ptrace allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import uvloop

from bench import calls, procs
from bench.client import Connection, open_loop
from bench.setup import Setup

COMPONENTS = [
    # Hops to a worker thread: limits' memory-storage sweep, the SQLite store.
    ("thread-pool hops", ("concurrent/futures/", "asyncio/threads.py", "wrap_future", "threading.py")),
    ("rate limiter", ("limits/", "chatkit_ratelimit/")),
    ("upstream HTTP client", ("httpx/", "httpx2/", "httpcore/", "anyio/", "h11/", "openai/", "aiohttp/", "yarl/",
                              "multidict/")),
    ("logging", ("structlog/",)),
    ("metrics", ("prometheus_client/",)),
    ("sanitizer", ("sanitiz", "nh3")),
    ("session store", ("builtins/memory_store.py", "builtins/sqlite_", "chatkit_redis/", "redis/")),
    ("Litestar", ("litestar/",)),
    ("ChatKit middleware", ("http/middleware.py", "http/site_keys.py")),
    ("uvicorn", ("uvicorn/",)),
    ("ChatKit chain and API", ("chatkit_core/",)),
]


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def component(frames: list[str]) -> str:
    """The component of the innermost frame that belongs to one."""
    for frame in reversed(frames):
        for name, markers in COMPONENTS:
            if any(marker in frame for marker in markers):
                return name
    return "event loop and stdlib"


def summarize(raw: Path, top: int) -> str:
    by_component: collections.Counter[str] = collections.Counter()
    by_frame: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        by_component[component(frames)] += int(count)
        by_frame[frames[-1]] += int(count)
    total = sum(by_component.values()) or 1
    lines = [f"{total} samples", "", "| component | share |", "| --- | --- |"]
    lines += [f"| {name} | {n / total:.0%} |" for name, n in by_component.most_common()]
    lines += ["", f"busiest frames (own time, top {top}):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in by_frame.most_common(top)]
    return "\n".join(lines)


async def _load(port: int, pid: int, args: argparse.Namespace, raw: Path, spy_path: str) -> None:
    connections = [Connection("127.0.0.1", port) for _ in range(64)]
    await calls.prepare(connections, int(args.rate * args.seconds) + 200)
    chat = calls.chatkit_chat(stream=args.stream)
    await open_loop(connections, chat, min(args.rate, 50), 2)  # warm up
    spy = subprocess.Popen(
        [spy_path, "record", "--pid", str(pid), "--duration", str(int(args.seconds)),
         "--rate", "200", "--format", "raw", "--output", str(raw), "--gil", "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = procs.cpu_seconds([pid])
    sample = await open_loop(connections, chat, args.rate, args.seconds)
    used = procs.cpu_seconds([pid]) - before
    await asyncio.to_thread(spy.wait)
    summary = sample.summary()
    print(f"{summary['rps']:.0f} req/s, p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms, "
          f"{summary['errors']} errors, {used / max(sample.count, 1) * 1000:.2f} ms server CPU per request")


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    top.add_argument("--rate", type=float, default=50, help="requests a second (default 50)")
    top.add_argument("--seconds", type=float, default=10)
    top.add_argument("--limiter", default="memory://", help='rate-limit storage, or "none"')
    top.add_argument("--provider", default="ollama", choices=["ollama", "openai"])
    top.add_argument("--stream", action="store_true", help="streamed answers (50 chunks 20 ms apart)")
    top.add_argument("--core", help="run the server from this source tree")
    top.add_argument("--top", type=int, default=25)
    args = top.parse_args(argv)
    spy_path = py_spy()
    if spy_path is None:
        top.error("py-spy is not installed: pip install py-spy")
    pacing = "0.05:50:0.02" if args.stream else "0.05:10:0"
    port = procs.free_port()
    setup = Setup([("live", args.provider, port)], limiter=None if args.limiter == "none" else args.limiter)
    with tempfile.TemporaryDirectory() as folder, procs.mock([f"{port}:{pacing}"], None), \
            procs.chatkit(setup.toml(), 1, None, args.core, "chatkit-profile") as (server, proc):
        raw = Path(folder) / "profile.txt"
        uvloop.run(_load(server, procs.workers(proc)[0], args, raw, spy_path))
        print(summarize(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
