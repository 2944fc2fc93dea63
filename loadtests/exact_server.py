"""An OpenAI chat server with exact, known timing: the yardstick of the accuracy benchmark.

``python -m loadtests.exact_server --port P --ttft-ms 120 --gap-ms 30 --tokens-per-chunk 2
--chunks 10``: headers and a role-only chunk at once, the first content chunk ``ttft`` after the
request arrived, then one chunk every ``gap`` (absolute deadlines, so no drift), a usage chunk,
``[DONE]``. The first content chunk is written within microseconds of its deadline while at most
32 streams are open (``PRECISE_UNTIL_STREAMS``), the others within a millisecond. Zero timings
make it a zero-latency server for rate tests. Raw asyncio, TCP_NODELAY,
a large listen backlog, HTTP/1.1 keep-alive with chunked encoding. Prints its port when ready.

Its truth: for every request carrying an ``x-request-id``, the wall-clock time (ns) at which the
first content chunk was actually handed to the kernel; ``GET /_exact/writes`` returns them all.
A client's stamping error is then its own first-token time minus this, whatever the server's
own lateness on a loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time

__all__ = ["serve"]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(obj: dict[str, object]) -> bytes:
    return _chunk(b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n")


FIRST_WRITES: dict[str, int] = {}
# asyncio sleeps in whole milliseconds (the selector rounds its timeout UP), so a deadline is met
# 0-1 ms late, by an amount that depends on how the streams' deadlines fall against each other:
# run-to-run differences of ~1 ms in every client's median TTFT. The FIRST content chunk (what TTFT
# measures) is therefore timed exactly: sleep to 2 ms before its deadline, then yield to the loop
# until it is due (other streams keep being served). That costs up to 2 ms of CPU per request, so
# only while few streams are open; beyond that the server falls back to plain sleeps.
PRECISE_UNTIL_STREAMS = 32
PRECISE_LEAD_S = 0.002
OPEN_STREAMS = 0


async def _until(loop: asyncio.AbstractEventLoop, due: float, precise: bool) -> None:
    delay = due - loop.time()
    if not precise:
        if delay > 0:
            await asyncio.sleep(delay)
        return
    if delay > PRECISE_LEAD_S:
        await asyncio.sleep(delay - PRECISE_LEAD_S)
    while loop.time() < due:
        await asyncio.sleep(0)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, args: argparse.Namespace) -> None:
    global OPEN_STREAMS
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    loop = asyncio.get_running_loop()
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            arrived = loop.time()
            length = 0
            request_id = ""
            for line in head.split(b"\r\n"):
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                elif lower.startswith(b"x-request-id:"):
                    request_id = line.split(b":", 1)[1].strip().decode()
            if head.startswith(b"GET /_exact/writes"):
                payload = json.dumps(FIRST_WRITES).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(payload), payload))
                await writer.drain()
                continue
            body = json.loads(await reader.readexactly(length)) if length else {}
            base = {"id": "chatcmpl-exact", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body.get("model", "exact")}
            words = " ".join(["tok"] * args.tokens_per_chunk) + " "
            if not body.get("stream"):
                await asyncio.sleep(max(0.0, arrived + (args.ttft_ms + args.gap_ms * (args.chunks - 1)) / 1000 - loop.time()))
                payload = json.dumps({**base, "object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": words * args.chunks}, "finish_reason": "length"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": args.chunks * args.tokens_per_chunk,
                              "total_tokens": 1 + args.chunks * args.tokens_per_chunk}}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(payload), payload))
                await writer.drain()
                continue
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + _event({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}))
            await writer.drain()
            OPEN_STREAMS += 1
            try:
                for i in range(args.chunks):
                    due = arrived + (args.ttft_ms + i * args.gap_ms) / 1000
                    await _until(loop, due, precise=i == 0 and OPEN_STREAMS <= PRECISE_UNTIL_STREAMS)
                    writer.write(_event({**base, "choices": [{"index": 0, "delta": {"content": words}}]}))
                    if i == 0 and request_id:
                        FIRST_WRITES[request_id] = time.time_ns()
            finally:
                OPEN_STREAMS -= 1
            n = args.chunks * args.tokens_per_chunk
            writer.write(_event({**base, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": n,
                                                                  "total_tokens": n + 1}})
                         + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve(args: argparse.Namespace) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(r, w, args), args.host, args.port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"exact server on http://{args.host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=float, default=120.0)
    parser.add_argument("--gap-ms", type=float, default=30.0)
    parser.add_argument("--tokens-per-chunk", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=10)
    try:
        asyncio.run(serve(parser.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
