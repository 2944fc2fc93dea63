"""Capacity of one simulator process: N concurrent SSE streams, inter-token jitter vs the schedule.

    .venv/bin/python benchmarks/bench_simulator_capacity.py [--streams 1000] [--tpot-ms 50]
        [--tokens 60] [--stacks sim-uvloop,sim-asyncio,raw-uvloop,starlette-uvicorn]

For each server stack: start it in its own process, start the client in another process (a raw
asyncio/uvloop protocol client that timestamps every SSE event as its last byte arrives), open
``--streams`` streams with start times spread over ``--ramp-s``, and compare each gap between
consecutive token events with the scheduled gap (``tpot``; no jitter configured). Prints p50/p99/
max of |gap - scheduled| in ms, the TTFT error, the server's own lateness figures (simulator stacks)
and CPU use. Stacks:

- ``sim-uvloop`` / ``sim-asyncio``: the real simulator (its own asyncio HTTP/1.1 layer, wire.py) on either loop;
- ``raw-uvloop``: a bare asyncio.Protocol server that only streams (the lower bound);
- ``aiohttp-uvloop``: aiohttp's low-level ``web.Server`` streaming the same events;
- ``starlette-uvicorn``: Starlette StreamingResponse on uvicorn (h11; httptools is not installed).

The client shares the machine: on 2 cores the figures include its own scheduling noise.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.stats import percentile  # noqa: E402  (after the path insert: run as a script)

MODEL = "bench-model"


# --- minimal comparison servers -------------------------------------------------------------
def _event(text: str) -> bytes:
    return b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"},"finish_reason":null}]}\n\n'


_ROLE = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
_DONE = b"data: [DONE]\n\n"


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _raw_server(port: int, ttft_s: float, tpot_s: float) -> None:
    import socket

    loop = asyncio.get_running_loop()

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
            self.buf = b""
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data: bytes) -> None:
            self.buf += data
            head, sep, body = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(body) < length:
                return
            request = json.loads(body[:length])
            self.buf = b""
            self.task = loop.create_task(self.stream(int(request["max_tokens"])))

        async def stream(self, tokens: int) -> None:
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(_ROLE))
            start = loop.time()
            for i in range(tokens):
                deadline = start + ttft_s + i * tpot_s
                delay = deadline - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                data = _event(f" w{i}")
                if i == tokens - 1:
                    data += _DONE
                self.transport.write(_chunked(data))
            self.transport.write(b"0\r\n\r\n")

    server = await loop.create_server(Proto, "127.0.0.1", port, backlog=4096)
    print(f"serving on http://127.0.0.1:{port} ", flush=True)
    await server.serve_forever()


async def _aiohttp_server(port: int, ttft_s: float, tpot_s: float) -> None:
    from aiohttp import web

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        body = json.loads(await request.read())
        tokens = int(body["max_tokens"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_ROLE)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(tokens):
            delay = start + ttft_s + i * tpot_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await response.write(_event(f" w{i}") + (_DONE if i == tokens - 1 else b""))
        await response.write_eof()
        return response

    server = web.Server(handle)
    listener = await asyncio.get_running_loop().create_server(server, "127.0.0.1", port, backlog=4096)
    print(f"serving on http://127.0.0.1:{port} ", flush=True)
    await listener.serve_forever()


def _starlette_server(port: int, ttft_s: float, tpot_s: float) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def chat(request: Request) -> StreamingResponse:
        body = await request.json()
        tokens = int(body["max_tokens"])

        async def events() -> Any:
            loop = asyncio.get_running_loop()
            yield _ROLE
            start = loop.time()
            for i in range(tokens):
                delay = start + ttft_s + i * tpot_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                yield _event(f" w{i}") + (_DONE if i == tokens - 1 else b"")

        return StreamingResponse(events(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    print(f"serving on http://127.0.0.1:{port} ", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", loop="uvloop", http="h11", backlog=4096,
                access_log=False)


# --- the client ------------------------------------------------------------------------------
async def _client(port: int, streams: int, tokens: int, ramp_s: float, timeout_s: float) -> dict[str, Any]:
    import uvloop  # noqa: F401  (installed by the caller's policy)

    loop = asyncio.get_running_loop()
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "bench"}], "stream": True,
                       "max_tokens": tokens, "ignore_eos": True}).encode()
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    records: list[dict[str, Any]] = []

    class Proto(asyncio.Protocol):
        def __init__(self, done: asyncio.Future[None]) -> None:
            self.done = done
            self.buf = b""
            self.token_times: list[float] = []
            self.sent = 0.0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
            self.sent = time.perf_counter()
            self.transport.write(request)

        def data_received(self, data: bytes) -> None:
            now = time.perf_counter()
            self.buf += data
            while True:
                end = self.buf.find(b"\n\n")
                if end < 0:
                    break
                event, self.buf = self.buf[:end], self.buf[end + 2 :]
                if b'"content":"' in event and b'"content":""' not in event:
                    self.token_times.append(now)
                if b"[DONE]" in event and not self.done.done():
                    self.done.set_result(None)
                    self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.done.done():
                self.done.set_result(None)

    async def one(offset: float) -> None:
        await asyncio.sleep(offset)
        done: asyncio.Future[None] = loop.create_future()
        try:
            _, proto = await loop.create_connection(lambda: Proto(done), "127.0.0.1", port)
            await asyncio.wait_for(done, timeout_s)
            records.append({"sent": proto.sent, "tokens": proto.token_times})
        except (OSError, TimeoutError) as exc:
            records.append({"error": type(exc).__name__})

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await asyncio.gather(*(one(ramp_s * i / streams) for i in range(streams)))
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"records": records, "wall_s": wall,
            "client_cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)}


def _percentile(values: list[float], q: float) -> float:
    return percentile(sorted(values), q) if values else float("nan")


def _summarise(result: dict[str, Any], ttft_ms: float, tpot_ms: float, tokens: int) -> dict[str, Any]:
    deviations, ttft_errors, complete, errors = [], [], 0, 0
    for record in result["records"]:
        if "error" in record:
            errors += 1
            continue
        times = record["tokens"]
        if len(times) == tokens:
            complete += 1
        if times:
            ttft_errors.append((times[0] - record["sent"]) * 1000 - ttft_ms)
        deviations += [abs((b - a) * 1000 - tpot_ms) for a, b in itertools.pairwise(times)]
    return {
        "complete": complete, "errors": errors, "gaps": len(deviations),
        "jitter_p50_ms": _percentile(deviations, 50), "jitter_p99_ms": _percentile(deviations, 99),
        "jitter_max_ms": max(deviations) if deviations else float("nan"),
        "ttft_err_p50_ms": _percentile(ttft_errors, 50), "ttft_err_p99_ms": _percentile(ttft_errors, 99),
        "wall_s": result["wall_s"], "client_cpu_s": result["client_cpu_s"],
    }


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_server(stack: str, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes] | None, Any, int]:
    from contracts.simulators import SimulatorConfig, start_simulator
    from generator.net import free_port

    if stack.startswith("sim-"):
        sim = start_simulator(SimulatorConfig(
            type="vllm", models=[MODEL], ttft_ms=args.ttft_ms, tpot_ms=args.tpot_ms, slots=args.streams * 2,
            output_tokens=args.tokens, loop=stack.removeprefix("sim-")))
        return None, sim, sim.port
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", stack, "--port", str(port), "--ttft-ms",
                                str(args.ttft_ms), "--tpot-ms", str(args.tpot_ms)], stdout=subprocess.PIPE,
                               start_new_session=True)
    assert process.stdout is not None
    process.stdout.readline()
    return process, None, port


def _prioritise(args: argparse.Namespace) -> None:
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))


def _bench_stack(stack: str, args: argparse.Namespace) -> dict[str, Any]:
    process, sim, port = _start_server(stack, args)
    pid = process.pid if process is not None else sim.pid
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, pid, args.nice)
    if args.realtime:
        os.sched_setscheduler(pid, os.SCHED_RR, os.sched_param(10))
    try:
        cpu0 = _proc_cpu_s(pid)
        out = Path(tempfile.mkdtemp(prefix="bench-sim-")) / "client.json"
        subprocess.run(
            [sys.executable, __file__, "--client", "--port", str(port), "--streams", str(args.streams), "--tokens",
             str(args.tokens), "--ramp-s", str(args.ramp_s), "--out", str(out)],
            capture_output=True, check=True, timeout=600,
            preexec_fn=lambda: _prioritise(args),
        )
        server_cpu = _proc_cpu_s(pid) - cpu0
        summary = _summarise(json.loads(out.read_text()), args.ttft_ms, args.tpot_ms, args.tokens)
        shutil.rmtree(out.parent)
        summary["server_cpu_s"] = server_cpu
        if sim is not None:
            recent = sim.stats()["recent"]
            lateness = [r["max_lateness_ms"] for r in recent if r.get("completed")]
            summary["server_max_lateness_p99_ms"] = _percentile(lateness, 99)
            summary["server_max_lateness_max_ms"] = max(lateness) if lateness else float("nan")
        return summary
    finally:
        if sim is not None:
            sim.stop()
        if process is not None:
            process.terminate()
            process.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=60, help="tokens per stream")
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--tpot-ms", type=float, default=50.0)
    parser.add_argument("--ramp-s", type=float, default=1.0, help="spread of the stream start times")
    parser.add_argument("--stacks", default="sim-uvloop,sim-asyncio,raw-uvloop,aiohttp-uvloop,starlette-uvicorn")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--realtime", action="store_true",
                        help="run server and client under SCHED_RR (root; the kernel still keeps 5%% of each "
                             "core for others): isolates the stack from other jobs on a shared machine")
    parser.add_argument("--nice", type=int, default=0,
                        help="scheduling priority of server and client (e.g. -10 as root, to measure the stack "
                             "rather than the other jobs sharing the machine)")
    # internal roles
    parser.add_argument("--serve", choices=("raw-uvloop", "aiohttp-uvloop", "starlette-uvicorn"), help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        if args.serve == "raw-uvloop":
            import uvloop

            uvloop.run(_raw_server(args.port, args.ttft_ms / 1000, args.tpot_ms / 1000))
        elif args.serve == "aiohttp-uvloop":
            import uvloop

            uvloop.run(_aiohttp_server(args.port, args.ttft_ms / 1000, args.tpot_ms / 1000))
        else:
            _starlette_server(args.port, args.ttft_ms / 1000, args.tpot_ms / 1000)
        return 0
    if args.client:
        import uvloop

        result = uvloop.run(_client(args.port, args.streams, args.tokens, args.ramp_s,
                                    timeout_s=60 + args.tokens * args.tpot_ms / 1000 * 4))
        # A file, not stdout: libuv leaves stdio non-blocking, and a big print into a full pipe fails.
        Path(args.out).write_text(json.dumps(result))
        return 0

    print(f"{args.streams} streams x {args.tokens} tokens, ttft {args.ttft_ms} ms, tpot {args.tpot_ms} ms, "
          f"ramp {args.ramp_s} s; nice {args.nice}; realtime {args.realtime}; machine: {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}")
    results = {}
    for stack in args.stacks.split(","):
        summary = _bench_stack(stack, args)
        results[stack] = summary
        extra = ""
        if "server_max_lateness_p99_ms" in summary:
            extra = (f"  server lateness p99 {summary['server_max_lateness_p99_ms']:.2f} max "
                     f"{summary['server_max_lateness_max_ms']:.2f}")
        print(f"{stack:18s} complete {summary['complete']:5d}/{args.streams} errors {summary['errors']:3d}  "
              f"jitter |gap-tpot| p50 {summary['jitter_p50_ms']:.2f} p99 {summary['jitter_p99_ms']:.2f} "
              f"max {summary['jitter_max_ms']:.2f} ms  ttft err p50 {summary['ttft_err_p50_ms']:.2f} "
              f"p99 {summary['ttft_err_p99_ms']:.2f} ms  cpu server {summary['server_cpu_s']:.1f}s "
              f"client {summary['client_cpu_s']:.1f}s / wall {summary['wall_s']:.1f}s{extra}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
