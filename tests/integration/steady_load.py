"""A steady open-loop request stream (N requests/s) with every outcome counted.

Open loop: request i is sent at ``start + i / rate`` whatever happened to the others, so a
stalled gateway cannot slow the stream down and hide lost requests. Each request is its own
connection (no keep-alive), the harshest case for a port that changes hands.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["LoadResult", "SteadyLoad"]


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    answered_by: Counter[str] = field(default_factory=Counter)
    # (index, sent, ended, ok) per request, times from time.monotonic(): what was in flight when.
    spans: list[tuple[int, float, float, bool]] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.sent - self.ok


class SteadyLoad:
    """``with SteadyLoad(url, key, model, rate=20) as load: ...``; then ``load.result``."""

    def __init__(self, url: str, key: str, model: str, *, rate: float = 20.0, timeout: float = 60.0) -> None:
        self.url = url
        self.key = key
        self.model = model
        self.rate = rate
        self.timeout = timeout
        self.result = LoadResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0, max_connections=1000)
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, limits=limits, timeout=self.timeout) as client:
            tasks: list[asyncio.Task[None]] = []
            start = time.monotonic()
            index = 0
            while not self._stop.is_set():
                due = start + index / self.rate
                # Always yield, even when behind schedule: a sender that never awaits starves the
                # responses of the requests already in flight (they would look lost).
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                tasks.append(asyncio.create_task(self._one(client, index, start)))
                self.result.sent += 1
                index += 1
            await asyncio.gather(*tasks)

    async def _one(self, client: httpx.AsyncClient, index: int, start: float) -> None:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": f"steady request {index}"}],
            "max_tokens": 4,
        }
        sent = time.monotonic()
        try:
            response = await client.post("/v1/chat/completions", json=body)
        except httpx.HTTPError as exc:
            self.result.spans.append((index, sent, time.monotonic(), False))
            sent_at = index / self.rate
            failed_at = time.monotonic() - start
            self.result.failures.append(
                f"#{index} sent at {sent_at:.1f}s, failed at {failed_at:.1f}s: {type(exc).__name__}: {exc}"
            )
            return
        self.result.spans.append((index, sent, time.monotonic(), response.status_code == 200))
        if response.status_code == 200:
            self.result.ok += 1
            self.result.answered_by[response.headers.get("x-litellm-model-api-base", "?")] += 1
        else:
            self.result.failures.append(f"#{index}: HTTP {response.status_code}: {response.text[:200]}")
