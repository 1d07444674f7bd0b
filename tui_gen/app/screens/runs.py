"""The runs screen (c): every run under the models folder, and which of them to overlay on the loss plot.

A table of tui_gen.runs.listing.list_runs (read in a thread): name, corpus, framing, model, parameters, steps,
best validation bits/char, last activity, and whether it trains right now. Space marks runs, enter
overlays the marked ones (or the highlighted one), escape leaves the plot as it was.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from tui_gen.app.bindings import RUNS_BINDINGS
from tui_gen.app.messages import RunInfosListed
from tui_gen.core.textsafe import one_line, visible

if TYPE_CHECKING:
    from tui_gen.runs.listing import RunInfo

MARK = "●"
COLUMNS = ("", "run", "corpus", "framing", "model", "parameters", "steps", "best val", "last activity", "now")


def ago(when: float | None, now: float | None = None) -> str:
    """A file time as shown: "12 s ago", "5 min ago", "3 h ago", else the date."""
    if when is None:
        return "–"
    seconds = (now or time.time()) - when
    if seconds < 0:
        return datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M")
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M")


def row_cells(run: RunInfo, marked: bool) -> list[Text]:
    """A tui_gen.runs.listing.RunInfo as table cells: every cell a Text (a str cell would be read as markup)."""
    dash = "–"
    if run.training:
        now = Text(f"training (pid {run.training_pid})", style="bold green")
    elif run.problem and not run.has_checkpoint and run.step is None:
        now = Text("unreadable", style="red")
    else:
        now = Text(run.ended or "", style="dim")
    return [
        Text(MARK if marked else " ", style="bold"),
        Text(one_line(run.name)),
        Text(run.corpus or dash),
        Text(run.framing or dash),
        Text(run.model or dash),
        Text(f"{run.parameters:,}" if run.parameters is not None else dash),
        Text(f"{run.step:,}" if run.step is not None else dash),
        Text(f"{run.best_bpc:.3f}" if run.best_bpc is not None else dash),
        Text(ago(run.last_activity)),
        now,
    ]


class RunsScreen(Screen[list[str] | None]):
    """Dismisses with the run folders (str) to overlay, in the order they were marked ([] takes every
    overlay off), or None: leave the plot as it is."""

    BINDINGS = [*RUNS_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant
    AUTO_FOCUS = "#runs-table"

    def __init__(self, models_dir: str, marked: list[str] | None = None) -> None:
        super().__init__()
        self.models_dir = models_dir
        self.rows: list[RunInfo] = []
        self.marked: list[str] = list(marked or [])  # run folders, in the order marked
        self.error: str | None = None
        self._cleared = False  # every mark was taken off: enter then clears the plot's overlays

    def compose(self) -> ComposeResult:
        with Vertical(id="runs-screen"):
            yield Label(Text(visible(f"Runs in {self.models_dir}")), classes="dialog-title")
            table: DataTable[Text] = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            table.add_columns(*COLUMNS)
            yield table
            yield Static(Text(visible(f"reading {self.models_dir}…")), id="runs-status", classes="dialog-hint")
            yield Static(
                Text(
                    "space marks runs to compare · enter shows them on the loss plot with this run's · escape goes back"
                ),
                id="runs-hint",
                classes="dialog-hint",
            )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._list()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _list(self) -> None:
        from tui_gen.core.errors import TuiGenError
        from tui_gen.runs.listing import list_runs

        try:
            self.post_message(RunInfosListed(list_runs(self.models_dir)))
        except TuiGenError as e:
            self.post_message(RunInfosListed([], str(e)))
        except Exception as e:  # noqa: BLE001 - a folder that cannot be listed: say so here, stay up
            self.post_message(RunInfosListed([], f"cannot read {self.models_dir}: {e}"))

    def on_run_infos_listed(self, message: RunInfosListed) -> None:
        self.rows = message.rows
        self.error = message.error
        paths = {r.path for r in self.rows}
        self.marked = [p for p in self.marked if p in paths]  # runs deleted meanwhile
        self._fill()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for i, run in enumerate(self.rows):
            table.add_row(*row_cells(run, run.path in self.marked), key=str(i))
        if self.rows and cursor is not None:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))
        self._status()

    def _status(self) -> None:
        status = self.query_one("#runs-status", Static)
        if self.error:
            status.update(Text(visible(self.error), style="red"))
            return
        if not self.rows:
            status.update(Text(visible(f"No runs in {self.models_dir} yet: each training run leaves a folder there.")))
            return
        bad = sum(1 for r in self.rows if r.problem)
        words = f"{len(self.rows)} run(s), most recent first · {len(self.marked)} marked"
        if bad:
            words += f" · {bad} with a problem (highlight one to see it)"
        status.update(Text(words))
        run = self.highlighted()
        if run is not None and run.problem:
            status.update(Text(visible(f"{run.name}: {run.problem}"), style="yellow"))

    def highlighted(self) -> RunInfo | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._status()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show()

    def action_mark(self) -> None:
        run = self.highlighted()
        if run is None:
            return
        if run.path in self.marked:
            self.marked.remove(run.path)
        else:
            self.marked.append(run.path)
        self._cleared = not self.marked
        table = self.query_one(DataTable)
        mark = Text(MARK if run.path in self.marked else " ", style="bold")
        table.update_cell_at(Coordinate(table.cursor_row, 0), mark)
        if table.cursor_row < len(self.rows) - 1:
            table.move_cursor(row=table.cursor_row + 1)  # on to the next, as file managers do
        self._status()

    def action_show(self) -> None:
        if self.marked:
            self.dismiss(list(self.marked))
            return
        if self._cleared:
            self.dismiss([])
            return
        run = self.highlighted()
        if run is None:
            self.app.notify("There is no run to show here.", severity="warning", markup=False)
            return
        self.dismiss([run.path])

    def action_clear(self) -> None:
        self.marked = []
        self._cleared = True
        self._fill()

    def action_refresh(self) -> None:
        self._list()

    def action_cancel(self) -> None:
        self.dismiss(None)
