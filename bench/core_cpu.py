"""``python -m bench.core_cpu``: the core's own CPU per non-streamed chat, without a server or an upstream.

Calls the assembled app as an ASGI callable in a loop (no uvicorn, no socket) with the
``canned`` example provider answering at once in 11 chunks, the memory store and access
logging at ``info`` (to /dev/null), and prints the process time per chat. What it measures
is what the core itself spends: middleware, Litestar, the chain, sanitizing, the store,
logs and metrics. ``--core TREE`` runs a copy of the repository alongside the working tree,
at the same time, so machine load hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import uvloop

ROOT = Path(__file__).resolve().parent.parent

REPLY = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 5
LIMITERS = {
    "none": '[rate_limit]\ntype = "none"\n',
    "memory": '[rate_limit]\ntype = "limits"\nstorage = "memory://"\nstrategy = "moving-window"\n'
              'per_ip = ["1000000/minute"]\nper_session = ["1000000/minute"]\n',
}


def config_text(limiter: str) -> str:
    return (f'[logging]\nlevel = "info"\n[chain]\norder = ["canned"]\n[providers.canned]\ntype = "canned"\n'
            f'replies = ["{REPLY}"]\nchunk_chars = 30\ndelay = 0\n{LIMITERS[limiter]}'
            '[sessions]\nstore = "memory"\nttl = "24h"\nnew_per_minute = 0\n')


async def call(app: Any, path: str, body: bytes) -> list[dict[str, Any]]:
    """One request through the whole ASGI app; the messages it sent."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()  # no disconnect while the answer is made
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.5", 40000), "server": ("127.0.0.1", 8000), "state": {}, "extensions": {}}
    await app(scope, receive, send)
    return sent


async def measure(limiter: str, chats: int) -> float:
    """Microseconds of process time per chat, ten questions per conversation."""
    from litestar.testing import AsyncTestClient

    from chatkit_core.http.app import create_app
    from chatkit_core.platform.assembly import build_runtime
    from chatkit_core.platform.config import load_config
    from chatkit_core.platform.logs import configure_logging

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as file:
        file.write(config_text(limiter))
    config = load_config(file.name)
    os.unlink(file.name)
    configure_logging(config.logging.level, config.logging.format)
    app = create_app(build_runtime(config))
    async with AsyncTestClient(app):  # runs the lifespan
        sessions = [json.loads((await call(app, "/api/create-session", b"{}"))[1]["body"])["sessionId"]
                    for _ in range(chats // 10 + 10)]
        bodies = [msgspec.json.encode({"sessionId": s, "message": f"Question {i}?"}) for i in range(10)
                  for s in sessions]
        for body in bodies[-100:]:  # warm up on conversations not measured
            assert (await call(app, "/api/chat", body))[0]["status"] == 200
        began = time.process_time()
        for body in bodies[:chats]:
            await call(app, "/api/chat", body)
        return (time.process_time() - began) / chats * 1e6


def run_tree(tree: Path, limiter: str, chats: int) -> subprocess.Popen[str]:
    path = [str(tree), *map(str, tree.glob("*/chatkit_*"))]
    child = (f"import runpy, sys; sys.argv = ['core_cpu', '--child', '--limiter', {limiter!r}, '--chats', "
             f"'{chats}']; runpy.run_path({__file__!r}, run_name='__main__')")  # the tree's own bench may differ
    return subprocess.Popen([sys.executable, "-c", child], cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(path)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.core_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--limiter", choices=sorted(LIMITERS), default="none")
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--core", type=Path, help="another source tree, measured at the same time")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(round(uvloop.run(measure(args.limiter, args.chats)), 1))
        return
    trees = {"working tree": ROOT, **({str(args.core): args.core.resolve()} if args.core else {})}
    for round_ in range(1, args.rounds + 1):
        running = {name: run_tree(tree, args.limiter, args.chats) for name, tree in trees.items()}
        results = {name: proc.communicate()[0].strip() or "failed" for name, proc in running.items()}
        print(f"round {round_}: " + ", ".join(f"{name} {us} µs/chat" for name, us in results.items()), flush=True)


if __name__ == "__main__":
    main()
