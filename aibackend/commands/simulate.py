"""``aibackend simulate TYPE``: the simulator's own command line (declared in ``contracts.simulators.cli``)."""

from __future__ import annotations

from contracts.simulators.cli import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
