"""``aibackend loadtest`` end to end: gates and their exit codes, distributed runs, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aibackend.cli import main
from generator.net import free_port
from loadtests.report import load_records, records_path

pytestmark = [pytest.mark.load]


def loadtest(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["loadtest", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def fast_sim(simulator_factory: Any) -> Any:
    return simulator_factory("vllm", ttft_ms=5, tpot_ms=1, output_tokens=8, slots=64)


@pytest.mark.slow
def test_a_threshold_that_must_fail_exits_1_naming_the_line(fast_sim: Any, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    gate = tmp_path / "gate.yaml"
    gate.write_text("p99_ttft_ms: {max: 0.001}\nfailed_ratio: {max: 0}\n", encoding="utf-8")
    code, out, _ = loadtest(capsys, "--host", fast_sim.url, "--model", fast_sim.stats()["models"][0], "--users", "2",
                            "--requests", "10", "--max-tokens", "8", "--thresholds", str(gate),
                            "--report", str(tmp_path / "r.json"))
    assert code == 1
    p99 = json.loads((tmp_path / "r.json").read_text())["p99_ttft_ms"]
    assert f"FAIL p99_ttft_ms: measured {p99:.2f}, allowed max 0.001 (gate.yaml:1)" in out
    assert "PASS failed_ratio: measured 0, allowed max 0 (gate.yaml:2)" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["gate"]["passed"] is False
    assert report["gate"]["failures"] == [f"p99_ttft_ms: measured {p99:.2f} is not <= 0.001 (gate.yaml:1)"]


@pytest.mark.slow
def test_a_threshold_that_must_pass_exits_0(fast_sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gate = tmp_path / "gate.yaml"
    gate.write_text("p99_ttft_ms: {max: 60000}\nerrors.http_5xx: {max: 0}\ncompleted: {min: 10}\n", encoding="utf-8")
    code, out, _ = loadtest(capsys, "--host", fast_sim.url, "--model", fast_sim.stats()["models"][0], "--users", "2",
                            "--requests", "10", "--max-tokens", "8", "--thresholds", str(gate),
                            "--report", str(tmp_path / "r.json"))
    assert code == 0, out
    assert re.search(r"^PASS completed: measured 10\.00, allowed min 10\.00 \(gate\.yaml:3\)$", out, re.M)
    assert fast_sim.stats()["requests"]["POST /v1/chat/completions"] == 10


@pytest.mark.slow
def test_baseline_regression_fails_against_a_much_faster_baseline(fast_sim: Any, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps({"completed": 10, "median_ttft_ms": 0.01, "p99_ttft_ms": 0.01}), encoding="utf-8")
    code, out, _ = loadtest(capsys, "--host", fast_sim.url, "--model", fast_sim.stats()["models"][0], "--users", "2",
                            "--requests", "6", "--max-tokens", "8", "--baseline", str(baseline),
                            "--max-regression", "10%", "--report", str(tmp_path / "r.json"))
    assert code == 1
    assert re.search(r"^FAIL median_ttft_ms: measured [\d.]+, allowed max 0\.011 \(baseline base\.json 0\.01 \+10%\)$",
                     out, re.M)
    # the regression per figure, in the report and charted in its HTML
    data = json.loads((tmp_path / "r.json").read_text())
    rows = {r["figure"]: r for r in data["baseline"]["figures"]}
    assert rows["median_ttft_ms"]["baseline"] == 0.01 and rows["median_ttft_ms"]["worse"] is True
    assert rows["median_ttft_ms"]["change"] == pytest.approx((data["median_ttft_ms"] - 0.01) / 0.01)
    page = (tmp_path / "r.html").read_text()
    assert "Against the baseline" in page and "Change against base.json (red: worse)" in page


@pytest.mark.slow
def test_distributed_mode_merges_records_from_two_workers(fast_sim: Any, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "dist.json"
    code, out, _ = loadtest(capsys, "--host", fast_sim.url, "--model", fast_sim.stats()["models"][0], "--users", "4",
                            "--requests", "30", "--max-tokens", "8", "--workers", "2", "--report", str(report))
    assert code == 0, out
    records = load_records(records_path(report))
    assert len(records) == 30 and len({r.request_id for r in records}) == 30
    assert sorted({r.worker for r in records}) == [0, 1]
    # the seeded workload is split, not duplicated: worker k sent requests k, k+2, k+4 ...
    per_worker = {w: sum(1 for r in records if r.worker == w) for w in (0, 1)}
    assert per_worker == {0: 15, 1: 15}
    data = json.loads(report.read_text())
    assert data["completed"] == 30 and data["run"]["workers"] == 2
    assert fast_sim.stats()["requests"]["POST /v1/chat/completions"] == 30


def test_unreachable_host_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, _out, err = loadtest(capsys, "--host", f"http://127.0.0.1:{port}", "--model", "m",
                              "--report", str(tmp_path / "r.json"))
    assert code == 1
    assert err == (f"aibackend loadtest: error: cannot reach http://127.0.0.1:{port}: Connection refused\n"
                   "  hint: is the server running? start a simulator with `aibackend simulate vllm`\n")
    assert not (tmp_path / "r.json").exists()


def test_bad_thresholds_file_is_usage_error_naming_file_and_line(fast_sim: Any, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    gate = tmp_path / "gate.yaml"
    gate.write_text("failed_ratio: {max: 0}\np99_ttft: {max: 5}\n", encoding="utf-8")
    code, _, err = loadtest(capsys, "--host", fast_sim.url, "--model", "m", "--thresholds", str(gate))
    assert code == 2
    assert err.startswith(f"aibackend loadtest: error: {gate}:2: unknown figure 'p99_ttft'")
    assert "Traceback" not in err
    assert fast_sim.stats()["requests_total"] == 0  # nothing was sent


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "m"], "--host URL is required (the gateway or provider to load)"),
        (["--host", "ftp://x", "--model", "m"], "--host 'ftp://x': expected an http:// or https:// URL"),
        (["--host", "http://127.0.0.1:1", "--model", "m", "--rate", "0"], "--rate must be greater than 0, got 0"),
        (["--host", "http://127.0.0.1:1", "--model", "m", "--slo", "ttft=fast"],
         "bad SLO 'ttft=fast': 'fast' is not a number of milliseconds"),
        (["--host", "http://127.0.0.1:1", "--model", "m", "--shape", "spike"], "--shape spike needs --duration S"),
        (["--compare", "http://127.0.0.1:1"], "--compare 'http://127.0.0.1:1': expected URL=MODEL"),
    ],
)
def test_bad_usage_exits_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = loadtest(capsys, *argv)
    assert code == 2
    assert err.startswith(f"aibackend loadtest: error: {message}")


@pytest.mark.slow
def test_distributed_duration_run_loses_no_record(fast_sim: Any, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # Bounded by time, not count: every request the server answered must reach the report.
    report = tmp_path / "dur.json"
    code, out, _ = loadtest(capsys, "--host", fast_sim.url, "--model", fast_sim.stats()["models"][0], "--users", "4",
                            "--duration", "2", "--max-tokens", "8", "--workers", "2", "--report", str(report))
    assert code == 0, out
    records = load_records(records_path(report))
    answered = fast_sim.stats()["requests"]["POST /v1/chat/completions"]
    assert answered > 8
    assert len(records) == answered and all(r.ok for r in records)
    assert sorted({r.worker for r in records}) == [0, 1]
