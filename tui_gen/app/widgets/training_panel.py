"""The training panel: what the run is doing, as a table of figures and a progress bar."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from tui_gen.app.state import ACTIVE, Status, TrainingState, fmt_bpc, fmt_count, fmt_duration, fmt_lr
from tui_gen.core import gate
from tui_gen.core.textsafe import visible

STATUS_STYLES = {
    Status.IDLE: "dim",
    Status.STARTING: "yellow",
    Status.RUNNING: "bold green",
    Status.PAUSING: "yellow",
    Status.PAUSED: "bold yellow",
    Status.STOPPING: "yellow",
    Status.FINISHED: "bold cyan",
    Status.FAILED: "bold red",
}
STATUS_WORDS = {Status.PAUSING: "pausing…", Status.STOPPING: "stopping…", Status.STARTING: "starting…"}


def stats_table(s: TrainingState) -> Table:
    """The figures, as literal Text (corpus names and paths are never read as markup)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")

    def row(label: str, value: str | Text) -> None:
        grid.add_row(label, value if isinstance(value, Text) else Text(visible(value)))

    word = STATUS_WORDS.get(s.status, s.status)
    if s.watching:  # another process trains it: "watching", and how its run ended once it has
        word = "watching" if s.status in ACTIVE else f"watching · {s.status}"
    row("state", Text(word, style=STATUS_STYLES.get(s.status, "")))
    row("device", s.device or "–")
    corpus = s.corpus or "–"
    if s.corpus and s.framing:
        corpus = f"{Path(s.corpus).name if '/' in s.corpus else s.corpus} ({s.framing})"
    row("corpus", corpus)
    if s.parameters:
        row("model", " · ".join(part for part in (s.model, f"{s.parameters:,} parameters") if part))
    epoch = f" · epoch {s.epoch + 1}" if s.started and s.step else ""  # no epoch before the first step
    of = f" of {s.max_steps:,}" if s.max_steps else ""  # a step budget (a time budget: see "left")
    row("step", f"{s.step:,}{of}{epoch}" if s.started or s.step else "–")
    row("speed", f"{fmt_count(s.chars_per_sec)} chars/s" if s.chars_per_sec is not None else "–")
    if s.elapsed is not None:
        left = s.eta
        row(
            "time", f"{fmt_duration(s.elapsed)} elapsed" + (f" · {fmt_duration(left)} left" if left is not None else "")
        )
    else:
        row("time", "–")
    row("lr", fmt_lr(s.lr))
    row("train", f"{fmt_bpc(s.train_bpc)} bits/char" if s.train_bpc is not None else "–")
    if s.grad_norm is not None and s.clipped_share is not None:
        clip = f" · clip {s.grad_clip:g}" if s.grad_clip is not None else ""
        row("grad", f"norm {s.grad_norm:.3g}{clip} · clipped in {s.clipped_share:.0%} of steps")
    if s.seq_len is not None:  # truncated back-propagation through time: how far back the loss is traced
        carried = " (state carried on)" if s.framing == "stream" else ""
        row("window", f"{s.seq_len} characters{carried}")
    if s.val_bpc is not None:
        best = f" (best {fmt_bpc(s.best_bpc)}" + (f" at {s.best_step:,})" if s.best_step is not None else ")")
        row("val", f"{fmt_bpc(s.val_bpc)}{best}")
    else:
        row("val", f"best {fmt_bpc(s.best_bpc)}" if s.best_bpc is not None else "–")
    if s.run_dir:
        row("run", Path(s.run_dir).name)
    if s.saved_step is not None:
        kind = "last" if s.last_path else "best"
        row("saved", f"step {s.saved_step:,} ({kind})")
    return grid


class TrainingPanel(Vertical):
    """Figures of the run, a progress bar, and a line for what it is doing or how it ended."""

    DEFAULT_CSS = """
    TrainingPanel {
        height: auto;
        & > #training-stats { height: auto; }
        & > #training-why { height: auto; color: $text-muted; display: none; }
        & > ProgressBar { height: 1; margin: 1 0 0 0; }
        & > ProgressBar Bar { width: 1fr; }
        & > #training-note { height: auto; color: $text-muted; margin: 1 0 0 0; }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.state: TrainingState | None = None
        self._rows = -1
        self._why = ""
        self._note: Text | None = None

    def compose(self) -> ComposeResult:
        yield Static(stats_table(TrainingState()), id="training-stats")
        # Why this framing: a line of its own where the screen has room (app.tcss), a tooltip always.
        yield Static(id="training-why")
        yield ProgressBar(total=1.0, show_eta=False, id="training-progress")
        yield Static(id="training-note")

    def show(self, state: TrainingState, notice: str | None = None) -> None:
        """Redraw from the state. `notice`: a line from the app (why this corpus, say)."""
        self.state = state
        table = stats_table(state)
        rows = table.row_count
        # A layout pass only when the number of rows changes (values wrap rarely in 40 columns).
        self.query_one("#training-stats", Static).update(table, layout=rows != self._rows)
        self._rows = rows
        self._show_framing_reason(state)
        bar = self.query_one(ProgressBar)
        done, total = state.download or (0, None)
        if total:
            bar.update(total=1.0, progress=min(1.0, done / total))
        else:
            # gate.number: the bar recurses without end on NaN; the gate kept it out of logs already
            bar.update(total=1.0, progress=gate.number(state.progress, 0.0, 1.0) or 0.0)
        note = Text()
        if notice:
            note.append(visible(notice) + "\n", style="yellow")
        if state.message and state.status != Status.FAILED:
            msg = state.message
            if state.download and state.download[0]:
                done, total = state.download
                msg += f": {done / 1e6:.1f}" + (f" of {total / 1e6:.1f} MB" if total else " MB")
            note.append(visible(msg) + "\n")
        if state.warnings:
            note.append(f"warning: {visible(state.warnings[-1])}", style="yellow")
            if state.warning_count > 1:
                note.append(f" (and {state.warning_count - 1:,} more)", style="yellow")
        if state.status == Status.PAUSED:
            note.append("\npaused: press p to resume")
        # Most redraws change only the figures: the note is rewritten (a layout pass) only when it changes.
        if note != self._note:
            self._note = note
            self.query_one("#training-note", Static).update(note)

    def _show_framing_reason(self, state: TrainingState) -> None:
        why = (
            f"{state.framing} framing: {visible(state.framing_reason)}"
            if state.framing and state.framing_reason
            else ""
        )
        if why != self._why:
            self._why = why
            self.set_class(bool(why), "-has-framing-reason")
            self.query_one("#training-why", Static).update(Text(why))
            self.query_one("#training-stats", Static).tooltip = Text(why) if why else None

    @property
    def progress(self) -> float:
        return float(self.query_one(ProgressBar).percentage or 0.0)
