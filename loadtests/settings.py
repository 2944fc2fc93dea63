"""Every load-test option, declared once, and the settings of one run.

The body of :class:`LoadSettings` is the table: each line declares one option (name, type,
default, help, choices, and whether ``aibackend loadtest``, Locust's ``--llm-*`` options or both
have it) and nothing else declares it again. :mod:`loadtests.options` says what an entry
produces; adding an option is one line here: ``ignore_eos: bool = option(default=False,
group=WORKLOAD, help="...")`` gives ``aibackend loadtest --ignore-eos``, ``--llm-ignore-eos
true|false``, ``LoadSettings.ignore_eos`` read from either, and its place on the Locust command
line of every ``aibackend loadtest`` run.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from generator.stats import DEFAULT_PERCENTILES, format_percentiles, parse_percentiles
from loadtests import options as _options
from loadtests.arrivals import ARRIVALS
from loadtests.metrics import format_goodput, format_slo, parse_goodput, parse_slo
from loadtests.options import Option, Where, cli_option, option, option_table
from loadtests.protocols import API_ENDPOINTS, API_FAMILIES, APIS, api_name
from loadtests.shape_plan import SHAPE_NAMES

__all__ = [
    "BY_NAME",
    "CLIENTS",
    "CLOSED_LOOP_USERS",
    "DEFAULT_REPORT",
    "DEFAULT_REQUESTS",
    "OPEN_LOOP_USERS",
    "OPTIONS",
    "RAW_CLIENT",
    "LoadSettings",
    "add_cli_arguments",
    "add_locust_arguments",
    "cli_problem",
]

RAW_CLIENT = "raw"  # loadtests.rawhttp; "fasthttp" is geventhttpclient (always used for https)
CLIENTS = (RAW_CLIENT, "fasthttp")
CLOSED_LOOP_USERS = 8  # aibackend's --users when not given, closed loop
OPEN_LOOP_USERS = 256  # ... and with --rate (the pool, i.e. the maximum concurrency)
DEFAULT_REQUESTS = 100  # aibackend's --requests when neither it nor --duration is given
DEFAULT_REPORT = Path("loadtest-report.json")

# aibackend's argument groups, in the order --help shows them.
TARGET, LOAD, WORKLOAD, GATES, CAMPAIGNS = "target", "load", "workload", "gates and output", "campaigns"


@option_table
class LoadSettings:
    """The settings of one run (its fields), parsed once from Locust's options; the declarations
    are also every ``aibackend loadtest`` flag (``ClassVar`` ones are aibackend's only)."""

    host: ClassVar[Option] = cli_option(
        group=TARGET, help="server root URL, e.g. http://127.0.0.1:4000 (a trailing /v1 is fine)")
    model: str = option(default="", group=TARGET, help="model name sent in every request")
    api_family: ClassVar[Option] = cli_option(
        flag="api", default=API_FAMILIES[0], choices=API_FAMILIES, group=TARGET,
        help="openai: /v1/chat/completions (SSE); ollama: native /api/chat (NDJSON)")
    endpoint: ClassVar[Option] = cli_option(
        default=API_ENDPOINTS[0], choices=API_ENDPOINTS, group=TARGET,
        help="with --api openai: chat completions or legacy completions")
    api: str = option(default="openai-chat", choices=tuple(APIS), where=Where.LOCUST, group=TARGET,
                      help="wire protocol")
    api_key_env: str = option(
        default="LITELLM_MASTER_KEY", metavar="VAR", group=TARGET,
        help="environment variable holding the bearer key (never a command-line value)",
        llm_help="env var holding the bearer key")

    users: ClassVar[Option] = cli_option(
        type=int, at_least=1, group=LOAD,
        help=f"closed loop: concurrent streams (default {CLOSED_LOOP_USERS}); with --rate: the pool of users, "
        f"i.e. the maximum concurrency (default {OPEN_LOOP_USERS})")
    rate: float = option(  # requests/s over the whole run; 0 = closed loop (each user back to back)
        default=0.0, cli_default=None, positive=True, group=LOAD,
        help="open loop: requests per second (coordinated-omission corrected)",
        llm_help="open loop: requests/s (0: closed loop)")
    arrival: str = option(default="poisson", choices=ARRIVALS, group=LOAD)
    burstiness: float = option(default=1.0, positive=True, group=LOAD, help="gamma shape (1 = Poisson, <1 burstier)",
                               llm_help="gamma shape (1 = Poisson)")
    requests: int = option(  # 0 = until the duration / stop
        default=0, cli_default=None, at_least=1, group=LOAD,
        help=f"total requests (default {DEFAULT_REQUESTS} unless --duration)",
        llm_help="stop after this many requests (0: no limit)")
    duration: float = option(  # seconds: no new request after it; Locust's -t when --llm-duration is not given
        default=0.0, cli_default=None, positive=True, metavar="S", fallback="run_time", group=LOAD,
        help="run length in seconds", llm_help="open loop: schedule length in seconds")
    shape: str = option(default="", choices=SHAPE_NAMES, group=LOAD,
                        help="closed-loop load shape over --duration with --users at the peak",
                        llm_help="load shape: " + ", ".join(SHAPE_NAMES))
    workers: ClassVar[Option] = cli_option(type=int, default=0, at_least=0, group=LOAD,
                                           help="Locust master + N worker processes (one per core)")
    warmup: int = option(default=0, group=LOAD, help="first N requests left out of latency figures")
    timeout: float = option(default=120.0, positive=True, group=LOAD, help="per-request timeout in seconds")
    seed: int = option(default=0, group=LOAD, help="seed of prompts and arrivals")
    client: str = option(
        default=RAW_CLIENT, choices=CLIENTS, group=LOAD,
        help="HTTP client of the users: raw sockets (default, measured faster) or geventhttpclient",
        llm_help="HTTP client: raw sockets (default) or geventhttpclient (FastHttpUser's)")

    stream: bool = option(default=True, group=WORKLOAD, help="stream responses")
    prompt_tokens: int = option(
        default=32, at_least=1, group=WORKLOAD,
        help="synthetic prompt length: tokens of --tokenizer, else words (the report says which)",
        llm_help="synthetic prompt length (tokens with --llm-tokenizer, else words)")
    max_tokens: int = option(default=64, at_least=1, group=WORKLOAD, help="max_tokens per request",
                             llm_help="max_tokens of each request")
    prompt_file: Path | None = option(
        default=None, type=Path, group=WORKLOAD, help="JSON-lines prompts, or a set shipped with the package by name (chat-short)",
        llm_help="JSON-lines prompt file instead of synthetic prompts")
    dataset: Path | None = option(
        default=None, type=Path, metavar="FILE", group=WORKLOAD,
        help="replay a local ShareGPT-format JSON or JSON-lines file: prompts and output lengths from the data, "
        "shuffled with --seed (vLLM's sharegpt dataset)", llm_help="ShareGPT-format JSON/JSONL to replay")
    tokenizer: Path | None = option(
        default=None, type=Path, metavar="DIR", group=WORKLOAD,
        help="a local Hugging Face tokenizer directory (tokenizer.json): prompt lengths and output token "
        "counts in real tokens", llm_help="local Hugging Face tokenizer directory")
    ignore_eos: bool = option(default=False, group=WORKLOAD,
                              help="send ignore_eos: true (vLLM, SGLang): every answer runs to max_tokens")
    extra_body: dict[str, Any] = option(
        default={}, parse=lambda text: parse_json_object(text, "--extra-body"), format=lambda v: json.dumps(v),
        metavar="JSON", group=WORKLOAD, help="a JSON object merged into every request body, e.g. '{\"top_k\": 20}'",
        llm_help="JSON object merged into every request body")

    slo: dict[str, float] = option(
        default={}, parse=parse_slo, format=format_slo, group=GATES,
        help="SLOs for goodput in ms, e.g. ttft=500,tpot=50", llm_help="SLOs for goodput, e.g. ttft=500,tpot=50 (ms)")
    goodput: dict[str, float] = option(
        default={}, parse=parse_goodput, format=format_goodput, nargs="+", metavar="KEY:MS", group=GATES,
        help="vLLM's spelling of --slo: ttft:500 tpot:50 (e2el too)", llm_help="vLLM's --goodput, e.g. 'ttft:500 tpot:50'")
    metric_percentiles: tuple[float, ...] = option(
        default=DEFAULT_PERCENTILES, parse=parse_percentiles, format=format_percentiles, metavar="P,P,...", group=GATES,
        help=f"percentiles every figure of the report shows (default {format_percentiles(DEFAULT_PERCENTILES)})",
        llm_help="percentiles of the report, e.g. 50,90,95,99")
    thresholds: Path | None = option(default=None, type=Path, metavar="FILE", group=GATES,
                                     help="YAML gate, e.g. 'p99_ttft_ms: {max: 500}'",
                                     llm_help="YAML thresholds gating the run (exit 1)")
    baseline: Path | None = option(default=None, type=Path, metavar="FILE", group=GATES,
                                   help="earlier report JSON to compare against",
                                   llm_help="baseline report JSON for --llm-max-regression")
    max_regression: str = option(default="10%", metavar="P", group=GATES, help="allowed regression vs --baseline",
                                 llm_help="allowed regression against the baseline")
    report: Path | None = option(
        default=None, type=Path, cli_default=DEFAULT_REPORT, metavar="FILE", group=GATES,
        help=f"JSON report (CSV and HTML are written beside it); default {DEFAULT_REPORT}",
        llm_help="write the JSON report here (CSV and HTML beside it)")
    progress: float = option(default=2.0, where=Where.LOCUST, group=GATES, help="progress line every N s (0: off)")
    ui_rows: bool = option(default=True, where=Where.LOCUST, group=GATES, help="TTFT/TPOT/TTFB rows")

    sweep: ClassVar[Option] = cli_option(
        type=bool, default=False, group=CAMPAIGNS,
        help="step the rate from one stream to saturation; report the knee and the best goodput")
    sweep_steps: ClassVar[Option] = cli_option(type=int, default=4, at_least=1, group=CAMPAIGNS,
                                               help="rates between 1 stream and saturation")
    compare_direct: ClassVar[Option] = cli_option(
        metavar="URL", group=CAMPAIGNS,
        help="run the same workload straight at this provider and through --host; report the added latency")
    direct_model: ClassVar[Option] = cli_option(
        group=CAMPAIGNS, help="model name at the provider for --compare-direct (default: --model)")
    compare: ClassVar[Option] = cli_option(nargs="+", metavar="URL=MODEL", group=CAMPAIGNS,
                                           help="one workload against several servers, tabulated")

    @property
    def slos(self) -> dict[str, float]:
        """The SLOs of --slo and --goodput together (ValueError when both bound one metric differently)."""
        clash = [k for k in self.slo.keys() & self.goodput.keys() if self.slo[k] != self.goodput[k]]
        if clash:
            raise ValueError(f"--slo and --goodput disagree on {', '.join(sorted(clash))}: give each SLO once")
        return {**self.slo, **self.goodput}

    def request_extras(self) -> dict[str, Any]:
        """What every request body gets besides the prompt: --ignore-eos, then --extra-body."""
        return {**({"ignore_eos": True} if self.ignore_eos else {}), **self.extra_body}

    @property
    def open_loop(self) -> bool:
        return self.rate > 0

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

    @classmethod
    def from_options(cls, options: Any) -> LoadSettings:
        """From Locust's parsed options (``environment.parsed_options``)."""
        return cls(**_options.from_locust(options, OPTIONS))

    @classmethod
    def from_cli(cls, args: argparse.Namespace) -> LoadSettings:
        """From the ``aibackend loadtest`` flags: each one with a Locust twin (``--slo`` parsed here,
        once; ValueError when it is bad), and the API that ``--api`` and ``--endpoint`` name."""
        return cls(**_options.from_cli(args, OPTIONS), api=api_name(args.api, args.endpoint))

    def locust_argv(self) -> list[str]:
        """These settings as ``--llm-*`` options; :meth:`from_options` reads them back."""
        return _options.locust_argv(self, OPTIONS)


def parse_json_object(text: str, flag: str) -> dict[str, Any]:
    """A JSON object from a flag's text; ValueError saying what is wrong."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{flag} {text!r}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag} {text!r}: expected a JSON object such as '{{\"top_k\": 20}}'")
    return value


OPTIONS = _options.table(LoadSettings)
BY_NAME = {o.name: o for o in OPTIONS}


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``aibackend loadtest``."""
    _options.add_cli_arguments(parser, OPTIONS)


def add_locust_arguments(parser: Any) -> None:
    """Register the ``--llm-*`` options on Locust's parser."""
    _options.add_locust_arguments(parser, OPTIONS)


def cli_problem(args: argparse.Namespace) -> str | None:
    """The first ``aibackend loadtest`` number out of its declared range, as a usage message."""
    return _options.cli_problem(args, OPTIONS)
