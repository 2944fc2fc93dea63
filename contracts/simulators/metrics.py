"""Prometheus text exposition with the real metric names of vLLM (``vllm:``) and llama-server
(``llamacpp:``), fed by the simulator's own counters."""

from __future__ import annotations

from contracts.simulators.stats import Histogram, SimStats

__all__ = ["llama_cpp_metrics", "vllm_metrics"]


def _metric(lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        lines.append(f"{name}{labels} {float(value)!r}")


def _histogram(lines: list[str], name: str, help_text: str, labels: str, hist: Histogram) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} histogram")
    inner = labels[1:-1]
    for bound, count in hist.cumulative():
        lines.append(f'{name}_bucket{{{inner},le="{bound}"}} {float(count)!r}')
    lines.append(f"{name}_count{labels} {float(hist.count)!r}")
    lines.append(f"{name}_sum{labels} {float(hist.total)!r}")


def vllm_metrics(stats: SimStats, *, model: str, running: int, queued: int, slots: int) -> str:
    labels = f'{{engine="0",model_name="{model}"}}'
    lines: list[str] = []
    _metric(lines, "vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
            [(labels, running)])
    _metric(lines, "vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.",
            [(labels, queued)])
    _metric(lines, "vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.",
            [(labels, running / slots if slots else 0.0)])
    _metric(lines, "vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
            [(labels, stats.prompt_tokens_total)])
    _metric(lines, "vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
            [(labels, stats.generation_tokens_total)])
    inner = labels[1:-1]
    _metric(lines, "vllm:request_success_total", "counter", "Count of successfully processed requests.",
            [(f'{{{inner},finished_reason="{reason}"}}', stats.finished.get(reason, 0))
             for reason in ("abort", "length", "stop")])
    _histogram(lines, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", labels,
               stats.ttft)
    _histogram(lines, "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", labels,
               stats.itl)
    _histogram(lines, "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", labels,
               stats.e2e)
    _histogram(lines, "vllm:request_queue_time_seconds",
               "Histogram of time spent in WAITING phase for request.", labels, stats.queue)
    return "\n".join(lines) + "\n"


def llama_cpp_metrics(stats: SimStats, *, running: int, queued: int, slots: int) -> str:
    lines: list[str] = []
    prompt_s, gen_s = stats.prompt_seconds_total, stats.generation_seconds_total
    for name, kind, help_text, value in (
        ("prompt_tokens_total", "counter", "Number of prompt tokens processed.", stats.prompt_tokens_total),
        ("prompt_seconds_total", "counter", "Prompt process time", prompt_s),
        ("tokens_predicted_total", "counter", "Number of generation tokens processed.", stats.generation_tokens_total),
        ("tokens_predicted_seconds_total", "counter", "Predict process time", gen_s),
        ("n_decode_total", "counter", "Total number of llama_decode() calls", stats.generation_tokens_total),
        ("n_busy_slots_per_decode", "counter", "Average number of busy slots per llama_decode() call",
         running if running else 0),
        ("prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.",
         stats.prompt_tokens_total / prompt_s if prompt_s else 0.0),
        ("predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.",
         stats.generation_tokens_total / gen_s if gen_s else 0.0),
        ("requests_processing", "gauge", "Number of requests processing.", running),
        ("requests_deferred", "gauge", "Number of requests deferred.", queued),
    ):
        _metric(lines, f"llamacpp:{name}", kind, help_text, [("", value)])
    return "\n".join(lines) + "\n"
