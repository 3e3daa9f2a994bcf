"""Results as JSON, a Markdown report with the targets, and a plot."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _ms(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


Target = tuple[str, str, str, str, bool | None]
"""(what, goal, ChatKit, LiteLLM in the same run, met); met None when not measured."""
NOT_MEASURED = "not measured"
REPORTED = "reported, no target"
TIMES = "\N{MULTIPLICATION SIGN}"


def _fixed(s: dict, kind: str, rate: int = 100) -> dict | None:
    return next((r for r in s.get("fixed_rates", []) if r["rate"] == rate and r["provider"] == kind), None)


def _cpu(result: dict | None) -> float | None:
    return None if result is None else result.get("server_cpu_ms_per_request")


def _peer(s: dict) -> dict:
    """The LiteLLM section when it ran, else an empty dict."""
    peer = s.get("peers") or {}
    return {} if "skipped" in peer else peer


def _cell(value: float | None, unit: str = " ms") -> str:
    return NOT_MEASURED if value is None else f"{value:.2f}{unit}"


def _all_met(*checks: bool | None) -> bool | None:
    return None if None in checks else all(checks)


def _at_most(value: float | None, goal: float) -> bool | None:
    return None if value is None else value <= goal


def _ratio(part: float | None, whole: float | None) -> float | None:
    return None if not part or whole is None else whole / part


def targets(data: dict) -> list[Target]:
    """The issue's targets table, each marked met, not met or not measured."""
    s = data["scenarios"]
    peer = _peer(s)
    peer_fixed = (peer.get("fixed_rates") or [None])[0]
    peer_cpu = _cpu(peer_fixed and peer_fixed["litellm"])
    rows: list[Target] = []
    cpus = {}
    for kind, what, goal in (("ollama", "server CPU per non-streamed chat, ollama plugin", 1.2),
                             ("openai", "the same, openai plugin", 1.5)):
        row = _fixed(s, kind)
        cpus[kind] = _cpu(row and row["chatkit"])
        rows.append((what, f"≤ {goal} ms", _cell(cpus[kind]), _cell(peer_cpu), _at_most(cpus[kind], goal)))
    openai_share = None if cpus["openai"] is None or not cpus["ollama"] else cpus["openai"] / cpus["ollama"]
    rows.append(("openai plugin's CPU per chat vs the ollama plugin's, same run", f"≤ 1.2{TIMES}",
                 NOT_MEASURED if openai_share is None else f"{openai_share:.2f}{TIMES}", "—",
                 _at_most(openai_share, 1.2)))
    rows.append(_added_at_100(s, peer_fixed))
    rows.append(_ttft(s, peer))
    rows += _scaling(s)
    limiter = {r["variant"]: r["chatkit"]["rps"] for r in s.get("limiter_storage", [])}
    share = limiter["redis://"] / limiter["memory://"] if "redis://" in limiter and limiter.get("memory://") else None
    rows.append(("Redis limiter vs memory limiter throughput", "≥ 80%",
                 NOT_MEASURED if share is None else f"{share:.0%}", "—", None if share is None else share >= 0.8))
    less = {kind: _ratio(cpus[kind], peer_cpu) for kind in cpus}
    shown = (NOT_MEASURED if None in less.values()
             else " / ".join(f"{x:.1f}{TIMES} less ({kind})" for kind, x in less.items()))
    rows.append(("CPU per chat vs LiteLLM proxy, same run", f"≥ 6{TIMES} less on both", shown, _cell(peer_cpu),
                 _all_met(*(None if x is None else x >= 6 for x in less.values()))))
    rows.append(_streams(s))
    rows.append(_cache(s))
    return rows


def _added_at_100(s: dict, peer_fixed: dict | None) -> Target:
    row = _fixed(s, "ollama") or {}
    p50, p99 = row.get("added_p50_ms"), row.get("added_p99_ms")
    peer = peer_fixed or {}
    shown = NOT_MEASURED if p50 is None or p99 is None else f"{p50:.2f} / {p99:.2f} ms"
    peer_shown = (NOT_MEASURED if "added_p50_ms" not in peer or "added_p99_ms" not in peer
                  else f"{peer['added_p50_ms']:.2f} / {peer['added_p99_ms']:.2f} ms")
    return ("added p50 / p99 at 100 req/s", "≤ 1 / ≤ 3 ms", shown, peer_shown,
            _all_met(_at_most(p50, 1), _at_most(p99, 3)))


def _ttft(s: dict, peer: dict) -> Target:
    row = next((r for r in s.get("streaming", []) if r["provider"] == "openai"), {})
    peer_row = (peer.get("streaming") or [{}])[0]
    value = row.get("added_ttft_p50_ms")
    return (f"added TTFT p50 at 50 streams/s {TIMES} 50 chunks, openai plugin", "≤ 10 ms", _cell(value),
            _cell(peer_row.get("added_ttft_p50_ms")), _at_most(value, 10))


def _scaling(s: dict) -> list[Target]:
    """Two workers against one: on PostgreSQL or Redis (PostgreSQL when both ran), the target; on SQLite,
    reported (its writers take turns: docs/benchmarks.md)."""
    found = {r["store"]: r for r in s.get("scaling", []) if r.get("ratio") is not None}
    made_for_it = found.get("postgres") or found.get("redis")
    goal = f"≥ 1.5{TIMES}"
    rows: list[Target] = [("two workers vs one, closed loop, PostgreSQL or Redis store", goal,
                           _scaling_cell(made_for_it), "—",
                           None if made_for_it is None or made_for_it["workers"] != 2 else made_for_it["ratio"] >= 1.5)]
    rows.append(("the same, SQLite store", REPORTED, _scaling_cell(found.get("sqlite")), "—", None))
    return rows


def _scaling_cell(row: dict | None) -> str:
    if row is None:
        return NOT_MEASURED
    one = statistics.median(r["rps"] for r in row["runs"] if r["workers"] == 1)
    many = statistics.median(r["rps"] for r in row["runs"] if r["workers"] > 1)
    pairs = ", ".join(f"{ratio:.2f}" for ratio in row["ratios"])
    return (f"{row['ratio']:.2f}{TIMES} ({row['store']}; {many:.0f} vs {one:.0f} req/s, {row['workers']} workers; "
            f"pairs {pairs})")


def _streams(s: dict) -> Target:
    what, goal = "1,000 concurrent streams", "0 errors, ≤ 120 MB per worker"
    c = s.get("concurrent_streams")
    if not c or not c["rss_peak_mb"]:
        return (what, goal, NOT_MEASURED, "—", None)
    errors, peak = c["chatkit"]["errors"], max(c["rss_peak_mb"])
    return (what, goal, f"{errors} errors, {peak:.0f} MB peak ({c['streams']} streams)", "—",
            errors == 0 and peak <= 120 and c["streams"] >= 1000)


def _cache(s: dict) -> Target:
    what, goal = "cached answer (answer cache)", "≤ 5 ms server time, 0 upstream calls"
    cached = (s.get("answer_cache") or {}).get("cached")
    if not cached:
        return (what, goal, NOT_MEASURED, "—", None)
    shown = (f"{_ms(cached['server_time_ms_per_request'])} ms server time, "
             f"{_ms(cached['server_cpu_ms_per_request'])} ms CPU, {cached['upstream_calls']} upstream calls")
    return (what, goal, shown, "—", cached["server_time_ms_per_request"] <= 5 and cached["upstream_calls"] == 0)


def _status(met: bool | None, goal: str = "") -> str:
    if met is None:
        return "—" if goal == REPORTED else NOT_MEASURED
    return "met" if met else "**not met**"


def targets_table(data: dict) -> str:
    """The targets as a Markdown table, with the sections that failed named under it."""
    lines = ["## Targets", "", _row(["what", "target", "ChatKit", "LiteLLM proxy, same run", "status"]),
             _row(["---"] * 5)]
    lines += [_row([what, goal, ours, peer, _status(met, goal)]) for what, goal, ours, peer, met in targets(data)]
    failed = data.get("failed", {})
    lines += ["", *[f"- section `{name}` failed: {reason}" for name, reason in failed.items()]] if failed else []
    return "\n".join(lines)


def markdown(data: dict) -> str:
    m, s = data["machine"], data["scenarios"]
    lines = [f"# ChatKit benchmark, {data['date']}", "",
             f"CPU: {m['cpu']} ({m['cores']} cores), load average before/after: {m['load_before']} / "
             f"{m['load_after']}. Latency sections: one uvicorn worker, memory store; throughput sections "
             f"also {m['workers']} workers sharing a store (section 2). The load generator and the mock upstream "
             "share these cores with the server.", ""]
    lines += [targets_table(data)]
    if "fixed_rates" in s:
        lines += ["", "## 1. Non-streamed chat at fixed rates (ms)", "",
                  _row(["provider", "req/s", "direct p50", "direct p99", "ChatKit p50", "ChatKit p99",
                        "added p50", "added p99", "errors", "server CPU ms/req"]), _row(["---"] * 10)]
        for r in s["fixed_rates"]:
            d, c = r["direct"], r["chatkit"]
            lines.append(_row([r["provider"], r["rate"], _ms(d["p50_ms"]), _ms(d["p99_ms"]), _ms(c["p50_ms"]),
                               _ms(c["p99_ms"]), _ms(r.get("added_p50_ms")), _ms(r.get("added_p99_ms")),
                               c["errors"], _ms(c.get("server_cpu_ms_per_request"))]))
    if "max_sustained" in s:
        lines += ["", "## 2. Maximum sustained rate"]
        for x in s["max_sustained"]:
            lines += ["", f"{x['workers']} worker(s), {x['store']} store. Closed loop (128 connections): "
                      f"{x['closed_loop']['rps']:.0f} req/s, {_ms(x['closed_loop'].get('server_cpu_ms_per_request'))}"
                      " ms server CPU per request. Highest constant rate with < 1% errors and added p99 < 10 ms: "
                      f"**{x['sustained_rps'] or 'none'}**.", "",
                      _row(["req/s", "ChatKit p99", "direct p99", "added p99", "error rate"]), _row(["---"] * 5)]
            lines += [_row([t["rate"], _ms(t["chatkit"]["p99_ms"]), _ms(t["direct"]["p99_ms"]),
                            _ms(t.get("added_p99_ms")), f"{t['chatkit']['error_rate']:.1%}"]) for t in x["tried"]]
    if "scaling" in s:
        lines += ["", "## 2b. Workers on a shared store (closed loop, 256 connections)", "", *_scaling_table(s)]
    if "streaming" in s:
        lines += ["", "## 3. Streaming: time to first token (ms)", "",
                  _row(["provider", "streams/s", "direct p50", "direct p99", "ChatKit p50", "ChatKit p99",
                        "added p50", "added p99", "errors"]), _row(["---"] * 9)]
        for r in s["streaming"]:
            d, c = r["direct"], r["chatkit"]
            lines.append(_row([r["provider"], r["rate"], _ms(d["ttft_p50_ms"]), _ms(d["ttft_p99_ms"]),
                               _ms(c["ttft_p50_ms"]), _ms(c["ttft_p99_ms"]), _ms(r.get("added_ttft_p50_ms")),
                               _ms(r.get("added_ttft_p99_ms")), c["errors"]]))
    if "concurrent_streams" in s:
        c = s["concurrent_streams"]
        lines += ["", "## 4. Concurrent SSE streams", "",
                  f"{c['streams']} streams started over 5 s on {c['workers']} worker(s), each 40 chunks "
                  "250 ms apart (all open together for 5 s): "
                  f"{c['chatkit']['errors']} errors {c['chatkit'].get('error_reasons') or ''}, "
                  f"TTFT p50 {_ms(c['chatkit']['ttft_p50_ms'])} ms / p99 "
                  f"{_ms(c['chatkit']['ttft_p99_ms'])} ms, all done in {c['wall_s']:.1f} s. RSS per worker idle "
                  f"{', '.join(f'{v:.0f}' for v in c['rss_idle_mb'])} MB, peak "
                  f"{', '.join(f'{v:.0f}' for v in c['rss_peak_mb'])} MB."]
    if "session_memory" in s:
        x = s["session_memory"]
        how = "measured" if x["complete"] else f"extrapolated from {x['sessions_filled']} sessions"
        lines += ["", "## 5. Memory store", "",
                  f"One worker: idle {x['rss_idle_mb']:.0f} MB; after {x['sessions_filled']} conversations of "
                  f"{x['messages_each']} messages {x['rss_after_mb']:.0f} MB ({x['per_session_kb']:.1f} KB each); "
                  f"at 10,000 conversations {x['rss_at_target_mb']:.0f} MB ({how}). Filling took "
                  f"{x['fill_seconds']:.0f} s."]
    if "fallback" in s:
        lines += ["", "## 6. Fallback cost at 100 req/s (ms)", "",
                  _row(["chain", "p50", "p99", "added p50", "added p99", "errors"]), _row(["---"] * 6)]
        lines += [_row([r["case"], _ms(r["chatkit"]["p50_ms"]), _ms(r["chatkit"]["p99_ms"]),
                        _ms(r.get("added_p50_ms")), _ms(r.get("added_p99_ms")), r["chatkit"]["errors"]])
                  for r in s["fallback"]]
    if "limiter_storage" in s:
        lines += ["", "## 7. Rate limiter storage (one worker, closed loop, 128 connections)", "",
                  _row(["variant", "req/s", "p50", "p99", "server CPU ms/req"]), _row(["---"] * 5)]
        lines += [_row([r["variant"], f"{r['chatkit']['rps']:.0f}", _ms(r["chatkit"]["p50_ms"]),
                        _ms(r["chatkit"]["p99_ms"]), _ms(r["chatkit"].get("server_cpu_ms_per_request"))])
                  for r in s["limiter_storage"]]
    if "answer_cache" in s:
        lines += ["", "## 8. Answer cache", "", _cache_text(s["answer_cache"])]
    if "peers" in s:
        lines += ["", "## LiteLLM proxy beside ChatKit (same run, one worker each)", "", *_peers(s)]
    lines += ["", *[f"- {note}" for note in data.get("notes", [])]]
    return "\n".join(lines).rstrip() + "\n"


def _scaling_table(s: dict) -> list[str]:
    lines = ["One worker, then several, alternating; CPU ms per request of the workers, of the store's own "
             "process (redis-server, PostgreSQL's), of the mock upstream and of the load client, the cores "
             "each worker kept busy, how busy the machine was (every process on it) and the cores other work "
             "on the machine took meanwhile (a second worker needs a core the others leave free).", "",
             _row(["store", "workers", "req/s", "workers CPU", "store CPU", "mock CPU", "client CPU",
                   "busy cores per worker", "machine busy", "other work, cores", "errors"]), _row(["---"] * 11)]
    for row in s["scaling"]:
        for r in row["runs"]:
            lines.append(_row([row["store"], r["workers"], f"{r['rps']:.0f}", _ms(r.get("server_cpu_ms_per_request")),
                               _ms(r.get("store_cpu_ms_per_request")), _ms(r.get("mock_cpu_ms_per_request")),
                               _ms(r.get("client_cpu_ms_per_request")),
                               ", ".join(f"{c:.2f}" for c in r.get("worker_cores", [])),
                               _share(r.get("machine_busy")), _cores(r.get("other_cores")), r["errors"]]))
    lines += ["", *[f"- {row['store']}: {_scaling_cell(row)}" for row in s["scaling"]]]
    return lines


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _cores(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _cache_text(c: dict) -> str:
    if "cached" not in c:
        return f"Not measured: {c.get('skipped', 'no result')}"
    lines = [f"One worker, `[cache] enabled = true`; one question in each of {c['cached']['requests']} fresh "
             "conversations: the same question answered once beforehand (cached), or a new one (model), in "
             f"alternating batches{', streamed' if c.get('stream') else ''}.", "",
             _row(["answer", "server time ms/req", "server CPU ms/req", "p50", "p99", "upstream calls",
                   "cache hits"]), _row(["---"] * 7)]
    lines += [_row([kind, _ms(r["server_time_ms_per_request"]), _ms(r["server_cpu_ms_per_request"]),
                    _ms(r["p50_ms"]), _ms(r["p99_ms"]), r["upstream_calls"], r["cache_hits"]])
              for kind, r in (("cached", c["cached"]), ("model", c["model"]))]
    return "\n".join(lines)


def _peers(s: dict) -> list[str]:
    peer = s["peers"]
    if "skipped" in peer:
        return [f"Not measured: {peer['skipped']}"]
    lines = [f"LiteLLM proxy {peer['version']}, one worker, OpenAI-compatible model on the same mock; its client "
             "sends the whole conversation (the 20 messages ChatKit sends upstream).", "",
             _row(["server", "req/s", "p50", "p99", "added p50", "added p99", "errors", "server CPU ms/req"]),
             _row(["---"] * 8)]
    rows = [(f"ChatKit, {r['provider']} plugin", r, r["chatkit"]) for r in s.get("fixed_rates", []) if r["rate"] == 100]
    rows += [("LiteLLM proxy", r, r["litellm"]) for r in peer["fixed_rates"]]
    lines += [_row([name, r["rate"], _ms(x["p50_ms"]), _ms(x["p99_ms"]), _ms(r.get("added_p50_ms")),
                    _ms(r.get("added_p99_ms")), x["errors"], _ms(x.get("server_cpu_ms_per_request"))])
              for name, r, x in rows]
    closed = peer["closed_loop"]
    ours = next((x["closed_loop"] for x in s.get("max_sustained", []) if x["workers"] == 1), None)
    lines += ["", f"Closed loop (128 connections): LiteLLM {closed['rps']:.0f} req/s at "
              f"{_ms(closed.get('server_cpu_ms_per_request'))} ms CPU per request, {closed['errors']} errors"
              + (f"; ChatKit (ollama plugin, memory store) {ours['rps']:.0f} req/s at "
                 f"{_ms(ours.get('server_cpu_ms_per_request'))} ms." if ours else ".")]
    streamed = [(f"ChatKit, {r['provider']} plugin", r, r["chatkit"]) for r in s.get("streaming", [])]
    streamed += [("LiteLLM proxy", r, r["litellm"]) for r in peer.get("streaming", [])]
    lines += ["", "Streamed, 50 chunks 20 ms apart: time to first token (ms)", "",
              _row(["server", "streams/s", "TTFT p50", "TTFT p99", "added p50", "added p99", "errors",
                    "server CPU ms/req"]), _row(["---"] * 8)]
    lines += [_row([name, r["rate"], _ms(x["ttft_p50_ms"]), _ms(x["ttft_p99_ms"]), _ms(r.get("added_ttft_p50_ms")),
                    _ms(r.get("added_ttft_p99_ms")), x["errors"], _ms(x.get("server_cpu_ms_per_request"))])
              for name, r, x in streamed]
    return lines


def plot(data: dict, path: Path) -> bool:
    """Latency by rate and limiter throughput; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in data["scenarios"].get("fixed_rates", []) if r["provider"] == "ollama"]
    limiter = data["scenarios"].get("limiter_storage", [])
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if rows:
        rates = [r["rate"] for r in rows]
        for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
            left.plot(rates, [r["direct"][key] for r in rows], "--o", label=f"direct {label}")
            left.plot(rates, [r["chatkit"][key] for r in rows], "-o", label=f"ChatKit {label}")
        left.set(xlabel="req/s", ylabel="ms", title="Non-streamed chat latency", yscale="log")
        left.legend()
    if limiter:
        right.bar([r["variant"] for r in limiter], [r["chatkit"]["rps"] for r in limiter])
        right.set(ylabel="req/s", title="Closed-loop throughput")
        right.tick_params(axis="x", rotation=20)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def write(data: dict) -> list[Path]:
    RESULTS.mkdir(exist_ok=True)
    stamp = data["date"].replace(":", "").replace("-", "")[:13]
    text, blob = markdown(data), json.dumps(data, indent=2, default=str)
    written = []
    for name in ("latest", stamp):
        (RESULTS / f"{name}.json").write_text(blob)
        (RESULTS / f"{name}.md").write_text(text)
        written += [RESULTS / f"{name}.json", RESULTS / f"{name}.md"]
    if plot(data, RESULTS / "latest.png"):
        written.append(RESULTS / "latest.png")
    return written
