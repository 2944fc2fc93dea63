"""Circuit breaking (allowed_fails / cooldown_time) and rpm limits through the real proxy.

Sources: capability ``pool`` load-balances ``flaky`` and ``steady``; ``lonely`` falls back to
``backup``; ``limited`` (rpm 2) falls back to ``spare``; ``capped`` (rpm 2) has no fallback.
Reliability: ``num_retries: 0``, ``allowed_fails: 2``, ``cooldown_time: 15`` s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from contracts.simulators import RunningSimulator
from tests.integration.helpers import (
    aliases_onto,
    api_base_of,
    model_counts,
    started_simulators,
    vllm_providers,
)
from tests.plugins.gateway import RunningGateway, write_sources

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    # The first test also pays for the module's gateway start (6 s idle, minutes on a loaded host).
    pytest.mark.timeout(600),
    pytest.mark.xdist_group("circuit-and-limits"),
]

# Long enough that the requests of one phase (slow on a loaded machine) all fall inside it.
COOLDOWN_S = 15
ALLOWED_FAILS = 2
NAMES = ("flaky", "steady", "lonely", "backup", "limited", "spare", "capped")


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, RunningSimulator]]:
    with started_simulators({name: ("vllm", [f"m-{name}"]) for name in NAMES}) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(
    sims: dict[str, RunningSimulator],
    module_gateway_factory: Callable[..., RunningGateway],
    tmp_path_factory: pytest.TempPathFactory,
) -> RunningGateway:
    config_dir = write_sources(
        tmp_path_factory.mktemp("circuit") / "config",
        providers=vllm_providers(sims),
        mappings={
            "exact_matches": aliases_onto(NAMES),
            "capabilities": {"pool": {"preferred_models": ["flaky", "steady"], "routing_strategy": "load_balance"}},
            "fallback_chains": {"lonely": {"chain": ["backup"]}, "limited": {"chain": ["spare"]}},
            "rate_limits": {"limited": {"rpm": 2}, "capped": {"rpm": 2}},
        },
        gateway={
            "reliability": {
                "num_retries": 0,
                "allowed_fails": ALLOWED_FAILS,
                "cooldown_time": COOLDOWN_S,
                "timeout": 10,
            }
        },
    )
    return module_gateway_factory(config_dir)


@pytest.fixture(autouse=True)
def _fresh(sims: dict[str, RunningSimulator]) -> None:
    for sim in sims.values():
        sim.control(error_rate=0.0)
        sim.reset()


def _seen(sim: RunningSimulator) -> int:
    return sum(model_counts(sim).values())


def test_failing_deployment_is_cut_off_after_allowed_fails_and_back_after_cooldown(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    flaky, steady = sims["flaky"], sims["steady"]
    flaky.control(error_rate=1.0, error_status=500)
    statuses = [gateway.chat("pool").status_code for _ in range(16)]
    # allowed_fails + 1 failures open the circuit; with num_retries 0 each of them reached the client.
    assert _seen(flaky) == ALLOWED_FAILS + 1
    assert statuses.count(500) == ALLOWED_FAILS + 1
    assert statuses.count(200) == 16 - (ALLOWED_FAILS + 1)
    assert _seen(steady) == 16 - (ALLOWED_FAILS + 1)
    # While cooled down the counter stays still.
    for _ in range(6):
        assert gateway.chat("pool").status_code == 200
    assert _seen(flaky) == ALLOWED_FAILS + 1
    # Healthy again, and the cooldown over: it is back in rotation.
    flaky.control(error_rate=0.0)
    time.sleep(COOLDOWN_S + 1)
    flaky.reset()
    steady.reset()
    responses = [gateway.chat("pool") for _ in range(30)]
    assert [r.status_code for r in responses] == [200] * 30
    print(f"after cooldown: flaky {_seen(flaky)}, steady {_seen(steady)} of 30")
    # simple-shuffle over two: binomial(30, 0.5) >= 5 with probability 0.99993.
    assert _seen(flaky) >= 5
    assert {gateway.api_base(r) for r in responses} == {api_base_of(flaky), api_base_of(steady)}


def test_single_deployment_circuit_with_fallback_half_opens_after_cooldown(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    lonely, backup = sims["lonely"], sims["backup"]
    lonely.control(error_rate=1.0, error_status=500)
    responses = [gateway.chat("lonely") for _ in range(8)]
    assert [r.status_code for r in responses] == [200] * 8
    assert {gateway.api_base(r) for r in responses} == {api_base_of(backup)}
    assert _seen(lonely) == ALLOWED_FAILS + 1  # then the circuit opened: no more attempts
    time.sleep(COOLDOWN_S + 1)
    for _ in range(8):
        assert gateway.chat("lonely").status_code == 200
    # Tried again after the cooldown (the failure count starts over), then cut off again.
    assert _seen(lonely) == 2 * (ALLOWED_FAILS + 1)
    lonely.control(error_rate=0.0)
    time.sleep(COOLDOWN_S + 1)
    response = gateway.chat("lonely")
    assert response.status_code == 200
    assert gateway.api_base(response) == api_base_of(lonely)


def test_rpm_exceeded_reroutes_to_the_fallback_chain(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    answered = [gateway.api_base(gateway.chat("limited", content=f"r{i}")) for i in range(4)]
    limited, spare = api_base_of(sims["limited"]), api_base_of(sims["spare"])
    assert answered == [limited, limited, spare, spare]
    assert (_seen(sims["limited"]), _seen(sims["spare"])) == (2, 2)


def test_rpm_exceeded_without_fallback_is_a_429(gateway: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    responses = [gateway.chat("capped", content=f"r{i}") for i in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    # LiteLLM 1.106.2's exact answer (seen with enable_pre_call_checks on a hand-written config).
    assert responses[2].json()["error"]["message"] == "No deployments available for selected model."
    assert _seen(sims["capped"]) == 2
