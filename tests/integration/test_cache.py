"""The Redis response cache through the real proxy, on a real redis-server of the test's own.

Redis runs with a password, which reaches LiteLLM only through ``cache.password_env`` (an
environment variable named in gateway.yaml, rendered as ``os.environ/VAR``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from contracts.simulators import RunningSimulator
from tests.integration.helpers import model_counts, started_simulators
from tests.plugins.gateway import RunningGateway, write_sources
from tests.plugins.redis_server import RedisServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    # The first test also pays for the module's gateway start (6 s idle, minutes on a loaded host).
    pytest.mark.timeout(600),
    pytest.mark.requires_redis,
    pytest.mark.xdist_group("cache"),
]

TTL_S = 3
BREAKER_S = 5
PASSWORD = "redis-test-password-4f1c"


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, RunningSimulator]]:
    with started_simulators({"ollama": ("ollama", ["cached:1b"])}) as running:
        yield running


@pytest.fixture(scope="module")
def redis_server(module_redis_factory: Callable[..., RedisServer]) -> RedisServer:
    return module_redis_factory(password=PASSWORD)


@pytest.fixture(scope="module")
def gateway(
    sims: dict[str, RunningSimulator],
    redis_server: RedisServer,
    module_gateway_factory: Callable[..., RunningGateway],
    tmp_path_factory: pytest.TempPathFactory,
) -> RunningGateway:
    config_dir = write_sources(
        tmp_path_factory.mktemp("cache") / "config",
        providers={"ollama": {"type": "ollama", "base_url": sims["ollama"].url, "status": "active", "models": ["cached:1b"]}},
        mappings={"exact_matches": {"cached": {"provider": "ollama", "backend_model": "cached:1b"}}},
        gateway={
            "cache": {
                "enabled": True,
                "type": "redis",
                "host": redis_server.host,
                "port": redis_server.port,
                "password_env": "TEST_REDIS_PASSWORD",
                "ttl": TTL_S,
            },
            "reliability": {"num_retries": 0},
        },
    )
    # LiteLLM's Redis circuit breaker opens after 5 consecutive failures for 60 s by default;
    # 5 s here so that the test sees it close again.
    env = {"TEST_REDIS_PASSWORD": PASSWORD, "REDIS_CIRCUIT_BREAKER_RECOVERY_TIMEOUT": str(BREAKER_S)}
    return module_gateway_factory(config_dir, env=env)


@pytest.fixture(autouse=True)
def _fresh(sims: dict[str, RunningSimulator]) -> None:
    sims["ollama"].reset()


def _seen(sims: dict[str, RunningSimulator]) -> int:
    return model_counts(sims["ollama"]).get("cached:1b", 0)


def _content(response_json: dict[str, object]) -> str:
    choices = response_json["choices"]
    assert isinstance(choices, list)
    return str(choices[0]["message"]["content"])


def _stored_content(raw: bytes) -> str:
    """LiteLLM stores ``{"timestamp": t, "response": <the response as a JSON string>}``."""
    entry = json.loads(raw)
    response = entry["response"]
    return _content(json.loads(response) if isinstance(response, str) else response)


def test_second_identical_request_is_answered_from_redis(
    gateway: RunningGateway, sims: dict[str, RunningSimulator], redis_server: RedisServer
) -> None:
    first = gateway.chat("cached", content="what is a cache?")
    second = gateway.chat("cached", content="what is a cache?")
    assert (first.status_code, second.status_code) == (200, 200)
    assert "x-litellm-cache-key" not in first.headers
    key = second.headers["x-litellm-cache-key"]
    assert _seen(sims) == 1
    assert _content(second.json()) == _content(first.json())
    # The entry really is in Redis (LiteLLM also keeps an in-memory layer, so a hit alone
    # proves nothing): the key is there and holds the first answer.
    stored = redis_server.client().get(key)
    assert stored is not None, f"{key} not in Redis: {redis_server.client().keys('*')}"
    assert _stored_content(stored) == _content(first.json())
    assert 0 < redis_server.client().ttl(key) <= TTL_S


def test_entry_expires_after_ttl(
    gateway: RunningGateway, sims: dict[str, RunningSimulator], redis_server: RedisServer
) -> None:
    assert gateway.chat("cached", content="expiring").status_code == 200
    hit = gateway.chat("cached", content="expiring")
    key = hit.headers["x-litellm-cache-key"]
    time.sleep(TTL_S + 1)
    assert redis_server.client().get(key) is None
    after = gateway.chat("cached", content="expiring")
    assert after.status_code == 200
    assert "x-litellm-cache-key" not in after.headers
    assert _seen(sims) == 2


def test_gateway_keeps_serving_with_redis_down(
    gateway: RunningGateway, sims: dict[str, RunningSimulator], redis_server: RedisServer
) -> None:
    redis_server.stop()
    try:
        responses = [gateway.chat("cached", content=f"redis is down {i}") for i in range(3)]
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert _seen(sims) == 3
    finally:
        redis_server.start()
    # And once Redis is back, the cache works again: LiteLLM's Redis circuit breaker (opened by
    # the failures above) half-opens after REDIS_CIRCUIT_BREAKER_RECOVERY_TIMEOUT, then writes resume.
    landed = None
    deadline = time.monotonic() + 4 * BREAKER_S + 10
    attempt = 0
    while landed is None and time.monotonic() < deadline:
        attempt += 1
        assert gateway.chat("cached", content=f"redis is back {attempt}").status_code == 200
        key = gateway.chat("cached", content=f"redis is back {attempt}").headers["x-litellm-cache-key"]
        time.sleep(0.5)
        if redis_server.client().get(key) is not None:
            landed = attempt
        else:
            time.sleep(1)
    print(f"after Redis came back, the first write that landed was attempt {landed}")
    assert landed is not None, "no cache entry reached Redis after it came back"
