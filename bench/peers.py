"""The LiteLLM proxy beside ChatKit: the same mock upstream, load client, schedule and CPU accounting.

LiteLLM is installed from PyPI into its own virtualenv under ``bench/.peers/`` (reused when
present) and runs as a production deploy would: one worker, a master key, no database, no telemetry,
errors-only logging, the model cost map read from the package instead of the network.
The client sends what an application in front of a proxy sends: the whole conversation
(the same 20 messages ChatKit sends upstream) to ``/v1/chat/completions``.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench import calls, procs, scenarios
from bench.client import Connection, HTTPError, Reply, json_body

LITELLM = "litellm[proxy]==1.108.7"
"""The version measured; change it here to measure another."""
HOME = Path(__file__).resolve().parent / ".peers" / "litellm"
OFFLINE = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # else it fetches the model cost map from GitHub at start
    "LITELLM_TELEMETRY_DISABLED": "true",
    "LITELLM_LOG": "ERROR",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true",
}
"""The environment LiteLLM runs in, besides a fresh ``LITELLM_MASTER_KEY`` (it refuses to start without one)."""
KEY = "sk-" + secrets.token_hex(32)
NOT_STREAMED = json_body({"model": "bench", "messages": calls.HISTORY, "stream": False})
STREAMED = json_body({"model": "bench", "messages": calls.HISTORY, "stream": True})


class Unavailable(Exception):
    """LiteLLM could not be installed or started; the reason goes in the report."""


def config(upstream: int) -> str:
    """LiteLLM's config.yaml: one OpenAI-compatible model on the mock, nothing else switched on."""
    return (
        "model_list:\n"
        "  - model_name: bench\n"
        "    litellm_params:\n"
        "      model: openai/bench\n"
        f"      api_base: http://127.0.0.1:{upstream}/v1\n"
        "      api_key: sk-bench\n"
    )


def install() -> Path:
    """The ``litellm`` command of the pinned version, installing it on first use."""
    command, stamp = HOME / "bin" / "litellm", HOME / ".installed"
    if command.exists() and stamp.exists() and stamp.read_text() == LITELLM:
        return command
    print(f"installing {LITELLM} into {HOME}", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(HOME)], check=True, capture_output=True)
        subprocess.run([str(HOME / "bin" / "pip"), "install", "--quiet", LITELLM], check=True,
                       capture_output=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        raise Unavailable(f"could not install {LITELLM}: {error} {detail.decode(errors='replace')[-300:]}") from error
    stamp.write_text(LITELLM)
    return command


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"LiteLLM exited with {proc.returncode}; see {procs.LOGS}/litellm.log")
        with contextlib.suppress(OSError), \
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise Unavailable(f"LiteLLM not ready after {timeout:.0f}s; see {procs.LOGS}/litellm.log")


@contextlib.contextmanager
def litellm(upstream: int) -> Iterator[tuple[int, list[int]]]:
    """The proxy on a free port with one worker; yields the port and its process tree's pids."""
    command = install()
    port = procs.free_port()
    procs.LOGS.mkdir(exist_ok=True)
    path = procs.LOGS / "litellm.yaml"
    path.write_text(config(upstream))
    args = [str(command), "--config", str(path), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    with procs.process(args, "litellm", env={**OFFLINE, "LITELLM_MASTER_KEY": KEY}) as proc:
        _wait_ready(port, proc)
        yield port, [proc.pid, *procs.descendants(proc.pid)]


def version() -> str:
    return LITELLM.split("==", 1)[-1]


def chat(stream: bool):
    """One chat completion through the proxy; a streamed one must end with ``[DONE]``."""
    body = STREAMED if stream else NOT_STREAMED

    async def call(connection: Connection) -> Reply:
        reply = await connection.request("POST", "/v1/chat/completions", body, b"token" if stream else None,
                                         f"Authorization: Bearer {KEY}\r\n")
        if stream and b"[DONE]" not in reply.body:
            raise HTTPError("stream ended without [DONE]")
        return reply

    return call


def direct(stream: bool):
    """The same request asked of the mock directly, for the added latency."""
    body = STREAMED if stream else NOT_STREAMED

    async def call(connection: Connection) -> Reply:
        return await connection.request("POST", "/v1/chat/completions", body, b"token" if stream else None)

    return call


async def section(env: scenarios.Env, rate: float = 100, stream_rate: float = 50) -> dict:
    """LiteLLM at ``rate`` non-streamed, closed loop, and streamed TTFT at ``stream_rate``."""
    try:
        with litellm(env.ports["reply"]) as (port, pids):
            await scenarios.warm(port, chat(False), rate=20, chatkit=False)
            fixed = await _beside(env, port, pids, env.ports["reply"], False, rate)
            closed = await scenarios.run(port, chat(False), None, env.seconds(6), 128, pids, chatkit=False)
        with litellm(env.ports["stream"]) as (port, pids):
            await scenarios.warm(port, chat(True), rate=10, chatkit=False)
            streamed = await _beside(env, port, pids, env.ports["stream"], True, stream_rate)
    except Unavailable as error:
        return {"peer": "litellm", "skipped": str(error)}
    return {"peer": "litellm", "version": version(), "config": config(0).replace(":0/", ":MOCK/"),
            "env": OFFLINE, "fixed_rates": [fixed], "closed_loop": closed, "streaming": [streamed]}


async def _beside(env: scenarios.Env, port: int, pids: list[int], upstream: int, stream: bool, rate: float) -> dict:
    seconds = env.seconds(8)
    busy = 1.1 if stream else 0.06
    baseline = await scenarios.run(upstream, direct(stream), rate, seconds, scenarios.pool(rate, busy), chatkit=False)
    result = await scenarios.run(port, chat(stream), rate, seconds, scenarios.pool(rate, busy), pids, chatkit=False)
    return {"rate": rate, "direct": baseline, "litellm": result, **scenarios.added(result, baseline)}
