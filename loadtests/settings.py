"""The settings of one load-test run, parsed once from Locust's options (``--llm-*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.metrics import parse_slo
from loadtests.protocols import APIS

__all__ = ["LoadSettings", "add_locust_arguments"]


@dataclass(frozen=True)
class LoadSettings:
    model: str
    api: str = "openai-chat"
    stream: bool = True
    prompt_tokens: int = 32
    max_tokens: int = 64
    prompt_file: Path | None = None
    seed: int = 0
    rate: float = 0.0  # requests/s over the whole run; 0 = closed loop (each user back to back)
    arrival: str = "poisson"
    burstiness: float = 1.0
    requests: int = 0  # 0 = until --run-time / stop
    duration: float = 0.0  # seconds, used to bound an open-loop schedule
    slo: dict[str, float] = field(default_factory=dict)
    warmup: int = 0
    timeout: float = 120.0
    api_key_env: str = "LITELLM_MASTER_KEY"
    report: Path | None = None
    thresholds: Path | None = None
    baseline: Path | None = None
    max_regression: str = "10%"
    progress: float = 2.0
    ui_rows: bool = True
    client: str = "raw"  # raw (loadtests.rawhttp) or fasthttp (geventhttpclient); https uses fasthttp
    extra_body: dict[str, Any] = field(default_factory=dict)

    @property
    def open_loop(self) -> bool:
        return self.rate > 0

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

    @classmethod
    def from_options(cls, options: Any) -> LoadSettings:
        def opt(name: str, default: Any = None) -> Any:
            value = getattr(options, name, default)
            return default if value in (None, "") else value

        # --llm-duration reaches workers (Locust ships only custom options to them); -t does not.
        run_time = opt("llm_duration", 0) or opt("run_time", 0) or 0
        return cls(
            model=opt("llm_model", "") or "",
            api=opt("llm_api", "openai-chat"),
            stream=str(opt("llm_stream", "true")).lower() in ("1", "true", "yes", "on"),
            prompt_tokens=int(opt("llm_prompt_tokens", 32)),
            max_tokens=int(opt("llm_max_tokens", 64)),
            prompt_file=Path(opt("llm_prompt_file")) if opt("llm_prompt_file") else None,
            seed=int(opt("llm_seed", 0)),
            rate=float(opt("llm_rate", 0.0)),
            arrival=opt("llm_arrival", "poisson"),
            burstiness=float(opt("llm_burstiness", 1.0)),
            requests=int(opt("llm_requests", 0)),
            duration=float(run_time),
            slo=parse_slo(opt("llm_slo", "") or ""),
            warmup=int(opt("llm_warmup", 0)),
            timeout=float(opt("llm_timeout", 120.0)),
            api_key_env=opt("llm_api_key_env", "LITELLM_MASTER_KEY"),
            report=Path(opt("llm_report")) if opt("llm_report") else None,
            thresholds=Path(opt("llm_thresholds")) if opt("llm_thresholds") else None,
            baseline=Path(opt("llm_baseline")) if opt("llm_baseline") else None,
            max_regression=str(opt("llm_max_regression", "10%")),
            progress=float(opt("llm_progress", 2.0)),
            ui_rows=str(opt("llm_ui_rows", "true")).lower() in ("1", "true", "yes", "on"),
            client=opt("llm_client", "raw"),
        )


def add_locust_arguments(parser: Any) -> None:
    """Register the ``--llm-*`` options on Locust's parser (shown in its web UI too)."""
    group = parser.add_argument_group("LLM load test (ai-backend-unified)")
    group.add_argument("--llm-model", default="", help="model name sent in every request")
    group.add_argument("--llm-api", default="openai-chat", choices=list(APIS), help="wire protocol")
    group.add_argument("--llm-stream", default="true", choices=["true", "false"], help="stream responses")
    group.add_argument("--llm-prompt-tokens", type=int, default=32, help="synthetic prompt length (words)")
    group.add_argument("--llm-max-tokens", type=int, default=64, help="max_tokens of each request")
    group.add_argument("--llm-prompt-file", default="", help="JSON-lines prompt file instead of synthetic prompts")
    group.add_argument("--llm-seed", type=int, default=0, help="seed of prompts and arrivals")
    group.add_argument("--llm-rate", type=float, default=0.0, help="open loop: requests/s (0: closed loop)")
    group.add_argument("--llm-arrival", default="poisson", choices=["constant", "poisson", "gamma"])
    group.add_argument("--llm-burstiness", type=float, default=1.0, help="gamma shape (1 = Poisson)")
    group.add_argument("--llm-requests", type=int, default=0, help="stop after this many requests (0: no limit)")
    group.add_argument("--llm-duration", type=float, default=0.0, help="open loop: schedule length in seconds")
    group.add_argument("--llm-slo", default="", help="SLOs for goodput, e.g. ttft=500,tpot=50 (ms)")
    group.add_argument("--llm-warmup", type=int, default=0, help="first N requests left out of latency figures")
    group.add_argument("--llm-timeout", type=float, default=120.0, help="per-request timeout in seconds")
    group.add_argument("--llm-api-key-env", default="LITELLM_MASTER_KEY", help="env var holding the bearer key")
    group.add_argument("--llm-report", default="", help="write the JSON report here (CSV and HTML beside it)")
    group.add_argument("--llm-thresholds", default="", help="YAML thresholds gating the run (exit 1)")
    group.add_argument("--llm-baseline", default="", help="baseline report JSON for --llm-max-regression")
    group.add_argument("--llm-max-regression", default="10%", help="allowed regression against the baseline")
    group.add_argument("--llm-progress", type=float, default=2.0, help="progress line every N s (0: off)")
    group.add_argument("--llm-ui-rows", default="true", choices=["true", "false"], help="TTFT/TPOT/TTFB rows")
    group.add_argument("--llm-client", default="raw", choices=["raw", "fasthttp"],
                       help="HTTP client: raw sockets (default) or geventhttpclient (FastHttpUser's)")
    group.add_argument("--llm-shape", default="", help="load shape: smoke, load, stress, spike, soak")
