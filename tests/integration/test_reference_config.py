"""The reference config (shared/reference/example-config), URLs pointed at simulators, served by
the real LiteLLM proxy: every name its comments promise reaches the promised backend.

Proof is seen from outside only: LiteLLM's ``x-litellm-model-api-base`` / ``x-litellm-model-id``
response headers AND the simulators' own request counters (which model each one was asked for).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from aibackend.gateway.gates import expected_groups
from contracts.simulators import RunningSimulator
from tests.integration.helpers import api_base_of, deployment_ids, fan_out, model_counts, started_simulators
from tests.plugins.gateway import RunningGateway, generate

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    # The first test also pays for the module's gateway start (6 s idle, minutes on a loaded host).
    pytest.mark.timeout(600),
    pytest.mark.xdist_group("reference-config"),
]

REFERENCE = Path("/work/shared/reference/example-config")
if not REFERENCE.is_dir():  # a fresh clone: the copy kept beside the tests
    REFERENCE = Path(__file__).resolve().parents[2] / "fixtures" / "reference-config"

SIMULATORS = {
    "ollama": ("ollama", ["llama3.1:8b", "qwen2.5-coder:7b", "mythomax-l2-13b-q5_k_m", "some-unknown:3b"]),
    "llama_cpp_python": ("llama_cpp_python", ["llama-cpp-default"]),
    "llama_cpp_native": ("llama_cpp", ["llama-cpp-native"]),
    "vllm-qwen": ("vllm", ["Qwen/Qwen2.5-Coder-7B-Instruct-AWQ"]),
}


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, RunningSimulator]]:
    with started_simulators(SIMULATORS) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(
    sims: dict[str, RunningSimulator],
    module_gateway_factory: Callable[..., RunningGateway],
    tmp_path_factory: pytest.TempPathFactory,
) -> RunningGateway:
    config_dir = tmp_path_factory.mktemp("reference") / "config"
    shutil.copytree(REFERENCE, config_dir)
    providers = yaml.safe_load((config_dir / "providers.yaml").read_text())
    for name, sim in sims.items():
        base = sim.url + ("/v1" if providers["providers"][name]["type"] == "openai" else "")
        providers["providers"][name]["base_url"] = base
    (config_dir / "providers.yaml").write_text(yaml.safe_dump(providers, sort_keys=False))
    gateway_yaml = yaml.safe_load((config_dir / "gateway.yaml").read_text())
    from generator.net import free_port

    gateway_yaml["server"]["port"] = free_port()
    # The reference points its cache at the system Redis on 6379: never touch a system service
    # (the cache has its own module with a Redis of its own).
    gateway_yaml["cache"]["enabled"] = False
    (config_dir / "gateway.yaml").write_text(yaml.safe_dump(gateway_yaml, sort_keys=False))
    generate(config_dir)
    return module_gateway_factory(config_dir)


@pytest.fixture(autouse=True)
def _fresh_counters(sims: dict[str, RunningSimulator]) -> None:
    for sim in sims.values():
        sim.reset()


# (requested name, simulator that must answer, model that simulator must be asked for, the rule)
ROUTES = [
    ("llama3.1:latest", "ollama", "llama3.1:8b", "exact alias"),
    ("qwen-coder-vllm", "vllm-qwen", "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "exact alias"),
    ("llama-cpp-python", "llama_cpp_python", "llama-cpp-default", "exact alias"),
    ("llama-cpp-native", "llama_cpp_native", "llama-cpp-native", "exact alias"),
    ("code_generation", "vllm-qwen", "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "capability, first preferred"),
    ("Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "vllm-qwen", "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "pattern ^Qwen/.*"),
    # LiteLLM's ollama_chat adds Ollama's default tag to an untagged name (Ollama does the same).
    ("mythomax-l2-13b-q5_k_m", "ollama", "mythomax-l2-13b-q5_k_m:latest", "pattern ^mythomax-.*"),
    ("qwen2.5-coder:7b", "ollama", "qwen2.5-coder:7b", "a provider's own model name"),
    ("some-unknown:3b", "ollama", "some-unknown:3b", "unknown name -> default provider"),
]


@pytest.mark.parametrize(("requested", "sim_name", "backend_model", "rule"), ROUTES, ids=[r[0] for r in ROUTES])
def test_each_name_reaches_the_backend_its_rule_names(
    gateway: RunningGateway,
    sims: dict[str, RunningSimulator],
    requested: str,
    sim_name: str,
    backend_model: str,
    rule: str,
) -> None:
    response = gateway.chat(requested)
    assert response.status_code == 200, f"{rule}: {response.text}"
    assert gateway.api_base(response) == api_base_of(sims[sim_name]), rule
    config_file = gateway.config_dir / "litellm-unified.yaml"
    group = requested if requested in expected_groups(config_file.read_text()) else "*"
    assert gateway.model_id(response) in deployment_ids(config_file, group), rule
    seen = {name: model_counts(sim) for name, sim in sims.items()}
    expected = {name: {} for name in sims} | {sim_name: {backend_model: 1}}
    assert seen == expected, rule


def test_fallback_capability_uses_first_preferred_while_healthy(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    responses = fan_out(gateway, "code_generation", 20, workers=4)
    assert [r.status_code for r in responses] == [200] * 20
    assert {gateway.api_base(r) for r in responses} == {api_base_of(sims["vllm-qwen"])}
    assert model_counts(sims["vllm-qwen"]) == {"Qwen/Qwen2.5-Coder-7B-Instruct-AWQ": 20}
    assert model_counts(sims["ollama"]) == {}


def test_load_balance_capability_spreads_over_all_listed(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    total = 300
    responses = fan_out(gateway, "general_chat", total)
    assert [r.status_code for r in responses].count(200) == total
    ollama = model_counts(sims["ollama"]).get("llama3.1:8b", 0)
    llama_cpp = model_counts(sims["llama_cpp_python"]).get("llama-cpp-default", 0)
    print(f"general_chat over {total} requests: ollama {ollama}, llama-cpp-python {llama_cpp}")
    assert ollama + llama_cpp == total
    # simple-shuffle with equal weights: binomial(300, 0.5) has sd 8.7; 100..200 is +-5.7 sd.
    assert 100 <= ollama <= 200
    headers = {gateway.api_base(r) for r in responses}
    assert headers == {api_base_of(sims["ollama"]), api_base_of(sims["llama_cpp_python"])}


def test_v1_models_lists_every_group(gateway: RunningGateway) -> None:
    response = gateway.client.get("/v1/models")
    assert response.status_code == 200
    listed = {m["id"] for m in response.json()["data"]}
    expected = expected_groups((gateway.config_dir / "litellm-unified.yaml").read_text())
    assert expected == {
        "llama3.1:8b", "qwen2.5-coder:7b", "mythomax-l2-13b-q5_k_m", "llama-cpp-default", "llama-cpp-native",
        "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ", "llama3.1:latest", "qwen-coder-vllm", "llama-cpp-python",
        "code_generation", "general_chat",
    }
    assert expected <= listed


def test_requests_without_a_key_are_refused_and_reach_no_backend(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    body = {"model": "llama3.1:latest", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=gateway.url, timeout=30) as anonymous:
        missing = anonymous.post("/v1/chat/completions", json=body)
        wrong = anonymous.post(
            "/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-not-the-master-key-123456"}
        )
    # What LiteLLM 1.106.2 really answers without a database (docs/gateway.md): a missing key is
    # a 500 (its auth error handler needs the optional `prisma` module), a wrong key a 400.
    assert (missing.status_code, missing.text) == (500, "Internal Server Error")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["message"] == "No connected db."
    assert {name: model_counts(sim) for name, sim in sims.items()} == {name: {} for name in sims}


def test_streaming_through_the_gateway_passes_the_litellm_contract(gateway: RunningGateway) -> None:
    # LiteLLM validates no request parameters itself: the backend does, and a fallback chain turns a
    # backend's 400 into another backend's answer (qwen-coder-vllm falls back to Ollama, which accepts
    # temperature=2.5). The vLLM group without fallbacks checks the gateway's own surface.
    result = gateway.cli("contract", "--target", f"litellm={gateway.url}", "--model",
                         "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ")
    assert result.returncode == 0, result.stdout + result.stderr


def _connection_use(sim: RunningSimulator) -> list[tuple[int, bool]]:
    """(n-th request on its connection, client asked to keep it) for each request the simulator saw."""
    return [(r["connection_request"], r["keep_alive"]) for r in sim.stats()["recent"]]


def test_llama_server_gets_a_fresh_connection_for_every_request(
    gateway: RunningGateway, sims: dict[str, RunningSimulator]
) -> None:
    # llama-server closes the connection after every streamed answer without saying so; a pooled
    # connection reused at that moment fails with 500 "Connection error" (docs/llama-cpp.md). The
    # generated llama_cpp deployments ask for "Connection: close": LiteLLM never reuses one.
    for stream in (True, False, True, False, True, False):
        response = gateway.chat("llama-cpp-native", stream=stream)
        assert response.status_code == 200, response.text
    assert _connection_use(sims["llama_cpp_native"]) == [(1, False)] * 6
    # The other providers keep their connections (the proof that reuse is observable at all).
    for _ in range(6):
        assert gateway.chat("qwen-coder-vllm").status_code == 200
    vllm_use = _connection_use(sims["vllm-qwen"])
    assert len(vllm_use) == 6 and all(keep for _, keep in vllm_use), vllm_use
    assert max(n for n, _ in vllm_use) > 1, vllm_use
