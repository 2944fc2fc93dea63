"""``aibackend switch`` through the real gateway behind HAProxy, under a steady request stream.

Two vLLM engines share one GPU (exclusive_group gpu0): simulators started and stopped by their
providers' start_command / stop_command (tests/plugins/sim_engine.py). An Ollama simulator serves
``chat``, the model that stays served through every switch; ``coder`` (vllm-qwen) and
``uncensored`` (vllm-dolphin) fall back to it.

One gateway for the module; each test leaves it serving vllm-qwen, as it found it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from contracts.simulators import RunningSimulator, SimulatorConfig, start_simulator
from generator.net import free_port, port_is_open
from tests.integration.steady_load import LoadResult, SteadyLoad
from tests.plugins.gateway import AIBACKEND, RunningGateway, write_sources
from tests.plugins.switch_engines import EngineCommands, engine_commands

pytestmark = [
    pytest.mark.rollback,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    pytest.mark.xdist_group("switch-haproxy"),
    pytest.mark.timeout(1800),
]

# 5 requests per second through the gateway, as the issue asks: most for the name that stays served.
RATES = {"chat": 3.0, "coder": 1.0, "uncensored": 1.0}
# A slow answer on a loaded 2-core machine is not a hang; the gateway's own timeouts are far shorter.
LOAD_TIMEOUT_S = 120
SWITCH_TIMEOUT_S = 900
COOLDOWN_S = 5
# "09:12:53.787 (+   0.0 s) 1 plan     group gpu0: ...": wall clock, seconds since the start, step, text.
STEP_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \(\+ *\d+\.\d s\) (.{10}) \S", re.MULTILINE)

PROVIDERS = """\
# Two vLLM models, one GPU: exactly one of them runs.
providers:
  ollama:
    type: ollama
    base_url: {ollama}
    models:
      - small:1b   # the model that stays served

  vllm-qwen:
    type: vllm
    base_url: http://127.0.0.1:{qwen_port}
    status: active
    exclusive_group: gpu0
    start_command: {qwen_start}
    stop_command: {qwen_stop}
    models:
      - qwen-m

  vllm-dolphin:
    type: vllm
    base_url: http://127.0.0.1:{dolphin_port}
    status: "disabled"
    exclusive_group: gpu0 # same GPU
    start_command: {dolphin_start}
    stop_command: {dolphin_stop}
    models:
      - dolphin-m
"""


@dataclass
class Stack:
    gateway: RunningGateway
    qwen: EngineCommands
    dolphin: EngineCommands
    original: str  # providers.yaml as the operator wrote it

    @property
    def providers_file(self) -> Path:
        return self.gateway.config_dir / "providers.yaml"


@pytest.fixture(scope="module")
def ollama() -> Iterator[RunningSimulator]:
    sim = start_simulator(SimulatorConfig(type="ollama", models=["small:1b"], ttft_ms=5, tpot_ms=1, slots=256))
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def stack(
    ollama: RunningSimulator,
    module_gateway_factory: Callable[..., RunningGateway],
    module_switch_engines: Callable[[Path], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Stack:
    config_dir = module_switch_engines(tmp_path_factory.mktemp("switch") / "config")
    qwen = engine_commands(config_dir, "vllm-qwen", port=free_port(), model="qwen-m")
    dolphin = engine_commands(config_dir, "vllm-dolphin", port=free_port(), model="dolphin-m")
    write_sources(
        config_dir,
        providers={"placeholder": {}},
        mappings={
            "exact_matches": {
                "chat": {"provider": "ollama", "backend_model": "small:1b"},
                "coder": {"provider": "vllm-qwen", "backend_model": "qwen-m"},
                "uncensored": {"provider": "vllm-dolphin", "backend_model": "dolphin-m"},
            },
            "fallback_chains": {"coder": {"chain": ["chat"]}, "uncensored": {"chain": ["chat"]}},
        },
        # cooldown_time: how long LiteLLM skips a deployment that failed allowed_fails times (the old
        # engine during a sequential switch's gap); short here, so that a rollback's recovery is seen.
        gateway={"reliability": {"num_retries": 0, "timeout": 10, "request_timeout": 30, "cooldown_time": COOLDOWN_S}},
    )
    q, d = qwen.fields(), dolphin.fields()
    original = PROVIDERS.format(
        ollama=ollama.url, qwen_port=qwen.port, dolphin_port=dolphin.port,
        qwen_start=_yaml_str(q["start_command"]), qwen_stop=_yaml_str(q["stop_command"]),
        dolphin_start=_yaml_str(d["start_command"]), dolphin_stop=_yaml_str(d["stop_command"]),
    )
    (config_dir / "providers.yaml").write_text(original)
    qwen.start()
    qwen.wait_healthy()
    gateway = module_gateway_factory(config_dir, front="haproxy")
    return Stack(gateway, qwen, dolphin, original)


def _yaml_str(value: str) -> str:
    import json

    return json.dumps(value)


def _served(gw: RunningGateway) -> set[str]:
    response = gw.client.get("/v1/models")
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["data"]}


def _switch(stack: Stack, name: str, *extra: str) -> tuple[object, dict[str, LoadResult]]:
    gw = stack.gateway
    loads = {model: SteadyLoad(gw.url, gw.key, model, rate=rate, timeout=LOAD_TIMEOUT_S)
             for model, rate in RATES.items()}
    for load in loads.values():
        load.__enter__()
    try:
        # A generous check timeout: on a loaded 2-core machine a new LiteLLM instance's first answers
        # take tens of seconds; the check is about who answers, not how fast.
        result = gw.cli("switch", name, "--check-timeout", "300", *extra, timeout=SWITCH_TIMEOUT_S)
    finally:
        for load in loads.values():
            load.__exit__(None, None, None)
    print(result.stdout + result.stderr)
    for model, load in loads.items():
        kinds = Counter(re.sub(r"^#\d+( sent at [\d.]+s, failed at [\d.]+s)?: ", "", f)[:60]
                        for f in load.result.failures)
        print(f"switch {name}: {model}: sent {load.result.sent}, ok {load.result.ok}, "
              f"failed {len(load.result.failures)} {dict(kinds)}, answered by {dict(load.result.answered_by)}")
    return result, {model: load.result for model, load in loads.items()}


def _hangs(result: LoadResult) -> list[str]:
    """Requests that got no HTTP answer at all (a timeout, a dropped connection)."""
    return [failure for failure in result.failures if " sent at " in failure]


def _engine_running(engine: EngineCommands) -> bool:
    return port_is_open("127.0.0.1", engine.port)


def _processes_with(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if needle in cmd and state != "Z":
                found.append(int(entry.name))
    return found


def _answered_by(gw: RunningGateway, model: str) -> str:
    response = gw.chat(model)
    assert response.status_code == 200, response.text
    return gw.api_base(response)


def _served_again_by(gw: RunningGateway, model: str, url: str) -> float:
    """Seconds until ``model`` is answered by ``url`` again: the engine failed requests during the
    gap, so LiteLLM cools its deployment down for cooldown_time (meanwhile the fallback answers)."""
    started = time.monotonic()
    while True:
        answered = _answered_by(gw, model)
        if answered == url:
            return time.monotonic() - started
        assert time.monotonic() - started < COOLDOWN_S + 30, f"{model} still answered by {answered}"
        time.sleep(0.5)


def test_switch_there_and_back_under_load_loses_no_request_whose_model_stays_served(stack: Stack) -> None:
    gw = stack.gateway
    generated_before = (gw.config_dir / "litellm-unified.yaml").read_text()
    assert _answered_by(gw, "coder") == f"{stack.qwen.url}/v1"

    result, loads = _switch(stack, "vllm-dolphin")
    assert result.returncode == 0, result.stdout + result.stderr  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    steps = [step.strip() for step in STEP_LINE.findall(out)]
    assert [s for i, s in enumerate(steps) if s not in steps[:i]] == [
        "1 plan", "2 engines", "3 gateway", "4 check", "done"], out
    assert "stopping vllm-qwen" in out and "starting vllm-dolphin" in out
    assert "4 check    uncensored: 200 from" in out and "4 check    dolphin-m: 200 from" in out
    # The model that stays served lost nothing; the switched ones were answered, never left hanging.
    assert loads["chat"].sent >= 10 * RATES["chat"]
    assert loads["chat"].failures == []
    for model in ("coder", "uncensored"):
        assert _hangs(loads[model]) == [], loads[model].failures[:5]
    # providers.yaml: exactly the two status lines changed, every other byte kept.
    expected = stack.original.replace("    status: active\n", "    status: disabled\n").replace(
        '    status: "disabled"\n', '    status: "active"\n')
    assert stack.providers_file.read_text() == expected
    backups = sorted((gw.config_dir / "backups").glob("providers.*.yaml"))
    assert backups and backups[-1].read_text() == stack.original
    # The gateway serves the new engine, and no longer the old one's names.
    served = _served(gw)
    assert {"uncensored", "dolphin-m", "chat"} <= served and not {"coder", "qwen-m"} & served
    assert _answered_by(gw, "uncensored") == f"{stack.dolphin.url}/v1"
    assert gw.chat("coder").status_code in (400, 404)  # the gateway's own error, at once
    assert _engine_running(stack.dolphin) and not _engine_running(stack.qwen)
    assert gw.cli("generate", "--check", "--skip-litellm-check").returncode == 0

    result, loads = _switch(stack, "vllm-qwen")
    assert result.returncode == 0, result.stdout + result.stderr  # type: ignore[attr-defined]
    assert loads["chat"].failures == []
    for model in ("coder", "uncensored"):
        assert _hangs(loads[model]) == [], loads[model].failures[:5]
    # There and back: providers.yaml and the generated config are what they were, byte for byte.
    assert stack.providers_file.read_text() == stack.original
    assert (gw.config_dir / "litellm-unified.yaml").read_text() == generated_before
    assert _answered_by(gw, "coder") == f"{stack.qwen.url}/v1"
    assert _engine_running(stack.qwen) and not _engine_running(stack.dolphin)


def _snapshot(stack: Stack) -> tuple[str, str, int, list[str]]:
    gw = stack.gateway
    return (
        stack.providers_file.read_text(),
        (gw.config_dir / "litellm-unified.yaml").read_text(),
        gw.state()["active"]["pid"],
        sorted(p.name for p in (gw.config_dir / "backups").glob("providers.*.yaml")),
    )


def test_a_new_engine_that_never_becomes_healthy_leaves_everything_as_it_was(stack: Stack) -> None:
    before = _snapshot(stack)
    stack.dolphin.flags("--refuse-connections")  # its process runs, its port never opens
    try:
        result, loads = _switch(stack, "vllm-dolphin", "--timeout", "8")
    finally:
        stack.dolphin.flags(None)
    out = result.stdout + result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 1, out  # type: ignore[attr-defined]
    assert "switch to vllm-dolphin failed at step '2 engines': vllm-dolphin did not answer its health endpoint" in out
    assert "rolled back: everything is as it was" in out
    assert "5 rollback start vllm-qwen again" in out
    assert _snapshot(stack) == before  # files, backups, and the same gateway process
    assert loads["chat"].failures == []
    assert _hangs(loads["coder"]) == []
    assert "cooled down" in out  # the note on LiteLLM's cooldown of the old engine
    print(f"coder served by vllm-qwen again after {_served_again_by(stack.gateway, 'coder', stack.qwen.url + '/v1'):.1f} s")
    assert _processes_with(f"--port {stack.dolphin.port}") == []  # the refused engine was stopped
    assert not (stack.gateway.config_dir / ".run" / "engine-vllm-dolphin.json").exists()
    assert not (stack.gateway.config_dir / ".run" / "switch.json").exists()


def test_a_reload_that_fails_its_gates_puts_engines_files_and_gateway_back(stack: Stack) -> None:
    before = _snapshot(stack)
    stack.dolphin.flags("--error-rate 1")  # healthy, but every completion fails: the smoke gate says no
    try:
        result, loads = _switch(stack, "vllm-dolphin", "--timeout", "30")
    finally:
        stack.dolphin.flags(None)
    out = result.stdout + result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 1, out  # type: ignore[attr-defined]
    assert "failed at step '3 gateway'" in out and "gate 'smoke' failed" in out, out
    assert "5 rollback providers.yaml and the gateway config back" in out
    assert "5 rollback stop vllm-dolphin" in out and "5 rollback start vllm-qwen again" in out
    assert out.index("5 rollback start vllm-qwen again") < out.index("5 rollback providers.yaml and the gateway")
    providers, generated, pid, backups = _snapshot(stack)
    assert (providers, generated, pid) == before[:3]
    # The edit that was written and undone is kept among the backups, as every replaced file is.
    assert set(before[3]) < set(backups)
    assert loads["chat"].failures == []
    assert _hangs(loads["coder"]) == []
    _served_again_by(stack.gateway, "coder", stack.qwen.url + "/v1")
    assert not _engine_running(stack.dolphin)
    with httpx.Client() as client:
        assert client.get(f"{stack.qwen.url}/health").status_code == 200


def test_providers_add_apply_reloads_the_gateway_and_rollback_apply_undoes_it(
    stack: Stack, ollama: RunningSimulator
) -> None:
    gw = stack.gateway
    before = _snapshot(stack)
    added = gw.cli("providers", "add", "ollama-b", "--type", "ollama", "--base-url", ollama.url + "/",
                   "--model", "extra:1b", "--apply", "--skip-litellm-check", timeout=SWITCH_TIMEOUT_S)
    assert added.returncode == 1, added.stdout + added.stderr  # same host:port as `ollama`: refused
    assert "error[port-conflict] providers.ollama-b.base_url" in added.stderr
    assert _snapshot(stack) == before

    with start_simulator(SimulatorConfig(type="ollama", models=["extra:1b"], ttft_ms=5, tpot_ms=1)) as extra:
        with SteadyLoad(gw.url, gw.key, "chat", rate=sum(RATES.values()), timeout=LOAD_TIMEOUT_S) as load:
            added = gw.cli("providers", "add", "ollama-b", "--type", "ollama", "--base-url", extra.url,
                           "--model", "extra:1b", "--apply", "--skip-litellm-check", timeout=SWITCH_TIMEOUT_S)
        assert added.returncode == 0, added.stdout + added.stderr
        assert "reloaded the gateway: switched" in added.stdout and "with no downtime" in added.stdout
        assert load.result.failures == [] and load.result.sent > 0
        assert _answered_by(gw, "extra:1b") == extra.url
        assert stack.providers_file.read_text() == stack.original + (
            "\n  ollama-b:\n    type: ollama\n    base_url: " + extra.url + "\n    models:\n      - extra:1b\n")
        backup = re.search(r"undo with: aibackend providers rollback --config-dir \S+ (\S+)", added.stdout)
        assert backup is not None
        with SteadyLoad(gw.url, gw.key, "chat", rate=sum(RATES.values()), timeout=LOAD_TIMEOUT_S) as load:
            undone = gw.cli("providers", "rollback", backup.group(1), "--apply", timeout=SWITCH_TIMEOUT_S)
        assert undone.returncode == 0, undone.stdout + undone.stderr
        assert load.result.failures == []
    assert stack.providers_file.read_text() == stack.original
    assert (gw.config_dir / "litellm-unified.yaml").read_text() == before[1]
    assert "extra:1b" not in _served(gw)


def test_an_edit_whose_reload_fails_its_gates_is_undone(stack: Stack) -> None:
    gw = stack.gateway
    providers, generated, pid, _ = _snapshot(stack)
    dead = f"http://127.0.0.1:{free_port()}"  # nobody listens: the reload's smoke gate fails
    result = gw.cli("providers", "add", "cpp", "--type", "llama_cpp", "--base-url", dead, "--model", "tiny",
                    "--apply", "--skip-litellm-check", timeout=SWITCH_TIMEOUT_S)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "reload rolled back: gate 'smoke' failed" in result.stderr
    assert "providers.yaml was restored to its state before the edit" in result.stderr
    assert _snapshot(stack)[:3] == (providers, generated, pid)


def test_sigterm_after_the_reload_puts_the_old_engine_back_before_the_gateway(stack: Stack) -> None:
    """The hardest rollback: the gateway already serves the new engine. The old one must answer
    again before the gateway is reloaded back (the reload's gates send it a request)."""
    gw = stack.gateway
    providers, generated, pid, _ = _snapshot(stack)
    # A slow first token keeps the check step busy for seconds: the signal lands in it.
    stack.dolphin.flags("--ttft-ms 3000")
    loads = {model: SteadyLoad(gw.url, gw.key, model, rate=RATES[model], timeout=LOAD_TIMEOUT_S)
             for model in ("chat", "coder")}
    for load in loads.values():
        load.__enter__()
    try:
        process = subprocess.Popen(
            [AIBACKEND, "switch", "vllm-dolphin", "--config-dir", str(gw.config_dir), "--check-timeout", "300",
             "--skip-litellm-check"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gw.env,
        )
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "3 gateway  reloaded the gateway" in line:
                process.send_signal(signal.SIGTERM)
                break
        rest, err = process.communicate(timeout=SWITCH_TIMEOUT_S)
    finally:
        stack.dolphin.flags(None)
        for load in loads.values():
            load.__exit__(None, None, None)
    out = "".join(seen) + rest
    print(out + err)
    assert process.returncode == 1, out + err
    assert re.search(r"failed at step '(3 gateway|4 check)': interrupted by SIGTERM; rolled back: everything is as "
                     r"it was", err), err
    order = [out.index(f"5 rollback {step}") for step in (
        "stop vllm-dolphin", "start vllm-qwen again", "providers.yaml and the gateway config back")]
    assert order == sorted(order), out
    assert "providers.yaml restored; reloaded the gateway" in out
    assert (stack.providers_file.read_text(), (gw.config_dir / "litellm-unified.yaml").read_text()) == (
        providers, generated)
    assert gw.state()["active"]["pid"] != pid  # reloaded there and back
    assert loads["chat"].result.failures == []
    assert _hangs(loads["coder"].result) == []
    _served_again_by(gw, "coder", stack.qwen.url + "/v1")
    assert "uncensored" not in _served(gw) and not _engine_running(stack.dolphin)
