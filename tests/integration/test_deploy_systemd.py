"""The generated systemd units, checked by systemd's own tools, and their start guards run for real.

What can be verified in this container (no systemd as PID 1, no user manager):
- ``systemd-analyze verify --user`` loads each unit WITH its drop-ins (from ``NAME.service.d/``
  beside it) and reports unknown keys, bad values and non-executable ExecStart paths; it needs
  ``XDG_RUNTIME_DIR`` (a private temp dir here) and exits 0 even for "Unknown key" warnings, so the
  tests require its output to be empty.
- ``systemd-analyze security --offline=yes --user --json=short`` reports, per hardening setting,
  whether the loaded unit (drop-ins applied) sets it.
- The ExecStartPre guards are plain ``sh -c`` scripts: run here with systemd's ``$$`` and ``%t``
  substitutions applied, they refuse a missing or weak key and write Redis's password file 0600.
What cannot: starting the units (seccomp, namespaces, cgroup limits at run time need a running
systemd; IPAddressDeny= needs a privileged manager).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from aibackend.deploy.redis_conf import REDIS_CONF, render_redis_conf
from aibackend.deploy.systemd import render_units
from aibackend.observability.files import write_files
from generator.load import load_sources

pytestmark = [pytest.mark.integration]


def _analyze(*args: str, cwd: Path, runtime: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.fail("systemd-analyze is not installed: run scripts/setup.sh (30-prometheus.sh installs systemd)")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_COLOR": "0"}
    return subprocess.run([binary, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    path = tmp_path / "runtime"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def units(config_dir: Path, tmp_path: Path) -> Path:
    loaded = load_sources(config_dir)
    assert loaded.sources is not None
    out = tmp_path / "systemd"
    files = {REDIS_CONF: render_redis_conf(loaded.sources)}
    files.update(render_units(loaded.sources, redis_conf=out / REDIS_CONF, with_simulators=True).files())
    write_files(out, files)
    return out


SERVICES = [
    "aibackend-gateway.service", "aibackend-redis.service", "aibackend-sim-ollama.service",
    "aibackend-sim-llama_cpp_python.service", "aibackend-sim-llama_cpp_native.service",
    "aibackend-sim-vllm-qwen.service", "aibackend-sim-vllm-dolphin.service",
]


def test_generated_units_are_the_expected_set(units: Path) -> None:
    assert sorted(p.name for p in units.glob("*.service")) == sorted(SERVICES)
    for service in SERVICES:
        assert sorted(p.name for p in (units / f"{service}.d").iterdir()) == ["resources.conf", "security.conf"]


def test_systemd_analyze_verify_is_clean(units: Path, runtime: Path) -> None:
    result = _analyze("verify", "--user", *SERVICES, cwd=units, runtime=runtime)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_systemd_analyze_verify_reads_the_drop_ins(units: Path, runtime: Path) -> None:
    # A control: a typo in a drop-in is reported, so the clean run above did read them.
    security = units / "aibackend-gateway.service.d" / "security.conf"
    security.write_text(security.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    result = _analyze("verify", "--user", "aibackend-gateway.service", cwd=units, runtime=runtime)
    assert f"{security}:3: Unknown key 'ProtectSystm' in section [Service], ignoring." in result.stderr


def _security(unit: str, units: Path, runtime: Path) -> dict[str, bool]:
    result = _analyze("security", "--offline=yes", "--user", "--json=short", unit, cwd=units, runtime=runtime)
    assert result.returncode == 0, result.stderr
    return {entry["name"]: entry["set"] for entry in json.loads(result.stdout)}


HARDENING = [
    "ProtectSystem=", "PrivateTmp=", "NoNewPrivileges=", "SystemCallFilter=~@privileged",
    "SystemCallFilter=~@resources", "CapabilityBoundingSet=~CAP_SYS_ADMIN", "CapabilityBoundingSet=~CAP_NET_ADMIN",
    "CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)", "RestrictSUIDSGID=", "UMask=",
]


def test_hardening_is_applied_to_the_gateway(units: Path, runtime: Path) -> None:
    found = _security("aibackend-gateway.service", units, runtime)
    # The fixture's config dir is under /tmp, which PrivateTmp= would hide from the gateway.
    expected = {**dict.fromkeys(HARDENING, True), "PrivateTmp=": False}
    assert {name: found[name] for name in HARDENING} == expected
    assert found["PrivateDevices="] is True
    # ProtectHome=read-only is "set" only for =yes/tmpfs; IP allow-list of localhost only is "not set".
    assert (found["ProtectHome="], found["IPAddressDeny="]) == (False, False)
    text = (units / "aibackend-gateway.service.d" / "security.conf").read_text()
    assert "ProtectHome=read-only\n" in text and "IPAddressDeny=any\nIPAddressAllow=localhost\n" in text


def test_gpu_stand_ins_keep_device_access(units: Path, runtime: Path) -> None:
    found = _security("aibackend-sim-vllm-qwen.service", units, runtime)
    assert {name: found[name] for name in HARDENING} == dict.fromkeys(HARDENING, True)
    assert found["PrivateDevices="] is False


def _exec_start_pre(unit_file: Path, runtime_root: Path) -> list[str]:
    """The unit's ExecStartPre command as argv, after systemd's own substitutions."""
    line = next(line for line in unit_file.read_text().splitlines() if line.startswith("ExecStartPre="))
    text = line.removeprefix("ExecStartPre=").replace("%t", str(runtime_root)).replace("%%", "%")
    return [part.replace("$$", "$") for part in shlex.split(text)]


@pytest.mark.parametrize(
    ("key", "ok"),
    [(None, False), ("", False), ("sk-short", False), ("not-sk-but-long-enough-key-123", False),
     ("sk-" + "a" * 17, True), ("sk-" + "0123456789abcdef" * 3, True)],
)
def test_gateway_refuses_to_start_without_a_strong_key(units: Path, key: str | None, ok: bool, tmp_path: Path) -> None:
    argv = _exec_start_pre(units / "aibackend-gateway.service", tmp_path)
    env = {"PATH": os.environ["PATH"]}
    if key is not None:
        env["LITELLM_MASTER_KEY"] = key
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=10, check=False)
    assert result.returncode == (0 if ok else 1)
    assert result.stderr == ("" if ok else "LITELLM_MASTER_KEY is missing or weak (want sk- and at least 20 "
                             "characters) in the EnvironmentFile\n")


def test_redis_password_file_is_written_private_at_start(units: Path, tmp_path: Path) -> None:
    root = tmp_path / "run"
    (root / "aibackend-redis").mkdir(parents=True, mode=0o700)
    argv = _exec_start_pre(units / "aibackend-redis.service", root)
    result = subprocess.run(argv, env={"PATH": os.environ["PATH"], "REDIS_PASSWORD": "s3cret pass"},
                            capture_output=True, text=True, timeout=10, check=False)
    assert result.returncode == 0, result.stderr
    auth = root / "aibackend-redis" / "auth.conf"
    assert auth.read_text() == "requirepass s3cret pass\n"
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600
    missing = subprocess.run(argv, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=10,
                             check=False)
    assert (missing.returncode, missing.stderr) == (1, "REDIS_PASSWORD is not set in the EnvironmentFile\n")


def test_no_secret_reaches_the_generated_files(config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-secret-master-key-0123456789")
    monkeypatch.setenv("REDIS_PASSWORD", "secret-redis-password-xyz")
    loaded = load_sources(config_dir)
    assert loaded.sources is not None
    files = render_units(loaded.sources, redis_conf=tmp_path / REDIS_CONF, with_simulators=True).files()
    files[REDIS_CONF] = render_redis_conf(loaded.sources)
    leaks = [name for name, text in files.items() if re.search("secret-(master|redis)", text)]
    assert leaks == []
