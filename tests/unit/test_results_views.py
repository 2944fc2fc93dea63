"""Reading runs: which way is better, percentile tables whatever the report's percentiles, trends with
their marks, and ``aibackend runs`` list/show/compare as whole outputs."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aibackend.cli import main
from aibackend.results.figures import Difference, direction, percentile_table, regressions
from aibackend.results.record import Provenance, Run, loadtest_run
from aibackend.results.store import open_store
from aibackend.results.trends import trends

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
REPORT = json.loads((ROOT / "fixtures" / "results" / "loadtest-report.json").read_text())
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC: printed times are then the stored ones."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _run(minutes: int, *, target: str = "gw", config: str | None = "c1", **figures: Any) -> Run:
    report = copy.deepcopy(REPORT)
    report["run"]["host"] = "http://127.0.0.1:4000"
    for key, value in figures.items():
        if key == "users":
            report["run"]["users"] = value
        elif key == "gate_failed":
            report["gate"] = {"passed": False, "lines": ["FAIL x"], "failures": ["x"]}
        else:
            report[key] = value
    run = loadtest_run(report, report_path=Path("/nonexistent/r.json"), target=target)
    run.started_at = run.recorded_at = T0 + timedelta(minutes=minutes)
    run.provenance = Provenance(config_hash=config)
    return run


def test_direction_from_the_name() -> None:
    assert [direction(n) for n in ("p99_ttft_ms", "median_tpot_ms", "output_throughput", "request_goodput",
                                   "steady_state_request_throughput", "failed", "errors.http_5xx", "completed",
                                   "total_input_tokens", "duration")] == \
        ["lower", "lower", "higher", "higher", "higher", "lower", "lower", "higher", None, None]
    assert Difference("p99_ttft_ms", 10.0, 12.0).verdict == "worse"
    assert Difference("output_throughput", 10.0, 12.0).verdict == "better"
    assert Difference("p99_ttft_ms", None, 12.0).verdict is None
    assert Difference("p99_ttft_ms", 0.0, 12.0).ratio is None


def test_percentile_table_takes_whatever_percentiles_the_report_has() -> None:
    # vLLM's spelling with --metric-percentiles 50,90,95,99: p50 beside median, and p95.
    figures = {"mean_ttft_ms": 10.0, "median_ttft_ms": 9.0, "std_ttft_ms": 1.0, "p50_ttft_ms": 9.0,
               "p90_ttft_ms": 12.0, "p95_ttft_ms": 13.0, "p99_ttft_ms": 15.0, "p99.9_e2el_ms": 99.0,
               "median_tpot_ms": None, "output_throughput": 5.0}
    stats, table = percentile_table(figures)
    # The median is p50 under one name; the set of DEFAULT_PERCENTILES is always there; p99.9 as reported.
    assert stats == ["mean", "p50", "p90", "p95", "p99", "p99.9", "std"]
    assert table == {"ttft": {"mean": 10.0, "std": 1.0, "p50": 9.0, "p90": 12.0, "p95": 13.0, "p99": 15.0},
                     "tpot": {"p50": None}, "e2el": {"p99.9": 99.0}}
    # A report from before issue 12 (median, p90, p99): its median is the p50, and p95 is missing (n/a).
    stats, table = percentile_table({"median_ttft_ms": 9.0, "p90_ttft_ms": 12.0, "p99_ttft_ms": 15.0})
    assert stats == ["p50", "p90", "p95", "p99"] and table == {"ttft": {"p50": 9.0, "p90": 12.0, "p99": 15.0}}


def test_a_regression_is_a_watched_figure_worse_than_the_threshold() -> None:
    before = {"median_ttft_ms": 20.0, "p99_ttft_ms": 30.0, "median_tpot_ms": 5.0, "output_throughput": 300.0,
              "request_throughput": 20.0, "failed_ratio": 0.0}
    assert regressions(before, dict(before)) == []
    assert regressions(before, {**before, "median_ttft_ms": 21.9}) == []  # +9.5%: within 10%
    assert regressions(before, {**before, "median_ttft_ms": 26.0, "output_throughput": 240.0, "failed_ratio": 0.05}) \
        == ["TTFT p50 20 -> 26 ms (+30%)", "output tok/s 300 -> 240 tok/s (-20%)", "failed ratio 0.00% -> 5.00%"]
    # vLLM's p50 spelling is read when median is missing; a missing figure is never a regression.
    assert regressions({"p50_ttft_ms": 20.0}, {"p50_ttft_ms": 30.0}) == ["TTFT p50 20 -> 30 ms (+50%)"]
    assert regressions(before, {**before, "median_ttft_ms": None}) == []


def test_trends_mark_gate_failures_regressions_and_changes() -> None:
    runs = [
        _run(0, median_ttft_ms=20.0),
        _run(10, median_ttft_ms=21.0),                          # +5%: fine
        _run(20, median_ttft_ms=30.0, gate_failed=True),        # +43% and a failed gate
        _run(30, median_ttft_ms=60.0, users=8),                 # another workload: compared with nothing
        _run(40, median_ttft_ms=31.0, config="c2"),             # vs run 3 (same workload): fine; config changed
        _run(5, target="other", median_ttft_ms=1.0),
    ]
    for number, run in enumerate(runs, start=1):
        run.id = number
    found = trends(runs)
    assert [(t.target, t.model, [p.run.id for p in t.points]) for t in found] == [
        ("gw", "Qwen/Qwen2.5-0.5B-Instruct", [1, 2, 3, 4, 5]), ("other", "Qwen/Qwen2.5-0.5B-Instruct", [6])]
    assert [p.marks for p in found[0].points] == [
        [], [], ["gate failed", "regressed vs run 2"], ["workload changed"], ["workload changed", "config changed"]]
    assert found[0].points[2].regressed == ["TTFT p50 21 -> 30 ms (+43%)"]
    assert found[0].points[3].compared_with is None and found[0].points[4].compared_with == 3


def _store_with_two_runs(tmp_path: Path) -> Path:
    path = tmp_path / "s.sqlite3"
    with open_store(path) as store:
        store.add(_run(0))
        store.add(_run(60, median_ttft_ms=25.0, p50_ttft_ms=25.0, p99_ttft_ms=None, output_throughput=300.0, failed=1))
    return path


def test_runs_list_shows_the_key_figures_and_na_for_what_was_not_measured(
        tmp_path: Path, utc: None, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store_with_two_runs(tmp_path)
    assert main(["runs", "list", "--store", str(store)]) == 0
    assert capsys.readouterr().out == (
        "ID  WHEN                 KIND      TARGET  MODEL                       DONE  FAILED  TTFT P50  TTFT P99  "
        "TPOT P50  OUTPUT TOK/S  REQ/S  VERDICT\n"
        "2   2026-03-01 13:00:00  loadtest  gw      Qwen/Qwen2.5-0.5B-Instruct    64       1        25       n/a      "
        "4.93           300  20.12  -\n"
        "1   2026-03-01 12:00:00  loadtest  gw      Qwen/Qwen2.5-0.5B-Instruct    64       0     24.39     37.72      "
        "4.93        321.95  20.12  -\n")


def test_runs_compare_json_has_every_figure_with_its_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store_with_two_runs(tmp_path)
    assert main(["runs", "compare", "1", "2", "--store", str(store), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {d["figure"]: d for d in data["differences"]}
    assert len(rows) == len(data["a"]["figures"])
    assert rows["median_ttft_ms"] == {"figure": "median_ttft_ms", "a": REPORT["median_ttft_ms"], "b": 25.0,
                                      "delta": 25.0 - REPORT["median_ttft_ms"],
                                      "ratio": (25.0 - REPORT["median_ttft_ms"]) / REPORT["median_ttft_ms"],
                                      "verdict": "worse"}
    assert rows["p99_ttft_ms"] == {"figure": "p99_ttft_ms", "a": REPORT["p99_ttft_ms"], "b": None, "delta": None,
                                   "ratio": None, "verdict": None}
    assert data["same_workload"] is True


def test_runs_show_and_missing_ids(tmp_path: Path, utc: None, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store_with_two_runs(tmp_path)
    assert main(["runs", "show", "2", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("run 2: loadtest of gw (http://127.0.0.1:4000)\n  model      Qwen/Qwen2.5-0.5B-Instruct\n"
                          "  when       2026-03-01 13:00:00\n  verdict    -\n")
    assert "\n  measured   output_tokens_source=server_usage, input_tokens_source=server_usage, latency_origin=sent\n" in out
    # The one percentile set (p50 = the median, under one name), then every other latency the report has.
    assert ("\n\nms                 mean    p50     p90     p95     p99    std  max\n"
            "TTFT              25.24     25   30.22   32.71     n/a   3.90  n/a\n"
            "TPOT               4.93   4.93    5.23    5.31    5.38  0.237  n/a\n"
            "ITL                4.93   4.46   10.46   12.48   14.44   3.97  n/a\n"
            "E2EL              99.17  97.70  103.76  106.20  118.12   4.47  n/a\n"
            "TTFB               2.26   1.06    3.36    6.86   21.63   3.83  n/a\n"
            "GATEWAY_OVERHEAD    n/a    n/a     n/a     n/a     n/a    n/a  n/a\n"
            "UPSTREAM_TTFT       n/a    n/a     n/a     n/a     n/a    n/a  n/a\n"
            "SCHEDULE_LAG          0      0       0       0       0      0    0\n\n") in out
    assert "\ntoken_counts.usage_output_tokens                  1024\n" in out
    assert main(["runs", "compare", "1", "7", "--store", str(store)]) == 1
    assert capsys.readouterr().err == (f"aibackend runs: error: no run 7 in {store}\n"
                                       "  hint: `aibackend runs list` shows the ids\n")


def test_runs_list_of_a_store_not_yet_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "new.sqlite3"
    assert main(["runs", "list", "--store", str(store)]) == 0
    assert capsys.readouterr().out == (f"no runs recorded yet in {store}: `aibackend loadtest` and "
                                       "`aibackend contract` record theirs here\n")
    assert not store.exists()


def test_the_workload_is_the_settings_that_change_the_requests() -> None:
    base = _run(0)
    same = copy.deepcopy(base)
    # The load generator's machine, its split into workers, the percentiles reported, the seed of generated
    # prompts and the directory a file was read from change no request: the same workload.
    same.workload.update(load_average=[7.5, 1.0, 0.2], cpus=64, workers=2, metric_percentiles=[99.9], seed=7)
    assert same.workload_key == base.workload_key
    for change in ({"users": 3}, {"max_tokens": 128}, {"ignore_eos": True}, {"extra_body": {"top_k": 5}},
                   {"prompt_tokens_unit": "tokens"}, {"request_rate": 5.0}, {"dataset": "/data/sharegpt.json"}):
        other = copy.deepcopy(base)
        other.workload.update(change)
        assert other.workload_key != base.workload_key, change
    one, two = copy.deepcopy(base), copy.deepcopy(base)
    one.workload.update(dataset="/a/sharegpt.json", seed=1)
    two.workload.update(dataset="/b/sharegpt.json", seed=1)
    assert one.workload_key == two.workload_key  # a file counts by name
    two.workload["seed"] = 2
    assert one.workload_key != two.workload_key  # with a dataset the seed picks the samples
