"""Top-level pytest configuration: command-line options and the shared plugins.

Markers are declared in pyproject.toml (``--strict-markers``). Fixtures live in plugin
modules under ``tests/plugins/`` (one per kind of resource: temp config dirs, simulators,
Redis, the gateway), each starting things on free ports in its own temp dir and stopping
everything it started.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.plugins.processes",
    "tests.plugins.configs",
    "tests.plugins.simulators",
    "tests.plugins.redis_server",
    "tests.plugins.gateway",
    "tests.plugins.engines",
    "tests.plugins.results",
    "tests.plugins.browser",
    "tests.plugins.switch_engines",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aibackend", "ai-backend-unified targets")
    group.addoption(
        "--target",
        action="append",
        default=[],
        metavar="TYPE=URL",
        help="run the contract suite against a live server of provider TYPE at URL (repeatable)",
    )
    group.addoption(
        "--providers-file",
        default=None,
        metavar="PATH",
        help="run the contract suite against every active provider of this providers.yaml",
    )
    group.addoption(
        "--model",
        default=None,
        metavar="NAME",
        help="model to exercise on live targets (default: the first the server lists)",
    )
    group.addoption(
        "--api-key-env",
        default=None,
        metavar="VAR",
        help="environment variable holding the bearer key for live targets",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Fast tiers first, so a broken compiler fails the run in seconds, not after the gateway tests.
    order = {"unit": 0, "contract": 1, "load": 2, "integration": 3, "rollback": 4}

    def rank(item: pytest.Item) -> int:
        ranks = [order[m.name] for m in item.iter_markers() if m.name in order]
        return min(ranks) if ranks else 5

    items.sort(key=rank)
    requires_gpu = not (config.getoption("--target") or config.getoption("--providers-file"))
    if requires_gpu:
        skip = pytest.mark.skip(reason="requires_gpu: pass --target/--providers-file pointing at real GPU providers")
        for item in items:
            if item.get_closest_marker("requires_gpu"):
                item.add_marker(skip)
