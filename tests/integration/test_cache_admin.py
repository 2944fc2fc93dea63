"""``aibackend cache stats|keys|flush`` against a real redis-server with a password.

The command module is driven through its own argument parser (``add_arguments`` + ``run``), the
way ``aibackend.cli`` dispatches it.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from aibackend.commands import cache as cache_command
from generator.errors import AibackendError, UsageError
from tests.plugins.gateway import write_sources
from tests.plugins.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.requires_redis]

PASSWORD = "cache-admin-password-3c9f"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="aibackend cache")
    parser.add_argument("--config-dir", type=Path, default=Path("config"))
    cache_command.add_arguments(parser)
    code = cache_command.run(parser.parse_args(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def server(redis_server_factory: Callable[..., RedisServer]) -> RedisServer:
    return redis_server_factory(password=PASSWORD)


def _config(tmp_path: Path, server: RedisServer, namespace: str | None = None) -> Path:
    cache = {"enabled": True, "type": "redis", "host": server.host, "port": server.port,
             "password_env": "ADMIN_TEST_REDIS_PASSWORD"}
    if namespace:
        cache["namespace"] = namespace
    return write_sources(
        tmp_path / "config",
        providers={"o": {"type": "ollama", "base_url": "http://127.0.0.1:11434", "models": ["m"]}},
        gateway={"cache": cache},
    )


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_TEST_REDIS_PASSWORD", PASSWORD)


def _fill(server: RedisServer) -> None:
    client = server.client()
    client.set("litellm:aaa", "1", ex=100)
    client.set("litellm:bbb", "2", ex=300)
    client.set("litellm:ccc", "3")
    client.set("other-app-key", "x")
    client.get("litellm:aaa")  # a hit
    client.get("litellm:aaa")  # a hit
    client.get("litellm:zzz")  # a miss


def test_stats_json(tmp_path: Path, server: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(server)
    config = _config(tmp_path, server, namespace="litellm")
    code, out, _ = _run(["stats", "--config-dir", str(config), "--json"], capsys)
    data = json.loads(out)
    volatile = {k: data.pop(k) for k in ("used_memory_bytes", "used_memory_human", "rdb_last_save_time",
                                         "ttl_min_s", "ttl_median_s", "ttl_max_s")}
    assert code == 0
    assert data == {
        "address": f"127.0.0.1:{server.port}", "pattern": "litellm:*", "keys": 3, "db_keys": 4,
        "hits": 2, "misses": 1, "hit_rate": 2 / 3, "maxmemory_bytes": 0, "maxmemory_policy": "noeviction",
        "ttl_sampled": 3, "without_ttl": 1, "aof_enabled": False,
    }
    assert volatile["used_memory_bytes"] > 0
    assert 95 <= volatile["ttl_min_s"] <= 100 and 295 <= volatile["ttl_max_s"] <= 300
    assert volatile["ttl_median_s"] == (volatile["ttl_min_s"] + volatile["ttl_max_s"]) / 2


def test_stats_text(tmp_path: Path, server: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(server)
    code, out, _ = _run(["stats", "--config-dir", str(_config(tmp_path, server, namespace="litellm"))], capsys)
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == f"Redis cache at 127.0.0.1:{server.port} (keys matching 'litellm:*')"
    assert lines[1] == "  keys          3 (database: 4)"
    assert lines[2] == "  hit rate      66.7% (2 hits, 1 misses since Redis started)"
    assert lines[5] == "  persistence   AOF off, last RDB save at " + lines[5].rsplit(" at ", 1)[1]


def test_keys_lists_ttl_and_memory(tmp_path: Path, server: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(server)
    code, out, _ = _run(["keys", "--config-dir", str(_config(tmp_path, server, namespace="litellm")), "--json"],
                        capsys)
    keys = json.loads(out)
    assert code == 0
    assert [k["key"] for k in keys] == ["litellm:aaa", "litellm:bbb", "litellm:ccc"]
    assert [k["ttl_s"] is None for k in keys] == [False, False, True]
    assert all(k["memory_bytes"] > 0 for k in keys)


def test_flush_with_yes_deletes_only_the_namespace(
    tmp_path: Path, server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(server)
    code, out, _ = _run(["flush", "--yes", "--config-dir", str(_config(tmp_path, server, namespace="litellm"))],
                        capsys)
    assert (code, out) == (0, f"deleted 3 key(s) from Redis at 127.0.0.1:{server.port}\n")
    assert sorted(server.client().keys("*")) == [b"other-app-key"]


def test_flush_without_yes_refuses_when_stdin_is_not_a_terminal(
    tmp_path: Path, server: RedisServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(server)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # piped input is not a confirmation
    with pytest.raises(AibackendError) as caught:
        _run(["flush", "--config-dir", str(_config(tmp_path, server))], capsys)
    assert str(caught.value) == ("refusing to flush the cache without confirmation: stdin is not a terminal\n"
                                 "  hint: pass --yes to flush without asking")
    assert server.client().dbsize() == 4


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code", "left"), [("n\n", 1, 4), ("y\n", 0, 0)])
def test_flush_asks_on_a_terminal(
    tmp_path: Path, server: RedisServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    answer: str, code: int, left: int,
) -> None:
    _fill(server)
    monkeypatch.setattr("sys.stdin", _Tty(answer))
    result, out, _ = _run(["flush", "--config-dir", str(_config(tmp_path, server))], capsys)
    question = f"Delete EVERY key of the database from Redis at 127.0.0.1:{server.port}? [y/N] "
    expected = "nothing deleted\n" if code else f"deleted 4 key(s) from Redis at 127.0.0.1:{server.port}\n"
    assert (result, out) == (code, question + expected)
    assert server.client().dbsize() == left


def test_missing_password_variable_is_a_usage_error(
    tmp_path: Path, server: RedisServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ADMIN_TEST_REDIS_PASSWORD")
    with pytest.raises(UsageError) as caught:
        _run(["stats", "--config-dir", str(_config(tmp_path, server))], capsys)
    assert caught.value.message == (
        "the cache password is read from the environment variable ADMIN_TEST_REDIS_PASSWORD "
        f"({tmp_path / 'config' / 'gateway.yaml'}: cache.password_env), which is not set"
    )


def test_redis_down_is_a_clear_error(
    tmp_path: Path, server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, server)
    server.stop()
    with pytest.raises(AibackendError) as caught:
        _run(["stats", "--config-dir", str(config)], capsys)
    assert caught.value.message.startswith(f"cannot connect to Redis at 127.0.0.1:{server.port}: ")
    assert caught.value.hint == "is redis-server running? (aibackend deploy systemd writes a unit for it)"
