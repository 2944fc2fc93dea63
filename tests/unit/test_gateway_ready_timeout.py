"""How long `gateway start` and `reload` wait for LiteLLM: scaled to the deployments, raised with
--ready-timeout, and the wait really ends there (process.READY_* says why it scales)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from aibackend.cli import build_parser, main
from aibackend.gateway import control, process
from aibackend.gateway.settings import GatewayPlan
from generator.errors import GatewayError

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "fixtures" / "golden" / "example-litellm-unified.yaml"
KEY = "sk-" + "k" * 40


def test_the_wait_counts_the_deployments_the_golden_config_holds() -> None:
    text = GOLDEN.read_text()
    deployments = len(yaml.safe_load(text)["model_list"])
    assert deployments > 1
    assert process.ready_timeout_for(text) == pytest.approx(180 + 0.05 * deployments)


def test_eight_thousand_deployments_wait_580_s_and_none_the_base() -> None:
    entry = "  - model_name: m-{i}\n    litellm_params:\n      model: openai/m-{i}\n    model_info:\n      id: m-{i}\n"
    text = "model_list:\n" + "".join(entry.format(i=i) for i in range(8000)) + "general_settings: {}\n"
    assert process.ready_timeout_for(text) == pytest.approx(580.0)
    assert process.ready_timeout_for("model_list: []\n") == 180.0


def _plan(ready_timeout: float | None) -> GatewayPlan:
    return GatewayPlan(host="127.0.0.1", port=4000, workers=1, master_key_env="GW_KEY", config_text="",
                       backups_keep=3, ready_timeout=ready_timeout)


@pytest.mark.parametrize(("override", "expected"), [(None, 180 + 0.05 * 3), (900.0, 900.0)])
def test_a_replica_is_started_with_the_scaled_wait_or_the_operators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override: float | None, expected: float
) -> None:
    snapshot = tmp_path / "snapshot.yaml"
    snapshot.write_text("model_list:\n" + "".join(f"  - model_name: m{i}\n    litellm_params: {{model: openai/m{i}}}\n"
                                                  for i in range(3)))
    seen: dict[str, Any] = {}

    def fake_start(**kwargs: Any) -> process.Instance:
        seen.update(kwargs)
        return process.Instance(slot="blue", pid=1, port=kwargs["port"], config=str(snapshot), log="log")

    monkeypatch.setattr(control, "start_litellm", fake_start)
    run = control.RuntimeDir(tmp_path)
    control._start_replica(run, _plan(override), snapshot=snapshot, slot="blue", index=0, host="127.0.0.1",
                           port=4100, key=KEY)
    assert seen["ready_timeout"] == pytest.approx(expected)


def test_the_wait_ends_at_the_timeout_and_stops_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    never_ready = tmp_path / "litellm"
    never_ready.write_text("#!/bin/sh\nexec sleep 60\n")
    never_ready.chmod(0o755)
    monkeypatch.setattr(process, "litellm_executable", lambda: str(never_ready))
    from generator.net import free_port

    begin = time.monotonic()
    with pytest.raises(GatewayError) as caught:
        process.start_litellm(config=tmp_path / "c.yaml", host="127.0.0.1", port=free_port(), workers=1,
                              slot="blue", log=tmp_path / "gateway.log", key_env="GW_KEY", key=KEY,
                              ready_timeout=1.0)
    assert 1.0 <= time.monotonic() - begin < 5.0
    assert "did not become ready within 1 s" in caught.value.message
    assert "--ready-timeout" in (caught.value.hint or "")


@pytest.mark.parametrize("command", [["gateway", "start"], ["reload"]])
def test_ready_timeout_is_accepted_by_start_and_reload(command: list[str]) -> None:
    parser, _ = build_parser()
    assert parser.parse_args([*command, "--ready-timeout", "900"]).ready_timeout == 900.0
    assert parser.parse_args(command).ready_timeout is None


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_bad_ready_timeout_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "start", "--ready-timeout", value]) == 2
    assert "--ready-timeout" in capsys.readouterr().err


def test_reload_passes_the_operators_wait_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import aibackend.gateway.reload as reload_module

    seen: dict[str, Any] = {}

    def fake_reload(run: object, **kwargs: Any) -> object:
        seen.update(kwargs)
        raise GatewayError("stop here")

    monkeypatch.setattr(reload_module, "reload", fake_reload)
    assert main(["reload", "--config-dir", str(tmp_path), "--ready-timeout", "750"]) == 1
    assert seen["ready_timeout"] == 750.0
