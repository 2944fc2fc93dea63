"""Threshold and baseline gates (loadtests.gate): exact lines, exact errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.gate import GateConfigError, check_baseline, check_thresholds, load_baseline, parse_percent
from loadtests.report import known_figures

pytestmark = [pytest.mark.unit]

REPORT = {"completed": 100, "failed": 2, "failed_ratio": 0.02, "p99_ttft_ms": 612.25, "median_ttft_ms": 120.0,
          "median_tpot_ms": 10.0, "p99_tpot_ms": 12.0, "output_throughput": 150.0, "request_throughput": 5.0,
          "errors": {"http_4xx": 0, "http_5xx": 2, "timeout": 0, "connection": 0, "protocol": 0}}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_each_failed_line_names_measured_and_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "p99_ttft_ms: {max: 500}\nfailed_ratio: {max: 0.01}\noutput_throughput: {min: 100}\n"
                           "errors.http_5xx: {max: 0}\n")
    result = check_thresholds(REPORT, path)
    assert not result.passed
    assert result.failures == [
        "p99_ttft_ms: measured 612.25 is not <= 500.00 (thresholds.yaml:1)",
        "failed_ratio: measured 0.02 is not <= 0.01 (thresholds.yaml:2)",
        "errors.http_5xx: measured 2.00 is not <= 0 (thresholds.yaml:4)",
    ]
    assert result.lines[2] == "PASS output_throughput: measured 150.00, allowed min 100.00 (thresholds.yaml:3)"


def test_passing_thresholds_pass(tmp_path: Path) -> None:
    result = check_thresholds(REPORT, write(tmp_path, "p99_ttft_ms: {max: 700}\nmedian_tpot_ms: {max: 10, min: 1}\n"))
    assert result.passed and result.failures == []
    assert len(result.lines) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p99_ttft: {max: 5}\n", "thresholds.yaml:1: unknown figure 'p99_ttft'"),
        ("p99_ttft_ms: 500\n", "thresholds.yaml:1: p99_ttft_ms: expected {max: N} and/or {min: N}, got 500"),
        ("p99_ttft_ms: {maximum: 5}\n", "thresholds.yaml:1: p99_ttft_ms: expected {max: N} and/or {min: N}"),
        ("\np99_ttft_ms: {max: fast}\n", "thresholds.yaml:2: p99_ttft_ms.max: expected a number, got 'fast'"),
        ("p99_ttft_ms: {max: [1\n", "thresholds.yaml:2: not valid YAML"),
        ("", "thresholds.yaml: empty thresholds file"),
        ("- p99_ttft_ms\n", "thresholds.yaml: expected a mapping of figure names"),
    ],
)
def test_bad_threshold_files_are_named_with_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(GateConfigError) as info:
        check_thresholds(REPORT, write(tmp_path, text))
    assert str(info.value).startswith(str(tmp_path / message.split(":", 1)[0]) + message[len(message.split(":", 1)[0]):])


def test_missing_thresholds_file(tmp_path: Path) -> None:
    with pytest.raises(GateConfigError, match=r"missing.yaml: cannot read thresholds file: No such file or directory"):
        check_thresholds(REPORT, tmp_path / "missing.yaml")


def test_known_figures_cover_the_report_and_goodput_needs_an_slo() -> None:
    assert {"p99_ttft_ms", "median_itl_ms", "failed_ratio", "errors.timeout", "output_throughput"} <= known_figures()
    assert "request_goodput" not in known_figures()
    assert "request_goodput" in known_figures({"ttft": 500.0})


def test_baseline_regression(tmp_path: Path) -> None:
    baseline = {**REPORT, "p99_ttft_ms": 500.0, "median_ttft_ms": 118.0, "output_throughput": 200.0}
    result = check_baseline(REPORT, baseline, 0.10, "base.json")
    assert result.failures == [
        "p99_ttft_ms: measured 612.25 is not <= 550.00 (baseline base.json 500.00 +10%)",
        "output_throughput: measured 150.00 is not >= 180.00 (baseline base.json 200.00 -10%)",
    ]
    assert "PASS median_ttft_ms: measured 120.00, allowed max 129.80 (baseline base.json 118.00 +10%)" in result.lines
    assert check_baseline(REPORT, REPORT, 0.0, "same.json").passed


def test_baseline_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(GateConfigError, match=r"b.json: baseline is not a JSON report"):
        load_baseline(bad)
    bad.write_text(json.dumps({"x": 1}), encoding="utf-8")
    with pytest.raises(GateConfigError, match=r"b.json: not a load-test report \(no 'completed' figure\)"):
        load_baseline(bad)


def test_parse_percent() -> None:
    assert parse_percent("10%") == pytest.approx(0.10)
    assert parse_percent("2.5") == pytest.approx(0.025)
    with pytest.raises(GateConfigError, match=r"--max-regression 'ten': expected a percentage such as 10%"):
        parse_percent("ten")


def test_a_gate_on_a_figure_the_run_could_not_measure_fails_naming_it(tmp_path: Path) -> None:
    # Issue 11: every request got a 404, p99_ttft_ms was reported as 0 and passed {max: 500}.
    from loadtests.report import build_report
    from tests.unit.test_load_metrics import make

    report = build_report([make(i * 100.0, error="http_4xx") for i in range(4)], {}, open_loop=False)
    assert report["p99_ttft_ms"] is None
    result = check_thresholds(report, write(tmp_path, "p99_ttft_ms: {max: 500}\nfailed_ratio: {max: 1}\n"))
    assert not result.passed
    assert result.failures == ["p99_ttft_ms: not measured in this run, so it cannot be <= 500.00 (thresholds.yaml:1)"]
    assert result.lines[0] == "FAIL p99_ttft_ms: not measured (n/a), allowed max 500.00 (thresholds.yaml:1)"


def test_a_baseline_figure_this_run_could_not_measure_is_a_regression() -> None:
    now = {**REPORT, "median_ttft_ms": None}
    result = check_baseline(now, REPORT, 0.1, "base.json")
    assert "median_ttft_ms: not measured in this run, so it cannot be <= 132.00 (baseline base.json 120.00 +10%)" in result.failures


def test_gates_know_the_percentile_set_and_the_open_loop_figures() -> None:
    names = known_figures(percentiles=(50, 99.9), open_loop=True)
    assert {"p50_ttft_ms", "p99.9_ttft_ms", "p99.9_ttft_including_client_queue_ms", "median_gateway_overhead_ms"} <= names
    assert "p90_ttft_ms" not in names and "request_goodput" not in names
    assert "request_goodput" in known_figures({"ttft": 500.0})
