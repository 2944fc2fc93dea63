"""Two LiteLLM replicas on one redis-server behind the HAProxy front (``server.replicas: 2``).

What LiteLLM 1.106.2 shares through Redis, checked against the real proxies: each test sends
requests to the replicas' own private ports, one after the other, so that a limit, a cooldown or a
cache entry seen by the second was made by the first. Then the fleet under 20 requests/s through
the public port: a replica killed, and a rolling reload.

One fleet for the module (starting two LiteLLM processes takes 10-60 s here).
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import yaml

from contracts.simulators import RunningSimulator
from tests.integration.helpers import (
    aliases_onto,
    model_counts,
    started_simulators,
    vllm_providers,
)
from tests.integration.steady_load import SteadyLoad
from tests.plugins.gateway import RunningGateway, write_sources
from tests.plugins.redis_server import RedisServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.requires_litellm,
    pytest.mark.requires_redis,
    pytest.mark.timeout(900),
    pytest.mark.xdist_group("fleet"),
]

NAMES = ("flaky", "steady", "capped", "cached", "chat")
ALLOWED_FAILS = 1
COOLDOWN_S = 60  # outlasts the test: the cooldown must still be open when the other replica is asked
RPM = 3
# On a loaded machine each request may take seconds: a generous per-request limit, errors still count.
LOAD_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, RunningSimulator]]:
    with started_simulators({name: ("vllm", [f"m-{name}"]) for name in NAMES}) as running:
        yield running


@pytest.fixture(scope="module")
def redis(module_redis_factory: Callable[..., RedisServer]) -> RedisServer:
    return module_redis_factory()


def _sources(config_dir: Any, sims: dict[str, RunningSimulator], redis: RedisServer, *, extra_alias: bool,
             port: int | None = None) -> Any:
    exact = aliases_onto(["flaky", "steady", "capped", "cached", "chat"])
    if extra_alias:
        exact["chat-v2"] = {"provider": "p-chat", "backend_model": "m-chat"}
    return write_sources(
        config_dir,
        providers=vllm_providers(sims),
        mappings={
            "exact_matches": exact,
            "capabilities": {"pool": {"preferred_models": ["flaky", "steady"], "routing_strategy": "load_balance"}},
            "rate_limits": {"capped": {"rpm": RPM}},
        },
        gateway={
            "server": {"replicas": 2, **({"port": port} if port else {})},
            "reliability": {"num_retries": 0, "allowed_fails": ALLOWED_FAILS, "cooldown_time": COOLDOWN_S,
                            "timeout": 30},
            "cache": {"enabled": True, "type": "redis", "host": redis.host, "port": redis.port,
                      "password_env": None, "ttl": 600},
        },
    )


@pytest.fixture(scope="module")
def fleet(sims: dict[str, RunningSimulator], redis: RedisServer,
          module_gateway_factory: Callable[..., RunningGateway],
          tmp_path_factory: pytest.TempPathFactory) -> RunningGateway:
    config_dir = _sources(tmp_path_factory.mktemp("fleet") / "config", sims, redis, extra_alias=False)
    return module_gateway_factory(config_dir, front="haproxy")


@pytest.fixture(autouse=True)
def _fresh(sims: dict[str, RunningSimulator]) -> None:
    for sim in sims.values():
        sim.control(error_rate=0.0)
        sim.reset()


def _replica_urls(fleet: RunningGateway) -> list[str]:
    return [f"http://127.0.0.1:{r['port']}" for r in fleet.state()["replicas"]]


def _chat(url: str, key: str, model: str, content: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=120,
                      json={"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 4})


def _seen(sim: RunningSimulator) -> int:
    return sum(model_counts(sim).values())


def _generated(fleet: RunningGateway) -> dict[str, Any]:
    return dict(yaml.safe_load((fleet.config_dir / "litellm-unified.yaml").read_text()))


def test_status_shows_every_replica_and_the_generated_config_shares_state(
        fleet: RunningGateway, redis: RedisServer) -> None:
    assert "(2 replicas, HAProxy front)" in fleet.start_output
    state = fleet.state()
    assert [r["slot"] + "-" + str(r["index"]) for r in state["replicas"]] == ["blue-0", "blue-1"]
    expected = [f"  blue-{r['index']}: running, ready (pid {r['pid']} on port {r['port']}, HAProxy: UP)"
                for r in state["replicas"]]
    # On a loaded machine a replica can miss a health check or two (HAProxy shows it 'UP 1/3' until the
    # next check passes, seconds later, in words: 'UP, 2 checks failed in a row, ...'): every replica must
    # be reported fully UP, in the text and the JSON, within a few check intervals (inter 2s).
    deadline = time.monotonic() + 30
    while True:
        text = fleet.cli("gateway", "status")
        assert text.returncode == 0, text.stdout + text.stderr
        data = json.loads(fleet.cli("gateway", "status", "--json").stdout)
        seen = [(r["server"], r["alive"], r["ready"], r["front"]) for r in data["replicas"]]
        settled = all(line in text.stdout for line in expected) and seen == [
            ("blue-0", True, True, "UP"), ("blue-1", True, True, "UP")]
        if settled or time.monotonic() > deadline:
            break
        time.sleep(1)
    for line in expected:
        assert line in text.stdout, text.stdout
    assert seen == [("blue-0", True, True, "UP"), ("blue-1", True, True, "UP")]
    router = _generated(fleet)["router_settings"]
    assert (router["redis_host"], router["redis_port"]) == (redis.host, redis.port)
    assert router["routing_strategy"] == "usage-based-routing-v2"
    capped = [e for e in _generated(fleet)["model_list"] if e["model_name"] == "capped"]
    assert [e["litellm_params"]["rpm"] for e in capped] == [RPM]  # written as given: see the rpm test


def _in_one_clock_minute(seconds_needed: float) -> None:
    """usage-based-routing-v2 counts per UTC clock minute (key ...:rpm:HH-MM): stay inside one."""
    now = datetime.datetime.now(datetime.UTC)
    if now.second + seconds_needed > 58:
        time.sleep(60 - now.second + 0.5)


def test_an_rpm_limit_holds_across_the_fleet_not_per_replica(
        fleet: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    a, b = _replica_urls(fleet)
    _in_one_clock_minute(20)
    statuses = []
    for i, url in enumerate([a, b] * 4):
        statuses.append(_chat(url, fleet.key, "capped", f"capped {i} {time.time()}").status_code)
        time.sleep(0.3)  # each replica pushes its counters to Redis every 0.1 s
    admitted = statuses.count(200)
    print(f"rpm {RPM} across two replicas, 8 requests alternating: {statuses}")
    # Counted per replica, each would have admitted up to RPM of its four (6 in all). Shared in Redis
    # the fleet admits RPM, or RPM - 1 when v2's `current + 1 >= rpm` sees its own count first
    # (LiteLLM 1.106.2, lowest_tpm_rpm_v2.py): never more than the limit.
    assert RPM - 1 <= admitted <= RPM
    assert statuses == [200] * admitted + [429] * (8 - admitted)
    assert _seen(sims["capped"]) == admitted


def test_a_cooldown_opened_through_one_replica_is_honoured_by_the_other(
        fleet: RunningGateway, sims: dict[str, RunningSimulator], redis: RedisServer) -> None:
    a, b = _replica_urls(fleet)
    flaky, steady = sims["flaky"], sims["steady"]
    flaky.control(error_rate=1.0, error_status=500)
    # Through replica A only, until flaky has failed allowed_fails + 1 times: its circuit opens.
    for i in range(40):
        _chat(a, fleet.key, "pool", f"open {i}")
        if _seen(flaky) > ALLOWED_FAILS:
            break
    assert _seen(flaky) == ALLOWED_FAILS + 1
    keys = sorted(k.decode() for k in redis.client().keys("deployment:*:cooldown"))
    assert keys == ["deployment:pool@p-flaky/m-flaky:cooldown"]
    time.sleep(1.5)
    # Replica B never saw flaky fail. Were the cooldown not shared, simple-shuffle would send it about
    # half of these (all ten avoiding it: p = 2^-10); with num_retries 0 each would be a 500.
    statuses = [_chat(b, fleet.key, "pool", f"after {i}").status_code for i in range(10)]
    assert statuses == [200] * 10
    assert _seen(flaky) == ALLOWED_FAILS + 1
    assert _seen(steady) >= 10
    redis.client().delete(*keys)  # close it for the tests that follow


def test_a_cache_hit_through_one_replica_is_served_to_the_other(
        fleet: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    a, b = _replica_urls(fleet)
    content = f"cache me {time.time()}"
    first = _chat(a, fleet.key, "cached", content)
    assert first.status_code == 200 and _seen(sims["cached"]) == 1
    assert "x-litellm-cache-key" not in first.headers
    second = _chat(b, fleet.key, "cached", content)
    assert second.status_code == 200
    assert second.headers.get("x-litellm-cache-key"), "replica B did not answer from the cache"
    assert _seen(sims["cached"]) == 1, "replica B asked the backend again"
    assert second.json()["choices"] == first.json()["choices"]


def test_a_rolling_reload_under_load_loses_nothing(
        fleet: RunningGateway, sims: dict[str, RunningSimulator], redis: RedisServer) -> None:
    old = fleet.state()["replicas"]
    _sources(fleet.config_dir, sims, redis, extra_alias=True, port=fleet.port)
    with SteadyLoad(fleet.url, fleet.key, "chat", rate=20, timeout=LOAD_TIMEOUT_S) as load:
        result = fleet.cli("reload", timeout=600)
    figures = load.result
    print(f"rolling reload of 2 replicas: sent {figures.sent}, ok {figures.ok}, lost {figures.lost}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(2 replicas, green) with no downtime" in result.stdout
    assert figures.sent >= 100, "the reload was too quick to prove anything"
    assert figures.failures == [] and figures.lost == 0
    new = fleet.state()["replicas"]
    assert [(r["slot"], r["index"]) for r in new] == [("green", 0), ("green", 1)]
    assert not any(os.path.exists(f"/proc/{r['pid']}") and _is_litellm(r["pid"]) for r in old)
    for url in _replica_urls(fleet):
        listed = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {fleet.key}"}, timeout=30)
        assert "chat-v2" in {m["id"] for m in listed.json()["data"]}


def _is_litellm(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"litellm" in handle.read()
    except OSError:
        return False


def _sockets_open(pid: int) -> bool:
    """Whether the process still holds its sockets. A SIGKILLed process loses its memory (and so its
    /proc cmdline) before its files: for some milliseconds its listening socket still completes
    handshakes and then resets them. Only a zombie (or a reaped process) has closed them all."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def test_killing_one_replica_under_load_fails_at_most_what_was_in_flight_on_it(
        fleet: RunningGateway, sims: dict[str, RunningSimulator]) -> None:
    victim = fleet.state()["replicas"][1]
    with SteadyLoad(fleet.url, fleet.key, "chat", rate=20, timeout=LOAD_TIMEOUT_S) as load:
        time.sleep(5)
        killed = time.monotonic()
        os.killpg(victim["pid"], signal.SIGKILL)
        # A big process takes a moment to die: until its sockets close, connections still reach it.
        while _sockets_open(victim["pid"]) and time.monotonic() < killed + 10:
            time.sleep(0.01)
        gone = time.monotonic()
        time.sleep(10)
    figures = load.result
    in_flight = [i for i, sent, ended, _ok in figures.spans if sent <= gone and ended >= killed]
    failed = [(i, sent, ended) for i, sent, ended, ok in figures.spans if not ok]
    print(f"replica killed under 20 req/s: sent {figures.sent}, ok {figures.ok}, failed {len(failed)}, "
          f"in flight at the kill {len(in_flight)}; failures: {figures.failures[:5]}")
    print(f"the replica was gone {gone - killed:.3f} s after SIGKILL; failed, sent/ended relative to the kill:",
          [(i, round(sent - killed, 3), round(ended - killed, 3)) for i, sent, ended in failed])
    assert figures.sent >= 200
    # Only a request that was on its way while the replica died may fail; none sent after.
    assert {i for i, _sent, _ended in failed} <= set(in_flight), figures.failures
    assert not [i for i, sent, _ended in failed if sent > gone]
    status = json.loads(fleet.cli("gateway", "status", "--json").stdout)
    slot = victim["slot"]
    assert [(r["server"], r["alive"]) for r in status["replicas"]] == [(f"{slot}-0", True), (f"{slot}-1", False)]
    assert status["running"] is True and status["ready"] is True
    assert status["problem"] == f"replica {slot}-1 (pid {victim['pid']}) is not running"
