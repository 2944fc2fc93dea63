"""The project's one error hierarchy: every user-facing error of every package derives from here.

    AibackendError            a user-facing problem: message, no traceback, exit 1
    ├── UsageError            the command could not run (missing file, bad flag, bad input file): exit 2
    │   ├── ConfigError       (contracts.simulators.config) a simulator setting it cannot use
    │   ├── GateConfigError   (loadtests.gate) a thresholds or baseline file that cannot be used
    │   ├── PromptFileError   (loadtests.prompts) a prompt file that cannot be used
    │   ├── DatasetError      (loadtests.dataset) a --dataset file that cannot be replayed
    │   ├── TokenizerError    (loadtests.tokenizer) a --tokenizer directory that cannot be loaded
    │   └── ResultsStoreError (aibackend.results.store) a results store that is not one, newer, or corrupt
    ├── ConfigInvalid         validation found errors; carries the Diagnostics: exit 1
    │   └── EditInvalid       (aibackend.ops.registry) an edit of providers.yaml would make it invalid
    ├── StoreError            atomic writes, backups, rollback: exit 1
    ├── GatewayError          starting, stopping or reloading the gateway failed: exit 1
    │   └── GateFailed        (aibackend.gateway.gates) a new instance failed a health gate
    ├── CacheUnavailable      (aibackend.ops.cache) the gateway's Redis cannot be reached
    ├── SourceEditError       (generator.source_edit) an edit of providers.yaml that cannot be made
    ├── EngineControlError    (aibackend.ops.engines) an engine did not start, stop or become healthy
    ├── SwitchError           (aibackend.ops.switch) a switch refused, or failed and rolled back
    ├── EngineUnavailable     (contracts.engines.llama_servers) a real llama.cpp server is missing or did not start
    └── SimulatorStartError   (contracts.simulators.process) a simulator did not come up

The input-file errors (under UsageError) are also ValueErrors (what their parsers raised before). A server that
breaks its contract is not an error of this program: the suite reports it as a ``Violation``
(contracts.violation) and the command exits 1. Anything that is not an AibackendError is a bug:
the CLI writes its traceback to a log file and exits 3 (pre-commit's convention).
``tests/unit/test_errors.py`` fails when this tree and the classes disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generator.diagnostics import Diagnostic

__all__ = [
    "AibackendError",
    "ConfigInvalid",
    "GatewayError",
    "StoreError",
    "UsageError",
]


class AibackendError(Exception):
    """A problem the user can fix; shown without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(AibackendError):
    """The command could not run at all: a missing file, a bad flag."""

    exit_code = 2


class ConfigInvalid(AibackendError):
    """Validation failed; ``diagnostics`` holds every error and warning found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        errors = [d for d in diagnostics if d.severity == "error"]
        super().__init__(f"configuration is invalid: {len(errors)} error(s)")
        self.diagnostics = list(diagnostics)


class StoreError(AibackendError):
    """Writing, backing up or restoring the generated config failed."""


class GatewayError(AibackendError):
    """The LiteLLM gateway could not be started, stopped, gated or reloaded."""
