"""Open a saved run, or watch one: a table of the runs under the models folder (tui_gen.runs.listing.list_runs,
read in a thread): name, step, val bits/char, when it was saved, corpus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

from tui_gen.app.bindings import OPEN_RUN_BINDINGS
from tui_gen.app.messages import RunInfosListed
from tui_gen.core.errors import RunFolderError
from tui_gen.core.textsafe import visible
from tui_gen.runs.listing import SAVED_AT_FORMAT, RunInfo, list_runs

DASH = "–"


def when(saved_at: str | None) -> str:
    """A RunInfo's saved_at (already checked: tui_gen.core.gate.stamp) as shown:
    2026-11-28T10:15:00+0000 -> 2026-11-28 10:15; none -> –"""
    if saved_at is None:
        return DASH
    return datetime.strptime(saved_at, SAVED_AT_FORMAT).strftime("%Y-%m-%d %H:%M")


def in_dialog_order(runs: list[RunInfo]) -> list[RunInfo]:
    """Runs that can be opened first, each group as list_runs gives it: newest activity first, by the
    files' own times (a header's saved_at is whatever the file says: a forged date never moves a row up)."""
    return sorted(runs, key=lambda run: not run.has_checkpoint)  # a stable sort: the groups keep their order


def row_cells(run: RunInfo) -> list[Text]:
    """A run as the table's cells, each a Text (a str cell would be read as markup). A run that cannot be
    opened says why in its saved column: "unreadable" (a problem), else "not saved yet" (only a log)."""
    if run.has_checkpoint:
        saved = Text(when(run.saved_at))
    elif run.problem:
        saved = Text("unreadable", style="red")
    else:
        saved = Text("not saved yet", style="yellow")
    return [
        Text(run.name),  # every string of a RunInfo is safe to show on one line
        Text(DASH if run.step is None else f"{run.step:,}"),
        Text(DASH if run.best_bpc is None else f"{run.best_bpc:.3f}"),
        saved,
        Text(run.corpus or DASH),  # a file's name only, made safe by the listing
    ]


@dataclass(frozen=True)
class RunChoice:
    """What the dialog was closed with: the run, and whether to watch it live (w) rather than open its
    checkpoint (enter)."""

    run: RunInfo
    watch: bool = False


class OpenRunScreen(ModalScreen[RunChoice | None]):
    """Dismisses with a RunChoice, or None. Enter opens the highlighted run (its best checkpoint); a run
    that cannot be opened says why instead. Watch (w) follows the run folder live, checkpoint or not."""

    BINDINGS = [*OPEN_RUN_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant
    AUTO_FOCUS = "#runs"

    def __init__(self, models_dir: str) -> None:
        super().__init__(classes="dialog-screen")
        self.models_dir = models_dir
        self.rows: list[RunInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog open-dialog"):
            yield Label(Text(visible(f"Open a run from {self.models_dir}")), classes="dialog-title")
            table: DataTable[str | Text] = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
            table.add_columns("run", "step", "val bits/char", "saved", "corpus")
            yield table
            yield Static(Text(visible(f"reading {self.models_dir}…")), id="runs-status", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Open", id="open", variant="primary")
                yield Button("Watch", id="watch", tooltip="Follow this run live while another process trains it (w)")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._list()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _list(self) -> None:
        try:
            self.post_message(RunInfosListed(list_runs(self.models_dir)))
        except RunFolderError as e:  # the models folder cannot be read: it says which and why
            self.post_message(RunInfosListed([], str(e)))
        except Exception as e:  # noqa: BLE001 - a bug in the listing: said here, not a dialog left at "reading…"
            self.post_message(RunInfosListed([], f"listing {self.models_dir} failed: {type(e).__name__}: {e}"))

    def on_run_infos_listed(self, message: RunInfosListed) -> None:
        message.stop()
        self.rows = in_dialog_order(message.rows)
        table = self.query_one(DataTable)
        table.clear()
        for i, run in enumerate(self.rows):
            table.add_row(*row_cells(run), key=str(i))
        status = self.query_one("#runs-status", Static)
        if message.error:
            status.update(Text(visible(message.error), style="red"))
        elif not self.rows:
            status.update(
                Text(
                    visible(
                        f"No runs in {self.models_dir} yet: training saves a run folder there at "
                        "each evaluation, and ctrl+s saves one now."
                    )
                )
            )
        else:
            status.update(
                Text(
                    f"{len(self.rows)} run(s), newest first · enter opens the highlighted run's best "
                    "checkpoint · w watches it live"
                )
            )

    def selected(self) -> RunInfo | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def _open(self) -> None:
        run = self.selected()
        if run is None:
            self.app.notify("There is no run to open here.", severity="warning", markup=False)
            return
        if run.problem and not run.has_checkpoint:
            self.app.notify(run.problem, title=f"Cannot open {run.name}", severity="error", markup=False)
            return
        if not run.has_checkpoint:
            self.app.notify(
                "It has not saved a checkpoint yet: press w to watch it train, or open it once it has saved one.",
                title=f"Cannot open {run.name}",
                severity="warning",
                markup=False,
            )
            return
        self.dismiss(RunChoice(run))

    def action_watch(self) -> None:
        run = self.selected()
        if run is None:
            self.app.notify("There is no run to watch here.", severity="warning", markup=False)
            return
        self.dismiss(RunChoice(run, watch=True))  # a run without a checkpoint yet can be watched too

    @on(Button.Pressed, "#watch")
    def _watch_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_watch()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open()

    @on(Button.Pressed, "#open")
    def _open_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._open()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
