"""The HTML of a campaign, beside its JSON summary (``<report>.html``), self-contained like a run's.

``--compare`` and ``--compare-direct``: the runs side by side, as cumulative distributions of TTFT,
TPOT and E2EL (one curve per run, from every raw request) and bars of their medians, p99s and
throughputs. ``--sweep``: latency and goodput against the offered rate, the knee marked. Each run's
own report (and HTML) stays beside it; this page links them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.atomicfile import write_atomic
from loadtests import svg
from loadtests.metrics import per_request
from loadtests.report import STYLE, load_records, records_path, show
from loadtests.timing import RequestRecord

__all__ = ["Run", "compare_html", "sweep_html", "write_campaign_html"]


@dataclass
class Run:
    label: str
    report_path: Path
    report: dict[str, Any]

    def records(self) -> list[RequestRecord]:
        path = records_path(self.report_path)
        return load_records(path) if path.exists() else []


def _values(records: Sequence[RequestRecord], warmup: int) -> dict[str, list[float]]:
    ordered = sorted(records, key=lambda r: r.epoch(r.sent_ns))[warmup:]
    lat = [per_request(r) for r in ordered if r.ok]
    return {"ttft": [p.ttft for p in lat if p.ttft is not None], "tpot": [p.tpot for p in lat if p.tpot is not None],
            "e2el": [p.e2el for p in lat]}


def _table(runs: Sequence[Run], keys: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(r.label)}</th>" for r in runs)
    rows = "".join(f"<tr><th>{k}</th>" + "".join(f"<td>{html.escape(show(r.report.get(k)))}</td>" for r in runs) + "</tr>"
                   for k in keys)
    return f"<table><tr><th></th>{head}</tr>{rows}</table>"


def _links(runs: Sequence[Run], base: Path) -> str:
    items = []
    for r in runs:
        page = r.report_path.with_suffix(".html")
        try:
            href = page.relative_to(base.parent)
        except ValueError:
            href = page
        items.append(f'<li><a href="{html.escape(str(href))}">{html.escape(r.label)}</a>: {html.escape(str(r.report_path))}</li>')
    return "<ul>" + "".join(items) + "</ul>"


COMPARE_KEYS = ("completed", "failed", "duration", "request_throughput", "output_throughput", "output_tokens_source",
                "total_output_tokens", "median_ttfb_ms", "median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "p99_tpot_ms",
                "median_itl_ms", "median_e2el_ms", "p99_e2el_ms", "median_gateway_overhead_ms", "p99_gateway_overhead_ms")


def compare_html(title: str, runs: Sequence[Run], summary: dict[str, Any], base: Path) -> str:
    values = {r.label: _values(r.records(), int((r.report.get("run") or {}).get("warmup") or 0)) for r in runs}
    labels = [r.label for r in runs]
    cdfs = [svg.cdf({label: values[label][m] for label in labels}, f"{name} (cumulative, every request)", "ms")
            for m, name in (("ttft", "TTFT"), ("tpot", "TPOT"), ("e2el", "E2EL"))]
    figures = ["median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "median_e2el_ms"]
    latency_bars = svg.bars([f.removesuffix("_ms") for f in figures],
                            {r.label: [r.report.get(f) for f in figures] for r in runs}, "Latency, side by side", "ms")
    throughput_bars = svg.bars(["request_throughput", "output_throughput ÷ 10"],
                               {r.label: [r.report.get("request_throughput"),
                                          None if r.report.get("output_throughput") is None
                                          else r.report["output_throughput"] / 10] for r in runs},
                               "Throughput (whole run, vLLM's)", "per second")
    notes = "".join(f"<li>{html.escape(w)}</li>" for w in summary.get("warnings", []))
    extra = ""
    if "added_ms" in summary:
        added = summary["added_ms"]
        extra = ("<h2>What the gateway adds</h2><table>" + "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(show(v, '{:+.2f}'))}</td></tr>" for k, v in added.items())
            + "</table>")
        tokens = summary.get("token_counts") or {}
        extra += ("<h2>Token counts, both sides</h2><table>" + "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(show(v))}</td></tr>" for k, v in tokens.items()) + "</table>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>The same seeded workload against each target. Each run's own report: {_links(runs, base)}</p>
{'<h2>Warnings</h2><ul>' + notes + '</ul>' if notes else ''}
<h2>Figures</h2>{_table(runs, COMPARE_KEYS)}
{extra}
<h2>Charts</h2><div class="charts">{''.join(f'<div>{c}</div>' for c in [*cdfs, latency_bars, throughput_bars])}</div>
</body></html>
"""


def sweep_html(summary: dict[str, Any], base: Path) -> str:
    points = summary["points"]
    rated = [p for p in points if p.get("offered_rate") is not None]
    knee = summary.get("knee_rate")
    marks = [(knee, f"knee {knee:.2f}/s")] if knee is not None else []
    best = summary.get("max_rate_meeting_slo")
    if best is not None:
        marks.append((best, f"SLO met to {best:.2f}/s"))

    def series(key: str) -> list[tuple[float, float | None]]:
        return [(p["offered_rate"], p.get(key)) for p in rated]

    charts = [
        svg.marked_lines({"TTFT median": series("median_ttft_ms"), "TTFT p99": series("p99_ttft_ms")},
                         "TTFT against the offered rate", "offered requests/s", "ms", marks),
        svg.marked_lines({"TPOT median": series("median_tpot_ms"), "TPOT p99": series("p99_tpot_ms"),
                          "E2EL median ÷ 10": [(x, None if y is None else y / 10) for x, y in series("median_e2el_ms")]},
                         "TPOT and E2EL against the offered rate", "offered requests/s", "ms", marks),
        svg.marked_lines({"achieved": series("request_throughput"),
                          **({"goodput": series("request_goodput")} if summary.get("slo") else {}),
                          "offered": [(x, x) for x, _ in series("request_throughput")]},
                         "Throughput and goodput against the offered rate", "offered requests/s", "requests/s", marks),
    ]
    runs = [Run(p["label"], Path(p["report"]), p) for p in points if p.get("report")]
    keys = ("offered_rate", "completed", "failed", "request_throughput", "request_goodput", "slo_attainment",
            "median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "median_e2el_ms")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Rate sweep</title><style>{STYLE}</style></head><body>
<h1>Rate sweep</h1>
<p>Knee: <b>{html.escape(show(knee))}</b> req/s ({html.escape(summary['knee_rule'])}).
{'Highest rate meeting the SLOs (' + html.escape(str(summary['slo'])) + ', 99 % of requests): <b>' + html.escape(show(best)) + '</b> req/s.' if summary.get('slo') else ''}</p>
<h2>Charts</h2><div class="charts">{''.join(f'<div>{c}</div>' for c in charts)}</div>
<h2>Points</h2>{_table(runs, keys)}
<p>Each point's own report: {_links(runs, base)}</p>
<pre>{html.escape(json.dumps({k: v for k, v in summary.items() if k != 'points'}, indent=2))}</pre>
</body></html>
"""


def write_campaign_html(path: Path, text: str) -> Path:
    html_path = path.with_suffix(".html")
    write_atomic(html_path, text, make_parents=True)
    return html_path
