"""``python -m bench.answers``: right answers on documentation sites we did not write.

For each site under ``bench/eval/`` (pages, ``site.toml`` with its ``[knowledge]`` keys and
``questions.jsonl``) and for the demo bakery, builds the index with ``chatkit index`` and runs
``chatkit eval --json`` with the no-model ``extractive`` answerer and default settings, each as
its own process, exactly as a site owner would. Prints one table and writes
bench/results/answers.md (``--no-write``: print only).

``fastify``, ``sqlite`` and ``starlette`` are the development sites; ``npm`` is held out: it is run with
``--held-out`` (or ``--sites npm``) to check the figures, never to tune them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITES = ROOT / "bench" / "eval"
RESULTS = ROOT / "bench" / "results" / "answers.md"
DEVELOPMENT = ("fastify", "sqlite", "starlette", "demo")
HELD_OUT = ("npm",)
KINDS = ("direct", "paraphrased", "misspelled", "language")
CHAIN = '[chain]\norder = ["site"]\n[providers.site]\ntype = "extractive"\n[rate_limit]\ntype = "none"\n' \
        '[sessions]\nnew_per_minute = 0\n'


def _toml_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def site_files(site: str, work: Path) -> tuple[dict, Path]:
    """The site's ``[knowledge]`` table (absolute sources, an index in ``work``) and its questions."""
    if site == "demo":  # the bakery's own set, turned into chatkit eval's JSONL
        knowledge = tomllib.loads((ROOT / "demo" / "chatkit.toml").read_text(encoding="utf-8"))["knowledge"]
        base = ROOT / "demo"  # its paths are relative to its own folder
        questions = work / "questions.jsonl"
        demo = json.loads((ROOT / "tests" / "knowledge" / "eval_questions.json").read_text(encoding="utf-8"))
        lines = [{"question": q["question"], "pages": [q["page"]], "kind": "direct"} for q in demo["answerable"]]
        lines += [{"question": q["question"], "pages": [], "kind": "unanswerable"} for q in demo["unanswerable"]]
        questions.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    else:
        base = SITES / site
        knowledge = tomllib.loads((base / "site.toml").read_text(encoding="utf-8"))["knowledge"]
        questions = base / "questions.jsonl"
    knowledge = {**knowledge, "sources": [str(base / source) for source in knowledge["sources"]],
                 "path": str(work / "knowledge.sqlite3")}
    knowledge.pop("top_k", None)  # default settings
    return knowledge, questions


def chatkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatkit_core", *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "LOG_LEVEL": "error"}, cwd=ROOT)


def run_site(site: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        knowledge, questions = site_files(site, work)
        config = work / "chatkit.toml"
        config.write_text(CHAIN + "[knowledge]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in knowledge.items()),
                          encoding="utf-8")
        started = time.perf_counter()
        built = chatkit("index", "--config", str(config))
        index_seconds = time.perf_counter() - started
        if built.returncode:
            raise SystemExit(f"{site}: chatkit index failed:\n{built.stdout}{built.stderr}")
        started = time.perf_counter()
        evaluated = chatkit("eval", str(questions), "--config", str(config), "--json")
        if evaluated.returncode not in (0, 1) or not evaluated.stdout.strip():
            raise SystemExit(f"{site}: chatkit eval failed:\n{evaluated.stderr}")
        summary = json.loads(evaluated.stdout)
        summary.update(site=site, index_seconds=index_seconds, eval_seconds=time.perf_counter() - started,
                       pages=built.stdout.split(" ", 1)[0])
        return summary


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}% ({part}/{whole})" if whole else "-"


def render(summaries: list[dict]) -> str:
    rows = []
    for s in summaries:
        kinds = s.get("kinds", {})
        per_kind = [_pct(kinds[k]["source_at_k"], kinds[k]["answerable"]) if k in kinds else "-" for k in KINDS[1:]]
        held = " (held out)" if s["site"] in HELD_OUT else ""
        rows.append(f"| {s['site']}{held} | {s['pages']} | {s['answerable']}/{s['unanswerable']} "
                    f"| {_pct(s['answer_contains'], s['answer_checked'])} | {_pct(s['source_at_1'], s['answerable'])} "
                    f"| {_pct(s['source_at_k'], s['answerable'])} | " + " | ".join(per_kind)
                    + f" | {_pct(s['declined'], s['unanswerable'])} | {_pct(s['false_declines'], s['answerable'])} |")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"""# Answers on documentation sites, {datetime.now(UTC).isoformat(timespec="seconds")}

`chatkit eval` with the `extractive` answerer and default settings (top_k
{summaries[0]["top_k"] if summaries else 4}). Load average after the run: {load}.

| site | pages | answerable/unanswerable | answer states the fact | source is the right page \
| right page in top k | … paraphrased | … misspelled | … other language | unanswerable declined \
| answerable declined |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Targets (sites never seen): fact >= 70%, source >= 80%, top k >= 90% (paraphrased >= 80%,
misspelled >= 80%, other language >= 60%), unanswerable declined >= 80%, answerable declined <= 10%.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answers", description=__doc__.split("\n")[0])
    parser.add_argument("--sites", help=f"comma-separated: {', '.join(DEVELOPMENT + HELD_OUT)}")
    parser.add_argument("--held-out", action="store_true", help="add the held-out sites to the development ones")
    parser.add_argument("--details", action="store_true", help="print every question's result")
    parser.add_argument("--no-write", action="store_true", help="print the report, leave bench/results alone")
    args = parser.parse_args(argv)
    sites = args.sites.split(",") if args.sites else [*DEVELOPMENT, *(HELD_OUT if args.held_out else ())]
    summaries = []
    for site in sites:
        summary = run_site(site)
        summaries.append(summary)
        if args.details:
            for result in summary["results"]:
                if result["answerable"] and result["source_at_1"] and result["answer_contains"] is not False:
                    continue
                if not result["answerable"] and result["declined"]:
                    continue
                print(f"[{site}] {result['kind']}: {result['question']} -> {result['source']} "
                      f"(top k: {result['source_at_k']}, contains: {result['answer_contains']}, "
                      f"declined: {result['declined']})\n    {result['answer'][:300]!r}")
    text = render(summaries)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
