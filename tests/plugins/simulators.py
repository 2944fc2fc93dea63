"""Fixtures: provider simulators (contracts/simulators), each in its own process on a free port.

``simulator_factory(type, **SimulatorConfig fields)`` starts one and returns its
``RunningSimulator`` (``.url``, ``.port``, ``.stats()``, ``.control(...)``, ``.reset()``, ``.stop()``);
everything it started is stopped (process group killed if need be) at the end of the test.
``session_simulator_factory`` does the same once per session and per distinct configuration:
callers that change a shared simulator with ``control()`` must put it back, and ``reset()`` its
counters before counting. ``in_thread=True`` runs the server on a thread of the test process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from contracts.simulators import RunningSimulator, SimulatorConfig, start_simulator, start_simulator_in_thread

SimulatorFactory = Callable[..., RunningSimulator]


class _Factory:
    def __init__(self) -> None:
        self.started: list[RunningSimulator] = []

    def __call__(self, provider_type: str, *, in_thread: bool = False, wait: bool = True,
                 **fields: Any) -> RunningSimulator:
        config = SimulatorConfig(type=provider_type, **fields)
        sim = start_simulator_in_thread(config) if in_thread else start_simulator(config, wait=wait)
        self.started.append(sim)
        return sim

    def stop_all(self) -> None:
        for sim in reversed(self.started):
            sim.stop()
        self.started.clear()


class _CachingFactory(_Factory):
    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[str, RunningSimulator] = {}

    def __call__(self, provider_type: str, *, in_thread: bool = False, wait: bool = True,
                 **fields: Any) -> RunningSimulator:
        key = json.dumps([provider_type, in_thread, fields], sort_keys=True, default=str)
        sim = self._cache.get(key)
        if sim is None or not sim.alive:
            sim = super().__call__(provider_type, in_thread=in_thread, wait=wait, **fields)
            self._cache[key] = sim
        return sim


@pytest.fixture
def simulator_factory() -> Iterator[SimulatorFactory]:
    factory = _Factory()
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def session_simulator_factory() -> Iterator[SimulatorFactory]:
    factory = _CachingFactory()
    try:
        yield factory
    finally:
        factory.stop_all()
