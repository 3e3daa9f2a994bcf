"""Results as JSON, a Markdown report with the targets, and a plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _ms(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def targets(data: dict) -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, goal, met) for each stated target; met None when not measured."""
    s = data["scenarios"]
    out: list[tuple[str, str, str, bool | None]] = []
    at100 = next((r for r in s.get("fixed_rates", []) if r["rate"] == 100 and r["provider"] == "ollama"), None)
    if at100:
        out.append(("added p50 at 100 req/s", f"{_ms(at100.get('added_p50_ms'))} ms", "<= 1 ms",
                    at100.get("added_p50_ms", 1e9) <= 1))
        out.append(("added p99 at 100 req/s", f"{_ms(at100.get('added_p99_ms'))} ms", "<= 5 ms",
                    at100.get("added_p99_ms", 1e9) <= 5))
    for row in s.get("streaming", [])[:1]:
        out.append((f"added TTFT p50 ({row['provider']})", f"{_ms(row.get('added_ttft_p50_ms'))} ms", "<= 2 ms",
                    row.get("added_ttft_p50_ms", 1e9) <= 2))
    if s.get("max_sustained"):
        best = s["max_sustained"][-1]
        rps = best["sustained_rps"]
        out.append((f"sustained non-streamed req/s ({best['workers']} workers)", str(rps or "none met"), ">= 2000",
                    (rps or 0) >= 2000))
    if "concurrent_streams" in s:
        c = s["concurrent_streams"]
        out.append((f"{c['streams']} concurrent SSE streams, errors", str(c["chatkit"]["errors"]), "0",
                    c["chatkit"]["errors"] == 0))
        peak = max(c["rss_peak_mb"] or [float("nan")])
        out.append(("RSS per worker under that load", f"{peak:.0f} MB", "<= 150 MB", peak <= 150))
    if "session_memory" in s:
        m = s["session_memory"]
        out.append(("idle RSS", f"{m['rss_idle_mb']:.0f} MB", "<= 80 MB", m["rss_idle_mb"] <= 80))
    limiter = {r["variant"]: r["chatkit"]["rps"] for r in s.get("limiter_storage", [])}
    if "redis://" in limiter and limiter.get("memory://"):
        ratio = limiter["redis://"] / limiter["memory://"]
        out.append(("redis limiter / memory limiter req/s", f"{ratio:.0%}", ">= 70%", ratio >= 0.7))
    return out


def markdown(data: dict) -> str:
    m, s = data["machine"], data["scenarios"]
    lines = [f"# ChatKit benchmark, {data['date']}", "",
             f"CPU: {m['cpu']} ({m['cores']} cores), load average before/after: {m['load_before']} / "
             f"{m['load_after']}. Latency sections: one uvicorn worker, memory store; throughput sections "
             f"also {m['workers']} workers sharing a SQLite store. The load generator and the mock upstream "
             "share these cores with the server.", ""]
    lines += ["## Targets", "", _row(["target", "measured", "goal", "met"]), _row(["---"] * 4)]
    lines += [_row([t, v, g, "n/a" if ok is None else ("yes" if ok else "**no**")]) for t, v, g, ok in targets(data)]
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
    lines += ["", *[f"- {note}" for note in data.get("notes", [])]]
    return "\n".join(lines).rstrip() + "\n"


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
