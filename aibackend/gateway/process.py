"""Start one real LiteLLM proxy process and wait until it is ready.

The proxy is started in its own session (so it outlives the command that started it and can be
stopped as a process group), with the offline settings it needs on a machine without internet
(local cost map, telemetry off) and the master key passed through its environment only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from aibackend.gateway.runtime import Instance, stop_process_group
from generator.errors import GatewayError

__all__ = [
    "MIN_KEY_LENGTH",
    "litellm_executable",
    "log_tail",
    "master_key_from_env",
    "ready_timeout_for",
    "start_litellm",
]

MIN_KEY_LENGTH = 20


def master_key_from_env(var: str, environ: Mapping[str, str] | None = None) -> str:
    """The master key from the variable gateway.yaml names; refuse to run without a strong one."""
    env = os.environ if environ is None else environ
    key = env.get(var, "")
    hint = f'export {var}="sk-$(openssl rand -hex 32)"  (the key is read from the environment, never from a file)'
    if not key:
        raise GatewayError(f"the gateway needs a master key: environment variable {var} is not set", hint=hint)
    if not key.startswith("sk-") or len(key) < MIN_KEY_LENGTH:
        raise GatewayError(
            f"the master key in {var} is too weak: it must start with 'sk-' and be at least "
            f"{MIN_KEY_LENGTH} characters long",
            hint=hint,
        )
    return key


def litellm_executable() -> str:
    beside = Path(sys.executable).parent / "litellm"
    if beside.exists():
        return str(beside)
    found = shutil.which("litellm")
    if found is None:
        raise GatewayError(
            "the litellm command is not installed",
            hint="run the set-up (make setup) to install litellm[proxy] into .venv",
        )
    return found


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


# How long LiteLLM keeps an idle connection to a provider. Its default (120 s) outlives the
# providers' own idle limit: uvicorn (vLLM, llama-cpp-python) and llama-server's cpp-httplib
# close an idle keep-alive connection after 5 s, so a request sent around that moment reuses a
# connection the provider is closing and fails with 500 "Connection error" (seen through the
# gateway to llama-server: aiohttp "Cannot write to closing transport"). Closing first, on our
# side, removes the race; an operator's own AIOHTTP_KEEPALIVE_TIMEOUT wins.
UPSTREAM_KEEPALIVE_S = 4


def child_environment(key_env: str, key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AIOHTTP_KEEPALIVE_TIMEOUT", str(UPSTREAM_KEEPALIVE_S))
    env[key_env] = key
    # LiteLLM's own boot check reads LITELLM_MASTER_KEY; give it the same key (in memory only).
    env["LITELLM_MASTER_KEY"] = key
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


# How long `gateway start` and `reload` wait for LiteLLM's /health/readiness. LiteLLM's start-up
# grows with the model list (its Router registers every deployment's pricing, and it parses the
# config twice): 22-24 s of start-up event at 1,000 deployments on 2 cores at load average 10
# (docs/performance.md), so a fixed wait that suits 100 deployments fails a big registry on a busy
# machine. The wait is a bound, not a delay: a LiteLLM that exits is reported at once.
READY_BASE_S = 180.0
READY_PER_DEPLOYMENT_S = 0.05
_DEPLOYMENT_LINE = re.compile(r"^[ \t]*-[ \t]+model_name[ \t]*:", re.MULTILINE)


def ready_timeout_for(config_text: str) -> float:
    """The readiness wait for a config: 180 s plus 0.05 s per deployment (8,000: 580 s).

    Deployments are counted as ``- model_name:`` list items (how the generator and LiteLLM's
    examples write them) rather than by parsing the YAML, which alone takes seconds at 8,000.
    """
    return READY_BASE_S + READY_PER_DEPLOYMENT_S * len(_DEPLOYMENT_LINE.findall(config_text))


def readiness(host: str, port: int, timeout: float = 2.0) -> bool:
    url = f"http://{_connect_host(host)}:{port}/health/readiness"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def start_litellm(
    *,
    config: Path,
    host: str,
    port: int,
    workers: int,
    slot: str,
    log: Path,
    key_env: str,
    key: str,
    ready_timeout: float = 180.0,
    cancel: threading.Event | None = None,
) -> Instance:
    """Start LiteLLM on ``config`` and return once ``/health/readiness`` answers 200.

    On failure the process group is stopped and the error carries the log's tail. ``cancel``: set
    by a caller that waits for this from another thread and was interrupted (a signal reaches only
    the main thread): the process is stopped at once instead of when it becomes ready.
    """
    command = [
        litellm_executable(),
        "--config",
        str(config.resolve()),
        "--host",
        host,
        "--port",
        str(port),
        "--num_workers",
        str(workers),
        "--telemetry",
        "False",
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        handle.write(f"\n==> {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(command)}\n".encode())
        handle.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=child_environment(key_env, key),
            start_new_session=True,
            close_fds=True,
        )
    instance = Instance(slot=slot, pid=process.pid, port=port, config=str(config.resolve()), log=str(log))
    deadline = time.monotonic() + ready_timeout
    try:
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                stop_process_group(process.pid)
                raise GatewayError(f"LiteLLM on port {port} stopped before it was ready: its start was interrupted")
            if process.poll() is not None:
                raise GatewayError(
                    f"LiteLLM exited with status {process.returncode} before it was ready "
                    f"(config {config}, port {port}); last lines of {log}:\n{log_tail(log)}",
                    hint="fix what the log says (a port in use, a config LiteLLM rejects), then start again",
                )
            if readiness(host, port):
                return instance
            time.sleep(0.2)
    except BaseException:  # an interrupt (Ctrl-C, SIGTERM) while waiting: the half-started process goes too
        if process.poll() is None:
            stop_process_group(process.pid)
        raise
    stop_process_group(process.pid)
    process.poll()  # stop_process_group reaped it; let the Popen object know, so it is not "still running"
    raise GatewayError(
        f"LiteLLM did not become ready within {ready_timeout:.0f} s on port {port}; "
        f"last lines of {log}:\n{log_tail(log)}",
        hint="the machine may be overloaded (wait longer with --ready-timeout SECONDS), "
        "or the config makes LiteLLM hang at start",
    )
