"""The environment LiteLLM is started with: the key in memory only, offline, and a keep-alive
shorter than the providers' (gateway_process.UPSTREAM_KEEPALIVE_S says why)."""

from __future__ import annotations

import pytest

from aibackend.gateway.process import child_environment

pytestmark = [pytest.mark.unit]

KEY = "sk-" + "k" * 40


def test_litellm_gets_the_key_offline_settings_and_a_short_upstream_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIOHTTP_KEEPALIVE_TIMEOUT", raising=False)
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    env = child_environment("GW_KEY", KEY)
    assert {name: env[name] for name in ("GW_KEY", "LITELLM_MASTER_KEY", "LITELLM_LOCAL_MODEL_COST_MAP",
                                          "AIOHTTP_KEEPALIVE_TIMEOUT")} == {
        "GW_KEY": KEY, "LITELLM_MASTER_KEY": KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "AIOHTTP_KEEPALIVE_TIMEOUT": "4",
    }


def test_an_operators_own_keepalive_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOHTTP_KEEPALIVE_TIMEOUT", "2")
    assert child_environment("GW_KEY", KEY)["AIOHTTP_KEEPALIVE_TIMEOUT"] == "2"
