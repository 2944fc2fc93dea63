"""A child started with ``default_dispositions`` ignores and blocks nothing, whatever its parent did.

The parent here is as careless as one CI runner was: every signal ignored, glibc's reserved 32 and
33 included (an ignored 32 reached an engine through ``aibackend switch`` and a test caught it).
"""

from __future__ import annotations

import subprocess

from aibackend.ops.interrupts import default_dispositions
from tests.plugins.processes import ignore_every_signal

PROBE = ["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]


def _masks(preexec: object) -> dict[str, int]:
    out = subprocess.run(PROBE, capture_output=True, text=True, check=True, preexec_fn=preexec).stdout  # type: ignore[arg-type]
    return {line.split(":")[0]: int(line.split()[1], 16) for line in out.splitlines()}


def test_the_careless_parent_is_seen_by_a_child_left_alone() -> None:
    # The control: the probe sees what the parent left, reserved signals and the blocked one included.
    masks = _masks(ignore_every_signal)
    assert masks["SigIgn"] & (1 << 31) and masks["SigIgn"] & (1 << 32), hex(masks["SigIgn"])
    assert masks["SigIgn"] & (1 << 14), hex(masks["SigIgn"])  # SIGTERM (15)
    assert masks["SigBlk"] == 1 << 11, hex(masks["SigBlk"])  # SIGUSR2 (12)


def test_default_dispositions_clears_every_ignored_and_blocked_signal() -> None:
    def careless_then_reset() -> None:
        ignore_every_signal()
        default_dispositions()

    assert _masks(careless_then_reset) == {"SigIgn": 0, "SigBlk": 0}
