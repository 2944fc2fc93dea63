"""The simulator's configuration: one flat dataclass shared by the CLI, the control endpoint and
the Python API (a field ``ttft_ms`` is the flag ``--ttft-ms`` and the control key ``ttft_ms``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from generator.errors import UsageError
from generator.providers import REGISTRY, simulated_types

__all__ = [
    "CONTROL_FIELDS",
    "DEFAULT_CTX_SIZES",
    "DEFAULT_MODELS",
    "DEFAULT_PORTS",
    "PROVIDER_TYPES",
    "ConfigError",
    "SimulatorConfig",
]

# The types the simulator stands in for: those the provider registry gives a simulator port.
PROVIDER_TYPES = simulated_types()

# The real servers' default ports (the CLI's default); the Python API always uses port 0.
DEFAULT_PORTS = {name: port for name in PROVIDER_TYPES if (port := REGISTRY[name].simulator_port) is not None}

DEFAULT_MODELS = {
    "ollama": "llama3.2:latest",
    "vllm": "Qwen/Qwen2.5-0.5B-Instruct",
    "llama_cpp": "qwen2.5-0.5b-instruct-q4_k_m.gguf",
    "llama_cpp_python": "qwen2.5-0.5b-instruct-q4_k_m.gguf",
    "openai": "gpt-4o-mini",
}

# The context window (tokens) a type's real server rejects longer prompts at, as the engines of
# contracts/engines/ run (--ctx-size / --n_ctx 2048). 0: no window. vLLM (400 when prompt +
# max_tokens > max_model_len) and Ollama (silently truncates to num_ctx) are not modelled.
DEFAULT_CTX_SIZES = {"llama_cpp": 2048, "llama_cpp_python": 2048}


# The types whose handling of a character spread over several tokens was seen on the real server.
CHAR_TOKEN_TYPES = ("llama_cpp", "llama_cpp_python")


class ConfigError(UsageError, ValueError):
    """A field has a value the simulator cannot use; the message names the field."""


@dataclass
class SimulatorConfig:
    type: str = "openai"
    models: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    # --- latency model ---------------------------------------------------------------
    ttft_ms: float = 20.0  # base time to first token, once a slot is held
    prefill_ms_per_token: float = 0.0  # added to the TTFT per prompt token
    tpot_ms: float = 5.0  # time per output token
    jitter_ms: float = 0.0  # uniform +- jitter on each chunk gap, seeded
    tokens_per_chunk: int = 1
    slots: int = 64  # concurrent sequences; requests beyond wait in a FIFO queue
    output_tokens: int = 16  # the "natural" answer length before EOS (max_tokens may cut it)
    # Tokens per character: 1, word tokens; 2-4, a byte-level model writing only characters of that
    # many UTF-8 bytes, one token per byte (llama types only: how each holds back, cuts or finishes
    # a character is reproduced, contracts/simulators/utf8.py).
    char_tokens: int = 1
    # Prompts of this many tokens or more are rejected as the real server does; None: the type's
    # default (DEFAULT_CTX_SIZES), 0: no window. Only the llama.cpp types have one.
    ctx_size: int | None = None
    # --- faults (inference endpoints only) --------------------------------------------
    error_rate: float = 0.0
    error_status: int = 500
    error_body: str | None = None  # raw body; default: the type's own error body
    hang_before_headers_s: float = 0.0  # math.inf = never answer
    slow_headers_ms: float = 0.0  # headers trickled over this many ms
    stall_after_chunks: int | None = None
    stall_s: float = 0.0
    disconnect_after_chunks: int | None = None
    malformed_chunk: int | None = None  # 1-based content chunk replaced by broken JSON
    loading_s: float = 0.0  # loading phase at start-up
    refuse_connections: bool = False  # not listening
    reset_connections: bool = False  # accept, then close at once
    # --- contract violations (rule ids of contracts/rules.py) -------------------------
    violations: list[str] = field(default_factory=list)
    # --- process ----------------------------------------------------------------------
    loop: str = "auto"  # auto | asyncio | uvloop

    def __post_init__(self) -> None:
        if not self.models:
            self.models = [DEFAULT_MODELS.get(self.type, "sim-model")]
        self.validate()

    def validate(self) -> None:
        from contracts.simulators.violations import VIOLATIONS

        if self.type not in PROVIDER_TYPES:
            raise ConfigError(f"type: unknown provider type {self.type!r}; choose one of {', '.join(PROVIDER_TYPES)}")
        if self.type == "llama_cpp" and len(self.models) != 1:
            raise ConfigError(f"models: llama_cpp serves exactly one model (got {len(self.models)}: {self.models})")
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"models: duplicate model names in {self.models}")
        for name in ("ttft_ms", "prefill_ms_per_token", "tpot_ms", "jitter_ms", "slow_headers_ms", "stall_s", "loading_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or math.isnan(value) or value < 0 or math.isinf(value):
                raise ConfigError(f"{name}: must be a finite number >= 0 (got {value!r})")
        if not isinstance(self.hang_before_headers_s, int | float) or self.hang_before_headers_s < 0:
            raise ConfigError(f"hang_before_headers_s: must be >= 0 or inf (got {self.hang_before_headers_s!r})")
        for name in ("tokens_per_chunk", "slots", "output_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}: must be an integer >= 1 (got {value!r})")
        for name in ("stall_after_chunks", "disconnect_after_chunks", "malformed_chunk"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ConfigError(f"{name}: must be an integer >= 0 or null (got {value!r})")
        self._validate_ctx_size()
        self._validate_char_tokens()
        if not isinstance(self.error_rate, int | float) or not 0 <= self.error_rate <= 1:
            raise ConfigError(f"error_rate: must be between 0 and 1 (got {self.error_rate!r})")
        if not isinstance(self.error_status, int) or not 400 <= self.error_status <= 599:
            raise ConfigError(f"error_status: must be an HTTP error status 400-599 (got {self.error_status!r})")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"port: must be 0-65535 (got {self.port!r})")
        if self.loop not in ("auto", "asyncio", "uvloop"):
            raise ConfigError(f"loop: must be auto, asyncio or uvloop (got {self.loop!r})")
        allowed = VIOLATIONS[self.type]
        for rule in self.violations:
            if rule not in allowed:
                raise ConfigError(
                    f"violations: {rule!r} is not a violation mode of the {self.type} simulator; "
                    f"available: {', '.join(sorted(allowed))}"
                )

    def _validate_ctx_size(self) -> None:
        if self.ctx_size is None:
            return
        if not isinstance(self.ctx_size, int) or isinstance(self.ctx_size, bool) or self.ctx_size < 0:
            raise ConfigError(f"ctx_size: must be an integer >= 0 or null (got {self.ctx_size!r})")
        if self.ctx_size and self.type not in DEFAULT_CTX_SIZES:
            raise ConfigError(f"ctx_size: the {self.type} simulator has no context window (only "
                              f"{', '.join(DEFAULT_CTX_SIZES)}); use 0 or leave it unset")

    def _validate_char_tokens(self) -> None:
        value = self.char_tokens
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4:
            raise ConfigError(f"char_tokens: must be an integer from 1 to 4 (got {value!r})")
        if value > 1 and self.type not in CHAR_TOKEN_TYPES:
            raise ConfigError(f"char_tokens: only the {' and '.join(CHAR_TOKEN_TYPES)} simulators model characters "
                              f"over several tokens; use 1 for {self.type}")

    @property
    def context_window(self) -> int:
        """The effective window in tokens (0: none)."""
        return DEFAULT_CTX_SIZES.get(self.type, 0) if self.ctx_size is None else self.ctx_size

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        # JSON has no infinity: an endless hang travels as the string "inf".
        if math.isinf(self.hang_before_headers_s):
            data["hang_before_headers_s"] = "inf"
        return data

    def with_changes(self, changes: dict[str, Any]) -> SimulatorConfig:
        """A validated copy with ``changes`` applied (the control endpoint's semantics)."""
        unknown = sorted(set(changes) - set(CONTROL_FIELDS))
        if unknown:
            raise ConfigError(f"unknown or read-only field(s): {', '.join(unknown)}; changeable: {', '.join(CONTROL_FIELDS)}")
        values = dict(changes)
        if values.get("hang_before_headers_s") in ("inf", "Infinity", None) and "hang_before_headers_s" in values:
            values["hang_before_headers_s"] = math.inf
        for name in ("ttft_ms", "prefill_ms_per_token", "tpot_ms", "jitter_ms", "slow_headers_ms", "stall_s",
                     "loading_s", "error_rate", "hang_before_headers_s"):
            if isinstance(values.get(name), int) and not isinstance(values.get(name), bool):
                values[name] = float(values[name])
        if "violations" in values and not isinstance(values["violations"], list):
            raise ConfigError("violations: must be a list of rule ids")
        new = dataclasses.replace(self, **values)
        return new

    def to_argv(self) -> list[str]:
        """The CLI arguments (after ``simulate``) that reproduce this configuration."""
        argv = [self.type, "--host", self.host, "--port", str(self.port), "--seed", str(self.seed)]
        for model in self.models:
            argv += ["--model", model]
        defaults = SimulatorConfig(type=self.type, models=list(self.models))
        for f in dataclasses.fields(self):
            if f.name in ("type", "models", "host", "port", "seed", "violations"):
                continue
            value = getattr(self, f.name)
            if value == getattr(defaults, f.name):
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                argv.append(flag)
            elif value is not None:
                argv += [flag, str(value)]
        for rule in self.violations:
            argv += ["--violate", rule]
        return argv


# Fields a running simulator lets POST /_sim/control change (not its identity or socket).
CONTROL_FIELDS = tuple(
    f.name for f in dataclasses.fields(SimulatorConfig) if f.name not in ("type", "models", "host", "port", "loop")
)
