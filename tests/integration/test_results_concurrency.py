"""Two processes recording into one store at once (the first of them creating it): every run lands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aibackend.results.store import open_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
WRITER = """
import json, sys
from pathlib import Path
from aibackend.results.record import loadtest_run
from aibackend.results.store import open_store
report = json.loads(Path(sys.argv[2]).read_text())
sys.stdin.readline()  # start together
for i in range(int(sys.argv[3])):
    with open_store(Path(sys.argv[1])) as store:
        store.add(loadtest_run(report, report_path=Path("/nonexistent.json"), target=sys.argv[4]))
"""


def test_two_writers_at_once_both_land(tmp_path: Path) -> None:
    store = tmp_path / "new" / "results.sqlite3"  # does not exist yet: both race to create it
    report = ROOT / "fixtures" / "results" / "loadtest-report.json"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(store), str(report), "60", name],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
               for name in ("a", "b")]
    outcomes: list[tuple[int, str]] = []
    try:
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.close()
        for writer in writers:
            assert writer.stderr is not None
            outcomes.append((writer.wait(120), writer.stderr.read()))
    finally:  # however this ends, no writer is left running and no pipe open (a leak fails the next test)
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
            for pipe in (writer.stdin, writer.stderr):
                if pipe is not None:
                    pipe.close()
    for code, errors in outcomes:
        assert code == 0, errors
    with open_store(store, create=False) as opened:
        runs = opened.runs()
    assert sorted(run.target for run in runs) == ["a"] * 60 + ["b"] * 60
    assert sorted(run.id for run in runs if run.id is not None) == list(range(1, 121))
    assert all(len(run.figures) == len(runs[0].figures) for run in runs)
