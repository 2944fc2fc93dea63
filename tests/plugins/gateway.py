"""Fixtures: the real LiteLLM gateway, started through ``aibackend gateway start``.

    def test_x(gateway_factory, tmp_path):
        config_dir = write_sources(tmp_path / "cfg", providers=..., mappings=..., gateway=...)
        gw = gateway_factory(config_dir)           # generate + start, waits for readiness
        response = gw.chat("llama3.1:latest")      # httpx.Response, key sent
        gw.api_base(response)                      # which deployment answered

``gateway_factory`` is function-scoped, ``module_gateway_factory`` module-scoped (LiteLLM takes
6-25 s to start: share one per module and put the module's tests in one ``xdist_group``). Each
gateway gets its own strong master key (``sk-`` + 48 hex), passed through the environment only,
and a free public port written into its gateway.yaml by ``write_sources``. Teardown runs
``aibackend gateway stop`` and then kills whatever the state file still names.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from generator.net import free_port

__all__ = ["RunningGateway", "aibackend", "generate", "write_sources"]

AIBACKEND = str(Path(sys.executable).parent / "aibackend")


def new_master_key() -> str:
    return "sk-" + secrets.token_hex(24)


def aibackend(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess (as an operator would) and capture its output."""
    return subprocess.run(
        [AIBACKEND, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def write_sources(
    directory: Path,
    *,
    providers: dict[str, Any],
    mappings: dict[str, Any] | None = None,
    gateway: dict[str, Any] | None = None,
    port: int | None = None,
) -> Path:
    """Write the three source files; the gateway gets a free public port and no Redis by default."""
    directory.mkdir(parents=True, exist_ok=True)
    gw = json.loads(json.dumps(gateway or {}))
    server = gw.setdefault("server", {})
    server.setdefault("host", "127.0.0.1")
    server.setdefault("port", port or free_port())
    gw.setdefault("cache", {"enabled": False})
    gw.setdefault("observability", {"prometheus": False, "json_logs": False})
    (directory / "providers.yaml").write_text(yaml.safe_dump({"providers": providers}, sort_keys=False))
    (directory / "model-mappings.yaml").write_text(yaml.safe_dump(mappings or {}, sort_keys=False))
    (directory / "gateway.yaml").write_text(yaml.safe_dump(gw, sort_keys=False))
    return directory


def generate(config_dir: Path) -> str:
    """Compile ``config_dir`` and install the result as ``generate`` does; fails the test if invalid."""
    from generator import store
    from generator.pipeline import build

    result = build(config_dir)
    if not result.ok or result.text is None:
        pytest.fail("sources do not validate:\n" + "\n".join(d.format() for d in result.diagnostics))
    store.install(config_dir / "litellm-unified.yaml", result.text)
    return result.text


@dataclass
class RunningGateway:
    config_dir: Path
    key: str
    env: dict[str, str]
    host: str
    port: int
    start_output: str = ""
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60
            )
        return self._client

    def chat(self, model: str, content: str = "hello", *, timeout: float = 60, **extra: Any) -> httpx.Response:
        """One chat completion; a gateway that does not answer within ``timeout`` s fails the test."""
        body = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 8, **extra}
        try:
            return self.client.post("/v1/chat/completions", json=body, timeout=timeout)
        except httpx.TimeoutException:
            pytest.fail(f"the gateway did not answer a request for {model!r} within {timeout} s (a hang)")

    @staticmethod
    def api_base(response: httpx.Response) -> str:
        return response.headers.get("x-litellm-model-api-base", "").rstrip("/")

    @staticmethod
    def model_id(response: httpx.Response) -> str:
        return response.headers.get("x-litellm-model-id", "")

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.config_dir / ".run" / "gateway.json").read_text()))

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return aibackend(*args, "--config-dir", str(self.config_dir), env=self.env, timeout=timeout)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        state_file = self.config_dir / ".run" / "gateway.json"
        if state_file.exists():
            self.cli("gateway", "stop", timeout=60)
        _kill_leftovers(self.config_dir)


def _kill_leftovers(config_dir: Path) -> None:
    """Backstop: kill every process group the run dir still names (a test that failed midway)."""
    from aibackend.gateway.runtime import stop_process_group

    run = config_dir / ".run"
    pids: set[int] = set()
    for name in ("gateway.json", "reload.json"):
        with contextlib.suppress(OSError, ValueError):
            text = (run / name).read_text()
            data = json.loads(text)
            for key in ("active", "front", "new"):
                section = data.get(key) or (data.get("old_state") or {}).get(key)
                if isinstance(section, dict) and "pid" in section:
                    pids.add(int(section["pid"]))
                if isinstance(section, dict):
                    pids.update(int(pid) for pid in section.get("pids", []))
            for replica in data.get("replicas") or (data.get("old_state") or {}).get("replicas") or []:
                pids.add(int(replica["pid"]))
    # Also whatever still runs from this run dir but was never recorded (a start interrupted by a
    # test timeout before it wrote its state): LiteLLM snapshots and haproxy.cfg live in it.
    marker = str(run)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if marker in cmd and ("litellm" in cmd or "haproxy" in cmd) and os.getpgid(int(entry.name)) == int(entry.name):
                pids.add(int(entry.name))
    for pid in pids:
        with contextlib.suppress(OSError):
            stop_process_group(pid, timeout=5)


def _start(config_dir: Path, *, front: str, key: str | None, extra_env: dict[str, str] | None) -> RunningGateway:
    key = key or new_master_key()
    env = dict(os.environ)
    env.update(extra_env or {})
    env["LITELLM_MASTER_KEY"] = key
    if not (config_dir / "litellm-unified.yaml").exists():
        generate(config_dir)
    gateway_yaml = yaml.safe_load((config_dir / "gateway.yaml").read_text()) or {}
    server = gateway_yaml.get("server", {})
    handle = RunningGateway(
        config_dir=config_dir, key=key, env=env, host=server.get("host", "127.0.0.1"), port=int(server.get("port", 4000))
    )
    try:
        result = handle.cli("gateway", "start", "--front", front, timeout=400)
    except BaseException:  # a test timeout mid-start: leave nothing running
        _kill_leftovers(config_dir)
        raise
    if result.returncode != 0:
        _kill_leftovers(config_dir)
        pytest.fail(f"aibackend gateway start failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    handle.start_output = result.stdout
    return handle


def _factory() -> Iterator[Callable[..., RunningGateway]]:
    started: list[RunningGateway] = []

    def make(
        config_dir: Path, *, front: str = "none", key: str | None = None, env: dict[str, str] | None = None
    ) -> RunningGateway:
        gateway = _start(config_dir, front=front, key=key, extra_env=env)
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway_factory() -> Iterator[Callable[..., RunningGateway]]:
    yield from _factory()


@pytest.fixture(scope="module")
def module_gateway_factory() -> Iterator[Callable[..., RunningGateway]]:
    yield from _factory()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` work again under pytest 9 (pytest-xdist 3.8.0 is broken there).

    xdist tags each grouped test by setting ``item._nodeid = nodeid + "@group"``, but pytest 9
    derives ``nodeid`` from ``item._id``, so the tag is lost and a module's tests are spread over
    workers: each worker then starts its own gateway (6-30 s each). This sets the tag where
    pytest 9 reads it. A no-op without ``--dist loadgroup`` or once xdist fixes it.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    try:
        from _pytest.nodeid import coerce_node_id
    except ImportError:  # pytest < 9: xdist's own tagging works
        return
    for item in items:
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})
        if groups and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(groups)}")  # type: ignore[attr-defined]
