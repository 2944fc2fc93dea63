"""The units of ``aibackend deploy systemd`` run by a real systemd: start, a zero-loss reload under load, stop.

This machine has no systemd as PID 1, so the test starts a systemd *user manager* of its own: in a
private mount namespace (``unshare --mount``) whose /run is a fresh tmpfs holding
/run/systemd/system (systemd's "booted with systemd" mark), with HOME, XDG_CONFIG_HOME and
XDG_RUNTIME_DIR in the test's temp dir, so nothing of the machine's is touched. ``systemctl --user``
reaches it through $XDG_RUNTIME_DIR/systemd/private. The units are installed as the deploy command
tells an operator to (copied into ~/.config/systemd/user), with their hardening drop-ins.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from aibackend.gateway.runtime import processes_named_in
from contracts.simulators import RunningSimulator
from tests.integration.steady_load import SteadyLoad
from tests.plugins.gateway import aibackend, generate, new_master_key, write_sources
from tests.plugins.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.requires_litellm, pytest.mark.timeout(900)]

MANAGER = (
    "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && "
    "exec /lib/systemd/systemd --user --log-target=console --log-level=warning"
)


class UserManager:
    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.runtime = root / "runtime"
        self.units = self.home / ".config" / "systemd" / "user"
        self.units.mkdir(parents=True)
        self.runtime.mkdir(mode=0o700)
        self.env = {**os.environ, "HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
                    "XDG_RUNTIME_DIR": str(self.runtime), "SYSTEMD_LOG_COLOR": "0"}
        self.log = root / "manager.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", MANAGER],
                                            env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.systemctl("show", "-p", "Version", check=False).returncode == 0:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"systemd --user did not come up: {self.log.read_text(errors='replace')[-2000:]}")

    def systemctl(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["systemctl", "--user", *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            journal = subprocess.run(["journalctl", "--user", "--no-pager", "-n", "60"], env=self.env,
                                     capture_output=True, text=True, check=False)
            pytest.fail(f"systemctl --user {' '.join(args)}: {result.returncode}\n{result.stdout}{result.stderr}\n"
                        f"status: {self.systemctl('status', '--no-pager', '-l', args[-1], check=False).stdout}\n"
                        f"{journal.stdout}{self.log.read_text(errors='replace')[-3000:]}")
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[UserManager]:
    if shutil.which("unshare") is None or not Path("/lib/systemd/systemd").exists():
        pytest.fail("needs util-linux unshare and systemd (installed by scripts/setup.d/30-prometheus.sh)")
    running = UserManager(tmp_path / "systemd")
    try:
        yield running
    finally:
        running.stop()


def test_the_gateway_unit_starts_reloads_without_loss_and_stops_everything(
        manager: UserManager, simulator_factory: Callable[..., RunningSimulator],
        redis_server: RedisServer, tmp_path: Path) -> None:
    sim = simulator_factory("vllm", models=["m-chat"], ttft_ms=2, tpot_ms=1, output_tokens=4, slots=256)
    env_file = tmp_path / "gateway.env"
    key = new_master_key()
    env_file.write_text(f"LITELLM_MASTER_KEY={key}\n")
    env_file.chmod(0o600)
    config_dir = tmp_path / "config"

    def sources(extra: bool) -> None:
        exact = {"chat": {"provider": "p", "backend_model": "m-chat"}}
        if extra:
            exact["chat-v2"] = {"provider": "p", "backend_model": "m-chat"}
        write_sources(config_dir, providers={"p": {"type": "vllm", "base_url": sim.url, "status": "active",
                                                   "models": ["m-chat"]}},
                      mappings={"exact_matches": exact},
                      gateway={"server": {"replicas": 2, **({"port": port} if extra else {})},
                               "cache": {"enabled": True, "host": "127.0.0.1", "port": redis_server.port,
                                         "password_env": None},
                               "deploy": {"environment_file": str(env_file)}})

    port = 0
    sources(extra=False)
    import yaml

    port = int(yaml.safe_load((config_dir / "gateway.yaml").read_text())["server"]["port"])
    generate(config_dir)
    out = tmp_path / "units"
    written = aibackend("deploy", "systemd", "--config-dir", str(config_dir), "--output-dir", str(out))
    assert written.returncode == 0, written.stderr
    for path in out.iterdir():
        if path.name.startswith("aibackend-gateway.service"):
            (shutil.copytree if path.is_dir() else shutil.copy)(path, manager.units / path.name)
    # The one setting this container cannot grant (it remounts /proc/sys read-only, and the
    # container's /proc refuses: status=226/NAMESPACE, even for /bin/true). Everything else of the
    # hardening drop-in is in force here; test_deploy_systemd.py checks the file as written.
    security = manager.units / "aibackend-gateway.service.d" / "security.conf"
    assert security.read_text().count("ProtectKernelTunables=yes\n") == 1
    security.write_text(security.read_text().replace("ProtectKernelTunables=yes\n", ""))
    manager.systemctl("daemon-reload")
    try:
        manager.systemctl("start", "aibackend-gateway.service")
        assert manager.systemctl("is-active", "aibackend-gateway.service", check=False).stdout.strip() == "active"
        status = aibackend("gateway", "status", "--config-dir", str(config_dir))
        assert "(2 replicas, slot blue, HAProxy front)" in status.stdout, status.stdout
        main_pid = int(manager.systemctl("show", "-p", "MainPID", "--value", "aibackend-gateway.service").stdout)
        assert main_pid == int((config_dir / ".run" / "haproxy.pid").read_text())  # the front is the main process
        url = f"http://127.0.0.1:{port}"
        sources(extra=True)
        with SteadyLoad(url, key, "chat", rate=20, timeout=240) as load:
            manager.systemctl("reload", "aibackend-gateway.service")
        figures = load.result
        print(f"systemctl reload under 20 req/s: sent {figures.sent}, ok {figures.ok}, lost {figures.lost}")
        assert figures.sent >= 50 and figures.failures == [] and figures.lost == 0
        models = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
        assert "chat-v2" in {m["id"] for m in models["data"]}
        status = aibackend("gateway", "status", "--config-dir", str(config_dir))
        assert "(2 replicas, slot green, HAProxy front)" in status.stdout, status.stdout
        # Every process of the gateway is in the unit's control group.
        cgroup = manager.systemctl("show", "-p", "ControlGroup", "--value", "aibackend-gateway.service").stdout.strip()
        assert cgroup
        manager.systemctl("stop", "aibackend-gateway.service")
        assert processes_named_in(config_dir / ".run", "litellm", "haproxy") == []
        assert not (config_dir / ".run" / "gateway.json").exists()
    finally:
        manager.systemctl("stop", "aibackend-gateway.service", check=False)
        for pid in processes_named_in(config_dir / ".run", "litellm", "haproxy"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
