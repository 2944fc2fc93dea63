"""Fixtures: a real ``redis-server`` per test (or per module) on a free port, in its own temp dir.

``redis_server_factory(password=None, persistence=False)`` returns a started ``RedisServer``;
it can be ``stop()``-ed and ``start()``-ed again on the same port (to test a gateway whose Redis
goes away), and everything is stopped at teardown. Never the system's Redis.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from generator.net import free_port

__all__ = ["RedisServer"]


@dataclass
class RedisServer:
    directory: Path
    password: str | None = None
    persistence: bool = False
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, password=self.password, socket_timeout=5)

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `make setup` (it installs Debian's redis-server)")
        command = [
            binary, "--port", str(self.port), "--bind", self.host, "--dir", str(self.directory),
            "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
            "--logfile", str(self.directory / "redis.log"),
            # Its default process title overwrites its environment, and with it the owner's token
            # (generator.lifeline): keep it, so redis-server dies with the test process.
            "--set-proc-title", "no",
        ]
        if not self.persistence:
            command += ["--save", "", "--appendonly", "no"]
        if self.password:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
            except redis.exceptions.AuthenticationError:
                return
        self.stop()
        pytest.fail(f"redis-server did not answer PING on port {self.port} within 10 s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _factory(base: Path) -> Iterator[Callable[..., RedisServer]]:
    started: list[RedisServer] = []

    def make(*, password: str | None = None, persistence: bool = False) -> RedisServer:
        directory = base / f"redis-{len(started)}"
        directory.mkdir(parents=True)
        server = RedisServer(directory=directory, password=password, persistence=persistence)
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    yield from _factory(tmp_path)


@pytest.fixture(scope="module")
def module_redis_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RedisServer]]:
    yield from _factory(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def redis_server(redis_server_factory: Callable[..., RedisServer]) -> RedisServer:
    return redis_server_factory()
