"""The simulator's command line: ``python -m contracts.simulators TYPE`` and ``aibackend simulate TYPE``.

A protocol-faithful stand-in for a provider, until SIGINT/SIGTERM. The flags are declared here once;
``aibackend simulate`` (``aibackend/commands/simulate.py``) re-exports them.
"""

from __future__ import annotations

import argparse
import errno
import math
import sys

from contracts.simulators.config import DEFAULT_PORTS, PROVIDER_TYPES

HELP = f"run a provider simulator ({', '.join(PROVIDER_TYPES)}) with latency, faults and violations"


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _hang(text: str) -> float:
    return math.inf if text.lower() in ("inf", "forever") else _non_negative_float(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _port(text: str) -> int:
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}")
    return value


def _rate(text: str) -> float:
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1, got {text!r}")
    return value


def _status(text: str) -> int:
    value = _count(text)
    if not 400 <= value <= 599:
        raise argparse.ArgumentTypeError(f"expected an HTTP error status 400-599, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("type", choices=PROVIDER_TYPES, metavar="TYPE", help=f"provider type: {', '.join(PROVIDER_TYPES)}")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    real_ports = ", ".join(f"{name} {port}" for name, port in DEFAULT_PORTS.items())
    parser.add_argument("--port", type=_port, default=None,
                        help=f"port (default: the real server's: {real_ports}; 0 = a free port)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME",
                        help="a model to serve (repeatable; llama_cpp serves exactly one)")
    latency = parser.add_argument_group("latency model")
    latency.add_argument("--ttft-ms", type=_non_negative_float, default=20.0, help="base time to first token (20)")
    latency.add_argument("--prefill-ms-per-token", type=_non_negative_float, default=0.0,
                         help="added to the TTFT per prompt token (0)")
    latency.add_argument("--tpot-ms", type=_non_negative_float, default=5.0, help="time per output token (5)")
    latency.add_argument("--jitter-ms", type=_non_negative_float, default=0.0,
                         help="seeded uniform +- jitter on each chunk gap (0)")
    latency.add_argument("--tokens-per-chunk", type=_positive_int, default=1, help="tokens in one chunk (1)")
    latency.add_argument("--slots", type=_positive_int, default=64,
                         help="concurrent sequences; more requests queue FIFO (64)")
    latency.add_argument("--output-tokens", type=_positive_int, default=16,
                         help="answer length before EOS; max_tokens may cut it, ignore_eos extends it (16)")
    latency.add_argument("--ctx-size", type=_count, default=None, metavar="N",
                         help="llama.cpp types: prompts of N tokens or more get the real server's 400 "
                              "(default 2048, as the engines run; 0 = no window)")
    latency.add_argument("--char-tokens", type=_positive_int, default=1, metavar="N",
                         help="llama.cpp types: a byte-level model writing N-byte characters, one token per "
                              "byte (2-4); the real server's partial-UTF-8 handling is reproduced (1: words)")
    latency.add_argument("--seed", type=int, default=0, help="seed of the text, the jitter and the error draws (0)")
    faults = parser.add_argument_group("faults (inference endpoints; all switchable via POST /_sim/control)")
    faults.add_argument("--error-rate", type=_rate, default=0.0, help="probability of an error answer (0)")
    faults.add_argument("--error-status", type=_status, default=500, help="status of error answers (500)")
    faults.add_argument("--error-body", default=None, help="raw body of error answers (default: the type's own)")
    faults.add_argument("--hang-before-headers-s", type=_hang, default=0.0, metavar="S",
                        help="hold the connection S seconds without answering, then close it ('inf' = forever)")
    faults.add_argument("--slow-headers-ms", type=_non_negative_float, default=0.0, metavar="MS",
                        help="delay the response headers by MS, then answer normally")
    faults.add_argument("--stall-after-chunks", type=_count, default=None, metavar="N",
                        help="pause the stream after N content chunks for --stall-s")
    faults.add_argument("--stall-s", type=_non_negative_float, default=0.0, metavar="S", help="length of the stall")
    faults.add_argument("--disconnect-after-chunks", type=_count, default=None, metavar="N",
                        help="close the connection after N content chunks")
    faults.add_argument("--malformed-chunk", type=_count, default=None, metavar="N",
                        help="send broken JSON instead of content chunk N (1-based)")
    faults.add_argument("--loading-s", type=_non_negative_float, default=0.0, metavar="S",
                        help="loading phase at start-up, as the real server shows it (503 / not listening)")
    faults.add_argument("--refuse-connections", action="store_true", help="start without listening")
    faults.add_argument("--reset-connections", action="store_true", help="accept connections and close them at once")
    parser.add_argument("--violate", action="append", default=[], metavar="RULE",
                        help="break contract rule RULE (repeatable; ids of contracts/rules.py)")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                        help="event loop (default: auto = the measured best, see docs/simulators.md)")


def config_from_args(args: argparse.Namespace) -> object:
    from contracts.simulators.config import ConfigError, SimulatorConfig
    from generator.errors import UsageError

    try:
        return SimulatorConfig(
            type=args.type, models=list(args.model), host=args.host,
            port=DEFAULT_PORTS[args.type] if args.port is None else args.port, seed=args.seed,
            ttft_ms=args.ttft_ms, prefill_ms_per_token=args.prefill_ms_per_token, tpot_ms=args.tpot_ms,
            jitter_ms=args.jitter_ms, tokens_per_chunk=args.tokens_per_chunk, slots=args.slots,
            output_tokens=args.output_tokens, ctx_size=args.ctx_size, char_tokens=args.char_tokens, error_rate=args.error_rate, error_status=args.error_status,
            error_body=args.error_body, hang_before_headers_s=args.hang_before_headers_s,
            slow_headers_ms=args.slow_headers_ms, stall_after_chunks=args.stall_after_chunks, stall_s=args.stall_s,
            disconnect_after_chunks=args.disconnect_after_chunks, malformed_chunk=args.malformed_chunk,
            loading_s=args.loading_s, refuse_connections=args.refuse_connections,
            reset_connections=args.reset_connections, violations=list(args.violate), loop=args.loop,
        )
    except ConfigError as exc:
        raise UsageError(f"simulate {args.type}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from contracts.simulators.config import SimulatorConfig
    from contracts.simulators.server import SimulatorServer, serve
    from generator.errors import AibackendError

    config = config_from_args(args)
    assert isinstance(config, SimulatorConfig)

    def announce(server: SimulatorServer) -> None:
        state = "listening" if server.listening else ("loading" if server.loading else "not listening")
        print(f"simulating {config.type} on http://{config.host}:{server.port} "
              f"(models: {', '.join(config.models)}; {state}; stop with Ctrl-C)", flush=True)

    try:
        serve(config, announce)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AibackendError(
                f"port {config.port} on {config.host} is already in use",
                hint="pick another with --port N, or --port 0 for a free one",
            ) from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise AibackendError(f"cannot bind {config.host}:{config.port}: {exc.strerror}",
                                 hint="use a local address such as 127.0.0.1, and a port above 1023") from None
        raise
    except KeyboardInterrupt:
        pass
    sys.stdout.flush()
    return 0
