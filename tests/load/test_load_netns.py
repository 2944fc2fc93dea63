"""Load from several hosts: Locust's master and two workers, each in its own network namespace with
its own address, against the real gateway (HAProxy front + LiteLLM) on this machine's bridge address.

The merged report must count every request once (the simulator behind the gateway, HAProxy and the
raw records agree) with latencies computed right from both workers' raw records (each worker
measures on its own clock; nothing is compared across clocks).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts.simulators import RunningSimulator
from generator.net import free_port
from generator.stats import percentile
from loadtests.launcher import LOCUSTFILE
from loadtests.report import load_records, records_path
from tests.plugins.gateway import RunningGateway, write_sources
from tests.plugins.netns import lan

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.requires_litellm, pytest.mark.timeout(600)]

REQUESTS = 60
TTFT_MS = 40


def _locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--skip-log-setup", *args]


def test_master_and_two_workers_on_separate_hosts_count_every_request_once(
        simulator_factory: Callable[..., RunningSimulator], gateway_factory: Callable[..., RunningGateway],
        tmp_path: Path) -> None:
    sim = simulator_factory("vllm", models=["m-chat"], ttft_ms=TTFT_MS, tpot_ms=5, output_tokens=8, slots=64)
    report = tmp_path / "netns.json"
    with lan(3) as net:
        master, *workers = net.hosts
        config_dir = write_sources(
            tmp_path / "config",
            providers={"p": {"type": "vllm", "base_url": sim.url, "status": "active", "models": ["m-chat"]}},
            mappings={"exact_matches": {"chat": {"provider": "p", "backend_model": "m-chat"}}},
            gateway={"server": {"host": net.gateway}},
        )
        gateway = gateway_factory(config_dir, front="haproxy")
        env = {**os.environ, "LITELLM_MASTER_KEY": gateway.key, "PYTHONUNBUFFERED": "1"}
        port = free_port()
        sent_before = [host.tcp_bytes_sent() for host in net.hosts]
        processes = [subprocess.Popen(
            master.argv(_locust("--master", "--master-bind-host", master.address, "--master-bind-port", str(port),
                                "--expect-workers", "2", "--headless", "--host", gateway.url, "-u", "4", "-r", "4",
                                "-t", "180s", "--only-summary", "--llm-model", "chat", "--llm-requests", str(REQUESTS),
                                "--llm-max-tokens", "8", "--llm-report", str(report))),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)]
        processes += [subprocess.Popen(
            worker.argv(_locust("--worker", "--master-host", master.address, "--master-port", str(port))),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
            for worker in workers]
        try:
            output, _ = processes[0].communicate(timeout=300)
            for worker in processes[1:]:
                worker.wait(timeout=60)
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        sent = [host.tcp_bytes_sent() - before for host, before in zip(net.hosts, sent_before, strict=True)]
        frontend = gateway.state()["front"]
        from aibackend.gateway.front import Front
        from aibackend.gateway.runtime import FrontState

        rows = Front(FrontState.from_json(frontend)).command("show stat -1 1 -1").splitlines()
        header = rows[0].removeprefix("# ").split(",")
        public = dict(zip(header, next(r for r in rows if r.startswith("public,FRONTEND")).split(","), strict=False))
        gateway.stop()
    assert processes[0].returncode == 0, output
    data = json.loads(report.read_text())
    records = load_records(records_path(report))
    # Every request once: the workers' records, the report, the backend and the front agree.
    assert len(records) == REQUESTS and len({r.request_id for r in records}) == REQUESTS
    assert data["completed"] == REQUESTS and data["failed"] == 0
    assert sim.stats()["requests"]["POST /v1/chat/completions"] == REQUESTS
    assert int(public["req_tot"]) == REQUESTS  # HTTP requests the public port received
    assert sorted({r.worker for r in records}) == [0, 1]
    assert sorted(sum(1 for r in records if r.worker == w) for w in (0, 1)) == [REQUESTS // 2] * 2
    # Each worker's traffic left through its own namespace's interface (its own address).
    assert all(count > 10_000 for count in sent[1:]), sent
    # Latencies: the report's figures are exactly those of the merged raw records, and each one is a
    # real duration on one worker's clock (never under the backend's own time to first token).
    ttft = sorted((r.first_token_ns - r.sent_ns) / 1e6 for r in records if r.first_token_ns is not None)
    for w in (0, 1):
        mine = sorted((r.first_token_ns - r.sent_ns) / 1e6 for r in records if r.worker == w and r.first_token_ns)
        print(f"worker {w}: median TTFT {percentile(mine, 50):.1f} ms over {len(mine)}")
    print(f"merged records: median TTFT {percentile(ttft, 50):.1f} ms, report {data['median_ttft_ms']:.1f} ms")
    assert len(ttft) == REQUESTS and ttft[0] >= TTFT_MS
    assert data["median_ttft_ms"] == pytest.approx(percentile(ttft, 50), abs=1e-6)
    assert data["p99_ttft_ms"] == pytest.approx(percentile(ttft, 99), abs=1e-6)
    # e2el ends at the last token (load-metrics.md), not when the connection's last byte came.
    e2el = sorted((r.last_token_ns - r.sent_ns) / 1e6 for r in records if r.last_token_ns is not None)
    assert data["median_e2el_ms"] == pytest.approx(percentile(e2el, 50), abs=1e-6)
