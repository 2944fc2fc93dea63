"""The gate's plans, without a process: what the routes stage expects from a routing table, the
chains it exercises, perf-gate.yaml's parsing (errors name file:line), and the --live stages."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from aibackend.commands import ci
from aibackend.ops.livegate import load_perf_gate
from aibackend.ops.routecheck import _judge, expected_chains, expected_names
from generator.errors import UsageError
from generator.routing import Deployment, Group, PatternResolution, RouteTable

pytestmark = [pytest.mark.unit]


def _table() -> RouteTable:
    return RouteTable(
        groups={
            "a": Group("a", "model", [Deployment("p1", "a")]),
            "b": Group("b", "pattern", [Deployment("p2", "b")]),
            "alias": Group("alias", "alias", [Deployment("p1", "a")]),
            "cap": Group("cap", "capability", [Deployment("p2", "b", 1), Deployment("p1", "a", 2)]),
            "lb": Group("lb", "capability", [Deployment("p1", "a"), Deployment("p2", "b")]),
        },
        catch_all="p1",
        fallbacks={"alias": ["a", "b"]},
        default_fallbacks=["b"],
        patterns=[PatternResolution("^b", "p2", ("b",))],
    )


def test_every_name_of_the_table_and_an_unlisted_one_with_the_backends_validate_prints() -> None:
    checks = expected_names(_table(), "unlisted-x")
    assert [(c.name, c.kind, c.expected) for c in checks] == [
        ("a", "model", ["p1"]),
        ("b", "pattern; sample of pattern '^b'", ["p2"]),
        ("alias", "alias", ["p1"]),
        ("cap", "capability", ["p2"]),  # a fallback capability answers from its first order
        ("lb", "capability", ["p1", "p2"]),  # load balanced: either
        ("unlisted-x", "default", ["p1"]),
    ]


def test_chains_expect_the_first_link_whose_backend_is_not_failing() -> None:
    chains = expected_chains(_table())
    assert [(c.source, c.chain, c.failed, c.expected_link, c.expected) for c in chains] == [
        ("alias", ["a", "b"], ["p1"], "b", ["p2"]),  # `a` is on the failing p1 too: skipped
        ("a", ["b"], ["p1"], "b", ["p2"]),  # the default chain, on the first name without its own
        ("cap", ["order 2: p1"], ["p2"], "order 2: p1", ["p1"]),  # inside the group, by order
    ]


@pytest.mark.parametrize(
    ("status", "header", "counts", "problem"),
    [
        (200, "p1", ["p1"], None),
        (200, "p2", ["p2"], "x-litellm-model-api-base names p2"),
        (200, "p1", ["p2"], "answered by p2 (simulator request counts)"),
        (200, None, ["p1"], "the answer has no x-litellm-model-api-base header"),
        (500, "p1", ["p1"], "HTTP 500: boom"),
        (200, "p1", [], "no simulator received the request"),
    ],
)
def test_a_name_passes_only_when_header_and_counts_both_name_an_expected_backend(
        status: int, header: str | None, counts: list[str], problem: str | None) -> None:
    assert _judge(["p1"], status, header, counts, "boom", must_succeed=True) == problem


def test_perf_gate_sections_lines_and_settings(tmp_path: Path) -> None:
    (tmp_path / "base.json").write_text("{}")
    path = tmp_path / "perf-gate.yaml"
    path.write_text("load: {duration_s: 3}\nnative:\n  p99_ttft_ms: {max: 500}\n  baseline: base.json\n"
                    "chat:\n  output_throughput: {min: 10, max: 900}\n")
    gate = load_perf_gate(path)
    assert gate.settings == {"duration_s": 3, "users": 2, "seed": 0, "max_regression": "10%"}
    assert [(s.name, s.line, s.thresholds, s.baseline) for s in gate.sections] == [
        ("native", 2, [("p99_ttft_ms", "max", 500.0, 3)], tmp_path / "base.json"),
        ("chat", 5, [("output_throughput", "min", 10.0, 6), ("output_throughput", "max", 900.0, 6)], None),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("native: [1]\n", "perf-gate.yaml:1: native: expected a mapping of figures"),
        ("native:\n  p99_ttft_ms: {under: 5}\n", "perf-gate.yaml:2: native.p99_ttft_ms: expected {max: N}"),
        ("native:\n  p99_ttft_ms: {max: fast}\n", "perf-gate.yaml:2: native.p99_ttft_ms.max: expected a number"),
        ("native:\n  baseline: nowhere.json\n", "perf-gate.yaml:2: native.baseline: "),
        ("load: {minutes: 3}\n", "perf-gate.yaml:1: load: expected a mapping with duration_s"),
        ("native: {a: 1\n", "perf-gate.yaml:2: not valid YAML"),
    ],
)
def test_a_bad_perf_gate_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "perf-gate.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_perf_gate(path)
    assert caught.value.message.startswith(f"{tmp_path}/{message}"), caught.value.message


def _args(config_dir: Path, *flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-dir", type=Path)
    ci.add_arguments(parser)
    return parser.parse_args(["--config-dir", str(config_dir), *flags])


def test_live_stages_only_with_live_and_live_load_only_with_a_perf_gate(config_dir: Path) -> None:
    assert not [s for s in ci.plan(_args(config_dir)) if s.name.startswith("live-")]
    live = {s.name: s for s in ci.plan(_args(config_dir, "--live", "--skip-simulated"))}
    assert live["live-contract"].status == "not-run"
    assert (live["live-load"].status, live["live-load"].note) == ("skipped", f"no {config_dir}/perf-gate.yaml")
    assert (live["routes"].status, live["contract"].status) == ("skipped", "skipped")
    (config_dir / "perf-gate.yaml").write_text("native:\n  failed_ratio: {max: 0}\n")
    live = {s.name: s for s in ci.plan(_args(config_dir, "--live"))}
    assert live["live-load"].status == "not-run" and live["routes"].status == "not-run"


def test_a_baseline_from_the_results_store(tmp_path: Path) -> None:
    import json

    from aibackend.results.record import Run
    from aibackend.results.store import default_store_path, open_store

    report = {"completed": 20, "failed": 0, "median_ttft_ms": 12.5}
    with open_store(default_store_path()) as store:  # this test process's own store (tests/plugins/results.py)
        run_id = store.add(Run(kind="loadtest", target="native", model="tiny", workload={}, figures={},
                               verdict=None, gate={}, document=report))
    path = tmp_path / "perf-gate.yaml"
    path.write_text(f"native:\n  failed_ratio: {{max: 0}}\n  baseline: run:{run_id}\n")
    (section,) = load_perf_gate(path).sections
    assert section.baseline is not None and json.loads(section.baseline.read_text()) == report
    path.write_text(f"native:\n  baseline: run:{run_id + 1000}\n")
    with pytest.raises(UsageError) as caught:
        load_perf_gate(path)
    assert caught.value.message.startswith(f"{path}:2: native.baseline: run:{run_id + 1000}: no load-test run")
