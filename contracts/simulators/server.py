"""The HTTP core: one server per simulator (wire.py's raw asyncio HTTP/1.1), whatever its personality.

It owns the listening socket (backlog, TCP_NODELAY on every accepted socket, stop/resume
listening), the loading phase, the fault injection, the slot pool and the timed sending of
inference answers against absolute deadlines. Personalities only build bodies.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import random
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from contracts.simulators.config import ConfigError, SimulatorConfig
from contracts.simulators.latency import SlotPool
from contracts.simulators.personalities import (
    Personality,
    fault_reply,
    loading_reply,
    not_found_reply,
    personality,
)
from contracts.simulators.replies import Call, Delayed, Reply, Streamed, dumps
from contracts.simulators.stats import SimStats
from contracts.simulators.wire import HttpProtocol, Request

__all__ = ["BACKLOG", "SimulatorServer", "serve"]

BACKLOG = 4096


class _ResetProtocol(asyncio.Protocol):
    """The reset-connections fault: accept, then drop the connection at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class SimulatorServer:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.personality: Personality = personality(config.type)
        self.stats = SimStats()
        self.slots = SlotPool(config.slots)
        self.in_flight = 0
        self.port = config.port
        self.loaded_models: dict[str, float] = {}
        self._next_id = 0
        self._fault_rng = random.Random(config.seed)
        self._loading_until = 0.0
        self._loading_task: asyncio.Task[None] | None = None
        self._refuse_task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._connections: set[HttpProtocol] = set()
        self._stopped: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- socket ---------------------------------------------------------------------
    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in self.config.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.port = int(sock.getsockname()[1])
        return sock

    def _protocol_factory(self) -> asyncio.Protocol:
        if self.config.reset_connections:
            self.stats.faults["reset"] += 1
            return _ResetProtocol()
        return HttpProtocol(self._handle, self._connections)

    @property
    def listening(self) -> bool:
        return self._listener is not None

    async def listen(self) -> None:
        if self._listener is not None:
            return
        sock = self._sock or self._bind()
        self._sock = None
        assert self._loop is not None
        self._listener = await self._loop.create_server(self._protocol_factory, sock=sock, backlog=BACKLOG)

    async def unlisten(self) -> None:
        """Stop accepting: new connections are refused; open keep-alive connections are closed
        once their current response is done, so pooled clients must reconnect (and are refused)."""
        if self._listener is None:
            return
        self._listener.close()
        self._listener = None
        self._sock = self._bind()  # hold the port (bound, not listening: the kernel refuses)
        for connection in list(self._connections):
            connection.close_when_idle()

    def refuse_for(self, seconds: float) -> None:
        assert self._loop is not None
        if self._refuse_task is not None:
            self._refuse_task.cancel()

        async def refuse() -> None:
            await self.unlisten()
            await asyncio.sleep(seconds)
            self.config = self.config.with_changes({"refuse_connections": False})
            await self.listen()

        self._refuse_task = self._loop.create_task(refuse())

    # --- life cycle -------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._sock = self._bind()
        if self.config.loading_s > 0:
            self.begin_loading(self.config.loading_s)
        elif not self.config.refuse_connections:
            await self.listen()

    def begin_loading(self, seconds: float) -> None:
        assert self._loop is not None
        self._loading_until = self._loop.time() + seconds
        if self._loading_task is not None:
            self._loading_task.cancel()

        async def loading() -> None:
            if self.personality.loading == "refuse":
                await self.unlisten()
            elif not self.config.refuse_connections:
                await self.listen()
            await asyncio.sleep(seconds)
            if not self.config.refuse_connections:
                await self.listen()

        self._loading_task = self._loop.create_task(loading())

    @property
    def loading(self) -> bool:
        return self._loop is not None and self._loop.time() < self._loading_until

    def stop(self) -> None:
        if self._stopped is not None:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        assert self._stopped is not None
        await self._stopped.wait()
        for task in (self._loading_task, self._refuse_task):
            if task is not None:
                task.cancel()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._sock is not None:
            self._sock.close()
        for connection in list(self._connections):
            connection.close()

    # --- control ----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        data = {"type": self.config.type, "models": list(self.config.models), "port": self.port,
                "listening": self.listening}
        data.update(self.stats.snapshot(running=self.slots.running, queued=self.slots.queued,
                                        in_flight=self.in_flight, loading=self.loading))
        data["config"] = self.config.as_dict()
        return data

    async def apply(self, changes: dict[str, Any]) -> SimulatorConfig:
        refuse_for = changes.pop("refuse_for_s", None)
        new = self.config.with_changes(changes)
        new.validate()
        old, self.config = self.config, new
        if new.slots != old.slots:
            self.slots.resize(new.slots)
        if "seed" in changes:
            self._fault_rng = random.Random(new.seed)
        if "loading_s" in changes and new.loading_s > 0:
            self.begin_loading(new.loading_s)
        if refuse_for is not None:
            if not isinstance(refuse_for, int | float) or isinstance(refuse_for, bool) or not 0 < refuse_for < 3600:
                raise ConfigError(f"refuse_for_s: must be a number of seconds in (0, 3600) (got {refuse_for!r})")
            self.refuse_for(float(refuse_for))
        elif new.refuse_connections and not old.refuse_connections:
            await self.unlisten()
        elif old.refuse_connections and not new.refuse_connections and not (
            self.loading and self.personality.loading == "refuse"
        ):
            await self.listen()
        return new

    async def _control(self, request: Request) -> None:
        path, method = request.path, request.method
        if path == "/_sim/stats" and method == "GET":
            return self._json(request, 200, self.snapshot())
        if path == "/_sim/reset" and method == "POST":
            self.stats.reset()
            return self._json(request, 200, {"reset": True})
        if path == "/_sim/control" and method == "GET":
            return self._json(request, 200, {"config": self.config.as_dict()})
        if path == "/_sim/control" and method == "POST":
            try:
                changes = json.loads(request.body or b"{}")
                if not isinstance(changes, dict):
                    raise ConfigError("the control body must be a JSON object of config fields")
                config = await self.apply(changes)
            except (ConfigError, json.JSONDecodeError, TypeError) as exc:
                return self._json(request, 400, {"error": str(exc)})
            return self._json(request, 200, {"config": config.as_dict()})
        return self._json(request, 404, {"error": f"no simulator control endpoint {method} {path}; "
                                                  "use GET /_sim/stats, GET|POST /_sim/control, POST /_sim/reset"})

    # --- requests ---------------------------------------------------------------------
    def _json(self, request: Request, status: int, body: Any) -> None:
        request.respond(status, {"content-type": "application/json"}, dumps(body))

    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"content-type": content_type} if content_type else {}
        if self.personality.server_header:
            headers["server"] = self.personality.server_header
        if self.personality.keep_alive_header:
            headers["keep-alive"] = self.personality.keep_alive_header
        return headers

    def _reply(self, request: Request, reply: Reply, extra: dict[str, str] | None = None) -> None:
        self.stats.status[str(reply.status)] += 1
        headers = self._headers(reply.content_type)
        headers.update(reply.headers)
        if extra:
            headers.update(extra)
        request.respond(reply.status, headers, reply.body)
        if reply.drop_connection:
            request.abort()

    async def _handle(self, request: Request) -> None:
        if request.path.startswith("/_sim/"):
            return await self._control(request)
        method, path = request.method, request.path
        self.stats.requests[f"{method} {path}"] += 1
        self._next_id += 1
        call = Call(
            method=method, path=path, query=request.query, headers=request.headers, body=request.body,
            config=self.config, request_id=self._next_id,
            counters={"running": self.slots.running, "queued": self.slots.queued, "stats": self.stats,
                      "loaded_models": self.loaded_models},
            note_model=self._note_model,
        )
        route = self.personality.routes.get((method, path))
        if route is None:
            known = any(p == path for (_m, p) in self.personality.routes)
            return self._reply(request, not_found_reply(call, self.config.type, known))
        if self.loading:
            if self.personality.loading == "503":
                return self._reply(request, loading_reply(call, self.config.type))
            if self.personality.loading == "wait" and route.inference:
                assert self._loop is not None
                await asyncio.sleep(max(0.0, self._loading_until - self._loop.time()))
        result = route.handler(call)
        if isinstance(result, Reply):
            return self._reply(request, result)
        return await self._serve_inference(request, call, result)

    def _note_model(self, model: str) -> None:
        self.stats.models[model] += 1
        self.loaded_models[model] = time.time()

    async def _serve_inference(self, request: Request, call: Call, result: Streamed | Delayed) -> None:
        loop = asyncio.get_running_loop()
        arrival = loop.time()
        config = self.config
        gen = result.generation
        entry: dict[str, Any] = {
            "id": call.request_id, "method": call.method, "path": call.path, "model": result.model,
            "status": 200, "stream": isinstance(result, Streamed), "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens, "tokens_per_chunk": config.tokens_per_chunk,
            "chunks": gen.chunk_count, "queue_ms": None, "prefill_ms": _ms(gen.schedule.prefill_s),
            "ttft_ms": None, "chunk_gaps_ms": [_ms(g) for g in gen.schedule.gaps_s], "e2e_ms": None,
            "max_lateness_ms": 0.0, "finish_reason": gen.finish_reasons[0], "completed": False, "fault": None,
            "arrival_unix": round(time.time(), 6),
            # How the client used the connection: its n-th request there, and whether it asked to keep it.
            "connection_request": request.connection_request, "keep_alive": request.keep_alive,
        }
        self.in_flight += 1
        try:
            if config.error_rate and self._fault_rng.random() < config.error_rate:
                self.stats.faults["error"] += 1
                entry.update(status=config.error_status, fault="error")
                return self._reply(request, fault_reply(call, config.type, config.error_status))
            if config.hang_before_headers_s > 0:
                self.stats.faults["hang"] += 1
                entry.update(status=0, fault="hang")
                if math.isinf(config.hang_before_headers_s):
                    await asyncio.Event().wait()
                await asyncio.sleep(config.hang_before_headers_s)
                return request.abort()  # closed without an answer
            if self.slots.running >= self.slots.size:
                self.stats.max_queued = max(self.stats.max_queued, self.slots.queued + 1)
            await self.slots.acquire()
            try:
                self.stats.max_running = max(self.stats.max_running, self.slots.running)
                start = loop.time()
                entry["queue_ms"] = _ms(start - arrival)
                entry["ttft_ms"] = _ms(start - arrival + gen.schedule.prefill_s)
                entry["e2e_ms"] = _ms(start - arrival + gen.schedule.total_s)
                if self.config.slow_headers_ms > 0:
                    self.stats.faults["slow_headers"] += 1
                    entry["fault"] = "slow_headers"
                    await asyncio.sleep(self.config.slow_headers_ms / 1000)
                    start = loop.time()  # the schedule starts once the headers are out
                if isinstance(result, Delayed):
                    return await self._send_delayed(request, result, entry, start)
                return await self._send_stream(request, result, entry, start)
            finally:
                self.slots.release()
        finally:
            self.in_flight -= 1
            self.stats.record(entry)

    def _sim_headers(self, entry: dict[str, Any], gen_gap_ms: float) -> dict[str, str]:
        return {
            "x-sim-request-id": str(entry["id"]),
            "x-sim-queue-ms": f"{entry['queue_ms']:.3f}",
            "x-sim-prefill-ms": f"{entry['prefill_ms']:.3f}",
            "x-sim-ttft-ms": f"{entry['ttft_ms']:.3f}",
            "x-sim-chunk-gap-ms": f"{gen_gap_ms:.3f}",
            "x-sim-completion-tokens": str(entry["completion_tokens"]),
            "x-sim-tokens-per-chunk": str(entry["tokens_per_chunk"]),
        }

    async def _send_delayed(self, request: Request, result: Delayed, entry: dict[str, Any], start: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = start + result.generation.schedule.total_s
        delay = deadline - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        entry["max_lateness_ms"] = _ms(max(0.0, loop.time() - deadline))
        if request.closed:
            entry["fault"] = "client_disconnected"
            return
        extra = self._sim_headers(entry, self.config.tokens_per_chunk * self.config.tpot_ms)
        extra["x-sim-e2e-ms"] = f"{entry['e2e_ms']:.3f}"
        self._reply(request, result.reply, extra)
        entry["completed"] = True

    async def _send_stream(self, request: Request, result: Streamed, entry: dict[str, Any], start: float) -> None:
        loop = asyncio.get_running_loop()
        headers = self._headers(result.content_type)
        headers["cache-control"] = "no-cache"
        headers.update(self._sim_headers(entry, self.config.tokens_per_chunk * self.config.tpot_ms))
        self.stats.status["200"] += 1
        offsets = result.generation.schedule.offsets_s()
        last = result.count - 1
        lateness = 0.0
        try:
            await request.start_stream(200, headers, result.preamble)
            over, shift = await self._after_chunk(request, 0, entry)
            if over:
                return
            for index in range(result.count):
                deadline = start + offsets[index] + shift
                delay = deadline - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                config = self.config  # read per chunk: faults switched on mid-stream apply at once
                if config.malformed_chunk == index + 1:
                    self.stats.faults["malformed"] += 1
                    entry["fault"] = "malformed"
                    data = result.malformed
                else:
                    data = result.render(index)
                if index == last:
                    data += result.trailer
                await request.write_chunk(data, last=index == last)
                late = loop.time() - deadline
                if late > lateness:
                    lateness = late
                if index < last and (config.stall_after_chunks is not None
                                     or config.disconnect_after_chunks is not None):
                    over, stalled = await self._after_chunk(request, index + 1, entry)
                    if over:
                        return
                    shift += stalled
            entry["completed"] = True
            if self.personality.closes_after_stream:
                request.abort()  # everything is written: the close only ends the connection
        except ConnectionError as exc:  # the client went away mid-stream
            entry.update(fault=entry["fault"] or "client_disconnected", error=type(exc).__name__)
        finally:
            entry["max_lateness_ms"] = _ms(lateness)

    async def _after_chunk(self, request: Request, sent: int, entry: dict[str, Any]) -> tuple[bool, float]:
        """Stall / disconnect faults after ``sent`` content chunks: (stream over?, seconds stalled).
        A stall shifts every later deadline: the stream resumes at its own pace afterwards."""
        config = self.config
        stalled = 0.0
        if config.stall_after_chunks == sent and config.stall_s > 0:
            self.stats.faults["stall"] += 1
            entry["fault"] = "stall"
            await asyncio.sleep(config.stall_s)
            stalled = config.stall_s
        if config.disconnect_after_chunks == sent:
            self.stats.faults["disconnect"] += 1
            entry["fault"] = "disconnect"
            request.abort()
            return True, stalled
        return False, stalled


def _install_loop(kind: str) -> None:
    if kind in ("uvloop", "auto"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise
            return
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())


async def _collect_garbage(server: SimulatorServer) -> None:
    """Python's cyclic GC pauses the loop for 10-40 ms once the heap holds a thousand streams
    (measured with benchmarks/bench_simulator_capacity.py: p99 inter-token jitter 20 ms with the
    automatic GC, 11 ms with a young-generation collection every second, 4 ms without). Streams
    create few cycles (refcounting frees the rest), so: no automatic GC; a full collection whenever
    the server is idle, and under uninterrupted load one young-generation pass a minute to bound
    memory in soak runs."""
    last = time.monotonic()
    while True:
        await asyncio.sleep(0.5)
        idle = server.in_flight == 0
        if (idle and time.monotonic() - last > 5) or time.monotonic() - last > 60:
            gc.collect() if idle else gc.collect(1)
            last = time.monotonic()


async def _run(config: SimulatorConfig, announce: Callable[[SimulatorServer], None], *,
               install_signals: bool, started: Callable[[SimulatorServer], None] | None = None,
               manage_gc: bool = False) -> None:
    server = SimulatorServer(config)
    await server.start()
    loop = asyncio.get_running_loop()
    gc_task = None
    if manage_gc:  # only in a process of its own: never change the GC of a test process
        gc.freeze()
        gc.disable()
        gc_task = loop.create_task(_collect_garbage(server))
    if install_signals:
        loop.add_signal_handler(signal.SIGTERM, server.stop)
        loop.add_signal_handler(signal.SIGINT, server.stop)
        loop.add_signal_handler(signal.SIGUSR1, lambda: loop.create_task(server.apply({"refuse_connections": True})))
        # SIGUSR2 restores normal accepting even when connections are reset (the control endpoint is then unreachable).
        loop.add_signal_handler(signal.SIGUSR2, lambda: loop.create_task(
            server.apply({"refuse_connections": False, "reset_connections": False})))
    announce(server)
    if started is not None:
        started(server)
    await server.wait_stopped()
    if gc_task is not None:
        gc_task.cancel()


def serve(config: SimulatorConfig, announce: Callable[[SimulatorServer], None]) -> None:
    """Run a simulator in this process until SIGINT/SIGTERM (the CLI and the subprocess handle)."""
    _install_loop(config.loop)
    asyncio.run(_run(config, announce, install_signals=True, manage_gc=True))
