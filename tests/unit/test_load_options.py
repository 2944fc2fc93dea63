"""The load-test option table (loadtests.settings / loadtests.options): one declaration per option
makes the ``aibackend loadtest`` flag, its Locust twin, the settings field and the Locust command line."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from aibackend.cli import build_parser
from loadtests import campaigns, options
from loadtests.launcher import LocustRun
from loadtests.metrics import format_slo, parse_slo
from loadtests.options import Where, option, option_table
from loadtests.protocols import APIS, api_name
from loadtests.settings import OPTIONS, LoadSettings, add_locust_arguments, cli_problem

pytestmark = [pytest.mark.unit]


def locust_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("-t", "--run-time", dest="run_time", type=int)  # Locust's own, the --llm-duration fallback
    add_locust_arguments(parser)
    return parser


def aibackend_args(*argv: str) -> argparse.Namespace:
    parser, _ = build_parser()
    return parser.parse_args(["loadtest", *argv])


def test_every_field_is_an_option_and_every_option_has_its_sides() -> None:
    fields = {f.name for f in dataclasses.fields(LoadSettings)}
    locust = {o.name for o in OPTIONS if Where.LOCUST in o.where}
    assert fields == locust
    assert {"users", "workers", "sweep", "compare", "compare_direct"} <= {
        o.name for o in OPTIONS if o.where == Where.AIBACKEND}
    assert {"progress", "ui_rows", "api"} == {o.name for o in OPTIONS if o.where == Where.LOCUST}


def test_defaults_are_the_same_on_both_sides() -> None:
    # Locust without any --llm-* option, and aibackend without flags, give the field defaults
    # (aibackend's "not given" numbers leave the campaign to decide; its report has a default path).
    from_locust = LoadSettings.from_options(locust_parser().parse_args([]))
    assert from_locust == LoadSettings()
    from_cli = LoadSettings.from_cli(aibackend_args())
    assert dataclasses.replace(from_cli, report=None) == LoadSettings()
    assert from_cli.report == Path("loadtest-report.json")


SETTINGS = LoadSettings(
    model="m", api="ollama-chat", stream=False, prompt_tokens=7, max_tokens=9, prompt_file=Path("p.jsonl"),
    seed=3, rate=2.5, arrival="gamma", burstiness=0.5, requests=11, duration=4.0, shape="spike",
    slo={"ttft": 500.0, "tpot": 12.5}, warmup=2, timeout=7.5, api_key_env="K", report=Path("r.json"),
    thresholds=Path("t.yaml"), baseline=Path("b.json"), max_regression="5%", progress=0.0, ui_rows=False,
    client="fasthttp", dataset=Path("d.json"), tokenizer=Path("tok"), ignore_eos=True,
    extra_body={"top_k": 20, "chat_template_kwargs": {"enable_thinking": False}}, goodput={"e2el": 900.0},
    metric_percentiles=(50.0, 99.9),
)


def test_settings_cross_to_locust_and_back_unchanged() -> None:
    argv = SETTINGS.locust_argv()
    assert argv[:4] == ["--llm-model", "m", "--llm-api", "ollama-chat"]
    assert LoadSettings.from_options(locust_parser().parse_args(argv)) == SETTINGS
    # every field differs from its default here, so every Locust option was on the command line
    assert {a for a in argv if a.startswith("--llm-")} == {o.llm_flag for o in OPTIONS if Where.LOCUST in o.where}


def test_locust_reads_its_own_run_time_when_no_llm_duration() -> None:
    assert LoadSettings.from_options(locust_parser().parse_args(["-t", "30"])).duration == 30.0
    assert LoadSettings.from_options(locust_parser().parse_args(["-t", "30", "--llm-duration", "5"])).duration == 5.0


def test_aibackend_flags_become_the_same_settings() -> None:
    args = aibackend_args(
        "--host", "http://h:1", "--model", "m", "--api", "ollama", "--no-stream", "--prompt-tokens", "7",
        "--max-tokens", "9", "--prompt-file", "p.jsonl", "--seed", "3", "--rate", "2.5", "--arrival", "gamma",
        "--burstiness", "0.5", "--requests", "11", "--duration", "4", "--shape", "spike", "--slo", "ttft=500,tpot_ms=12.5",
        "--warmup", "2", "--timeout", "7.5", "--api-key-env", "K", "--report", "r.json", "--thresholds", "t.yaml",
        "--baseline", "b.json", "--max-regression", "5%", "--client", "fasthttp", "--dataset", "d.json",
        "--tokenizer", "tok", "--ignore-eos", "--extra-body", '{"top_k": 20, "chat_template_kwargs": {"enable_thinking": false}}',
        "--goodput", "e2el:900", "--metric-percentiles", "50,99.9")
    assert LoadSettings.from_cli(args) == dataclasses.replace(SETTINGS, progress=2.0, ui_rows=True)


def test_goodput_is_vllms_spelling_of_slo_and_both_make_one_set() -> None:
    settings = LoadSettings.from_cli(aibackend_args("--slo", "ttft=500", "--goodput", "tpot:50", "e2el:2000"))
    assert settings.goodput == {"tpot": 50.0, "e2el": 2000.0}
    assert settings.slos == {"ttft": 500.0, "tpot": 50.0, "e2el": 2000.0}
    assert settings.locust_argv()[settings.locust_argv().index("--llm-goodput") + 1] == "tpot:50 e2el:2000"
    with pytest.raises(ValueError, match="--slo and --goodput disagree on ttft: give each SLO once"):
        _ = LoadSettings(slo={"ttft": 500.0}, goodput={"ttft": 400.0}).slos


def test_extra_body_and_ignore_eos_go_into_every_request() -> None:
    settings = LoadSettings.from_cli(aibackend_args("--ignore-eos", "--extra-body", '{"top_k": 5}'))
    assert settings.request_extras() == {"ignore_eos": True, "top_k": 5}
    for bad, message in (("[1]", "expected a JSON object"), ("{top_k: 5}", "not valid JSON")):
        with pytest.raises(ValueError, match=message):
            LoadSettings.from_cli(aibackend_args("--extra-body", bad))


def test_metric_percentiles_default_is_the_one_set_of_the_project() -> None:
    from generator.stats import DEFAULT_PERCENTILES

    assert LoadSettings().metric_percentiles == DEFAULT_PERCENTILES == (50.0, 90.0, 95.0, 99.0)
    for bad in ("0", "100", "fifty", ""):
        with pytest.raises(ValueError):
            LoadSettings.from_cli(aibackend_args("--metric-percentiles", bad))


def test_slo_is_parsed_once_by_aibackend_and_sent_canonical() -> None:
    args = aibackend_args("--host", "http://h:1", "--model", "m", "--slo", " ttft_ms=500 , e2el=1e4")
    settings = LoadSettings.from_cli(args)
    assert settings.slo == {"ttft": 500.0, "e2el": 10000.0}
    assert format_slo(settings.slo) == "ttft=500,e2el=10000"
    assert parse_slo(format_slo({"ttft": 0.1 + 0.2})) == {"ttft": 0.1 + 0.2}
    with pytest.raises(ValueError, match="bad SLO 'ttft=fast'"):
        LoadSettings.from_cli(aibackend_args("--slo", "ttft=fast"))


def run_settings(*argv: str, **kw: Any) -> tuple[LocustRun, LoadSettings]:
    args = aibackend_args("--host", "http://h:1", "--model", "m", *argv)
    plan = campaigns.Plan(targets=[("http://h:1", "m")], settings=LoadSettings.from_cli(args))
    run = campaigns._locust_run(args, plan, "http://u:2", "mm", Path("rep.json"), **kw)
    return run, LoadSettings.from_options(locust_parser().parse_args(run.settings.locust_argv()))


def test_one_run_gets_what_the_campaign_decides() -> None:
    run, got = run_settings()
    assert (run.users, run.run_time, run.stop_timeout) == (8, None, 120.0)
    assert got == dataclasses.replace(LoadSettings(), model="mm", requests=100, report=Path("rep.json"), ui_rows=False)

    run, got = run_settings("--rate", "4", "--arrival", "gamma", "--burstiness", "0.5", "--duration", "10",
                            "--thresholds", "t.yaml", "--endpoint", "completions")
    assert (run.users, run.run_time, run.stop_timeout) == (256, 160.0, 0.0)
    assert (got.api, got.rate, got.arrival, got.burstiness, got.requests, got.duration, got.thresholds) == (
        "openai-completions", 4.0, "gamma", 0.5, 0, 10.0, Path("t.yaml"))

    # a sweep's closed-loop run: no arrival process, no gate
    run, got = run_settings("--rate", "4", "--arrival", "gamma", "--burstiness", "0.5", "--thresholds", "t.yaml",
                            rate=0.0, users=1, thresholds=False)
    assert run.users == 1
    assert (got.rate, got.arrival, got.burstiness, got.thresholds) == (0.0, "poisson", 1.0, None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--users", "0"], "--users must be at least 1, got 0"),
        (["--workers", "-1"], "--workers must be at least 0, got -1"),
        (["--prompt-tokens", "0"], "--prompt-tokens must be at least 1, got 0"),
        (["--sweep-steps", "0"], "--sweep-steps must be at least 1, got 0"),
        (["--timeout", "0"], "--timeout must be greater than 0, got 0"),
        (["--burstiness", "-0.5"], "--burstiness must be greater than 0, got -0.5"),
        (["--rate", "1", "--duration", "5", "--requests", "3"], None),
    ],
)
def test_numbers_are_checked_against_their_declared_range(argv: list[str], message: str | None) -> None:
    assert cli_problem(aibackend_args(*argv)) == message


def test_aibackend_api_and_endpoint_name_the_wire_protocol() -> None:
    assert api_name("openai", "chat") == "openai-chat"
    assert api_name("openai", "completions") == "openai-completions"
    assert api_name("ollama", "completions") == "ollama-chat"  # ollama has chat only
    assert {api_name(f, e) for f in ("openai", "ollama") for e in ("chat", "completions")} == set(APIS)


def test_a_new_option_is_one_entry() -> None:
    # What issue 12's options will be: one line gives the flag, the --llm-* twin, the field and the argv.
    @option_table
    class Table:
        ignore_eos: bool = option(default=False, group="workload", help="ask the server to ignore EOS")
        percentiles: str = option(default="90,99", group="gates and output", help="percentiles to report")

    entries = options.table(Table)
    parser = argparse.ArgumentParser()
    options.add_cli_arguments(parser, entries)
    values = Table(**options.from_cli(parser.parse_args(["--ignore-eos", "--percentiles", "50,99"]), entries))
    assert (values.ignore_eos, values.percentiles) == (True, "50,99")
    argv = options.locust_argv(values, entries)
    assert argv == ["--llm-ignore-eos", "true", "--llm-percentiles", "50,99"]
    locust = argparse.ArgumentParser()
    options.add_locust_arguments(locust, entries)
    assert Table(**options.from_locust(locust.parse_args(argv), entries)) == values
    assert Table(**options.from_locust(locust.parse_args([]), entries)) == Table()
