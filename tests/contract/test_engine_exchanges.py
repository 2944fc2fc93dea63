"""The recorded exchanges with the real llama.cpp engines (fixtures/exchanges/<type>/) are still true,
one by one: each request sent again gets the recorded status and media type; and every known
deviation that names its exchange, fuzz records included, still excuses exactly what the real server
answers today (the same class of request, status and body text). A stale record fails."""

from __future__ import annotations

import json

import pytest

from contracts.engines.llama_servers import ENGINE_KINDS, EngineKind, EngineServer
from contracts.exchanges import load_exchange, load_exchanges, replay
from contracts.fuzz import request_classes, violations_for_response
from contracts.schemas import load_spec, spec_schemas
from contracts.suite import known_deviations
from contracts.suite.deviations import Observation, observed_as

pytestmark = [pytest.mark.contract, pytest.mark.slow, pytest.mark.xdist_group("engine-contract")]

EXCHANGES = [pytest.param(kind, e.name, id=e.name) for kind in ENGINE_KINDS for e in load_exchanges(kind)]
WAIVERS = [
    pytest.param(kind, index, id=f"{kind}-{index}-{record['check']}-{record['rule']}")
    for kind in ENGINE_KINDS
    for index, record in enumerate(known_deviations(kind))
    if "exchange" in record
]


def _engine(request: pytest.FixtureRequest, kind: EngineKind) -> EngineServer:
    server: EngineServer = request.getfixturevalue(f"{kind}_engine")
    return server


def _documented(kind: str, path: str) -> dict[str, object]:
    """The operation's ``responses`` in the type's spec, as fuzzing judges with them."""
    responses: dict[str, object] = load_spec(kind)["paths"][path]["post"]["responses"]
    return responses


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip()


@pytest.mark.parametrize(("kind", "name"), EXCHANGES)
def test_a_recorded_exchange_still_holds(request: pytest.FixtureRequest, kind: EngineKind, name: str) -> None:
    recorded = load_exchange(name)
    today = replay(recorded, _engine(request, kind).base_url)
    assert (today.status, _media(today.content_type)) == (recorded.status, _media(recorded.content_type)), today.response_body[:300]


@pytest.mark.parametrize(("kind", "index"), WAIVERS)
def test_a_known_deviation_still_excuses_its_exchange(request: pytest.FixtureRequest, kind: EngineKind, index: int) -> None:
    record = known_deviations(kind)[index]
    exchange = load_exchange(record["exchange"])
    assert record["endpoint"] == exchange.endpoint
    if "request_class" in record:
        parsed = True
        try:
            body = json.loads(exchange.request_body or "")
        except ValueError:
            body, parsed = exchange.request_body, False
        assert record["request_class"] in request_classes(kind, exchange.path, body, parsed=parsed)
    today = replay(exchange, _engine(request, kind).base_url)
    match = record["match"]
    if "actual" in match:
        assert today.status == 200 and today.status == exchange.status
        if record["check"].startswith("fuzz "):
            # Judged again as fuzzing judges it: the recorded finding, with exactly that answer.
            found = violations_for_response(
                kind, exchange.method, exchange.path, json.loads(exchange.request_body or "null"), today.status,
                {"content-type": today.content_type}, today.response_body.encode("utf-8"),
                positive=record["check"].endswith("(positive)"), documented=_documented(kind, exchange.path),
            )
            assert (record["rule"], record["case"], match["actual"]) in {(v.rule, v.expected, v.actual) for v in found}, found
        return
    observation = Observation(today.status, today.content_type, today.response_body.encode("utf-8"))
    assert observed_as(match, spec_schemas(kind), observation), f"{record['why'][:80]}: now {today.status} {today.response_body[:200]}"
