"""Provider simulators: protocol-faithful stand-ins for Ollama, vLLM, llama-server,
llama-cpp-python and a generic OpenAI-compatible server, with a latency model (TTFT, token rate,
jitter, tokens per chunk, slots + FIFO queue), faults and one violation mode per contract rule.

Python API (full description in docs/simulators.md)::

    from contracts.simulators import SimulatorConfig, start_simulator

    sim = start_simulator(SimulatorConfig(type="vllm", ttft_ms=50, tpot_ms=10, slots=8))
    sim.url                      # http://127.0.0.1:PORT (append /v1 for OpenAI clients)
    sim.stats()                  # counters + recent TRUE timings (GET /_sim/stats)
    sim.control(error_rate=1.0, error_status=503)   # any SimulatorConfig field, at run time
    sim.refuse_connections(); sim.accept_connections()
    sim.reset(); sim.stop()      # stop() also kills the process group

``start_simulator_in_thread(config)`` gives the same handle for a server on a background thread.
pytest fixtures: ``simulator_factory`` and ``session_simulator_factory`` (tests/plugins/simulators.py).
"""

from __future__ import annotations

from contracts.simulators.config import DEFAULT_MODELS, PROVIDER_TYPES, ConfigError, SimulatorConfig
from contracts.simulators.process import (
    RunningSimulator,
    SimulatorStartError,
    start_simulator,
    start_simulator_in_thread,
)
from contracts.simulators.violations import VIOLATION_EFFECTS, VIOLATIONS, violations_for

__all__ = [
    "DEFAULT_MODELS",
    "PROVIDER_TYPES",
    "VIOLATIONS",
    "VIOLATION_EFFECTS",
    "ConfigError",
    "RunningSimulator",
    "SimulatorConfig",
    "SimulatorStartError",
    "start_simulator",
    "start_simulator_in_thread",
    "violations_for",
]
