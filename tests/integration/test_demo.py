"""``aibackend demo`` end to end, as a new user runs it: the report is right, the operator's config is
untouched, the key is in no file, and everything started is stopped -- also on Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from generator.net import port_is_open
from tests.plugins.browser import screenshot
from tests.plugins.processes import signalable

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.requires_litellm, pytest.mark.timeout(600),
              pytest.mark.xdist_group("demo")]

ROOT = Path(__file__).resolve().parents[2]
AIBACKEND = str(Path(sys.executable).parent / "aibackend")
EXAMPLE = ROOT / "fixtures" / "configs" / "example"
GROUPS = ["llama-cpp-native", "llama3.1:latest", "qwen-coder-vllm", "llama-cpp-python", "code_generation",
          "general_chat"]


def _snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _ports(output: str) -> list[int]:
    """Every port the demo printed: simulators (-> URL), Redis, the gateway."""
    found = re.findall(r"-> http://127\.0\.0\.1:(\d+)", output)
    found += re.findall(r"redis-server on 127\.0\.0\.1:(\d+)", output)
    found += re.findall(r"starting LiteLLM on 127\.0\.0\.1:(\d+)", output)
    return [int(p) for p in found]


def _all_closed(ports: list[int], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(port_is_open("127.0.0.1", port) for port in ports):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def operator_config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLE, target)
    return target


def test_demo_end_to_end(operator_config: Path, tmp_path: Path) -> None:
    before = _snapshot(operator_config)
    workdir = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_MASTER_KEY"}
    started = time.monotonic()
    store = tmp_path / "results.sqlite3"
    result = subprocess.run([AIBACKEND, "demo", "--config-dir", str(operator_config), "--workdir", str(workdir),
                             "--store", str(store)], capture_output=True, text=True, env=env, timeout=560, check=False)
    elapsed = time.monotonic() - started
    print(f"demo took {elapsed:.0f} s on this machine")  # a figure, not a gate: the cores are shared
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for number, title in enumerate(["validate", "start a simulator", "generate the gateway config",
                                    "contract suite", "load test through the gateway", "summary"], start=1):
        assert f"[{number}/6] {title}" in out
    for name in ("ollama", "llama_cpp_python", "llama_cpp_native", "vllm-qwen"):
        assert re.search(rf"^      {re.escape(name)} +compliant \(\d+ checks", out, re.M), name
    # the summary table: one row per group, every request answered
    header = "MODEL GROUP       REQUESTS  TTFT p50 ms  TTFT p99 ms  TPOT p50 ms  TOKENS/S  ERRORS"
    assert header in out
    table = out.split(header, 1)[1].splitlines()[1:len(GROUPS) + 1]
    assert [row.split()[0] for row in table] == GROUPS
    for group, row in zip(GROUPS, table, strict=True):
        cells = row.split()
        assert int(cells[1]) > 0 and cells[-1] == "0", row
        report = json.loads(next((workdir / "reports").glob(f"*-{re.sub(r'[^A-Za-z0-9.-]', '_', group)}.json"))
                            .read_text())
        assert report["run"]["model"] == group
        assert report["completed"] == int(cells[1]) and report["failed"] == 0
        assert float(cells[2]) == pytest.approx(report["median_ttft_ms"], abs=0.051)
        assert float(cells[3]) == pytest.approx(report["p99_ttft_ms"], abs=0.051)
    index = workdir / "reports" / "index.html"
    assert f"HTML report: {index}" in out
    html = index.read_text()
    assert all(f">{group}</a>" in html for group in GROUPS)
    assert all((workdir / "reports" / name).exists() for name in re.findall(r'href="([^"]+)"', html))
    # every group's load test is in the results store, filed under one target across demos
    assert (f"these load tests are recorded in {store}; see them (and earlier demos' as a trend) with:\n"
            f"  aibackend dashboard --store {store} --config-dir {operator_config.resolve()}\n") in out
    listed = json.loads(subprocess.run([AIBACKEND, "runs", "list", "--json", "--store", str(store)],
                                       capture_output=True, text=True, check=True).stdout)["runs"]
    assert sorted(run["model"] for run in listed) == sorted(GROUPS)
    assert {(run["kind"], run["target"], run["failed"]) for run in listed} == {("loadtest", "demo-gateway", 0)}
    # the operator's config: byte for byte unchanged, nothing written into it
    assert _snapshot(operator_config) == before
    # the generated key reached no file
    key = re.compile(rb"sk-demo-[0-9a-f]{48}")
    assert [p for p in workdir.rglob("*") if p.is_file() and key.search(p.read_bytes())] == []
    # everything stopped
    assert "stopping everything the demo started" in out
    ports = _ports(out)
    assert len(ports) == 4 + 1 + 1
    assert _all_closed(ports)


def _start_demo(operator_config: Path, workdir: Path, *extra: str) -> subprocess.Popen[str]:
    """The demo in its own session, with Ctrl-C/SIGTERM at their defaults whatever this run ignores."""
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_MASTER_KEY"}
    return subprocess.Popen(signalable([AIBACKEND, "demo", *extra, "--config-dir", str(operator_config),
                                        "--workdir", str(workdir)]),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def _read_until(process: subprocess.Popen[str], prefix: str) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith(prefix):
            return lines
    pytest.fail(f"the demo ended before printing {prefix!r}:\n{''.join(lines)}")


def _leftovers(workdir: Path) -> str:
    found = subprocess.run(["pgrep", "-af", str(workdir)], capture_output=True, text=True, check=False)
    return found.stdout.strip()


def test_ctrl_c_stops_everything(operator_config: Path, tmp_path: Path) -> None:
    with _start_demo(operator_config, tmp_path / "demo") as process:
        try:
            lines = _read_until(process, "[4/6]")  # simulators, Redis and the booting gateway are all up now
            time.sleep(2)
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
            rest, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = "".join(lines) + rest
    assert process.returncode == 130, output
    assert "stopping everything the demo started" in output
    assert "stopped 4 simulator(s)" in output and "stopped redis-server" in output
    ports = _ports(output)
    assert len(ports) == 6
    assert _all_closed(ports), output
    assert _leftovers(tmp_path / "demo") == "", "processes left running"


def _commands(pids: list[int]) -> str:
    return "\n".join(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                     for pid in pids if Path(f"/proc/{pid}/cmdline").exists())


def test_sigkill_of_the_demo_leaves_nothing_running(operator_config: Path, tmp_path: Path) -> None:
    # The OOM killer or a runner's hard timeout: no `finally` runs in the demo. Its warden stops it all.
    from generator import lifeline

    workdir = tmp_path / "demo"
    with _start_demo(operator_config, workdir) as process:
        try:
            lines = _read_until(process, "      gateway ready at")  # LiteLLM, Redis, 4 simulators running
            ports = _ports("".join(lines))
            assert len(ports) == 6 and all(port_is_open("127.0.0.1", port) for port in ports)
            token = lifeline.token_for("demo", process.pid)
            running = _commands(lifeline.carriers(token))
            assert running.count("contracts.simulators") == 4, running
            assert "litellm --config" in running and "redis-server" in running, running
            os.kill(process.pid, signal.SIGKILL)  # the demo alone, not its group
            process.wait(timeout=10)
            killed = time.monotonic()
            while time.monotonic() < killed + 30 and (lifeline.carriers(token) or any(
                    port_is_open("127.0.0.1", port) for port in ports)):
                time.sleep(0.5)
            print(f"everything stopped {time.monotonic() - killed:.1f} s after the SIGKILL")
            assert _commands(lifeline.carriers(token)) == "", "processes left running 30 s after the SIGKILL"
            assert not any(port_is_open("127.0.0.1", port) for port in ports)
            assert _leftovers(workdir) == ""
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_keep_running_prints_how_to_reach_the_stack_and_it_answers(operator_config: Path, tmp_path: Path,
                                                                   browser: Any) -> None:
    """Two demos: the second keeps running and serves the dashboard, whose /trends shows both as trends."""
    import httpx

    env = {k: v for k, v in os.environ.items() if k != "LITELLM_MASTER_KEY"}
    store = tmp_path / "results.sqlite3"
    first = subprocess.run([AIBACKEND, "demo", "--duration", "3", "--users", "1", "--config-dir", str(operator_config),
                            "--workdir", str(tmp_path / "first"), "--store", str(store)],
                           capture_output=True, text=True, env=env, timeout=560, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    with _start_demo(operator_config, tmp_path / "demo", "--keep-running", "--duration", "3", "--users", "1",
                     "--store", str(store)) as process:
        try:
            lines = _read_until(process, "press Ctrl-C to stop everything")
            output = "".join(lines)
            url = re.search(r"the stack is up\. Gateway: (http://127\.0\.0\.1:\d+)\n", output)
            key = re.search(r"^  export LITELLM_MASTER_KEY=(sk-demo-[0-9a-f]{48})$", output, re.M)
            assert url and key, output
            assert f"curl -s {url[1]}/v1/chat/completions -H \"Authorization: Bearer $LITELLM_MASTER_KEY\"" in output
            assert f"-m locust -f {ROOT / 'loadtests' / 'locustfile.py'} --host {url[1]}" in output
            # the printed instructions work: the printed key reaches a backend through the printed URL
            answer = httpx.post(f"{url[1]}/v1/chat/completions", timeout=60,
                                headers={"Authorization": f"Bearer {key[1]}"},
                                json={"model": "llama3.1:latest", "messages": [{"role": "user", "content": "hi"}],
                                      "max_tokens": 4})
            assert answer.status_code == 200 and answer.headers["x-litellm-model-group"] == "llama3.1:latest"
            # the dashboard it serves: the two demos' load tests, one trend per model group
            dashboard = re.search(r"^  dashboard \(this stack, and every recorded run\): (http://127\.0\.0\.1:\d+/) ",
                                  output, re.M)
            assert dashboard, output
            dashboard_port = int(dashboard[1].rstrip("/").rsplit(":", 1)[1])
            page = browser.new_page()
            page.goto(f"{dashboard[1]}trends")
            page.wait_for_selector("section.trend .chart[data-ready=true] canvas")
            headings = sorted(h.inner_text() for h in page.locator("section.trend h2").all())
            listed = subprocess.run([AIBACKEND, "runs", "list", "--store", str(store)], capture_output=True, text=True)
            assert headings == sorted(f"demo-gateway · {group} (2 runs)" for group in GROUPS), \
                listed.stdout + listed.stderr + first.stdout[-2000:] + output
            screenshot(page, "demo-trends")
            page.goto(dashboard[1])  # the overview: this stack's providers, up, and its gateway, running
            page.wait_for_selector("body[data-health=done]")
            assert {row.locator("td.health").inner_text() for row in page.locator("#providers tbody tr").all()
                    if row.locator("td").nth(2).inner_text() == "active"} == {"up"}
            assert page.locator("#gateway-state").inner_text() == "running, ready"
            screenshot(page, "demo-overview")
            page.close()
            # SIGTERM (`kill PID`, a service manager) ends the demo as Ctrl-C does: everything stopped, 130.
            os.kill(process.pid, signal.SIGTERM)
            rest, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:  # a failed assertion above: stop the stack the demo's way first
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(120)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    output = "".join(lines) + rest
    assert process.returncode == 130, output
    assert "stopping everything the demo started" in output and "stopped 4 simulator(s)" in output
    assert _all_closed([*_ports(output), dashboard_port])
    assert _leftovers(tmp_path / "demo") == ""
    assert [p for p in (tmp_path / "demo").rglob("*") if p.is_file() and key[1].encode() in p.read_bytes()] == []
