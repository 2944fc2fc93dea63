"""Locust users for LLM serving APIs, stamping every moment of a streamed response.

Two HTTP clients, chosen with ``--llm-client``: ``raw`` (default; :mod:`loadtests.rawhttp`, a
minimal keep-alive HTTP/1.1 client on gevent sockets) and ``fasthttp`` (geventhttpclient, the
engine of Locust's ``FastHttpUser``; also used for https). Both keep one connection per user,
write the request in one ``sendall`` and hand back body lines as soon as each is complete, so
each SSE event / NDJSON line is stamped when it arrives. ``benchmarks/bench_loadtest_accuracy.py``
measures them against a raw-socket reference client; ``docs/loadtests.md`` has the figures.

Concrete users: :class:`OpenAIChatUser`, :class:`OpenAICompletionsUser`, :class:`OllamaChatUser`
(all abstract here, so importing them into a locustfile does not run them); the locustfile's
``LLMUser`` picks the API from ``--llm-api``.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError
from locust import User, constant, task
from locust.exception import StopUser
from locust.user.task import LOCUST_STATE_STOPPING

from loadtests.protocols import (
    ProtocolError,
    build_request,
    dumps,
    endpoint_path,
    parse_full_body,
    parse_stream_line,
)
from loadtests.rawhttp import RawConnection
from loadtests.runtime import RunContext, Work
from loadtests.settings import RAW_CLIENT
from loadtests.timing import GATEWAY_HEADERS, PROVIDER_HEADER_PREFIX, RequestRecord, now_ns

PROVIDER_SIM_PREFIX = PROVIDER_HEADER_PREFIX + "x-sim-"

__all__ = ["LLMBaseUser", "LLMRequestFailed", "OllamaChatUser", "OpenAIChatUser", "OpenAICompletionsUser"]

# Set by the plugin at test_start; users of one process share it.
CONTEXT: dict[str, RunContext] = {}


class LLMRequestFailed(Exception):
    """Shown in Locust's failures table: ``<error class>: <message>``."""


class LLMBaseUser(User):
    abstract = True
    api: ClassVar[str] = "openai-chat"
    wait_time = constant(0)  # closed loop: the next request as soon as the last one ends
    _user_seq: ClassVar[int] = 0

    def on_start(self) -> None:
        ctx = CONTEXT["run"]
        type(self)._user_seq += 1
        self.user_id = type(self)._user_seq
        self.ctx = ctx
        self.api_name = self.api_for(ctx)
        parts = urlsplit(self.host or "")
        self.path = endpoint_path(self.api_name, parts.path)
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity", "Connection": "keep-alive"}
        key = ctx.settings.api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.headers = headers
        self.extras = ctx.settings.request_extras()
        self.raw: RawConnection | None = None
        self.http: HTTPClient | None = None
        if ctx.settings.client == RAW_CLIENT and parts.scheme == "http":
            # No socket read timeout: exchange() bounds the whole request with a gevent.Timeout of
            # the same length, and a per-read timer costs ~50 us on every wake-up (stamping latency).
            self.raw = RawConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                     connect_timeout=min(10.0, ctx.settings.timeout), read_timeout=None)
            self.head = (f"POST {self.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                         + "".join(f"{k}: {v}\r\n" for k, v in headers.items())).encode("latin-1")
        else:
            self.http = HTTPClient.from_url(
                f"{parts.scheme}://{parts.netloc}/",
                concurrency=1,
                connection_timeout=min(10.0, ctx.settings.timeout),
                network_timeout=ctx.settings.timeout,
                headers=headers,
            )

    def on_stop(self) -> None:
        if getattr(self, "http", None) is not None:
            self.http.close()  # type: ignore[union-attr]
        if getattr(self, "raw", None) is not None:
            self.raw.close()  # type: ignore[union-attr]

    def send(self, body: bytes, request_id: str) -> _Response:
        if self.raw is not None:
            head = b"%sx-request-id: %s\r\nContent-Length: %d\r\n\r\n" % (self.head, request_id.encode(), len(body))
            raw = self.raw.request(head + body)
            return _Response(raw.status, raw.headers.items(), raw.readline, raw.read, raw.release)
        assert self.http is not None
        r = self.http.request("POST", self.path, body=body, headers={"x-request-id": request_id})
        return _Response(r.status_code, r.items(), lambda: r.readline(b"\n"), r.read, r.release)

    def api_for(self, ctx: RunContext) -> str:
        return self.api

    @task
    def generate(self) -> None:
        """Request after request, until the workload is used up or Locust stops this user.

        One task call runs the whole loop: returning to Locust between requests costs a whole
        scheduling round (even ``constant(0)`` is a ``gevent.sleep(0)``: against a zero-latency
        server that kept 35 of 64 streams in flight) and its task machinery on every request. The
        loop checks Locust's stopping flag after each request, as Locust's own loop does, so a
        graceful stop (``--stop-timeout``, a shape ramping down) lets the request in flight finish.
        """
        ctx = self.ctx
        while True:
            work = ctx.next_work()
            if work is None:
                raise StopUser()
            if work.intended_start_ns is not None:
                delay = work.intended_start_ns - now_ns()
                if delay > 0:
                    gevent.sleep(delay / 1e9)
            record = self.exchange(work)
            ctx.end(record)
            self.report(record)
            if self._state == LOCUST_STATE_STOPPING:
                raise StopUser()

    def exchange(self, work: Work) -> RequestRecord:
        settings = self.ctx.settings
        request_id = os.urandom(16).hex()  # a random 128-bit id, as uuid4().hex, for a fraction of its cost
        prompt = work.prompt
        record = RequestRecord(
            request_id=request_id,
            api=self.api_name,
            stream=settings.stream,
            worker=self.ctx.worker_index,
            user=self.user_id,
            request_index=work.index,
            prompt_id=prompt.id,
            prompt_sha=prompt.sha,
            prompt_tokens_requested=prompt.prompt_tokens,
            prompt_tokens_unit=self.ctx.prompts.unit,
            max_tokens_requested=prompt.max_tokens,
            epoch_offset_ns=self.ctx.epoch_offset_ns,
        )
        body = dumps(build_request(self.api_name, settings.model, prompt.text, prompt.max_tokens, settings.stream,
                                   self.extras))
        response = None
        text: list[str] = []
        timeout = gevent.Timeout(settings.timeout)
        record.sent_ns = now_ns()
        record.intended_start_ns = work.intended_start_ns if work.intended_start_ns is not None else record.sent_ns
        timeout.start()
        try:
            response = self.send(body, request_id)
            record.headers_ns = now_ns()
            record.status = response.status
            _keep_headers(response.headers, record)
            if response.status >= 400:
                data = response.read()
                record.response_bytes = len(data)
                message = data.decode("utf-8", "replace")
                record.fail("http_5xx" if response.status >= 500 else "http_4xx", f"HTTP {response.status}: {message[:300]}")
            elif settings.stream:
                self._read_stream(response, record, text)
            else:
                self._read_whole(response, record, text)
        except gevent.Timeout as exc:
            if exc is not timeout:
                raise
            record.fail("timeout", f"no complete response within {settings.timeout:g} s")
        except TimeoutError:
            record.fail("timeout", f"socket read timed out after {settings.timeout:g} s")
        except (ProtocolError, ValueError) as exc:  # ValueError: a malformed status line or chunk size
            record.fail("protocol", str(exc))
        except HTTPConnectionClosed as exc:
            record.fail("connection", f"connection closed: {exc}")
        except HTTPParseError as exc:
            closed = "closed" in str(exc) or "EOF" in str(exc)
            record.fail("connection" if closed else "protocol", f"HTTP parse error: {exc}")
        except (ConnectionError, socket.gaierror) as exc:
            record.fail("connection", f"{type(exc).__name__}: {exc}")
        except OSError as exc:
            kind = "timeout" if exc.errno == errno.ETIMEDOUT else "connection"
            record.fail(kind, f"{type(exc).__name__}: {exc}")
        finally:
            record.ended_ns = now_ns()
            timeout.close()
            if response is not None:
                response.release()  # back to the pool only if fully read, else the socket is closed
        if text:
            generated = "".join(text)
            record.output_words = len(generated.split())
            tokenizer = self.ctx.prompts.tokenizer
            if tokenizer is not None and record.ok:  # after the last stamp: it costs the next request, not this one
                record.tokenizer_output_tokens = tokenizer.count(generated)
        return record

    def _read_stream(self, response: _Response, record: RequestRecord, text: list[str]) -> None:
        api = self.api_name
        readline = response.readline
        size = 0
        while True:
            line = readline()
            t = now_ns()
            if not line:
                break
            size += len(line)
            if record.first_byte_ns is None:
                record.first_byte_ns = t
            if line == b"\n":  # SSE event separator
                continue
            chunk = parse_stream_line(api, line)
            if chunk is None:
                continue
            if record.first_event_ns is None:
                record.first_event_ns = t
            if chunk.error is not None:
                record.fail("protocol", f"error event in stream: {chunk.error[:300]}")
                break
            if chunk.has_token:
                if record.first_token_ns is None:
                    record.first_token_ns = t
                record.last_token_ns = t
                record.token_chunk_ns.append(t)
                text.append(chunk.text)
            if chunk.usage_completion is not None:
                record.output_tokens = chunk.usage_completion
            if chunk.usage_prompt is not None:
                record.input_tokens = chunk.usage_prompt
            if chunk.done:
                record.done_ns = t
                size += len(response.read())  # the rest of the chunked body, so the connection can be reused
                break
        record.response_bytes = size
        if record.done_ns is None and record.error_class is None:
            end = "[DONE]" if api != "ollama-chat" else '"done": true'
            record.fail("protocol", f"stream ended without {end}")

    def _read_whole(self, response: _Response, record: RequestRecord, text: list[str]) -> None:
        data = response.read()
        t = now_ns()
        record.response_bytes = len(data)
        record.first_byte_ns = record.first_event_ns = t
        chunk = parse_full_body(self.api_name, data)
        if chunk.error is not None:
            record.fail("protocol", f"error body with HTTP {record.status}: {chunk.error[:300]}")
            return
        if chunk.has_token:
            record.first_token_ns = record.last_token_ns = t
            record.token_chunk_ns.append(t)
        record.output_tokens = chunk.usage_completion
        record.input_tokens = chunk.usage_prompt
        text.append(chunk.text)
        record.done_ns = t

    def report(self, record: RequestRecord) -> None:
        """Locust's statistics: one request event per HTTP request (its time is the whole exchange,
        its size the body's bytes), and TTFT / TPOT / TTFB rows logged straight into their own
        entries, outside Locust's totals, so the Aggregated row and RPS count requests only."""
        env = self.environment
        elapsed = ((record.ended_ns or now_ns()) - record.sent_ns) / 1e6
        if not record.ok:
            env.events.request.fire(request_type="POST", name=self.path, response_time=elapsed,
                                    response_length=record.response_bytes,
                                    exception=LLMRequestFailed(f"{record.error_class}: {record.error}"), context={})
            return
        env.events.request.fire(request_type="POST", name=self.path, response_time=elapsed,
                                response_length=record.response_bytes, exception=None, context={})
        if not self.ctx.settings.ui_rows:
            return
        entries = env.stats.entries
        sent = record.sent_ns
        if record.headers_ns is not None:
            entries[(self.path, "TTFB")].log((record.headers_ns - sent) / 1e6, 0)
        if record.first_token_ns is not None:
            entries[(self.path, "TTFT")].log((record.first_token_ns - sent) / 1e6, 0)
            n = record.output_token_count
            if n > 1 and record.last_token_ns is not None:
                entries[(self.path, "TPOT")].log((record.last_token_ns - record.first_token_ns) / (n - 1) / 1e6, 0)


def _keep_headers(headers: list[tuple[str, str]], record: RequestRecord) -> None:
    """The simulator's truth (``x-sim-*``, also as LiteLLM passes it on) and LiteLLM's own headers."""
    for name, value in headers:
        key = name.lower()
        if key.startswith("x-sim-"):
            record.server_timing[key] = value
        elif key.startswith("x-litellm-"):
            if key in GATEWAY_HEADERS:
                record.gateway[key] = value
        elif key.startswith(PROVIDER_SIM_PREFIX):
            record.server_timing[key[len(PROVIDER_HEADER_PREFIX):]] = value


class _Response:
    """What the users need of a response, whichever client read it."""

    __slots__ = ("headers", "read", "readline", "release", "status")

    def __init__(self, status: int, headers: Any, readline: Callable[[], bytes], read: Callable[[], bytes],
                 release: Callable[[], None]) -> None:
        self.status = status
        self.headers: Any = headers  # (name, value) pairs, iterated once
        self.readline = readline
        self.read = read
        self.release = release


class OpenAIChatUser(LLMBaseUser):
    abstract = True
    api = "openai-chat"


class OpenAICompletionsUser(LLMBaseUser):
    abstract = True
    api = "openai-completions"


class OllamaChatUser(LLMBaseUser):
    abstract = True
    api = "ollama-chat"
