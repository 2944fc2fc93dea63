"""Where ``top``'s figures come from, one ``Snapshot`` per refresh.

- the request log of the gateway (``<config-dir>/.run/gateway-<slot>.log``, followed from where
  it was when ``top`` started; a truncated or replaced file is read again from its start): per
  group and per backend, exact;
- LiteLLM's ``/metrics/`` (with the master key; ``require_auth_for_metrics_endpoint`` is on by
  default): requests in flight (gateway-wide: LiteLLM counts them per worker, not per group; our
  own scrape is one of them and is not counted), and per-group figures when there is no log;
- the providers of ``providers.yaml``, probed as ``aibackend health`` does, every ``PROBE_EVERY_S``.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from aibackend.ops.request_log import RequestRecord, classify
from aibackend.top.metrics import parse_metrics
from aibackend.top.window import GroupRow, LogWindow, MetricsWindow, netloc
from generator.load import Sources

__all__ = ["PROBE_EVERY_S", "GatewaySource", "ProviderRow", "Snapshot"]

PROBE_EVERY_S = 5.0


@dataclass(frozen=True)
class ProviderRow:
    name: str
    type: str
    status: str  # providers.yaml status
    health: str  # up | down | loading | checking | not probed
    probe_ms: float | None
    detail: str
    traffic: GroupRow | None  # what the gateway sent it in the window (from the log)


@dataclass
class Snapshot:
    at: float
    gateway: str | None
    gateway_state: str
    in_flight: int | None
    figures_from: str  # "request log" | "metrics" | "nothing yet"
    groups: list[GroupRow] = field(default_factory=list)
    providers: list[ProviderRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class _LogFollower:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0  # what happened before top is history
        self.inode = path.stat().st_ino if path.exists() else None
        self.pending = ""
        self.line = 0

    def read(self) -> list[RequestRecord]:
        try:
            stat = self.path.stat()
        except OSError:
            return []
        if stat.st_ino != self.inode or stat.st_size < self.offset:  # replaced or truncated
            self.offset, self.inode, self.pending = 0, stat.st_ino, ""
        with self.path.open("r", encoding="utf-8", errors="replace") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
            self.offset = handle.tell()
        text = self.pending + chunk
        lines = text.split("\n")
        self.pending = lines.pop()  # an unfinished last line waits for its end
        found = []
        for line in lines:
            self.line += 1
            kind, item = classify(self.line, line)
            if kind == "request" and isinstance(item, RequestRecord):
                found.append(item)
        return found


class GatewaySource:
    def __init__(self, *, gateway: str | None, log: Path | None, config_dir: Path | None, key_env: str | None,
                 timeout: float = 5.0) -> None:
        self.gateway = gateway.rstrip("/") if gateway else None
        self.follower = _LogFollower(log) if log is not None else None
        self.config_dir = config_dir
        self.key_env = key_env
        self.timeout = timeout
        self.logs = LogWindow()
        self.metric_window = MetricsWindow()
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._health: dict[str, Any] = {}
        self._sources: Sources | None = None
        self._providers: list[tuple[str, str, str, str]] = []  # name, type, status, netloc
        self._probe_lock = threading.Lock()
        self._probed_at = 0.0
        self._probe_thread: threading.Thread | None = None
        self._load_providers()

    def close(self) -> None:
        self.client.close()

    def _load_providers(self) -> None:
        if self.config_dir is None:
            return
        from generator.pipeline import build

        result = build(self.config_dir, render=False)
        if result.sources is not None:
            self._sources = result.sources
            self._providers = [(name, p.type, p.status, netloc(p.base_url))
                               for name, p in result.sources.providers.providers.items()]

    def _probe(self) -> None:
        from aibackend.ops.health import check_all, provider_targets

        if self._sources is None:
            return
        results = check_all(provider_targets(self._sources), timeout=self.timeout)
        with self._probe_lock:
            self._health = {r.target.name: r for r in results}

    def _maybe_probe(self, now: float) -> None:
        if not self._providers or now - self._probed_at < PROBE_EVERY_S:
            return
        if self._probe_thread is not None and self._probe_thread.is_alive():
            return
        self._probed_at = now
        self._probe_thread = threading.Thread(target=self._probe, name="top-health", daemon=True)
        self._probe_thread.start()

    def _scrape(self) -> tuple[str, list[Any]]:
        if self.gateway is None:
            return "no gateway URL", []
        headers = {}
        key = os.environ.get(self.key_env or "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            ready = self.client.get(f"{self.gateway}/health/readiness", headers=headers)
            metrics = self.client.get(f"{self.gateway}/metrics/", headers=headers)
        except httpx.TransportError as exc:
            from aibackend.ops.health import transport_reason

            return f"down: {transport_reason(exc, self.timeout)}", []
        state = "ready" if ready.status_code == 200 else f"not ready (HTTP {ready.status_code})"
        if metrics.status_code != 200:
            hint = f" (is ${self.key_env} set?)" if metrics.status_code in (401, 403) and self.key_env else ""
            return f"{state}; /metrics/ answered HTTP {metrics.status_code}{hint}", []
        return state, parse_metrics(metrics.text)

    def poll(self) -> Snapshot:
        now = time.time()
        self._maybe_probe(now)
        state, samples = self._scrape()
        in_flight = None
        flights = [s.value for s in samples if s.name == "litellm_in_flight_requests"]
        if flights:
            in_flight = max(0, int(sum(flights)) - 1)  # minus our own scrape
        snapshot = Snapshot(at=now, gateway=self.gateway, gateway_state=state, in_flight=in_flight,
                            figures_from="nothing yet")
        backends: dict[str, GroupRow] = {}
        if self.follower is not None:
            self.logs.add(self.follower.read())
            snapshot.groups, backends = self.logs.groups(now), self.logs.backends(now)
            snapshot.figures_from = f"request log {self.follower.path}"
        elif samples:
            snapshot.groups = self.metric_window.update(samples, now)
            snapshot.figures_from = "metrics (no request log: pass --config-dir or --log for exact figures)"
        with self._probe_lock:
            health = dict(self._health)
        for name, kind, status, where in self._providers:
            result = health.get(name)
            if status != "active":
                shown, latency, detail = "not probed", None, status
            elif result is None:
                shown, latency, detail = "checking", None, ""
            else:
                shown, latency, detail = result.state, result.latency_ms, result.detail
            snapshot.providers.append(ProviderRow(name, kind, status, shown, latency, detail, backends.get(where)))
        return snapshot
