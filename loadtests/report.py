"""The run's outputs: the JSON report of interface.md, a CSV of every request, an HTML report.

All three are written atomically (temp file + rename), so a crash never leaves half a file. The
CSV and HTML sit beside the JSON: ``run.json`` -> ``run.csv``, ``run.html``.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator.atomicfile import write_atomic
from loadtests import svg
from loadtests.metrics import NS_PER_MS, NS_PER_S, aggregate, per_request
from loadtests.timing import ERROR_CLASSES, RequestRecord

__all__ = ["CSV_COLUMNS", "build_report", "csv_text", "html_text", "known_figures", "load_records",
           "records_path", "sibling_paths", "write_outputs"]

CSV_COLUMNS = (
    "request_id", "worker", "user", "api", "stream", "status", "error_class", "error",
    "intended_start_s", "sent_s", "schedule_lag_ms", "ttfb_ms", "ttft_ms", "tpot_ms", "e2el_ms",
    "input_tokens", "output_tokens", "token_chunks", "output_words", "server_timing",
)


def build_report(
    records: Sequence[RequestRecord],
    run: dict[str, Any],
    *,
    open_loop: bool,
    slo: dict[str, float] | None = None,
    warmup: int = 0,
) -> dict[str, Any]:
    """vLLM's result fields + ours; ``run`` (host, model, users, rate...) is kept under ``run``."""
    agg = aggregate(records, open_loop=open_loop, slo=slo or None, warmup=warmup)
    report: dict[str, Any] = {"tool": "aibackend loadtest", **agg.figures}
    report["run"] = dict(run)
    for key in ("max_concurrency", "request_rate", "burstiness"):  # vLLM names, for comparison
        if key in run:
            report[key] = run[key]
    return report


def known_figures(slo: dict[str, float] | None = None) -> set[str]:
    """The figure names a gate may use (those of a report of a run with these SLOs)."""
    from loadtests.gate import numeric_figures

    return set(numeric_figures(build_report([], {}, open_loop=False, slo=slo or None)))


def sibling_paths(report_path: Path) -> tuple[Path, Path]:
    return report_path.with_suffix(".csv"), report_path.with_suffix(".html")


def records_path(report_path: Path) -> Path:
    """Raw records, one JSON object per line: re-aggregate them, or check them against a server's truth."""
    return report_path.with_suffix(".records.jsonl")


def load_records(path: Path) -> list[RequestRecord]:
    with path.open(encoding="utf-8") as handle:
        return [RequestRecord.from_dict(json.loads(line)) for line in handle if line.strip()]


def _origin_ns(records: Sequence[RequestRecord]) -> int:
    return min((r.epoch(r.intended_start_ns) for r in records), default=0)


def csv_text(records: Sequence[RequestRecord], *, open_loop: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    t0 = _origin_ns(records)
    for r in sorted(records, key=lambda r: r.epoch(r.sent_ns)):
        lat = per_request(r, r.intended_start_ns if open_loop else r.sent_ns) if r.ok else None

        def ms(v: float | None) -> str:
            return "" if v is None else f"{v:.3f}"

        writer.writerow([
            r.request_id, r.worker, r.user, r.api, int(r.stream), r.status if r.status is not None else "",
            r.error_class or "", r.error or "",
            f"{(r.epoch(r.intended_start_ns) - t0) / NS_PER_S:.6f}", f"{(r.epoch(r.sent_ns) - t0) / NS_PER_S:.6f}",
            f"{(r.sent_ns - r.intended_start_ns) / NS_PER_MS:.3f}",
            ms(lat.ttfb if lat else None), ms(lat.ttft if lat else None), ms(lat.tpot if lat else None),
            ms(lat.e2el if lat else None),
            "" if r.input_tokens is None else r.input_tokens, "" if r.output_tokens is None else r.output_tokens,
            r.token_chunks, r.output_words, json.dumps(r.server_timing, sort_keys=True) if r.server_timing else "",
        ])
    return out.getvalue()


def _buckets(records: Sequence[RequestRecord], t0: int) -> tuple[dict[str, list[tuple[float, float]]], dict[str, list[tuple[float, float]]]]:
    """Per-second completed requests, output tokens/s, and errors by class over time."""
    if not records:
        return {}, {}
    last = max(r.epoch(r.done_ns or r.headers_ns or r.sent_ns) for r in records)
    n = int((last - t0) // NS_PER_S) + 1
    done = [0.0] * n
    tokens = [0.0] * n
    errors = {c: [0.0] * n for c in ERROR_CLASSES}
    for r in records:
        if r.ok and r.done_ns is not None:
            done[int((r.epoch(r.done_ns) - t0) // NS_PER_S)] += 1
            for t in r.token_chunk_ns:
                tokens[int((r.epoch(t) - t0) // NS_PER_S)] += r.output_token_count / max(1, r.token_chunks)
        elif r.error_class:
            t = r.done_ns or r.headers_ns or r.sent_ns
            errors[r.error_class][int((r.epoch(t) - t0) // NS_PER_S)] += 1
    thr = {"requests/s": [(i + 0.5, v) for i, v in enumerate(done)],
           "output tokens/s ÷ 10": [(i + 0.5, v / 10) for i, v in enumerate(tokens)]}
    err = {c: [(i + 0.5, v) for i, v in enumerate(vals)] for c, vals in errors.items() if any(vals)}
    return thr, err


def html_text(report: dict[str, Any], records: Sequence[RequestRecord], *, open_loop: bool) -> str:
    t0 = _origin_ns(records)
    ok = [r for r in records if r.ok]
    lat = [(r, per_request(r, r.intended_start_ns if open_loop else r.sent_ns)) for r in ok]
    ttft = [p.ttft for _, p in lat if p.ttft is not None]
    tpot = [p.tpot for _, p in lat if p.tpot is not None]
    over_time = {
        "TTFT": [((r.epoch(r.sent_ns) - t0) / NS_PER_S, p.ttft) for r, p in lat if p.ttft is not None],
        "E2EL": [((r.epoch(r.sent_ns) - t0) / NS_PER_S, p.e2el) for r, p in lat],
    }
    thr, err = _buckets(records, t0)
    window = report.get("steady_state_window") or {}
    shade = None
    if window.get("seconds"):
        first_sent = min((r.epoch(r.sent_ns) for r in records), default=t0)
        start = (first_sent - t0) / NS_PER_S + window["start_offset_s"]
        shade = (start, start + window["seconds"])
    charts = [
        svg.histogram(ttft, "TTFT distribution", "ms"),
        svg.histogram(tpot, "TPOT distribution", "ms per output token"),
        svg.scatter(over_time, "Latency over time (by send time)", "seconds into the run", "ms"),
        svg.lines(thr, "Throughput over time (shaded: steady-state window)", "seconds into the run", "per second", shade),
        svg.lines(err, "Errors over time", "seconds into the run", "errors per second") if err
        else "<p>No errors.</p>",
    ]
    rows = []
    for metric in ("ttfb", "ttft", "tpot", "itl", "e2el"):
        cells = "".join(f"<td>{report.get(f'{s}_{metric}_ms', 0):.2f}</td>" for s in ("mean", "median", "std", "p90", "p99"))
        rows.append(f"<tr><th>{metric.upper()}</th>{cells}</tr>")
    summary_keys = ("completed", "failed", "duration", "request_throughput", "output_throughput",
                    "total_token_throughput", "request_goodput", "total_input_tokens", "total_output_tokens",
                    "latency_origin", "p99_schedule_lag_ms")
    summary = "".join(
        f"<tr><th>{k}</th><td>{_show(report[k])}</td></tr>" for k in summary_keys if k in report
    )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in report.get("warnings", []))
    errors = ", ".join(f"{k}: {v}" for k, v in (report.get("errors") or {}).items())
    defs = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in (report.get("metric_definitions") or {}).items())
    run = html.escape(json.dumps(report.get("run", {}), sort_keys=True))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Load test report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f5f5f5}}
.charts{{display:flex;flex-wrap:wrap;gap:1em}} code{{background:#f5f5f5}}</style></head><body>
<h1>Load test report</h1>
<p>Run: <code>{run}</code></p>
<h2>Summary</h2><table>{summary}<tr><th>errors</th><td>{html.escape(errors)}</td></tr></table>
<p>Steady-state window: {html.escape(str(window.get('reason', '')))} ({window.get('seconds', 0):.2f} s, {window.get('requests', 0)} requests)</p>
{'<h2>Warnings</h2><ul>' + warnings + '</ul>' if warnings else ''}
<h2>Latency (ms)</h2><table><tr><th></th><th>mean</th><th>median</th><th>std</th><th>p90</th><th>p99</th></tr>{''.join(rows)}</table>
<h2>Charts</h2><div class="charts">{''.join(f'<div>{c}</div>' for c in charts)}</div>
<h2>Definitions</h2><table>{defs}</table>
</body></html>
"""


def _show(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


def write_outputs(report_path: Path, report: dict[str, Any], records: Sequence[RequestRecord], *, open_loop: bool) -> list[Path]:
    csv_path, html_path = sibling_paths(report_path)
    texts = {
        report_path: json.dumps(report, indent=2, sort_keys=False) + "\n",
        csv_path: csv_text(records, open_loop=open_loop),
        html_path: html_text(report, records, open_loop=open_loop),
        records_path(report_path): "".join(json.dumps(r.to_dict(), separators=(",", ":")) + "\n" for r in records),
    }
    for path, text in texts.items():
        write_atomic(path, text, make_parents=True)
    return list(texts)

