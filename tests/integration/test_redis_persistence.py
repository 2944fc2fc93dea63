"""The generated redis.conf on a real redis-server: keys survive a SIGKILL (AOF, fsync every second).

The server runs in a temp dir on a free port, with the password passed as the generated unit does:
``--include FILE`` where FILE holds ``requirepass`` (never in redis.conf). A control run with
persistence switched off loses the keys the same way, so the test can tell the difference.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from aibackend.deploy.redis_conf import render_redis_conf
from generator.load import load_sources
from generator.net import free_port
from tests.plugins.gateway import write_sources

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.requires_redis]

PASSWORD = "persist-test-password-91ab"


class RedisProcess:
    def __init__(self, directory: Path, conf: Path, port: int, extra: list[str]) -> None:
        self.directory, self.conf, self.port, self.extra = directory, conf, port, extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> redis.Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run scripts/setup.sh")
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen([binary, str(self.conf), *self.extra], cwd=self.directory,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        client = redis.Redis(host="127.0.0.1", port=self.port, password=PASSWORD, socket_timeout=5)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                # Loading the AOF answers LOADING errors until done: wait for a real PONG.
                if client.ping():
                    return client
            except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
                time.sleep(0.05)
        pytest.fail(f"redis-server did not start:\n{(self.directory / 'redis.log').read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_dir(tmp_path: Path) -> Iterator[tuple[Path, Path, int]]:
    port = free_port()
    config_dir = write_sources(
        tmp_path / "config",
        providers={"o": {"type": "ollama", "base_url": "http://127.0.0.1:11434", "models": ["m"]}},
        gateway={"cache": {"enabled": True, "type": "redis", "host": "127.0.0.1", "port": port}},
    )
    loaded = load_sources(config_dir)
    assert loaded.sources is not None, loaded.diagnostics
    data = tmp_path / "data"
    data.mkdir()
    conf = tmp_path / "redis.conf"
    conf.write_text(render_redis_conf(loaded.sources))
    # The operator's (or the unit's ExecStartPre's) part: the password file, never redis.conf.
    auth = tmp_path / "auth.conf"
    auth.write_text(f"requirepass {PASSWORD}\n")
    auth.chmod(0o600)
    yield data, conf, port


def _write_keys(client: redis.Redis) -> None:
    for i in range(200):
        client.set(f"cache:{i}", f"value {i}")
    client.set("with-ttl", "expires later", ex=3600)


def test_keys_survive_sigkill(redis_dir: tuple[Path, Path, int]) -> None:
    data, conf, port = redis_dir
    server = RedisProcess(data, conf, port, ["--include", str(conf.parent / "auth.conf")])
    try:
        client = server.start()
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).get("cache:0")
        _write_keys(client)
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        time.sleep(2.5)  # appendfsync everysec: what was written more than a second ago is on disk
        server.kill()
        assert (data / "appendonlydir").is_dir()
        client = server.start()
        assert client.dbsize() == 201
        assert client.get("cache:199") == b"value 199"
        assert 3500 < client.ttl("with-ttl") <= 3600
    finally:
        server.stop()


def test_control_without_persistence_loses_the_keys(redis_dir: tuple[Path, Path, int]) -> None:
    data, conf, port = redis_dir
    server = RedisProcess(data, conf, port,
                          ["--include", str(conf.parent / "auth.conf"), "--appendonly", "no", "--save", ""])
    try:
        client = server.start()
        _write_keys(client)
        time.sleep(2.5)
        server.kill()
        client = server.start()
        assert client.dbsize() == 0
    finally:
        server.stop()


def test_redis_refuses_to_start_without_the_password_file(redis_dir: tuple[Path, Path, int]) -> None:
    data, conf, _ = redis_dir
    binary = shutil.which("redis-server")
    assert binary is not None
    result = subprocess.run([binary, str(conf), "--include", str(data / "missing.conf")], cwd=data,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "Fatal error, can't open config file" in result.stdout + result.stderr
