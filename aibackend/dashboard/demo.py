"""What ``aibackend demo`` does with the results store and the dashboard (called from ``aibackend.ops.demo``).

The demo records its load tests in the user's results store (the default of ``aibackend loadtest``,
or ``--store PATH``), not in its temporary directory: a store that outlives the demo is what makes
two demo runs one trend. Its runs are filed under the target name ``demo-gateway`` (the gateway's
URL changes with every demo: a free port) and the hash of the operator's config directory, so that
an edit of ``config/`` between two demos shows as "config changed" on /trends.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aibackend.dashboard import DEFAULT_PORT

if TYPE_CHECKING:
    from aibackend.dashboard.serve import Dashboard

__all__ = ["DEMO_TARGET", "dashboard_hint", "loadtest_flags", "serve_for_demo"]

DEMO_TARGET = "demo-gateway"


def loadtest_flags(store: Path | None, config_dir: Path) -> list[str]:
    """The ``aibackend loadtest`` flags of one demo load test: record it, or not."""
    if store is None:
        return ["--no-store"]
    return ["--store", str(store), "--target-name", DEMO_TARGET, "--config-dir", str(config_dir)]


def dashboard_hint(store: Path | None, config_dir: Path, say: Callable[[str], None]) -> None:
    if store is None:
        return
    say(f"these load tests are recorded in {store}; see them (and earlier demos' as a trend) with:")
    say(f"  aibackend dashboard --store {store} --config-dir {config_dir.resolve()}")
    say(f"  then open http://127.0.0.1:{DEFAULT_PORT}/trends  (or: aibackend runs list --store {store})")


def serve_for_demo(store: Path | None, config_dir: Path, say: Callable[[str], None]) -> Dashboard | None:
    """``--keep-running``: the dashboard on a thread (port 8050, or a free one when it is taken)."""
    if store is None:
        return None
    from aibackend.dashboard.serve import start_dashboard
    from generator.errors import UsageError
    from generator.net import port_is_open

    port = 0 if port_is_open("127.0.0.1", DEFAULT_PORT) else DEFAULT_PORT
    try:
        dashboard = start_dashboard(store, config_dir, port=port, background=True, say=say)
    except UsageError:  # taken between the check and the bind
        dashboard = start_dashboard(store, config_dir, port=0, background=True, say=say)
    say(f"  dashboard (this stack, and every recorded run): {dashboard.url}  (trends: {dashboard.url}trends)")
    return dashboard
