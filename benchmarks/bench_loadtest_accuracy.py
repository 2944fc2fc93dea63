"""How exactly does ``aibackend loadtest`` measure? Figures against an exact-timing server.

    .venv/bin/python benchmarks/bench_loadtest_accuracy.py [--quick] [--no-tools] [--out DIR]

1. Accuracy: ``loadtests.exact_server`` (TTFT 120 ms, a 2-token chunk every 30 ms, role-only
   first chunk) loaded with 8 streams (and 500) by this suite and by a raw-socket reference
   client (selectors, one thread, its own process); median and p99 TTFT side by side.
2. Rate: a zero-latency server, 64 streams of 10 tokens: completed requests per second and the
   streams really in flight (Little's law: throughput x mean latency).
3. The same with guidellm 0.8.1 and aiperf 0.13.0, installed by this script into separate venvs
   under ``.cache/bench-tools/`` (their dependencies conflict with ours), with a word-level
   tokenizer built locally with ``tokenizers`` (nothing can be downloaded here).

Prints a table; timings on a shared 2-core machine are noisy, so every run prints its figures
rather than asserting them. Exit 0 unless a run could not be made at all.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from loadtests.report import load_records, records_path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TOOLS = ROOT / ".cache" / "bench-tools"
TOOL_PINS = {"guidellm": "guidellm==0.8.1", "aiperf": "aiperf==0.13.0"}
MODEL = "exact-model"


# --- the exact-timing server ------------------------------------------------------------------

@contextlib.contextmanager
def exact_server(ttft_ms: float, gap_ms: float, tokens_per_chunk: int, chunks: int) -> Iterator[str]:
    proc = subprocess.Popen(
        [PY, "-m", "loadtests.exact_server", "--port", "0", "--ttft-ms", str(ttft_ms), "--gap-ms", str(gap_ms),
         "--tokens-per-chunk", str(tokens_per_chunk), "--chunks", str(chunks)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


# --- the raw-socket reference client ------------------------------------------------------------

def reference_client(url: str, streams: int, requests: int) -> dict[str, Any]:
    """N keep-alive connections on one selector; each recv is stamped the moment it returns."""
    host, port = url.split("//", 1)[1].split(":")
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True,
                       "max_tokens": 20, "stream_options": {"include_usage": True}}).encode()
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nx-request-id: " % len(body))
    offset = time.time_ns() - time.perf_counter_ns()
    firsts: dict[str, int] = {}
    sel = selectors.DefaultSelector()
    state: dict[socket.socket, dict[str, Any]] = {}
    budget = [requests]
    ttft: list[float] = []
    e2el: list[float] = []
    spans: list[tuple[int, int]] = []  # (start, end) of each measured request, perf_counter ns

    def send(sock: socket.socket) -> None:
        if budget[0] <= 0:
            sel.unregister(sock)
            sock.close()
            return
        budget[0] -= 1
        st = state[sock]
        rid = f"ref-{budget[0]}"
        st.update(t0=time.perf_counter_ns(), buf=b"", first=None, rid=rid)
        sock.sendall(head + rid.encode() + b"\r\n\r\n" + body)

    for _ in range(streams):
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state[sock] = {"n": 0}
        sel.register(sock, selectors.EVENT_READ)
        send(sock)
    while sel.get_map():
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            data = sock.recv(65536)
            t = time.perf_counter_ns()
            st = state[sock]
            st["buf"] += data
            if st["first"] is None and b'"content":"t' in st["buf"]:
                st["first"] = t
            if st["buf"].endswith(b"0\r\n\r\n"):
                st["n"] += 1
                if st["n"] > 1:  # the first request of each connection is warm-up, as for the tools
                    ttft.append((st["first"] - st["t0"]) / 1e6)
                    e2el.append((t - st["t0"]) / 1e6)
                    spans.append((st["t0"], t))
                    firsts[st["rid"]] = st["first"] + offset
                send(sock)
    return {"ttft": ttft, "e2el": e2el, "spans": spans, "first_token_epoch_ns": firsts}


def completed_per_second(spans: list[tuple[int, int]]) -> float:
    """The one throughput of this benchmark, for every client: measured requests completed divided
    by the time from the first one's start to the last one's end (each client's first request per
    connection or user is warm-up and left out, so no client is charged its start-up)."""
    return len(spans) / ((max(e for _, e in spans) - min(s for s, _ in spans)) / 1e9)


def pct(values: list[float], q: float) -> float:
    data = sorted(values)
    rank = (len(data) - 1) * q / 100
    lo = int(rank)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (rank - lo)


def server_writes(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_exact/writes", timeout=30) as response:
        data: dict[str, int] = json.loads(response.read())
    return data


def stamping_error(firsts: dict[str, int], url: str) -> dict[str, float]:
    """Client first-token stamp minus the server's actual first-content write, per request."""
    writes = server_writes(url)
    errors = [(t - writes[rid]) / 1e6 for rid, t in firsts.items() if rid in writes]
    if not errors:
        return {}
    return {"median_error_ms": statistics.median(errors), "p99_error_ms": pct(errors, 99)}


def run_reference(url: str, streams: int, requests: int) -> dict[str, float]:
    out = subprocess.run([PY, __file__, "--reference-client", url, str(streams), str(requests)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    data = json.loads(out.stdout)
    return {"median_ttft_ms": statistics.median(data["ttft"]), "p99_ttft_ms": pct(data["ttft"], 99),
            "req_per_s": completed_per_second([tuple(s) for s in data["spans"]]),
            "mean_e2el_ms": statistics.fmean(data["e2el"]), **stamping_error(data["first_token_epoch_ns"], url)}


# --- this suite ------------------------------------------------------------------------------

def run_suite(url: str, users: int, requests: int, out: Path, workers: int = 0, client: str = "raw") -> dict[str, float]:
    report = out / f"suite-{users}-{workers}-{client}.json"
    argv = [str(ROOT / ".venv" / "bin" / "aibackend"), "loadtest", "--host", url, "--model", MODEL, "--users",
            str(users), "--requests", str(requests), "--max-tokens", "20", "--client", client, "--report", str(report)]
    if workers:
        argv += ["--workers", str(workers)]
    subprocess.run(argv, check=True, capture_output=True, text=True, cwd=ROOT)
    records = load_records(records_path(report))
    # As for the reference client: each user's first request is warm-up; the rest, from the records.
    first_of_user: dict[tuple[int, int], int] = {}
    for r in sorted(records, key=lambda r: r.epoch(r.sent_ns)):
        first_of_user.setdefault((r.worker, r.user), id(r))
    measured = [r for r in records if r.ok and id(r) not in first_of_user.values() and r.first_token_ns is not None]
    ttft = [((r.first_token_ns or 0) - r.sent_ns) / 1e6 for r in measured]
    e2el = [((r.last_token_ns or r.done_ns or 0) - r.sent_ns) / 1e6 for r in measured]
    # one time axis for every worker: epoch nanoseconds
    spans = [(r.epoch(r.sent_ns), r.epoch(r.done_ns or 0)) for r in measured]
    firsts = {r.request_id: r.epoch(r.first_token_ns or 0) for r in measured}
    return {"median_ttft_ms": statistics.median(ttft), "p99_ttft_ms": pct(ttft, 99),
            "req_per_s": completed_per_second(spans), "mean_e2el_ms": statistics.fmean(e2el),
            **stamping_error(firsts, url)}


# --- the public tools ----------------------------------------------------------------------------

def ensure_tool(name: str) -> tuple[Path | None, str]:
    venv = TOOLS / name
    exe = venv / "bin" / name
    if exe.exists():
        return exe, "installed"
    TOOLS.mkdir(parents=True, exist_ok=True)
    log = TOOLS / f"{name}.install.log"
    with log.open("w") as handle:
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=handle, stderr=handle)
        result = subprocess.run([str(venv / "bin" / "pip"), "install", TOOL_PINS[name]], stdout=handle, stderr=handle)
    if result.returncode != 0 or not exe.exists():
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        return None, f"pip install {TOOL_PINS[name]} failed (see {log}): {tail}"
    return exe, "installed now"


def word_tokenizer(out: Path) -> Path:
    """A word-level tokenizer saved as a Hugging Face tokenizer directory (no download needed)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    path = out / "word-tokenizer"
    path.mkdir(parents=True, exist_ok=True)
    words = ["[UNK]", "hi", "tok"] + [f"w{i}" for i in range(2000)]
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]", "model_max_length": 100000}))
    (path / "config.json").write_text(json.dumps({"model_type": "gpt2", "vocab_size": len(words)}))
    return path


def _find(obj: Any, *keys: str) -> Any:
    """The first value at the end of a key path found anywhere in a nested JSON object."""
    if isinstance(obj, dict):
        cur: Any = obj
        ok = True
        for k in keys:
            if isinstance(cur, dict) and k in cur:
                cur = cur[k]
            else:
                ok = False
                break
        if ok:
            return cur
        for v in obj.values():
            found = _find(v, *keys)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = _find(v, *keys)
            if found is not None:
                return found
    return None


def run_guidellm(exe: Path, url: str, streams: int, requests: int, tokenizer: Path, out: Path) -> dict[str, float]:
    result = out / f"guidellm-{streams}.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    argv = [str(exe), "run", "--backend", f"kind=openai_http,target={url},model={MODEL}",
            "--profile", f"kind=concurrent,streams={streams}", "--tokenizer", f"kind=hf_auto,model={tokenizer}",
            "--data", "kind=synthetic_text,prompt_tokens=32,output_tokens=20",
            "--constraint", f"kind=max_requests,count={requests}", "--output", f"kind=json,path={result}"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=out, timeout=600)
    if proc.returncode != 0 or not result.exists():
        raise RuntimeError(f"guidellm exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-600:]}")
    data = json.loads(result.read_text())
    ttft = _find(data, "time_to_first_token_ms", "successful")
    rps = _find(data, "requests_per_second", "successful")
    lat = _find(data, "request_latency", "successful")
    return {"median_ttft_ms": ttft["median"], "p99_ttft_ms": _find(ttft, "percentiles", "p99") or ttft.get("p99"),
            "req_per_s": rps["mean"], "mean_e2el_ms": lat["mean"] * 1000}


def run_aiperf(exe: Path, url: str, streams: int, requests: int, tokenizer: Path, out: Path) -> dict[str, float]:
    art = out / f"aiperf-{streams}"
    shutil.rmtree(art, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    argv = [str(exe), "profile", "--model", MODEL, "--url", url, "--endpoint-type", "chat", "--streaming",
            "--concurrency", str(streams), "--request-count", str(requests), "--warmup-request-count",
            str(2 * streams), "--tokenizer", str(tokenizer), "--ui-type", "none", "--no-server-metrics",
            "--no-gpu-telemetry", "--artifact-dir", str(art)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=out, timeout=900)
    files = [art / "profile_export_aiperf.json"] if (art / "profile_export_aiperf.json").exists() else []
    if proc.returncode != 0 or not files:
        raise RuntimeError(f"aiperf exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-600:]}")
    data = json.loads(files[0].read_text())
    ttft = _find(data, "time_to_first_token")
    rps = _find(data, "request_throughput")
    lat = _find(data, "request_latency")
    # Per request: its start (epoch ns) + its TTFT = when aiperf stamped the first token.
    firsts: dict[str, int] = {}
    export = art / "profile_export.jsonl"
    if export.exists():
        for line in export.read_text().splitlines():
            rec = json.loads(line)
            meta, metrics = rec.get("metadata", {}), rec.get("metrics", {})
            if meta.get("benchmark_phase") == "profiling" and "time_to_first_token" in metrics:
                firsts[meta["x_request_id"]] = int(meta["request_start_ns"] + metrics["time_to_first_token"]["value"] * 1e6)
    return {"median_ttft_ms": ttft.get("p50"), "p99_ttft_ms": ttft.get("p99"), "req_per_s": rps.get("avg"),
            "mean_e2el_ms": lat.get("avg"), **stamping_error(firsts, url)}


# --- the table -----------------------------------------------------------------------------

def row(name: str, f: dict[str, float] | str, ref: dict[str, float] | None = None, *, rate_ref: dict[str, float] | None = None) -> str:
    if isinstance(f, str):
        return f"{name:<34} {f}"
    in_flight = f["req_per_s"] * f["mean_e2el_ms"] / 1000
    stamp = (f"  stamping error median {f['median_error_ms']:.2f} p99 {f['p99_error_ms']:.2f} ms"
             if "median_error_ms" in f else "")
    delta = ""
    if ref:
        delta = (f"  (median {f['median_ttft_ms'] - ref['median_ttft_ms']:+.2f} ms, "
                 f"p99 {f['p99_ttft_ms'] - ref['p99_ttft_ms']:+.2f} ms vs reference)")
    ratio = f"  {f['req_per_s'] / rate_ref['req_per_s']:.2f}x the reference's req/s" if rate_ref else ""
    return (f"{name:<34} TTFT median {f['median_ttft_ms']:8.2f}  p99 {f['p99_ttft_ms']:8.2f}  "
            f"req/s {f['req_per_s']:8.1f}  in flight {in_flight:6.1f}{stamp}{delta}{ratio}  (load {load_average()})")


def load_average() -> str:
    """The machine's 1-minute load average when the row was measured (figures move with it)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


class BusyCore:
    """A second job busy on the other core (the 500-stream run's condition): a process spinning."""

    def __enter__(self) -> BusyCore:
        self.proc = subprocess.Popen([PY, "-c", "while True: pass"], start_new_session=True)
        return self

    def __exit__(self, *exc: object) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def suite_runs(args: argparse.Namespace, show: Any) -> None:
    n8 = 80 if args.quick else 240
    show("== accuracy: exact server, TTFT 120 ms, 2-token chunk every 30 ms, role-only first chunk")
    with exact_server(120, 30, 2, 10) as url:
        for rep in (1, 2):
            ref = run_reference(url, 8, n8)
            show(row(f"reference raw socket, 8 streams #{rep}", ref))
            show(row(f"aibackend loadtest, 8 streams #{rep}", run_suite(url, 8, n8, args.out), ref))
            show(row(f"  same, --client fasthttp #{rep}", run_suite(url, 8, n8, args.out, client="fasthttp"), ref))
        if not args.quick:
            ref = run_reference(url, 500, 2000)
            show(row("reference raw socket, 500 streams", ref))
            show(row("aibackend loadtest, 500 streams", run_suite(url, 500, 2000, args.out), ref))
            show(row("aibackend loadtest, 500 st, 2 workers", run_suite(url, 500, 2000, args.out, workers=2), ref))
            with BusyCore():
                show(row("aibackend loadtest, 500 st, busy core", run_suite(url, 500, 2000, args.out), ref))


def rate_runs(args: argparse.Namespace, show: Any) -> None:
    show("== rate: zero-latency server, 64 streams of 10 tokens (req/s computed the same way for every client)")
    n64 = args.rate_requests or (1500 if args.quick else 4000)
    show(f"   {n64} requests per run")
    with exact_server(0, 0, 2, 5) as url:
        for rep in range(1, args.repeat + 1):
            ref = run_reference(url, 64, n64)
            show(row(f"reference raw socket, 64 streams #{rep}", ref))
            show(row(f"aibackend loadtest, 64 streams #{rep}", run_suite(url, 64, n64, args.out), rate_ref=ref))
            if not args.quick:
                show(row(f"  same, --client fasthttp #{rep}", run_suite(url, 64, n64, args.out, client="fasthttp"),
                         rate_ref=ref))
            show(row(f"aibackend loadtest, 64 st, 2 workers #{rep}", run_suite(url, 64, n64, args.out, workers=2),
                     rate_ref=ref))


def tool_runs(args: argparse.Namespace, names: list[str], show: Any) -> None:
    n8 = 80 if args.quick else 240
    n64 = 1500 if args.quick else 4000
    tokenizer = word_tokenizer(args.out)
    runners = {"guidellm": run_guidellm, "aiperf": run_aiperf}
    for name in names:
        exe, how = ensure_tool(name)
        if exe is None:
            show(row(f"{name}", f"not run: {how}"))
            continue
        version = TOOL_PINS[name].split("==")[1]
        for label, server, streams, n in (("8 streams", (120, 30, 2, 10), 8, n8), ("64 streams", (0, 0, 2, 5), 64, n64)):
            with exact_server(*server) as url:
                try:
                    ref = run_reference(url, streams, n) if streams == 8 else None
                    show(row(f"{name} {version}, {label}", runners[name](exe, url, streams, n, tokenizer, args.out), ref))
                except (RuntimeError, subprocess.TimeoutExpired, KeyError, TypeError, AttributeError) as exc:
                    show(row(f"{name}, {label}", f"failed: {type(exc).__name__}: {exc}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests, no 500-stream run")
    parser.add_argument("--no-tools", action="store_true", help="skip guidellm and aiperf")
    parser.add_argument("--only-tools", nargs="+", choices=sorted(TOOL_PINS), help="run only these tools")
    parser.add_argument("--only-rate", action="store_true", help="only the 64-stream rate runs (and no tools)")
    parser.add_argument("--repeat", type=int, default=2, help="repetitions of the rate runs (default 2)")
    parser.add_argument("--rate-requests", type=int, metavar="N",
                        help="requests per rate run (default 1500 with --quick, else 4000: under a second at "
                             "5,000 req/s, where a client's start-up weighs; more measures the steady rate)")
    parser.add_argument("--out", type=Path, default=ROOT / ".cache" / "bench-loadtest")
    parser.add_argument("--reference-client", nargs=3, metavar=("URL", "STREAMS", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_client:
        url, streams, requests = args.reference_client
        print(json.dumps(reference_client(url, int(streams), int(requests))))
        return 0
    args.out = args.out.resolve()  # the tools run with their own working directory
    args.out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []

    def show(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    if args.only_rate:
        rate_runs(args, show)
    elif not args.only_tools:
        suite_runs(args, show)
        rate_runs(args, show)
    if not args.no_tools and not args.only_rate:
        tool_runs(args, args.only_tools or list(TOOL_PINS), show)
    (args.out / "figures.txt").write_text("\n".join(lines) + "\n")
    print(f"figures written to {args.out / 'figures.txt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
