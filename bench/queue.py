"""``python -m bench.queue``: visitors served per minute by a slot-limited model server,
with and without ChatKit's per-provider queue. Writes ``bench/results/queue.md``.

The upstream is the fake llama-server of the tests (``tests/fakes/llama.py``): ``SLOTS``
answers at once, the rest wait upstream, first come first served, before any byte is sent.
ChatKit runs as ``chatkit serve`` with the README's OpenAI-compatible configuration, once
without ``max_concurrency`` and once with it set to the server's slots. Visitors arrive at a
steady rate a little above what the server can answer, each with one streamed chat.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.fakes.llama import FakeLlama
from tests.fakes.server import Script
from tests.support.server import running_server

SLOTS = 4
TOKENS = 50
TOKEN_DELAY = 0.02
"""One answer takes about a second of one slot: the server answers about 240 a minute."""
FIRST_TOKEN_TIMEOUT = 5.0
RESULTS = Path(__file__).parent / "results" / "queue.md"


@dataclass
class Outcome:
    mode: str
    visitors: int
    served: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    first_tokens: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def per_minute(self) -> float:
        return self.served / self.elapsed * 60 if self.elapsed else 0.0


def config(url: str, queue: bool) -> str:
    limits = f"max_concurrency = {SLOTS}\nqueue_timeout = 60\n" if queue else ""
    return f"""
[chain]
order = ["local"]
[providers.local]
type = "openai"
base_url = "{url}/v1"
model = "gemma-3-270m"
first_token_timeout = {FIRST_TOKEN_TIMEOUT}
{limits}
[rate_limit]
type = "none"
"""


async def visit(client: httpx.AsyncClient, outcome: Outcome) -> None:
    began = time.monotonic()
    try:
        session = (await client.post("/api/create-session")).json()["sessionId"]
        body = {"sessionId": session, "message": "What are your opening hours?", "stream": True}
        first = None
        last_event = ""
        async with client.stream("POST", "/api/chat", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    last_event = line[7:]
                    if last_event == "delta" and first is None:
                        first = time.monotonic() - began
                elif last_event == "error" and line.startswith("data: "):
                    code = httpx.Response(200, content=line[6:]).json()["error"]["code"]
                    outcome.failed[code] = outcome.failed.get(code, 0) + 1
        if last_event == "done":
            outcome.served += 1
            if first is not None:
                outcome.first_tokens.append(first)
    except httpx.HTTPError as error:
        kind = type(error).__name__
        outcome.failed[kind] = outcome.failed.get(kind, 0) + 1


async def arrivals(url: str, outcome: Outcome, rate: float) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        began = time.monotonic()
        visits = []
        for index in range(outcome.visitors):
            await asyncio.sleep(max(0.0, began + index / rate - time.monotonic()))
            visits.append(asyncio.ensure_future(visit(client, outcome)))
        await asyncio.gather(*visits)
        outcome.elapsed = time.monotonic() - began


def run(mode: str, visitors: int, rate: float) -> Outcome:
    outcome = Outcome(mode, visitors)
    with FakeLlama(slots=SLOTS, token_delay=TOKEN_DELAY) as llama:
        llama.default = Script(text=" ".join(["word"] * TOKENS))
        with running_server(config(llama.url, queue=mode == "queue")) as url:
            asyncio.run(arrivals(url, outcome, rate))
    return outcome


def report(outcomes: list[Outcome], rate: float, seconds: float) -> str:
    capacity = SLOTS * 60 / (TOKENS * TOKEN_DELAY)
    lines = [
        "# Visitors served per minute by a slot-limited model server",
        "",
        f"Fake llama-server with {SLOTS} slots, {TOKENS}-token answers at {1 / TOKEN_DELAY:.0f} tokens/s per slot "
        f"(at most about {capacity:.0f} answers a minute); visitors arrive at {rate * 60:.0f} a minute for "
        f"{seconds:.0f} s, one streamed chat each; `first_token_timeout = {FIRST_TOKEN_TIMEOUT:g}`, chain defaults "
        "(one retry, breaker after 3 failures). `python -m bench.queue`.",
        "",
        "| ChatKit | visitors | served | failed | served per minute | first token p50 | first token p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        failed = ", ".join(f"{count} {code}" for code, count in sorted(o.failed.items())) or "0"
        tokens = sorted(o.first_tokens)
        p50 = f"{statistics.median(tokens):.2f} s" if tokens else "-"
        p95 = f"{tokens[int(len(tokens) * 0.95) - 1 if len(tokens) > 1 else 0]:.2f} s" if tokens else "-"
        label = "no queue" if o.mode == "direct" else f"max_concurrency = {SLOTS}"
        lines.append(f"| {label} | {o.visitors} | {o.served} | {failed} | {o.per_minute:.0f} | {p50} | {p95} |")
    lines += ["", "Served per minute counts answers that ended with `done`, over the time from the first "
              "visitor's arrival to the last one's answer."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queue", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long visitors keep arriving")
    parser.add_argument("--rate", type=float, default=5.0, help="visitors arriving per second")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    args = parser.parse_args(argv)
    visitors = int(args.seconds * args.rate)
    outcomes = [run(mode, visitors, args.rate) for mode in ("direct", "queue")]
    text = report(outcomes, args.rate, args.seconds)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
