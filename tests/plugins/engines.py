"""Fixtures: the real llama.cpp engines (llama-server, llama-cpp-python) serving the tiny model.

``tiny_model_path``      session: the default (ascii) seeded random-weight GGUF
                         (contracts/engines/tiny_model.py).
``tiny_models``          session: ``tiny_models(name)`` -> the path of the tiny model ``name``
                         (``TINY_MODELS``), built once per code version in the set-up's cache.
``engine_factory``       function: ``engine_factory("llama_cpp" | "llama_cpp_python", model=PATH,
                         **kwargs)`` starts a server (default model: ascii) on a free port, waits
                         for real readiness; all stopped at teardown.
``engines_serving(tmp_path_factory, model)``
                         a context manager: both servers on one model, stopped on exit.
``llama_cpp_engine``, ``llama_cpp_python_engine``
                         module-scoped running servers (one per test module and worker).

Without the set-up step (scripts/setup.d/50-llama-cpp.sh) the engine tests skip, naming the step.
Under CI (``CI=true``) they fail instead: there set-up has run, so a missing engine is a broken
install, not a choice. ``AIBACKEND_SKIP_LLAMA_CPP=1`` (honoured by set-up too) always skips.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from contracts.engines.llama_servers import (
    ENGINE_KINDS,
    EngineKind,
    EngineServer,
    engine_unavailable_reason,
    start_engine,
)
from contracts.engines.tiny_model import cached_tiny_model

EngineFactory = Callable[..., EngineServer]
TinyModels = Callable[[str], Path]


def require_engine(kind: EngineKind) -> None:
    """Skip (fail under CI) the calling test when ``kind`` is not installed here."""
    reason = engine_unavailable_reason(kind)
    if reason is None:
        return
    if os.environ.get("AIBACKEND_SKIP_LLAMA_CPP") != "1" and os.environ.get("CI") == "true":
        pytest.fail(f"CI ran set-up, yet {reason}")
    # Only outside CI, on a machine whose set-up was told to skip the 10-20 min llama.cpp build
    # (AIBACKEND_SKIP_LLAMA_CPP=1) or never ran: the reason names what is missing. In CI (and so in
    # `make test` there) a missing engine is a failure above, never a skip.
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tiny_models() -> TinyModels:
    try:
        import gguf  # noqa: F401
    except ImportError:
        require_engine("llama_cpp_python")  # gguf comes with the engines' set-up step
        raise
    return cached_tiny_model


@pytest.fixture(scope="session")
def tiny_model_path(tiny_models: TinyModels) -> Path:
    return tiny_models("ascii")


def _factory(tmp_path_factory: pytest.TempPathFactory, default_model: Path) -> tuple[EngineFactory, list[EngineServer]]:
    started: list[EngineServer] = []

    def start(kind: EngineKind, model: Path | None = None, **kwargs: object) -> EngineServer:
        require_engine(kind)
        server = start_engine(kind, model or default_model, log_dir=tmp_path_factory.mktemp(f"{kind}-logs"), **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    return start, started


@contextmanager
def engines_serving(
    tmp_path_factory: pytest.TempPathFactory, model: Path, kinds: Sequence[EngineKind] = ENGINE_KINDS, **kwargs: object
) -> Iterator[dict[EngineKind, EngineServer]]:
    """Both real servers (or ``kinds``) serving ``model``, all stopped on exit however it ends."""
    start, started = _factory(tmp_path_factory, model)
    try:
        yield {kind: start(kind, **kwargs) for kind in kinds}
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def engine_factory(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> Iterator[EngineFactory]:
    start, started = _factory(tmp_path_factory, tiny_model_path)
    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def module_engine_factory(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> Iterator[EngineFactory]:
    start, started = _factory(tmp_path_factory, tiny_model_path)
    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def llama_cpp_engine(module_engine_factory: EngineFactory) -> EngineServer:
    return module_engine_factory("llama_cpp")


@pytest.fixture(scope="module")
def llama_cpp_python_engine(module_engine_factory: EngineFactory) -> EngineServer:
    return module_engine_factory("llama_cpp_python")
