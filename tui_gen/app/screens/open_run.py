"""Open a saved run: a table of the runs under the models folder (name, step, val bits/char, date)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

from tui_gen.app.bindings import OPEN_RUN_BINDINGS
from tui_gen.app.messages import RunsListed
from tui_gen.core.textsafe import one_line, visible

SAVED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # as checkpoint.save_checkpoint writes it (not imported: torch)


def when(saved_at: object) -> str:
    """2026-11-28T10:15:00+0000 -> 2026-11-28 10:15; anything else (the header is untrusted text) -> –"""
    if not isinstance(saved_at, str) or len(saved_at) > 40:
        return "–"
    try:
        return datetime.strptime(saved_at, SAVED_AT_FORMAT).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return "–"


class OpenRunScreen(ModalScreen[dict | None]):
    """Dismisses with the chosen row of checkpoint.list_runs (its "path" is the file to load), or None.
    Watch (w) dismisses with the row and "watch": True: follow that run folder ("run") live, checkpoint
    or not."""

    BINDINGS = [*OPEN_RUN_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant
    AUTO_FOCUS = "#runs"

    def __init__(self, models_dir: str) -> None:
        super().__init__(classes="dialog-screen")
        self.models_dir = models_dir
        self.rows: list[dict] = []

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
            from tui_gen.training.checkpoint import list_runs

            self.post_message(RunsListed(list_runs(self.models_dir)))
        except Exception as e:  # noqa: BLE001 - an unreadable folder: say so in the dialog
            self.post_message(RunsListed([], f"cannot read {self.models_dir}: {e}"))

    def on_runs_listed(self, message: RunsListed) -> None:
        self.rows = message.rows
        table = self.query_one(DataTable)
        table.clear()
        for i, r in enumerate(self.rows):
            if r.get("error"):
                table.add_row(Text(one_line(r["name"])), "–", "–", Text("unreadable", style="red"), "–", key=str(i))
                continue
            val = f"{r['val_bpc']:.3f}" if isinstance(r.get("val_bpc"), (int, float)) else "–"
            step = f"{r['step']:,}" if isinstance(r.get("step"), int) else "–"
            corpus = Path(r["corpus"]).name if isinstance(r.get("corpus"), str) and r["corpus"] else "–"
            # Every cell as Text: a str cell would be read as markup.
            table.add_row(
                Text(one_line(r["name"])),
                Text(step),
                Text(val),
                Text(when(r.get("saved_at"))),
                Text(one_line(corpus)),
                key=str(i),
            )
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

    def selected(self) -> dict | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def _open(self) -> None:
        row = self.selected()
        if row is None:
            self.app.notify("There is no run to open here.", severity="warning", markup=False)
            return
        if row.get("error"):
            self.app.notify(row["error"], title=f"Cannot open {one_line(row['name'])}", severity="error", markup=False)
            return
        self.dismiss(row)

    def action_watch(self) -> None:
        row = self.selected()
        if row is None or not row.get("run"):
            self.app.notify("There is no run to watch here.", severity="warning", markup=False)
            return
        self.dismiss({**row, "watch": True})  # a run without a checkpoint yet can be watched too

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
