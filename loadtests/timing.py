"""Per-request timestamps on a monotonic clock, exactly as ``load-metrics.md`` names them.

One :class:`RequestRecord` per request, filled in by the users while the response streams and
aggregated later by :mod:`loadtests.metrics`. Timestamps are ``time.perf_counter_ns()`` values of
the process that sent the request; ``epoch_offset_ns`` converts them to wall-clock nanoseconds so
that records from several worker processes land on one time axis (durations never mix clocks).

Token counts keep their origin. A request may carry up to five counts of its output: the usage
the server sent (``server_usage``), the usage a gateway sent (``gateway_usage``: LiteLLM passes
the server's on, or fills it with its own tokenizer's estimate when the server sent none, and a
client cannot tell which), the ``--tokenizer`` count of the text (``tokenizer``), the
token-bearing chunks (``chunks``) and the words of the text (``words``).
:meth:`RequestRecord.output_count` picks the most trustworthy; the report names it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["ERROR_CLASSES", "GATEWAY_HEADERS", "TOKEN_SOURCES", "RequestRecord", "epoch_offset_ns", "now_ns"]

now_ns = time.perf_counter_ns

# The error classes of interface.md, in report order.
ERROR_CLASSES: tuple[str, ...] = ("http_4xx", "http_5xx", "timeout", "connection", "protocol")

# Where a token count came from, most trustworthy first (see RequestRecord.output_count).
TOKEN_SOURCES: tuple[str, ...] = ("server_usage", "tokenizer", "gateway_usage", "chunks", "words")

# LiteLLM 1.106.2's response headers kept per request (common_request_processing.get_custom_headers
# and the router's retry/fallback headers): which deployment answered, after how many retries and
# fallbacks, and how the gateway's time splits into its own work and the provider call.
GATEWAY_HEADERS: tuple[str, ...] = (
    "x-litellm-call-id",
    "x-litellm-model-group",
    "x-litellm-model-id",
    "x-litellm-model-api-base",
    "x-litellm-attempted-retries",
    "x-litellm-attempted-fallbacks",
    "x-litellm-response-duration-ms",
    "x-litellm-overhead-duration-ms",
    "x-litellm-cache-key",
)
# LiteLLM passes the provider's own response headers on with this prefix.
PROVIDER_HEADER_PREFIX = "llm_provider-"


def epoch_offset_ns() -> int:
    """Wall-clock minus monotonic clock for this process (add to a timestamp to get epoch ns)."""
    return time.time_ns() - time.perf_counter_ns()


@dataclass(slots=True)
class RequestRecord:
    """Everything measured about one request. ``None`` means the moment never came."""

    request_id: str
    api: str
    stream: bool
    worker: int = 0
    user: int = 0
    request_index: int = -1  # the request's place in the seeded workload (same prompt, same schedule slot)
    prompt_id: str = ""
    prompt_sha: str = ""  # first 16 hex digits of the prompt's SHA-256: two runs sent the same prompt
    intended_start_ns: int = 0
    sent_ns: int = 0
    headers_ns: int | None = None
    first_byte_ns: int | None = None
    first_event_ns: int | None = None
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    done_ns: int | None = None
    ended_ns: int | None = None  # the exchange was over, answered or failed (vLLM's end of a request)
    # Arrival time of every chunk that carried a token (content, reasoning or tool call).
    token_chunk_ns: list[int] = field(default_factory=list)
    status: int | None = None
    error_class: str | None = None
    error: str | None = None
    input_tokens: int | None = None  # usage.prompt_tokens / prompt_eval_count, as received
    output_tokens: int | None = None  # usage.completion_tokens / eval_count, as received
    tokenizer_output_tokens: int | None = None  # --tokenizer's count of the generated text
    output_words: int = 0  # whitespace-separated words of the generated text
    response_bytes: int = 0  # body bytes received (Locust's "size")
    prompt_tokens_requested: int = 0  # the prompt's length as the client counted it (prompt_tokens_unit)
    prompt_tokens_unit: str = "words"  # "tokenizer" with --tokenizer
    max_tokens_requested: int = 0
    epoch_offset_ns: int = 0
    # Response headers a simulator sends with its true timings (``x-sim-*``; through LiteLLM they
    # arrive as ``llm_provider-x-sim-*`` and are kept under their own name), for proof tests.
    server_timing: dict[str, str] = field(default_factory=dict)
    # The gateway's response headers (GATEWAY_HEADERS) when the response came through LiteLLM.
    gateway: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_class is None and self.done_ns is not None

    @property
    def token_chunks(self) -> int:
        return len(self.token_chunk_ns)

    @property
    def via_gateway(self) -> bool:
        return bool(self.gateway)

    def output_count(self) -> tuple[int, str]:
        """(N, source): the output tokens TPOT and token throughput use, and where N came from.

        The server's own usage first; then the ``--tokenizer`` count; then a gateway's usage when
        it agrees with the token-bearing chunks (or there are no chunks to check it against: not
        streamed); then the chunks (a gateway's usage that disagrees with them is likely its own
        estimate: LiteLLM counts the text with its tokenizer when the server sent no usage); a
        gateway's usage if nothing else; the words as the last resort.
        """
        usage = self.output_tokens
        if usage is not None and not self.gateway:
            return usage, "server_usage"
        if self.tokenizer_output_tokens is not None:
            return self.tokenizer_output_tokens, "tokenizer"
        chunks = len(self.token_chunk_ns)
        if usage is not None and (not self.stream or usage == chunks):
            return usage, "gateway_usage"
        if self.stream and chunks:
            return chunks, "chunks"
        if usage is not None:
            return usage, "gateway_usage"
        return self.output_words, "words"

    @property
    def output_token_count(self) -> int:
        """N for TPOT and token throughput (:meth:`output_count`)."""
        return self.output_count()[0]

    def input_count(self) -> tuple[int, str]:
        """(input tokens, source): the server's usage, the tokenizer's count of the prompt, a
        gateway's usage, or the prompt's words."""
        if self.input_tokens is not None and not self.gateway:
            return self.input_tokens, "server_usage"
        if self.prompt_tokens_unit == "tokenizer":
            return self.prompt_tokens_requested, "tokenizer"
        if self.input_tokens is not None:
            return self.input_tokens, "gateway_usage"
        return self.prompt_tokens_requested, "words"

    def epoch(self, mono_ns: int) -> int:
        return mono_ns + self.epoch_offset_ns

    def end_ns(self) -> int:
        """When the exchange was over (records of older versions: the last moment stamped)."""
        if self.ended_ns is not None:
            return self.ended_ns
        stamps = [t for t in (self.done_ns, self.last_token_ns, self.first_event_ns, self.first_byte_ns,
                              self.headers_ns) if t is not None]
        return max(stamps) if stamps else self.sent_ns

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every list and costs milliseconds per record.
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        return cls(**{k: v for k, v in data.items() if k in _FIELD_NAMES})

    def fail(self, error_class: str, message: str) -> None:
        if error_class not in ERROR_CLASSES:
            raise ValueError(f"unknown error class {error_class!r}")
        if self.error_class is None:  # the first cause is the one that counts
            self.error_class = error_class
            self.error = message[:500]


_FIELD_NAMES = tuple(f.name for f in fields(RequestRecord))
