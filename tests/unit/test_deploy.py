"""Unit tests of the systemd units and redis.conf generators (systemd-analyze and a real
redis-server check them in tests/integration/test_deploy_systemd.py and test_redis_persistence.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from aibackend.commands import deploy as deploy_command
from aibackend.deploy.redis_conf import render_redis_conf
from aibackend.deploy.systemd import HEADER, render_units
from generator.gateway_sections import DeploySettings, ObservabilityConfig, ServiceResources
from generator.load import Sources, load_sources

pytestmark = [pytest.mark.unit]

PROVIDERS = """
providers:
  remote-vllm:
    type: vllm
    base_url: http://10.1.2.3:8000
    models: [big]
  local-cpp:
    type: llama_cpp
    base_url: http://127.0.0.1:8080
    models: [small]
  cloud:
    type: openai
    base_url: https://api.example.com/v1
    api_key_env: CLOUD_KEY
    models: [gpt]
"""
MAPPINGS = "exact_matches:\n  big: {provider: remote-vllm, backend_model: big}\n"
GATEWAY = """
server: {host: 127.0.0.1, port: 4555, workers: 2, master_key_env: GW_KEY}
cache: {enabled: true, type: redis, host: 127.0.0.1, port: 6380, password_env: CACHE_PW}
"""


def _sources(make_config: object, gateway: str = GATEWAY) -> Sources:
    loaded = load_sources(make_config(providers=PROVIDERS, mappings=MAPPINGS, gateway=gateway))  # type: ignore[operator]
    assert loaded.sources is not None, loaded.diagnostics
    return loaded.sources


SETTINGS = ObservabilityConfig(deploy=DeploySettings(
    unit_prefix="llm", environment_file="/etc/llm/gw.env", ip_allow=["203.0.113.0/24"],
    gateway=ServiceResources(memory_max="2G", memory_high="1536M", cpu_quota="150%", tasks_max=256),
))


def test_gateway_security_drop_in(make_config: object, tmp_path: Path) -> None:
    units = render_units(_sources(make_config), redis_conf=tmp_path / "redis.conf", settings=SETTINGS).files()
    assert units["llm-gateway.service.d/security.conf"] == HEADER + (
        "[Service]\n"
        "ProtectSystem=strict\n"
        "ProtectHome=read-only\n"
        # The fixture's config dir is under /tmp: a private /tmp would hide it from the gateway.
        "# No PrivateTmp=: the config directory is under /tmp.\n"
        "PrivateTmp=no\n"
        "NoNewPrivileges=yes\n"
        "PrivateDevices=yes\n"
        "SystemCallArchitectures=native\n"
        "SystemCallFilter=@system-service\n"
        "SystemCallFilter=~@privileged @resources\n"
        "SystemCallErrorNumber=EPERM\n"
        "CapabilityBoundingSet=\n"
        "RestrictSUIDSGID=yes\n"
        "LockPersonality=yes\n"
        "RestrictRealtime=yes\n"
        "ProtectKernelTunables=yes\n"
        "ProtectKernelModules=yes\n"
        "ProtectControlGroups=yes\n"
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"
        "UMask=0077\n"
        "# Only where the service must connect or be connected from (systemd takes addresses, not names).\n"
        "IPAddressDeny=any\n"
        "IPAddressAllow=localhost 10.1.2.3 203.0.113.0/24\n"
    )
    assert units["llm-gateway.service.d/resources.conf"] == HEADER + (
        "[Service]\nMemoryHigh=1536M\nMemoryMax=2G\nCPUQuota=150%\nTasksMax=256\n"
    )


def test_gateway_unit_runs_the_front_and_replicas_and_reloads_without_loss(make_config: object,
                                                                          tmp_path: Path) -> None:
    sources = _sources(make_config)
    unit = render_units(sources, redis_conf=tmp_path / "redis.conf", settings=SETTINGS).files()["llm-gateway.service"]
    config_dir = Path(sources.config_dir).resolve()
    aibackend = Path(sys.executable).parent / "aibackend"
    lines = unit.splitlines()
    # The same commands as by hand: start (front + replicas), the zero-loss reload, stop.
    assert [line for line in lines if line.startswith(("Type=", "PIDFile=", "ExecStart=", "ExecReload=", "ExecStop=",
                                                          "ReadWritePaths=", "KillMode="))] == [
        "Type=forking",
        f"PIDFile={config_dir / '.run' / 'haproxy.pid'}",
        f"ExecStart={aibackend} gateway start --front haproxy --config-dir {config_dir}",
        f"ExecReload={aibackend} reload --config-dir {config_dir}",
        f"ExecStop={aibackend} gateway stop --config-dir {config_dir}",
        f"ReadWritePaths={config_dir}",
        "KillMode=control-group",
    ]
    assert "EnvironmentFile=/etc/llm/gw.env" in lines
    # Idle upstream connections closed before the providers' own 5 s limit (gateway_process.py).
    assert "Environment=LITELLM_LOCAL_MODEL_COST_MAP=True PYTHONUNBUFFERED=1 AIOHTTP_KEEPALIVE_TIMEOUT=4" in lines
    assert ("ExecStartPre=/bin/sh -c 'case \"$${GW_KEY}\" in sk-?????????????????*) ;; *) echo \"GW_KEY is missing "
            "or weak (want sk- and at least 20 characters) in the EnvironmentFile\" >&2; exit 1;; esac'") in lines
    ordering = [line for line in lines if line.startswith(("After", "Wants"))]
    assert ordering == ["After=llm-redis.service", "Wants=llm-redis.service"]


def test_private_tmp_only_where_it_does_not_hide_the_config_dir() -> None:
    from aibackend.deploy.systemd import _private_tmp_hides

    assert [_private_tmp_hides(Path(p)) for p in ("/srv/llm/config", "/home/op/config", "/tmp/config",
                                                  "/var/tmp/x/config", "/tmpfoo/config")] == [
        False, False, True, True, False]


def test_a_provider_host_name_without_ip_allow_is_a_warning(make_config: object, tmp_path: Path) -> None:
    # With deploy.ip_allow given, the operator has taken charge of the names: no warning.
    assert render_units(_sources(make_config), redis_conf=tmp_path / "redis.conf", settings=SETTINGS).warnings == []
    providers = PROVIDERS.replace("http://10.1.2.3:8000", "http://gpu-box.lan:8000")
    loaded = load_sources(make_config(providers=providers, mappings=MAPPINGS, gateway=GATEWAY))  # type: ignore[operator]
    assert loaded.sources is not None
    result = render_units(loaded.sources, redis_conf=tmp_path / "redis.conf")
    assert result.warnings == [
        "remote-vllm: host 'gpu-box.lan' is a name, and IPAddressAllow= takes addresses: the gateway cannot "
        "reach it until you list its addresses in gateway.yaml deploy.ip_allow (or `any`)",
        "cloud: host 'api.example.com' is a name, and IPAddressAllow= takes addresses: the gateway cannot "
        "reach it until you list its addresses in gateway.yaml deploy.ip_allow (or `any`)",
    ]


def test_simulators_only_for_local_providers_and_without_private_devices(make_config: object, tmp_path: Path) -> None:
    files = render_units(_sources(make_config), redis_conf=tmp_path / "redis.conf", with_simulators=True).files()
    assert sorted(name for name in files if name.endswith(".service")) == [
        "aibackend-gateway.service", "aibackend-redis.service", "aibackend-sim-local-cpp.service",
    ]
    sim = files["aibackend-sim-local-cpp.service"]
    assert f"ExecStart={Path(sys.executable).parent / 'aibackend'} simulate llama_cpp --host 127.0.0.1 --port 8080 " \
           "--model small" in sim.splitlines()
    security = files["aibackend-sim-local-cpp.service.d/security.conf"]
    assert "PrivateDevices=no\n" in security and "PrivateDevices=yes" not in security
    assert files["aibackend-sim-local-cpp.service.d/resources.conf"].endswith(
        "MemoryHigh=384M\nMemoryMax=512M\nCPUQuota=50%\nTasksMax=64\n"
    )


def test_redis_unit_passes_the_password_through_its_runtime_directory(make_config: object, tmp_path: Path) -> None:
    unit = render_units(_sources(make_config), redis_conf=tmp_path / "redis.conf").files()["aibackend-redis.service"]
    lines = unit.splitlines()
    assert f"ExecStart=/usr/bin/redis-server {tmp_path / 'redis.conf'} --include %t/aibackend-redis/auth.conf" in lines
    assert "RuntimeDirectoryMode=0700" in lines and "StateDirectory=aibackend/redis" in lines
    assert "WorkingDirectory=%S/aibackend/redis" in lines


def test_no_redis_unit_without_a_local_redis_cache(make_config: object, tmp_path: Path) -> None:
    for gateway in ("cache: {enabled: false}\n", "cache: {enabled: true, type: redis, host: 10.0.0.9}\n"):
        files = render_units(_sources(make_config, gateway), redis_conf=tmp_path / "r.conf").files()
        assert sorted(name for name in files if name.endswith(".service")) == ["aibackend-gateway.service"]


def _directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_redis_conf_persists_with_rdb_and_aof(make_config: object) -> None:
    assert _directives(render_redis_conf(_sources(make_config))) == [
        "bind 127.0.0.1 -::1", "protected-mode yes", "port 6380", "daemonize no", "supervised no",
        "loglevel notice", 'logfile ""', "dir ./",
        "save 3600 1 300 100 60 10000", "dbfilename dump.rdb", "rdbcompression yes", "rdbchecksum yes",
        "stop-writes-on-bgsave-error yes",
        "appendonly yes", 'appendfilename "appendonly.aof"', 'appenddirname "appendonlydir"', "appendfsync everysec",
        "no-appendfsync-on-rewrite no", "aof-use-rdb-preamble yes", "aof-load-truncated yes",
        "auto-aof-rewrite-percentage 100", "auto-aof-rewrite-min-size 64mb",
        "maxmemory 512mb", "maxmemory-policy volatile-lru",
    ]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="aibackend deploy")
    parser.add_argument("--config-dir", type=Path, default=Path("config"))
    deploy_command.add_arguments(parser)
    return deploy_command.run(parser.parse_args(argv))


def test_deploy_commands_write_their_files(config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["redis", "--config-dir", str(config_dir), "--output-dir", str(tmp_path / "r")]) == 0
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["redis.conf"]
    assert _run(["systemd", "--config-dir", str(config_dir)]) == 0
    written = sorted(str(p.relative_to(config_dir / "systemd")) for p in (config_dir / "systemd").rglob("*")
                     if p.is_file())
    assert written == [
        "aibackend-gateway.service", "aibackend-gateway.service.d/resources.conf",
        "aibackend-gateway.service.d/security.conf", "aibackend-redis.service",
        "aibackend-redis.service.d/resources.conf", "aibackend-redis.service.d/security.conf", "redis.conf",
    ]
    out = capsys.readouterr().out
    assert f"wrote 7 files to {config_dir / 'systemd'}:" in out.splitlines()


def test_a_gateway_serving_other_hosts_warns_about_the_ip_allow_list(make_config: object, tmp_path: Path) -> None:
    gateway = "server: {host: 0.0.0.0}\ncache: {enabled: false}\n"
    providers = "providers:\n  p: {type: vllm, base_url: 'http://127.0.0.1:8000', models: [big]}\n"
    loaded = load_sources(make_config(providers=providers, mappings="exact_matches:\n  big: {provider: p, backend_model: big}\n",  # type: ignore[operator]
                                      gateway=gateway))
    assert loaded.sources is not None, loaded.diagnostics
    assert render_units(loaded.sources, redis_conf=tmp_path / "r.conf").warnings == [
        "server.host is '0.0.0.0': clients on other hosts are refused by IPAddressDeny=any until you list their "
        "addresses in gateway.yaml deploy.ip_allow"
    ]


def test_members_of_an_exclusive_group_get_conflicting_units_and_only_the_active_one_is_enabled(
    config_dir: Path, tmp_path: Path
) -> None:
    loaded = load_sources(config_dir)  # the example: vllm-qwen active, vllm-dolphin disabled, both in gpu0
    assert loaded.sources is not None
    files = render_units(loaded.sources, redis_conf=tmp_path / "redis.conf", with_simulators=True).files()
    qwen, dolphin = files["aibackend-sim-vllm-qwen.service"], files["aibackend-sim-vllm-dolphin.service"]
    assert "Conflicts=aibackend-sim-vllm-dolphin.service\n" in qwen and qwen.endswith(
        "\n[Install]\nWantedBy=default.target\n")
    assert "Conflicts=aibackend-sim-vllm-qwen.service\n" in dolphin and "[Install]" not in dolphin
    assert "Conflicts=" not in files["aibackend-sim-ollama.service"]
