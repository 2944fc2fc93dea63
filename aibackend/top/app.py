"""The Textual application of ``aibackend top``.

One table, refreshed every ``interval`` seconds from a ``GatewaySource``: the model groups (what
clients ask for) or the providers (what serves them); ``g``/``p`` or ``tab`` switches, the arrows
move the selection (kept across refreshes), the line under the table details the selected row,
``q`` quits. Polling runs on a worker thread: a slow gateway never freezes the screen.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from aibackend.top.source import GatewaySource, ProviderRow, Snapshot
from aibackend.top.window import LATENCY_WINDOW_S, RATE_WINDOW_S, GroupRow

__all__ = ["TopApp"]

GROUP_COLUMNS = ("model group", f"req/s ({RATE_WINDOW_S:g} s)", f"requests ({LATENCY_WINDOW_S:g} s)", "errors",
                 "p50 ms", "p95 ms", "last error")
PROVIDER_COLUMNS = ("provider", "type", "health", "probe ms", f"req/s ({RATE_WINDOW_S:g} s)", "errors", "p50 ms",
                    "p95 ms", "detail")


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def group_cells(row: GroupRow) -> tuple[str, ...]:
    return (row.name, _num(row.rps), str(row.requests), str(row.errors), _num(row.p50_ms), _num(row.p95_ms),
            row.last_error or "")


def provider_cells(row: ProviderRow) -> tuple[str, ...]:
    t = row.traffic
    return (row.name, row.type, row.health, _num(row.probe_ms), _num(t.rps) if t else "-", str(t.errors) if t else "-",
            _num(t.p50_ms) if t else "-", _num(t.p95_ms) if t else "-", row.detail)


class TopApp(App[None]):
    TITLE = "aibackend top"
    # One line each for the status and the detail (cut with an ellipsis, never wrapped): a wrapped
    # line made the screen taller than the terminal, and the table's cursor then scrolled it.
    CSS = """
    Screen { overflow: hidden; }
    #status { height: 1; padding: 0 1; background: $boost; text-wrap: nowrap; text-overflow: ellipsis; }
    #detail { height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    DataTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("g", "show('groups')", "groups"),
        Binding("p", "show('providers')", "providers"),
        Binding("tab", "switch", "groups/providers", priority=True),
    ]

    def __init__(self, source: GatewaySource, *, interval: float = 1.0) -> None:
        super().__init__()
        self.source = source
        self.interval = interval
        self.view = "groups"
        self.snapshot: Snapshot | None = None
        self.refreshes = 0

    def compose(self) -> ComposeResult:
        yield Static("connecting ...", id="status")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail")
        yield Footer()

    async def on_mount(self) -> None:
        self._columns()
        await self.poll()
        self.set_interval(self.interval, self.poll)

    def _columns(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns(*(GROUP_COLUMNS if self.view == "groups" else PROVIDER_COLUMNS))

    async def poll(self) -> None:
        self.snapshot = await asyncio.to_thread(self.source.poll)
        self.refreshes += 1
        self.render_snapshot()

    def render_snapshot(self) -> None:
        snapshot = self.snapshot
        if snapshot is None:
            return
        flight = "-" if snapshot.in_flight is None else str(snapshot.in_flight)
        # Text, not markup: "[groups]" and an error's brackets are shown as they are.
        self.query_one("#status", Static).update(Text(
            f"gateway {snapshot.gateway or '-'}: {snapshot.gateway_state}   in flight {flight}   "
            f"[{self.view}]   figures from {snapshot.figures_from}"))
        table = self.query_one(DataTable)
        selected = self._selected_key()
        table.clear()
        rows: list[tuple[str, tuple[str, ...]]] = (
            [(r.name, group_cells(r)) for r in snapshot.groups] if self.view == "groups"
            else [(r.name, provider_cells(r)) for r in snapshot.providers])
        for key, cells in rows:
            table.add_row(*(Text(cell) for cell in cells), key=key)  # plain text, never markup
        keys = [key for key, _ in rows]
        if selected in keys:
            table.move_cursor(row=keys.index(selected), animate=False)
        self._detail()

    def _selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:  # no row under the cursor
            return None

    def _detail(self) -> None:
        key, snapshot = self._selected_key(), self.snapshot
        text = "no requests in the last minute" if self.view == "groups" else "no providers (pass --config-dir)"
        if key is not None and snapshot is not None:
            if self.view == "groups":
                row = next((r for r in snapshot.groups if r.name == key), None)
                if row is not None:
                    text = (f"{row.name}: {row.requests} request(s), {row.errors} error(s) in the last "
                            f"{LATENCY_WINDOW_S:g} s" + (f"; last error {row.last_error}" if row.last_error else ""))
            else:
                provider = next((r for r in snapshot.providers if r.name == key), None)
                if provider is not None:
                    text = f"{provider.name} ({provider.type}, {provider.status}): {provider.health} {provider.detail}"
        self.query_one("#detail", Static).update(Text(text))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def action_show(self, view: str) -> None:
        if view != self.view:
            self.view = view
            self._columns()
            self.render_snapshot()

    def action_switch(self) -> None:
        self.action_show("providers" if self.view == "groups" else "groups")
