"""``python -m bench.knowledge``: the knowledge index's build rate, size and search latency.

1. Builds an index of 10,000 generated pages (10 sections each: 100,000 passages) with
   ``chatkit index`` in its own process and reports pages per second, its peak memory (RSS)
   and the file's size; a second build of the same pages measures the incremental path
   (every file unchanged: looked at, not read; the target is under 10% of the first build).
2. Searches it with 2,000 generated questions through the ``sqlite`` retriever (worker
   thread and question embedding included) and reports p50/p99 against the targets
   p50 <= 10 ms, p99 <= 30 ms.
3. Sends the same chats to an in-process app with and without ``[knowledge]`` (canned
   provider, no delay) and reports the latency retrieval adds to a chat.

Writes bench/results/knowledge.md (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from chatkit_knowledge.build import build
from chatkit_knowledge.options import SqliteOptions
from chatkit_knowledge.retriever import SqliteRetriever

RESULTS = Path(__file__).parent / "results" / "knowledge.md"
TARGET_P50_MS = 10.0
TARGET_P99_MS = 30.0
STOPWORDS = ["what", "when", "where", "how", "do", "you", "is", "are", "the", "a", "of", "on", "for", "can", "I"]


def vocabulary(rng: random.Random, size: int = 30_000) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
    words = {"".join(rng.choice(syllables) for _ in range(rng.choice((2, 2, 3, 3, 4)))) for _ in range(size * 2)}
    return sorted(words)[:size]


def zipf_words(rng: random.Random, words: list[str], count: int) -> list[str]:
    """Words drawn with a Zipf-like skew: a few common, most rare, as in real text."""
    weights = [1 / (rank + 1) for rank in range(len(words))]
    return rng.choices(words, weights=weights, k=count)


def write_pages(folder: Path, pages: int, sections: int, rng: random.Random, words: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = zipf_words(rng, words, pages * sections * 60)
    position = 0
    for page in range(pages):
        parts = [f"<!doctype html><html><head><title>Page {page} {words[page % len(words)]}</title></head><body>"
                 "<nav><a href='/'>Home</a></nav><main>"]
        for section in range(sections):
            chunk = text[position : position + 60]
            position += 60
            sentences = ". ".join(" ".join(chunk[i : i + 12]).capitalize() for i in range(0, 60, 12))
            parts.append(f"<h2 id='s{section}'>{chunk[0].title()} {chunk[1]}</h2><p>{sentences}.</p>")
        parts.append("</main><footer>Footer</footer></body></html>")
        (folder / f"page{page}.html").write_text("".join(parts))


def questions(rng: random.Random, words: list[str], count: int) -> list[str]:
    found = []
    for _ in range(count):
        topic = zipf_words(rng, words[:5000], rng.randint(2, 5))
        found.append(" ".join([*rng.sample(STOPWORDS, 2), *topic]) + "?")
    return found


def index_in_a_process(web: Path, path: Path) -> tuple[float, float, float]:
    """Seconds, CPU seconds and peak RSS (MB) of ``chatkit index`` building the index from nothing."""
    config = path.with_name("chatkit.toml")
    config.write_text(f'[knowledge]\ntype = "sqlite"\nsources = ["{web}"]\npath = "{path}"\n', encoding="utf-8")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu = children.ru_maxrss, children.ru_utime + children.ru_stime
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "chatkit_core", "index", "--config", str(config)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if children.ru_maxrss <= before:
        raise SystemExit("the index process's peak memory could not be told apart from an earlier child's")
    return seconds, children.ru_utime + children.ru_stime - cpu, children.ru_maxrss / 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def search_latency(options: SqliteOptions, asked: list[str]) -> tuple[list[float], list[float]]:
    """Wall-clock ms of each search through the retriever, and CPU ms of the search itself."""
    retriever = SqliteRetriever(options)
    await retriever.start()
    for question in asked[:50]:  # warm the page cache
        await retriever.search(question, options.top_k)
    wall, cpu = [], []
    for question in asked:
        started = time.perf_counter()
        await retriever.search(question, options.top_k)
        wall.append((time.perf_counter() - started) * 1000)
    for question in asked:
        started = time.thread_time()
        retriever._search(question, options.top_k)
        cpu.append((time.thread_time() - started) * 1000)
    await retriever.close()
    return wall, cpu


CHAT = """
[chain]
order = ["demo"]
[providers.demo]
type = "canned"
replies = ["Fresh bread every morning."]
delay = 0
chunk_chars = 1000
[rate_limit]
type = "none"
[logging]
level = "warning"
"""


async def chat_latency(config_text: str, asked: list[str]) -> list[float]:
    import tomllib

    from litestar.testing import AsyncTestClient

    from chatkit_core.http.app import create_app
    from chatkit_core.platform.assembly import build_runtime
    from chatkit_core.platform.config import decode

    app = create_app(build_runtime(decode(tomllib.loads(config_text))))
    timings = []
    async with AsyncTestClient(app) as client:
        session = (await client.post("/api/create-session")).json()["sessionId"]
        for index, question in enumerate(asked):
            if index % 15 == 0:  # a fresh conversation now and then keeps history short
                session = (await client.post("/api/create-session")).json()["sessionId"]
            started = time.perf_counter()
            reply = await client.post("/api/chat", json={"sessionId": session, "message": question})
            timings.append((time.perf_counter() - started) * 1000)
            assert reply.status_code == 200, reply.text
    return timings[20:]


def run(pages: int, sections: int, searches: int, chats: int) -> dict:
    load_before = os.getloadavg()
    rng = random.Random(20261130)
    words = vocabulary(rng)
    with tempfile.TemporaryDirectory() as tmp:
        web = Path(tmp) / "web"
        write_pages(web, pages, sections, rng, words)
        options = msgspec.convert({"type": "sqlite", "sources": [str(web)], "path": str(Path(tmp) / "k.sqlite3")},
                                  SqliteOptions)
        first, first_cpu, peak = index_in_a_process(web, Path(options.path))
        started = time.perf_counter()
        again = build(options)
        second = time.perf_counter() - started
        report = again
        size = Path(options.path).stat().st_size
        asked = questions(rng, words, searches)
        timings, cpu = asyncio.run(search_latency(options, asked))
        knowledge = "\n[knowledge]\n" + "\n".join(
            f"{key} = {value!r}".replace("'", '"') for key, value in
            {"type": "sqlite", "sources": [str(web)], "path": options.path}.items())
        plain = asyncio.run(chat_latency(CHAT, asked[:chats]))
        grounded = asyncio.run(chat_latency(CHAT + knowledge, asked[:chats]))
    return {
        "pages": report.pages, "chunks": report.chunks, "build_s": first, "build_cpu_s": first_cpu, "peak_mb": peak,
        "rebuild_s": second,
        "unchanged": again.unchanged, "size": size, "load_before": load_before, "search": timings, "cpu": cpu,
        "plain": plain, "grounded": grounded,
    }


def render(result: dict) -> str:
    p50, p99 = percentile(result["search"], 0.5), percentile(result["search"], 0.99)
    passages = f"{result['chunks']:,} passages"
    plain50, plain99 = percentile(result["plain"], 0.5), percentile(result["plain"], 0.99)
    grounded50, grounded99 = percentile(result["grounded"], 0.5), percentile(result["grounded"], 0.99)
    met = lambda ok: "yes" if ok else "**no**"  # noqa: E731
    before = ", ".join(f"{value:.2f}" for value in result["load_before"])
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"""# ChatKit knowledge benchmark, {datetime.now(UTC).isoformat(timespec="seconds")}

CPU: {platform.processor() or platform.machine()} ({os.cpu_count()} cores), load average before/after the run:
{before} / {load} (other work shares the machine; latencies rise with it).
Python {platform.python_version()}, SQLite {__import__("sqlite3").sqlite_version}.

## Targets

| target | measured | goal | met |
| --- | --- | --- | --- |
| retrieval p50 at {passages} | {p50:.2f} ms | <= {TARGET_P50_MS:g} ms | {met(p50 <= TARGET_P50_MS)} |
| retrieval p99 at {passages} | {p99:.2f} ms | <= {TARGET_P99_MS:g} ms | {met(p99 <= TARGET_P99_MS)} |

## Index build

| pages | passages | first build (`chatkit index`) | its CPU time | pages/s | peak RSS | unchanged rebuild \
| share of the first | index size |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
| {result["pages"]:,} | {result["chunks"]:,} | {result["build_s"]:.1f} s | {result["build_cpu_s"]:.1f} s \
| {result["pages"] / result["build_s"]:.0f} \
| {result["peak_mb"]:.0f} MB | {result["rebuild_s"]:.2f} s | {result["rebuild_s"] / result["build_s"]:.1%} \
| {result["size"] / 1e6:.1f} MB |

Generated pages: 10 sections of 60 words each, drawn with a Zipf-like skew from 30,000 made-up words.
The rebuild looks at every file's size and modification time, reads none, finds all
{result["unchanged"]:,} unchanged and leaves the index file as it was (target: under 10% of the first build).

## Retrieval

{len(result["search"]):,} questions (two stopwords and two to five topic words), through the retriever
as the server calls it (stat check, worker thread, FTS5 query, scoring), top_k 4, the default
min_score {SqliteOptions(type="sqlite").min_score}.

| | p50 | p90 | p99 | max |
| --- | --- | --- | --- | --- |
| wall clock | {p50:.2f} ms | {percentile(result["search"], 0.9):.2f} ms | {p99:.2f} ms | \
{max(result["search"]):.2f} ms |
| CPU | {percentile(result["cpu"], 0.5):.2f} ms | {percentile(result["cpu"], 0.9):.2f} ms | \
{percentile(result["cpu"], 0.99):.2f} ms | {max(result["cpu"]):.2f} ms |

CPU time is the search's own work, measured in its thread: it does not grow when other
processes compete for the cores, so it is the steadier figure on a busy machine.

## A chat with retrieval vs without

The same {len(result["plain"])} non-streamed chats, in-process (Litestar test client, canned provider
with no delay), with and without `[knowledge]` over the index above.

| | p50 | p99 | mean |
| --- | --- | --- | --- |
| without knowledge | {plain50:.2f} ms | {plain99:.2f} ms | {statistics.mean(result["plain"]):.2f} ms |
| with knowledge | {grounded50:.2f} ms | {grounded99:.2f} ms | {statistics.mean(result["grounded"]):.2f} ms |
| added | {grounded50 - plain50:.2f} ms | {grounded99 - plain99:.2f} ms | \
{statistics.mean(result["grounded"]) - statistics.mean(result["plain"]):.2f} ms |
"""


def main(argv: list[str] | None = None) -> int:
    from chatkit_core.platform.logs import configure_logging

    configure_logging("warning", "console")
    parser = argparse.ArgumentParser(prog="python -m bench.knowledge", description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--sections", type=int, default=10, help="sections (passages) per page")
    parser.add_argument("--searches", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--no-write", action="store_true", help="print the report, leave bench/results alone")
    args = parser.parse_args(argv)
    text = render(run(args.pages, args.sections, args.searches, args.chats))
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
