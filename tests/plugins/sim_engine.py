"""A stand-in for a GPU engine's service scripts: what ``start_command``/``stop_command`` call in tests.

    python tests/plugins/sim_engine.py start --pid-file F [--log L] [--flags-file G] -- vllm --port 8001 --model M
    python tests/plugins/sim_engine.py stop --pid-file F

``start`` runs ``aibackend simulate ARGS...`` detached (its own session, output to the log), writes
its pid to the pid file and returns at once, as a launcher script for a real engine would; the
engine becomes healthy when the simulator listens. ``stop`` terminates that process group
(SIGTERM, then SIGKILL after --timeout) and removes the pid file; stopping what is not running
succeeds. ``--flags-file G``: when G exists, its words are added to the simulator's arguments (a
test makes the next start fail that way: ``--refuse-connections`` never becomes healthy,
``--error-rate 1`` answers every completion with an error). Standard library only: it runs under whatever environment the switch gives it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

AIBACKEND = str(Path(sys.executable).parent / "aibackend")


def _alive(pgid: int) -> bool:
    # aibackend.gateway.runtime.group_alive, copied: this script must run on the standard library alone.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def start(pid_file: Path, log: Path | None, simulate: list[str]) -> int:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [AIBACKEND, "simulate", *simulate],
        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
    )
    pid_file.write_text(f"{process.pid}\n")
    return 0


def stop(pid_file: Path, timeout: float) -> int:
    try:
        pgid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return 0  # nothing recorded: nothing to stop
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _alive(pgid):
            time.sleep(0.05)
        if not _alive(pgid):
            break
    pid_file.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    simulate = words[words.index("--") + 1:] if "--" in words else []
    own = words[:words.index("--")] if "--" in words else words
    parser = argparse.ArgumentParser(prog="sim_engine")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--pid-file", type=Path, required=True)
    parser.add_argument("--log", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--flags-file", type=Path, default=None)
    args = parser.parse_args(own)
    if args.action == "start":
        if args.flags_file is not None and args.flags_file.exists():
            simulate += shlex.split(args.flags_file.read_text())
        return start(args.pid_file, args.log, simulate)
    return stop(args.pid_file, args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
