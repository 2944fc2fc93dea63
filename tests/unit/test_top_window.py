"""``top``'s figures: the request log's records per group and backend, metric deltas, histogram quantiles."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aibackend.ops.request_log import RequestRecord, classify
from aibackend.top.metrics import histogram_quantile, parse_metrics
from aibackend.top.window import GroupRow, LogWindow, MetricsWindow, netloc

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def _record(seconds_ago: float, group: str, *, ok: bool = True, latency: float | None = 100.0,
            backend: str = "http://127.0.0.1:8001/v1/chat/completions") -> RequestRecord:
    line = json.dumps({"message": "aibackend.request",
                       "timestamp": datetime.fromtimestamp(NOW - seconds_ago, UTC).isoformat(),
                       "model_group": group, "api_base": backend, "status": "success" if ok else "failure",
                       "status_code": 200 if ok else 503, "latency_ms": latency,
                       "error_class": None if ok else "ServiceUnavailableError"})
    kind, item = classify(1, line)
    assert kind == "request" and isinstance(item, RequestRecord)
    return item


def test_the_real_gateway_log_is_read_into_group_rows() -> None:
    # A log recorded from LiteLLM 1.106.2 with the request logger: its requests, as top reads them.
    records = [item for kind, item in (classify(n, line) for n, line in enumerate(
        (ROOT / "fixtures" / "logs" / "litellm-1.106.2-json.log").read_text().splitlines(), 1))
        if kind == "request" and isinstance(item, RequestRecord)]
    assert records
    window = LogWindow()
    window.add(records)
    last = max(r.timestamp.timestamp() for r in records)
    rows = window.groups(last)
    assert sum(row.requests for row in rows) == len([r for r in records if r.timestamp.timestamp() >= last - 60])


def test_rates_errors_and_percentiles_over_their_windows() -> None:
    window = LogWindow()
    window.add([_record(70, "chat"),  # older than a minute: gone
                *[_record(s, "chat", latency=float(10 * (i + 1))) for i, s in enumerate((30, 20, 9, 5, 1))],
                _record(2, "chat", ok=False, latency=3.0),
                _record(40, "code", ok=False, latency=None, backend="http://127.0.0.1:9000/v1/chat/completions")])
    assert window.groups(NOW) == [
        GroupRow("chat", 0.4, 6, 1, 30.0, 48.0, "503 ServiceUnavailableError"),
        GroupRow("code", 0.0, 1, 1, None, None, "503 ServiceUnavailableError"),
    ]
    assert sorted(window.backends(NOW)) == ["127.0.0.1:8001", "127.0.0.1:9000"]
    assert netloc("https://api.example.com/v1") == "api.example.com:443"


METRICS = """# HELP litellm_in_flight_requests Number of HTTP requests currently in-flight
litellm_in_flight_requests 3.0
litellm_request_total_latency_metric_bucket{{le="0.5",model_group="chat"}} {a}
litellm_request_total_latency_metric_bucket{{le="1.0",model_group="chat"}} {b}
litellm_request_total_latency_metric_bucket{{le="+Inf",model_group="chat"}} {b}
litellm_request_total_latency_metric_count{{model_group="chat"}} {b}
litellm_proxy_failed_requests_metric_total{{requested_model="chat",route="/v1/chat/completions"}} {f}
"""


def test_without_a_log_groups_come_from_metric_deltas() -> None:
    window = MetricsWindow()
    assert window.update(parse_metrics(METRICS.format(a=2, b=4, f=1)), 100.0) == []  # one scrape: no rate yet
    rows = window.update(parse_metrics(METRICS.format(a=6, b=12, f=3)), 102.0)
    # 8 more completions (4 under 0.5 s, 4 between 0.5 and 1 s) and 2 failures in 2 s
    assert rows == [GroupRow("chat", 5.0, 10, 2, 500.0, 950.0)]


def test_histogram_quantile_is_prometheus_linear_interpolation() -> None:
    buckets = [(0.1, 0.0), (0.5, 50.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == 0.5
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.3)
    assert histogram_quantile(0.5, [(1.0, 0.0), (float("inf"), 0.0)]) is None
    assert histogram_quantile(0.99, [(1.0, 1.0), (float("inf"), 10.0)]) == 1.0  # in +Inf: the top finite bound


def test_metric_lines_with_escaped_labels() -> None:
    [sample] = parse_metrics('m_total{a="x \\"y\\"",b="z"} 7\n# comment\nnot a metric line !!\n')
    assert (sample.name, sample.label("a"), sample.label("b"), sample.value) == ("m_total", 'x "y"', "z", 7.0)
