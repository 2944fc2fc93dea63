"""The port registry: entries from the sources, /proc parsing, conflicts and taken ports (a fake /proc)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aibackend.commands._operator import read_sources
from aibackend.ops.ports import (
    Listener,
    PortEntry,
    find_listeners,
    parse_proc_net_tcp,
    port_entries,
    registry_report,
)

pytestmark = [pytest.mark.unit]

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17454 1 0000 100 0 0 10 0
   1: 00000000:2CAA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17455 1 0000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 17456 1 0000 100 0 0 10 0
   3: garbage
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0FA0 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20001 1 0000 100 0 0 10 0
   1: 00000000000000000000000000000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20002 1 0000 100 0 0 10 0
"""


def test_parse_proc_net_tcp_keeps_listen_sockets_only() -> None:
    assert parse_proc_net_tcp(TCP) == [Listener("127.0.0.1", 8080, 17454), Listener("0.0.0.0", 11434, 17455)]
    assert parse_proc_net_tcp(TCP6) == [Listener("::1", 4000, 20001), Listener("::", 6379, 20002)]


def _fake_proc(root: Path) -> Path:
    (root / "net").mkdir(parents=True)
    (root / "net" / "tcp").write_text(TCP)
    (root / "net" / "tcp6").write_text(TCP6)
    processes = {
        101: ("llama-server", "llama-server\x00-m\x00model.gguf\x00--port\x008080", 17454),
        202: ("python3", "python3\x00-m\x00http.server\x0011434", 17455),
        303: ("litellm", "/venv/bin/python\x00/venv/bin/litellm\x00--port\x004000", 20001),
    }
    for pid, (comm, cmdline, inode) in processes.items():
        fd = root / str(pid) / "fd"
        fd.mkdir(parents=True)
        (root / str(pid) / "comm").write_text(comm + "\n")
        (root / str(pid) / "cmdline").write_text(cmdline + "\0")
        os.symlink(f"socket:[{inode}]", fd / "3")
        os.symlink("/dev/null", fd / "0")
    (root / "self").mkdir()  # not a pid: ignored
    return root


def test_find_listeners_names_the_owning_process(tmp_path: Path) -> None:
    listeners = find_listeners(_fake_proc(tmp_path / "proc"))
    assert listeners[8080] == [Listener("127.0.0.1", 8080, 17454, 101, "llama-server",
                                        "llama-server -m model.gguf --port 8080")]
    assert listeners[11434][0].describe() == "python3 (pid 202)"
    assert listeners[6379] == [Listener("::", 6379, 20002)]  # no readable owner
    assert listeners[6379][0].describe() == "an unidentified process (its owner is not readable)"


def test_entries_from_the_example_config(config_dir: Path) -> None:
    entries = port_entries(read_sources(config_dir))
    assert [(e.name, e.role, e.kind, e.host, e.port, e.active) for e in entries] == [
        ("ollama", "provider", "ollama", "127.0.0.1", 11434, True),
        ("llama_cpp_python", "provider", "llama_cpp_python", "127.0.0.1", 8000, True),
        ("llama_cpp_native", "provider", "llama_cpp", "127.0.0.1", 8080, True),
        ("vllm-qwen", "provider", "vllm", "127.0.0.1", 8001, True),
        ("vllm-dolphin", "provider", "vllm", "127.0.0.1", 8002, False),
        ("ollama_cloud", "provider", "ollama", "ollama.com", 443, False),
        ("openai", "provider", "openai", "api.openai.com", 443, False),
        ("gateway", "gateway", "gateway", "127.0.0.1", 4000, True),
        ("redis", "cache", "redis", "127.0.0.1", 6379, True),
        ("prometheus", "metrics", "prometheus", "127.0.0.1", 9090, True),
        ("redis-exporter", "metrics", "redis_exporter", "127.0.0.1", 9121, True),
    ]


def test_taken_ports_name_the_process_and_expected_owners_pass(config_dir: Path, tmp_path: Path) -> None:
    entries = port_entries(read_sources(config_dir))
    report = registry_report(entries, find_listeners(_fake_proc(tmp_path / "proc")))
    assert report.conflicts == []
    assert report.taken == [
        "port 11434 of ollama (providers.yaml providers.ollama.base_url) is taken by python3 (pid 202): "
        "`python3 -m http.server 11434`"
    ]
    assert report.holders == {
        "ollama": "python3 (pid 202)",
        "llama_cpp_native": "llama-server (pid 101)",  # what it expects: no problem
        "gateway": "litellm (pid 303)",  # on ::1, the loopback the gateway's 127.0.0.1 entry means
        "redis": "an unidentified process (its owner is not readable)",  # not guessed: no problem
    }
    assert not report.ok
    assert report.to_json()["entries"][2]["listening"] == "llama-server (pid 101)"


def test_two_active_entries_on_one_port_conflict_inactive_ones_do_not() -> None:
    entries = [
        PortEntry("a", "provider", "vllm", "127.0.0.1", 8000, True, "providers.yaml providers.a.base_url"),
        PortEntry("b", "provider", "llama_cpp_python", "localhost", 8000, True, "providers.yaml providers.b.base_url"),
        PortEntry("c", "provider", "vllm", "127.0.0.1", 8000, False, "providers.yaml providers.c.base_url"),
        PortEntry("remote", "provider", "openai", "api.example.com", 8000, True, "providers.yaml providers.remote"),
        PortEntry("gateway", "gateway", "gateway", "0.0.0.0", 8000, True, "gateway.yaml server.port"),
    ]
    report = registry_report(entries, {})
    assert report.conflicts == [
        "a and b both use 127.0.0.1:8000 (providers.yaml providers.a.base_url; providers.yaml providers.b.base_url)",
        "a and gateway both use 127.0.0.1:8000 (providers.yaml providers.a.base_url; gateway.yaml server.port)",
        "b and gateway both use localhost:8000 (providers.yaml providers.b.base_url; gateway.yaml server.port)",
    ]
    assert report.taken == []


def test_a_listener_on_another_address_does_not_hold_a_loopback_entry() -> None:
    entry = PortEntry("v", "provider", "vllm", "127.0.0.1", 8000, True, "x")
    other = Listener("10.0.0.5", 8000, 1, 7, "nginx", "nginx")
    assert registry_report([entry], {8000: [other]}).taken == []
    wildcard = Listener("0.0.0.0", 8000, 1, 7, "nginx", "nginx: master process")
    assert registry_report([entry], {8000: [wildcard]}).taken == [
        "port 8000 of v (x) is taken by nginx (pid 7): `nginx: master process`"
    ]
