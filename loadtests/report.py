"""The run's outputs: the JSON report of interface.md, a CSV of every request, an HTML report.

All are written atomically (temp file + rename), so a crash never leaves half a file. The CSV and
HTML sit beside the JSON: ``run.json`` -> ``run.csv``, ``run.html``, ``run.records.jsonl``.

The JSON is flat where it can be: every key vLLM's ``bench serve`` writes by default (vLLM 0.34.0,
``vllm/benchmarks/serve.py``: the result of ``benchmark()`` less the ``--save-detailed`` lists,
plus ``main()``'s date, backend, label, model_id, tokenizer_id, num_prompts, request_rate,
burstiness, max_concurrency), with vLLM's meaning, then ours (docs/reading-a-load-test-report.md).
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator.atomicfile import write_atomic
from generator.stats import DEFAULT_PERCENTILES
from loadtests import svg
from loadtests.gate import TEXT_KEYS, numeric_figures
from loadtests.metrics import (
    GATEWAY_METRICS,
    LATENCY_METRICS,
    NS_PER_MS,
    NS_PER_S,
    QUEUE_METRICS,
    Aggregate,
    aggregate,
    gateway_ms,
    per_request,
)
from loadtests.timing import ERROR_CLASSES, RequestRecord

__all__ = ["CSV_COLUMNS", "TEXT_KEYS", "build_report", "csv_text", "html_text", "known_figures", "load_records",
           "records_path", "show", "sibling_paths", "write_outputs"]

CSV_COLUMNS = (
    "request_id", "worker", "user", "api", "stream", "status", "error_class", "error",
    "intended_start_s", "sent_s", "schedule_lag_ms", "ttfb_ms", "ttft_ms", "tpot_ms", "e2el_ms",
    "input_tokens", "output_tokens", "token_chunks", "output_words", "server_timing",
    # added by issue 12
    "request_index", "prompt_id", "prompt_sha", "ended_s", "response_bytes", "usage_from",
    "tokenizer_output_tokens", "output_tokens_counted", "output_tokens_source", "input_tokens_counted",
    "input_tokens_source", "gateway_model_group", "gateway_deployment", "gateway_api_base", "gateway_retries",
    "gateway_fallbacks", "gateway_response_ms", "gateway_overhead_ms", "upstream_ttft_ms", "gateway_call_id",
)

_PERCENTILE_TTFT = re.compile(r"p[0-9.]+_ttft_ms")



def build_report(
    records: Sequence[RequestRecord],
    run: dict[str, Any],
    *,
    open_loop: bool,
    slo: dict[str, float] | None = None,
    warmup: int = 0,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> dict[str, Any]:
    """vLLM's result keys with vLLM's meanings, then ours; the run's settings are kept under ``run``."""
    return report_of(aggregate(records, open_loop=open_loop, slo=slo or None, warmup=warmup, percentiles=percentiles),
                     records, run, warmup=warmup)


def report_of(agg: Aggregate, records: Sequence[RequestRecord], run: dict[str, Any], *, warmup: int = 0) -> dict[str, Any]:
    measured = sorted(records, key=lambda r: r.epoch(r.sent_ns))[warmup:]
    started = min((r.epoch(r.intended_start_ns) for r in measured), default=time.time_ns())
    report: dict[str, Any] = {
        "tool": "aibackend loadtest",
        # vLLM main()'s keys
        "date": time.strftime("%Y%m%d-%H%M%S", time.localtime(started / NS_PER_S)),
        "endpoint_type": run.get("api"),
        "backend": run.get("api"),
        "label": run.get("label"),
        "model_id": run.get("model"),
        "tokenizer_id": run.get("tokenizer"),
        "num_prompts": len(measured),
        "request_rate": run.get("request_rate", "inf"),
        "burstiness": run.get("burstiness", 1.0),
        "max_concurrency": run.get("max_concurrency"),
        **agg.figures,
        # vLLM's per-request lists that its default result keeps (seconds; null: the request failed)
        "latencies": [agg.latencies[id(r)].e2el / 1e3 if id(r) in agg.latencies else None for r in measured],
        "queue_times": [(r.sent_ns - r.intended_start_ns) / NS_PER_S for r in measured],
        "rtfx": None,  # vLLM's real-time factor of audio input: no audio here
    }
    report["run"] = dict(run)
    return report


def known_figures(slo: dict[str, float] | None = None, *, open_loop: bool = False,
                  percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> set[str]:
    """The figure names a gate may use: those of a report of a run with these settings (the goodput
    figures only with SLOs)."""
    names = set(numeric_figures(build_report([], {}, open_loop=open_loop, slo=slo or None, percentiles=percentiles)))
    if not slo:
        names -= {"request_goodput", "steady_state_request_goodput", "slo_attainment"}
    return names


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


def csv_text(records: Sequence[RequestRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    t0 = _origin_ns(records)

    def ms(v: float | None) -> str:
        return "" if v is None else f"{v:.3f}"

    def text(v: Any) -> str:
        return "" if v is None else str(v)

    for r in sorted(records, key=lambda r: r.epoch(r.sent_ns)):
        lat = per_request(r) if r.ok else None
        counted, source = r.output_count()
        inputs, input_source = r.input_count()
        overhead = gateway_ms(r, "x-litellm-overhead-duration-ms")
        g = r.gateway
        writer.writerow([
            r.request_id, r.worker, r.user, r.api, int(r.stream), text(r.status), r.error_class or "", r.error or "",
            f"{(r.epoch(r.intended_start_ns) - t0) / NS_PER_S:.6f}", f"{(r.epoch(r.sent_ns) - t0) / NS_PER_S:.6f}",
            f"{(r.sent_ns - r.intended_start_ns) / NS_PER_MS:.3f}",
            ms(lat.ttfb if lat else None), ms(lat.ttft if lat else None), ms(lat.tpot if lat else None),
            ms(lat.e2el if lat else None), text(r.input_tokens), text(r.output_tokens),
            r.token_chunks, r.output_words, json.dumps(r.server_timing, sort_keys=True) if r.server_timing else "",
            r.request_index, r.prompt_id, r.prompt_sha, f"{(r.epoch(r.end_ns()) - t0) / NS_PER_S:.6f}",
            r.response_bytes, ("gateway" if r.via_gateway else "server") if r.output_tokens is not None else "",
            text(r.tokenizer_output_tokens), counted if r.ok else "", source if r.ok else "",
            inputs if r.ok else "", input_source if r.ok else "",
            g.get("x-litellm-model-group", ""), g.get("x-litellm-model-id", ""), g.get("x-litellm-model-api-base", ""),
            g.get("x-litellm-attempted-retries", ""), g.get("x-litellm-attempted-fallbacks", ""),
            g.get("x-litellm-response-duration-ms", ""), g.get("x-litellm-overhead-duration-ms", ""),
            ms(lat.ttft - overhead if lat and lat.ttft is not None and overhead is not None else None),
            g.get("x-litellm-call-id", ""),
        ])
    return out.getvalue()


def _buckets(records: Sequence[RequestRecord], t0: int) -> tuple[dict[str, list[tuple[float, float]]], dict[str, list[tuple[float, float]]]]:
    """Per-second completed requests, output tokens/s, and errors by class over time."""
    if not records:
        return {}, {}
    last = max(r.epoch(r.end_ns()) for r in records)
    n = int((last - t0) // NS_PER_S) + 1
    done = [0.0] * n
    tokens = [0.0] * n
    errors = {c: [0.0] * n for c in ERROR_CLASSES}
    for r in records:
        if r.ok and r.done_ns is not None:
            done[int((r.epoch(r.done_ns) - t0) // NS_PER_S)] += 1
            per_chunk = r.output_token_count / max(1, r.token_chunks)
            for t in r.token_chunk_ns:
                tokens[int((r.epoch(t) - t0) // NS_PER_S)] += per_chunk
        elif r.error_class:
            errors[r.error_class][int((r.epoch(r.end_ns()) - t0) // NS_PER_S)] += 1
    thr = {"requests/s": [(i + 0.5, v) for i, v in enumerate(done)],
           "output tokens/s ÷ 10": [(i + 0.5, v / 10) for i, v in enumerate(tokens)]}
    err = {c: [(i + 0.5, v) for i, v in enumerate(vals)] for c, vals in errors.items() if any(vals)}
    return thr, err


def show(value: Any, fmt: str = "{:.2f}") -> str:
    """A figure as text: "n/a" when it could not be measured, never 0."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return fmt.format(value)
    return str(value)


def stat_names(report: dict[str, Any]) -> list[str]:
    """mean, median, std and the percentile keys (p50, p90...) this report carries, in order."""
    keys = [k.removesuffix("_ttft_ms") for k in report if _PERCENTILE_TTFT.fullmatch(k)]
    return ["mean", "median", "std", *keys]


def latency_table(report: dict[str, Any], metrics: Sequence[str]) -> str:
    stats = stat_names(report)
    head = "".join(f"<th>{s}</th>" for s in stats)
    rows = []
    for metric in metrics:
        if f"mean_{metric}_ms" not in report:
            continue
        cells = "".join(f"<td>{show(report.get(f'{s}_{metric}_ms'))}</td>" for s in stats)
        rows.append(f"<tr><th>{html.escape(metric.upper() if metric in LATENCY_METRICS else metric)}</th>{cells}</tr>")
    return f"<table><tr><th>ms</th>{head}</tr>{''.join(rows)}</table>"


def _gateway_section(report: dict[str, Any], records: Sequence[RequestRecord], lat: dict[int, Any], t0: int) -> str:
    if not report.get("gateway_requests"):
        return ("<h2>Latency through the gateway</h2><p>No response carried LiteLLM's headers: the run did not "
                "go through a LiteLLM gateway (or the gateway strips them).</p>")
    through = [r for r in records if r.ok and r.via_gateway and id(r) in lat]
    overhead = {
        "gateway overhead": [((r.epoch(r.sent_ns) - t0) / NS_PER_S, gateway_ms(r, "x-litellm-overhead-duration-ms") or 0.0)
                             for r in through],
        "upstream (TTFT - overhead)": [((r.epoch(r.sent_ns) - t0) / NS_PER_S,
                                        lat[id(r)].ttft - (gateway_ms(r, "x-litellm-overhead-duration-ms") or 0.0))
                                       for r in through if lat[id(r)].ttft is not None],
    }
    deployments = ", ".join(f"{html.escape(k)}: {v}" for k, v in (report.get("gateway_deployments") or {}).items())
    return (
        "<h2>Latency through the gateway</h2>"
        f"<p>{report['gateway_requests']} requests answered through LiteLLM; deployments: {deployments}; "
        f"requests retried: {show(report.get('gateway_retried_requests'))} ({show(report.get('gateway_retries'))} "
        f"retries), requests that fell back: {show(report.get('gateway_fallback_requests'))}. "
        "<em>gateway overhead</em> is LiteLLM's own time before it answered (its header "
        "<code>x-litellm-overhead-duration-ms</code>: routing, checks, cache, waits between retries); "
        "<em>upstream</em> is the rest of the TTFT: the provider's time to the first token and both network hops.</p>"
        + latency_table(report, GATEWAY_METRICS)
        + f"<div class=charts><div>{svg.scatter(overhead, 'Where the TTFT went, per request', 'seconds into the run', 'ms')}</div></div>"
    )


def _slowest_section(report: dict[str, Any]) -> str:
    rows = report.get("slowest_requests") or []
    if not rows:
        return ""
    cols = ("request_id", "sent_offset_s", "user", "ttfb_ms", "ttft_ms", "e2el_ms", "gateway_overhead_ms",
            "upstream_ttft_ms", "retries", "fallbacks", "deployment", "server_queue_ms", "output_tokens",
            "output_tokens_source")
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(show(row.get(c)))}</td>" for c in cols) + "</tr>" for row in rows)
    return (f"<h2>The slowest requests (by TTFT)</h2><p>{_explain_slowest(report)}</p>"
            f"<table class=wide><tr>{head}</tr>{body}</table>")


def _explain_slowest(report: dict[str, Any]) -> str:
    """One sentence per cause the slowest requests' own figures point at."""
    rows = report.get("slowest_requests") or []
    median = report.get("median_ttft_ms")
    reasons = []
    retried = [r for r in rows if r.get("retries")]
    if retried:
        reasons.append(f"{len(retried)} of them were retried by the gateway")
    fell = [r for r in rows if r.get("fallbacks")]
    if fell:
        reasons.append(f"{len(fell)} fell back to another deployment")
    if median is not None:
        heavy = [r for r in rows if r.get("gateway_overhead_ms") is not None and r.get("ttft_ms")
                 and r["gateway_overhead_ms"] > 0.5 * r["ttft_ms"] and r["ttft_ms"] > 2 * median]
        if heavy:
            reasons.append(f"{len(heavy)} spent most of their TTFT inside the gateway (overhead above half the TTFT)")
        queued = [r for r in rows if (r.get("server_queue_ms") or 0) > 0.5 * (r.get("ttft_ms") or 0) > 0]
        if queued:
            reasons.append(f"{len(queued)} waited in the server's queue for most of their TTFT")
        upstream = [r for r in rows if r.get("upstream_ttft_ms") is not None and r.get("ttft_ms")
                    and r["upstream_ttft_ms"] > 0.5 * r["ttft_ms"] and r["ttft_ms"] > 2 * median]
        if upstream:
            reasons.append(f"{len(upstream)} spent most of their TTFT upstream (the provider and the network)")
    text = ("Of these: " + "; ".join(reasons) + "." if reasons
            else "Their retries, fallbacks, deployment and the gateway's share are listed per request.")
    load = (report.get("run") or {}).get("load_average")
    cpus = (report.get("run") or {}).get("cpus")
    if load and cpus and max(load) > cpus:
        text += (f" The machine running the load test was overloaded (load average {load[0]:.1f}, {load[1]:.1f}, "
                 f"{load[2]:.1f} over 1, 5 and 15 minutes, on {cpus} cores): every process on it, a gateway or "
                 "simulator there included, waited for a CPU, so these figures are the machine's as much as the servers'.")
    return text


def _baseline_section(report: dict[str, Any]) -> str:
    """``--baseline``: every figure the regression gate compares, then and now, as a table and a chart."""
    base = report.get("baseline")
    if not base:
        return ""
    rows = base.get("figures") or []
    chart = svg.change_bars([(r["figure"], r["change"], r["worse"]) for r in rows],
                            f"Change against {Path(base['file']).name} (red: worse)")
    cells = "".join(
        f"<tr><th>{html.escape(r['figure'])}</th><td>{html.escape(show(r['baseline']))}</td><td>{html.escape(show(r['now']))}</td>"
        f"<td>{html.escape(show(r['change'], '{:+.1%}'))}</td><td>{r['better']} is better</td></tr>" for r in rows)
    return (f"<h2>Against the baseline</h2><p>{html.escape(base['file'])}, allowed regression "
            f"{html.escape(str(base['max_regression']))}.</p><div class=charts><div>{chart}</div></div>"
            f"<table><tr><th>figure</th><th>baseline</th><th>now</th><th>change</th><th></th></tr>{cells}</table>")


def _tokens_section(report: dict[str, Any]) -> str:
    counts = report.get("token_counts") or {}
    sources = ", ".join(f"{k}: {v} request(s)" for k, v in (counts.get("sources") or {}).items()) or "n/a"
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(show(v))}</td></tr>"
                    for k, v in counts.items() if k != "sources")
    return (f"<h2>Token counts</h2><p>Output tokens (TPOT's N, token throughput) from: <b>{html.escape(show(report.get('output_tokens_source')))}</b> "
            f"({html.escape(sources)}); input tokens from: <b>{html.escape(show(report.get('input_tokens_source')))}</b>. "
            "A gateway's usage is never taken for the server's: LiteLLM fills it with its own estimate when the "
            f"server sends none.</p><table>{cells}</table>")


def html_text(report: dict[str, Any], records: Sequence[RequestRecord], *, warmup: int = 0) -> str:
    t0 = _origin_ns(records)
    measured = sorted(records, key=lambda r: r.epoch(r.sent_ns))[warmup:]
    lat = {id(r): per_request(r) for r in measured if r.ok}
    ok = [r for r in measured if id(r) in lat]
    ttft = [v for v in (lat[id(r)].ttft for r in ok) if v is not None]
    tpot = [v for v in (lat[id(r)].tpot for r in ok) if v is not None]
    over_time = {
        "TTFT": [((r.epoch(r.sent_ns) - t0) / NS_PER_S, lat[id(r)].ttft or 0.0) for r in ok if lat[id(r)].ttft is not None],
        "E2EL": [((r.epoch(r.sent_ns) - t0) / NS_PER_S, lat[id(r)].e2el) for r in ok],
    }
    thr, err = _buckets(records, t0)
    window = report.get("steady_state_window") or {}
    shade = None
    if window.get("seconds") and window.get("start_offset_s") is not None:
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
    summary_keys = ("completed", "failed", "duration", "request_throughput", "output_throughput",
                    "total_token_throughput", "request_goodput", "total_input_tokens", "total_output_tokens",
                    "output_tokens_source", "input_tokens_source", "max_output_tokens_per_s", "max_concurrent_requests",
                    "steady_state_duration", "steady_state_request_throughput", "steady_state_output_throughput",
                    "steady_state_request_goodput", "slo_attainment", "p99_schedule_lag_ms")
    summary = "".join(f"<tr><th>{k}</th><td>{html.escape(show(report[k], '{:.3f}'))}</td></tr>"
                      for k in summary_keys if k in report)
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in report.get("warnings", []))
    errors = ", ".join(f"{k}: {v}" for k, v in (report.get("errors") or {}).items())
    defs = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in (report.get("metric_definitions") or {}).items())
    gate = report.get("gate") or {}
    gate_lines = "".join(f"<li>{html.escape(line)}</li>" for line in gate.get("lines", []))
    run = html.escape(json.dumps(report.get("run", {}), sort_keys=True))
    latency_metrics = [*LATENCY_METRICS, *(m for m in QUEUE_METRICS if f"mean_{m}_ms" in report)]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Load test report</title>
<style>{STYLE}</style></head><body>
<h1>Load test report</h1>
<p>Run: <code>{run}</code></p>
<h2>Summary</h2><table>{summary}<tr><th>errors</th><td>{html.escape(errors)}</td></tr></table>
<p>duration and the throughputs are vLLM's (the whole run); steady_state_* leave ramp-up and drain out:
{html.escape(str(window.get('reason', '')))} ({show(window.get('seconds'))} s, {window.get('requests', 0)} requests)</p>
{'<h2>Warnings</h2><ul>' + warnings + '</ul>' if warnings else ''}
{'<h2>Gate</h2><ul>' + gate_lines + '</ul>' if gate_lines else ''}
{_baseline_section(report)}
<h2>Latency (ms, from the send)</h2>{latency_table(report, latency_metrics)}
{_gateway_section(report, measured, lat, t0)}
{_slowest_section(report)}
{_tokens_section(report)}
<h2>Charts</h2><div class="charts">{''.join(f'<div>{c}</div>' for c in charts)}</div>
<h2>Definitions</h2><table>{defs}</table>
</body></html>
"""


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}"
         "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f5f5f5}"
         ".charts{display:flex;flex-wrap:wrap;gap:1em} code{background:#f5f5f5} table.wide td{font-size:90%}")


def write_outputs(report_path: Path, report: dict[str, Any], records: Sequence[RequestRecord], *,
                  warmup: int = 0) -> list[Path]:
    csv_path, html_path = sibling_paths(report_path)
    texts = {
        report_path: json.dumps(report, indent=2, sort_keys=False) + "\n",
        csv_path: csv_text(records),
        html_path: html_text(report, records, warmup=warmup),
        records_path(report_path): "".join(json.dumps(r.to_dict(), separators=(",", ":")) + "\n" for r in records),
    }
    for path, text in texts.items():
        write_atomic(path, text, make_parents=True)
    return list(texts)

