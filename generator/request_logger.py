"""A LiteLLM callback that writes one JSON line per request to the gateway's log.

LiteLLM 1.106.2's ``json_logs`` only gives uvicorn's access line per request (client, path,
status): no model group, backend, latency or tokens. This callback adds them, in the same
one-object-per-line style, from LiteLLM's standard logging payload. Enable it in the generated
config with ``litellm_settings.callbacks: [generator.request_logger.handler]`` (LiteLLM imports it
from the installed package). ``aibackend requests tail|analyze`` read these lines
(``aibackend/ops/request_log.py``). Prompts and answers are never written.

This module imports LiteLLM: only the gateway process loads it.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

__all__ = ["EVENT", "RequestLogger", "handler", "record_of"]

EVENT = "aibackend.request"


def _seconds(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return None


def _ms(later: Any, earlier: Any) -> float | None:
    a, b = _seconds(later), _seconds(earlier)
    if a is None or b is None:
        return None
    return round((a - b) * 1000, 3)


def record_of(payload: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The log record of one request from LiteLLM's StandardLoggingPayload."""
    error = payload.get("error_information") or {}
    metadata = payload.get("metadata") or {}
    hidden = payload.get("hidden_params") or {}
    litellm_params = kwargs.get("litellm_params") or {}
    request_meta = litellm_params.get("metadata") or {}
    status_code: int | None = 200 if payload.get("status") == "success" else None
    code = error.get("error_code")
    if isinstance(code, str) and code.isdigit():
        status_code = int(code)
    elif isinstance(code, int):
        status_code = code
    requested = request_meta.get("model_group") or payload.get("model_group")
    original = kwargs.get("original_model") or request_meta.get("original_model_group")
    return {
        "message": EVENT,
        "level": "INFO" if payload.get("status") == "success" else "ERROR",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "component": "aibackend.request_logger",
        "call_id": payload.get("id") or kwargs.get("litellm_call_id"),
        "model_group": payload.get("model_group") or requested,
        "original_model_group": original,
        "deployment": payload.get("model_id"),
        "backend_model": payload.get("model"),
        "api_base": payload.get("api_base") or hidden.get("api_base"),
        "status": payload.get("status"),
        "status_code": status_code,
        "stream": bool(payload.get("stream")),
        "cache_hit": bool(payload.get("cache_hit")),
        "latency_ms": _ms(payload.get("endTime"), payload.get("startTime")),
        "ttft_ms": _ms(payload.get("completionStartTime"), payload.get("startTime")),
        "prompt_tokens": payload.get("prompt_tokens"),
        "completion_tokens": payload.get("completion_tokens"),
        "attempted_fallbacks": metadata.get("attempted_fallbacks", request_meta.get("attempted_fallbacks")),
        "attempted_retries": metadata.get("attempted_retries", request_meta.get("attempted_retries")),
        "error_class": error.get("error_class"),
        "error": (payload.get("error_str") or None) and str(payload.get("error_str"))[:300],
    }


class RequestLogger(CustomLogger):  # type: ignore[misc]
    def _emit(self, kwargs: dict[str, Any]) -> None:
        payload = kwargs.get("standard_logging_object")
        if not isinstance(payload, dict):
            return
        try:
            line = json.dumps(record_of(payload, kwargs), default=str)
        except Exception:  # a logging problem must never fail a request
            return
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._emit(kwargs)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._emit(kwargs)

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        return None  # the proxy calls the async hooks; logging here too would write every line twice

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        return None


handler = RequestLogger()
