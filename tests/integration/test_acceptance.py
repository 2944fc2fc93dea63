"""Layer 7: the generated config is accepted whole by the pinned LiteLLM (in-process)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from aibackend import cli
from generator.acceptance import accepted_keys, check_acceptance
from generator.layers import CRITICAL
from generator.pipeline import build

pytestmark = [pytest.mark.integration, pytest.mark.requires_litellm, pytest.mark.slow]


@pytest.fixture(scope="module")
def example_config() -> dict[str, object]:
    root = Path(__file__).resolve().parents[2]
    result = build(root / "fixtures" / "configs" / "example", layers=CRITICAL, commit="none")
    assert result.config is not None
    return result.config


def test_every_key_the_generator_writes_is_read_by_litellm(example_config: dict[str, object]) -> None:
    assert check_acceptance(example_config, "gen.yaml") == []


def test_introspection_finds_the_keys_we_rely_on() -> None:
    known = accepted_keys()
    assert {"model_list", "router_settings", "litellm_settings", "general_settings"} <= known["top"]
    assert {"model", "api_base", "api_key", "rpm", "tpm", "order"} <= known["litellm_params"]
    assert {"num_retries", "allowed_fails", "cooldown_time", "fallbacks", "max_fallbacks", "timeout",
            "stream_timeout", "default_fallbacks", "routing_strategy"} <= known["router_settings"]
    assert {"cache", "cache_params", "callbacks", "json_logs", "request_timeout", "drop_params"} <= known["litellm_settings"]
    assert "master_key" in known["general_settings"]
    assert {"id", "mode", "max_input_tokens"} <= known["model_info"]


def test_a_key_litellm_would_drop_is_reported(example_config: dict[str, object]) -> None:
    broken = copy.deepcopy(example_config)
    broken["router_settings"]["cooldown_tme"] = 5  # type: ignore[index]
    broken["model_list"][0]["litellm_params"]["api_bse"] = "http://x"  # type: ignore[index]
    found = check_acceptance(broken, "gen.yaml")
    assert [(d.code, d.path) for d in found] == [
        ("litellm-unknown-key", "litellm_params.api_bse"),
        ("litellm-unknown-key", "router_settings.cooldown_tme"),
        ("litellm-rejected", "model_list"),  # and Router(**router_settings) refuses the unknown keyword
    ]
    assert found[1].message == ("the generator wrote `cooldown_tme` under router_settings, which the installed "
                                "LiteLLM does not read (it would be dropped silently)")


def test_a_config_the_router_refuses_is_reported(example_config: dict[str, object]) -> None:
    broken = copy.deepcopy(example_config)
    broken["router_settings"]["routing_strategy"] = "no-such-strategy"  # type: ignore[index]
    found = check_acceptance(broken, "gen.yaml")
    assert [d.code for d in found] == ["litellm-rejected"]
    assert found[0].message.startswith("litellm.Router refused the generated config: ")


def test_validate_runs_all_seven_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    root = Path(__file__).resolve().parents[2]
    config = tmp_path / "config"
    shutil.copytree(root / "fixtures" / "configs" / "example", config)
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-" + "a" * 40)
    monkeypatch.setenv("REDIS_PASSWORD", "pw")
    assert cli.main(["generate", "--config-dir", str(config)]) == 0
    capsys.readouterr()
    assert cli.main(["validate", "--config-dir", str(config)]) == 0
    assert capsys.readouterr().out.endswith(
        "valid: 0 error(s), 0 warning(s) [layers: syntax, schema, consistency, ports, environment, staleness, litellm]\n")
