"""generator.stats.percentile: the one percentile behind reports, request-log analysis and benchmarks."""

from __future__ import annotations

import pytest

from generator.stats import percentile

pytestmark = [pytest.mark.unit]


def test_percentile_matches_numpy_linear_method() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 90) == pytest.approx(7.6)  # numpy.percentile([1,2,3,4,10], 90)
    assert percentile(values, 99) == pytest.approx(9.76)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0], 90) == 19.0
    assert percentile([5.0], 99) == 5.0


def test_a_percentile_of_nothing_is_refused_not_zero() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_one_percentile_set_everywhere() -> None:
    # The load-test report, its HTML and Locust tab, the Grafana dashboards and `requests analyze`
    # all show DEFAULT_PERCENTILES (issue 12: they showed p90/p99, p50/p95/p99 and p50/p90/p99).
    from aibackend.observability.dashboards import DASHBOARDS
    from aibackend.ops.request_log import GroupStats
    from generator.stats import DEFAULT_PERCENTILES, parse_percentiles, percentile_key
    from loadtests.report import build_report
    from loadtests.settings import LoadSettings
    from tests.unit.test_load_metrics import make

    keys = [percentile_key(q) for q in DEFAULT_PERCENTILES]
    assert keys == ["p50", "p90", "p95", "p99"] and parse_percentiles("50,90,95,99") == DEFAULT_PERCENTILES
    assert LoadSettings().metric_percentiles == DEFAULT_PERCENTILES
    report = build_report([make(0.0), make(300.0)], {}, open_loop=False)
    assert [k for k in report if k.endswith("_ttft_ms") and k.count("_") == 2 and k[1].isdigit()] == [
        f"{k}_ttft_ms" for k in keys]
    stats = GroupStats("g", "b", latencies=[1.0, 2.0], ttfts=[1.0]).to_json()
    assert list(stats["latency_ms"]) == [*keys, "max"] and list(stats["ttft_ms"]) == keys
    panels = [p for d in DASHBOARDS for p in d.panels if any("histogram_quantile" in e for _, e in p.exprs)]
    assert panels and all([legend.split()[0] for legend, _ in p.exprs] == keys for p in panels)
    assert percentile_key(99.9) == "p99.9"
