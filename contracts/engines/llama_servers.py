"""Start and stop the two real llama.cpp servers on free ports, waiting for REAL readiness.

* ``llama_cpp``: the native ``llama-server`` (built by ``scripts/setup.d/50-llama-cpp.sh``). It
  listens before the model is loaded and answers every path 503 ``Loading model`` until then, so
  readiness is ``GET /health`` == 200.
* ``llama_cpp_python``: ``python -m llama_cpp.server`` (FastAPI). It loads the model before it
  binds, so readiness is ``GET /v1/models`` == 200.

Both run in their own process group with their output in a log file; :meth:`EngineServer.stop`
terminates the group (then kills it) so no engine outlives a test. Both bind 127.0.0.1.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from generator.errors import AibackendError
from generator.net import free_port
from generator.providers import engine_types

__all__ = [
    "ENGINE_KINDS",
    "LLAMA_CPP_PYTHON_VERSION",
    "SETUP_HINT",
    "EngineKind",
    "EngineServer",
    "EngineUnavailable",
    "HttpObservation",
    "engine_unavailable_reason",
    "llama_server_binary",
    "running_engine",
    "start_engine",
]

# The engines this module knows how to start: a Literal, so mypy checks every per-kind table. Which
# types have a real engine is the provider registry's `engine_backed` (engine_types());
# tests/unit/test_contract_registry.py fails when the registry names one this Literal lacks.
EngineKind = Literal["llama_cpp", "llama_cpp_python"]
ENGINE_KINDS: tuple[EngineKind, ...] = tuple(cast(EngineKind, kind) for kind in engine_types())
LLAMA_CPP_PYTHON_VERSION = "0.3.36"  # keep in step with scripts/setup.d/50-llama-cpp.sh
SETUP_HINT = "run `bash scripts/setup.d/50-llama-cpp.sh` (part of `make setup`) to build the llama.cpp engines"
HOST = "127.0.0.1"


class EngineUnavailable(AibackendError):
    """The engine was not built/installed here, or it failed to start."""


@dataclass(frozen=True)
class HttpObservation:
    """One probe of a starting server: status None means the connection was refused."""

    elapsed_s: float
    status: int | None
    body: bytes = b""
    content_type: str = ""


@dataclass
class EngineServer:
    kind: EngineKind
    model_alias: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    # Every /health (llama_cpp) or /v1/models (llama_cpp_python) answer seen while waiting.
    startup: list[HttpObservation] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def readiness_path(self) -> str:
        return "/health" if self.kind == "llama_cpp" else "/v1/models"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the whole process group; kill it if it does not exit within ``timeout``."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=timeout)


def llama_server_binary() -> Path | None:
    """``$AIBACKEND_LLAMA_SERVER``, else the venv's ``bin/llama-server`` link made by set-up."""
    explicit = os.environ.get("AIBACKEND_LLAMA_SERVER")
    if explicit:
        return Path(explicit) if os.access(explicit, os.X_OK) else None
    candidate = Path(sys.prefix) / "bin" / "llama-server"
    if os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("llama-server")
    return Path(found) if found else None


def engine_unavailable_reason(kind: EngineKind) -> str | None:
    """Why ``kind`` cannot run here (set-up not run), or None when it can."""
    if kind == "llama_cpp":
        if llama_server_binary() is None:
            return f"llama-server not built: {SETUP_HINT}"
        return None
    try:
        version = importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        return f"llama-cpp-python not installed: {SETUP_HINT}"
    if version != LLAMA_CPP_PYTHON_VERSION:
        return f"llama-cpp-python {version} installed, {LLAMA_CPP_PYTHON_VERSION} expected: {SETUP_HINT}"
    for module in ("gguf", "starlette_context", "sse_starlette"):
        try:
            importlib.metadata.distribution(module.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            return f"{module} not installed: {SETUP_HINT}"
    return None


def _command(kind: EngineKind, model: Path, port: int, alias: str, threads: int, n_ctx: int,
             extra_args: Sequence[str]) -> list[str]:
    if kind == "llama_cpp":
        binary = llama_server_binary()
        if binary is None:
            raise EngineUnavailable(f"llama-server not built; {SETUP_HINT}")
        return [
            str(binary), "-m", str(model), "--host", HOST, "--port", str(port),
            "--alias", alias, "--metrics", "--threads", str(threads), "--ctx-size", str(n_ctx),
            *extra_args,
        ]
    return [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", HOST,
        "--port", str(port), "--model_alias", alias, "--n_threads", str(threads),
        "--n_threads_batch", str(threads), "--n_ctx", str(n_ctx), *extra_args,
    ]


def _probe(port: int, path: str, started: float) -> HttpObservation:
    conn = http.client.HTTPConnection(HOST, port, timeout=2.0)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return HttpObservation(time.monotonic() - started, response.status, body,
                               response.getheader("Content-Type", ""))
    except OSError:
        return HttpObservation(time.monotonic() - started, None)
    finally:
        conn.close()


def start_engine(
    kind: EngineKind,
    model: Path,
    *,
    log_dir: Path,
    alias: str = "tiny-llama",
    port: int | None = None,
    threads: int = 1,
    n_ctx: int = 2048,
    extra_args: Sequence[str] = (),
    ready_timeout: float = 90.0,
    poll_interval: float = 0.002,
) -> EngineServer:
    """Start ``kind`` serving ``model`` and return once it is really ready.

    ``threads`` defaults to 1: ggml's worker threads spin while waiting, and the suite shares two
    cores between xdist workers. Raises :class:`EngineUnavailable` (with the log's tail) when the
    process exits or does not become ready in time; nothing is left running then.
    """
    reason = engine_unavailable_reason(kind)
    if reason is not None:
        raise EngineUnavailable(reason)
    port = port or free_port(HOST)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{kind}-{port}.log"
    env = dict(os.environ)
    with log_path.open("wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            _command(kind, model, port, alias, threads, n_ctx, extra_args),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )
    server = EngineServer(kind, alias, port, process, log_path)
    deadline = started + ready_timeout
    # Probe fast from the first moment, so the start-up sequence (refused, 503 "Loading model",
    # 200) is recorded for the fidelity scenario, not only the final answer.
    while True:
        observation = _probe(port, server.readiness_path, started)
        server.startup.append(observation)
        if observation.status == 200:
            return server
        if process.poll() is not None:
            raise EngineUnavailable(
                f"{kind} exited with code {process.returncode} before it was ready; log {log_path}:\n"
                f"{server.log_tail()}"
            )
        if time.monotonic() > deadline:
            server.stop()
            raise EngineUnavailable(
                f"{kind} not ready after {ready_timeout:.0f} s; log {log_path}:\n{server.log_tail()}"
            )
        time.sleep(poll_interval if observation.status is None else poll_interval * 5)


@contextmanager
def running_engine(kind: EngineKind, model: Path, *, log_dir: Path, **kwargs: object) -> Iterator[EngineServer]:
    """``start_engine`` as a context manager that always stops the server."""
    server = start_engine(kind, model, log_dir=log_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
