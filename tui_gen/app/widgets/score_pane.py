"""The playground's score mode: a text box, and under it the same text coloured by how surprised the
model is by each character (the generation view's palette: likely green, surprising red), with its
bits/char. Moving the cursor (in the box, or in the coloured view) shows the model's candidates there.

Scoring runs in an exclusive thread worker, 0.25 s after the last change (tui_gen.model.score.TextScorer,
which reruns only the lines or segments that changed), on the playground's model; the coloured view
is laid out in that thread too, so a long text never stalls the UI. The box keeps at most BOX_LIMIT
characters (a bigger paste is cut, with a notice), and scoring reads at most SCORE_LIMIT.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static, TextArea
from textual.widgets.text_area import Document

from tui_gen.app.bindings import SCORE_BOX_BINDINGS
from tui_gen.app.messages import ModelReady, TextScored
from tui_gen.app.widgets.next_char_panel import show_char
from tui_gen.app.widgets.stream_view import PROB_STYLES, SEED_STYLE, UNKNOWN_STYLE, Layout, StreamView
from tui_gen.core.textsafe import safe_char, visible

if TYPE_CHECKING:  # annotations only: tui_gen.model imports torch, which only the scoring thread loads
    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.core.events import Snapshot
    from tui_gen.model.network import CharRNN
    from tui_gen.model.score import TextScore, TextScorer

DEBOUNCE_SECONDS = 0.25
SCORE_LIMIT = 100_000  # characters scored at most (about a second on this CPU)
BOX_LIMIT = SCORE_LIMIT  # characters the box keeps: a TextArea with a megabyte answers a key in ~0.5 s
WRAP_LIMIT = 20_000  # above this the box stops soft-wrapping (rewrapping a huge text on each key is slow)
HINT = "type or paste a text: it is coloured by how surprising each character is to the model"
NO_MODEL = "no model to score with yet: wait for training's first weights, or press ctrl+o"


class ScoreBox(TextArea):
    """The text to score. Control characters and escape sequences are drawn as symbols (the text
    itself is untouched), and a paste is cut to BOX_LIMIT characters, with a notice."""

    BINDINGS = [*SCORE_BOX_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant

    def action_leave_box(self) -> None:
        pane = self.parent
        assert pane is not None  # a binding runs only on a mounted box
        self.screen.set_focus(pane.query_one("#score-view"))

    def get_line(self, line_index: int) -> Text:
        line = self.document.get_line(line_index)
        if not line.isprintable():
            # One symbol per character (a tab stays a tab: the box expands it itself), so the cursor's
            # column still matches the text's.
            line = "".join(c if c == "\t" else safe_char(c)[:1] for c in line)
        return Text(line, end="", no_wrap=True)

    async def _on_paste(self, event: events.Paste) -> None:
        event.prevent_default()  # instead of TextArea's own paste
        if self.read_only:
            return
        start, end = self.selection
        selected = len(self.selected_text)
        room = max(0, BOX_LIMIT - (len(self.text) - selected))
        pasted = event.text
        if len(pasted) > room:
            self.app.notify(
                f"The pasted text has {len(pasted):,} characters: the box keeps "
                f"{room:,} of them (it holds {BOX_LIMIT:,} at most), and those are scored.",
                title="Text cut",
                severity="warning",
                markup=False,
            )
            pasted = pasted[:room]
        if result := self._replace_via_keyboard(pasted, start, end):
            self.move_cursor(result.end_location)
            self.focus()


def style_runs(result: TextScore) -> list[tuple[str, Style]]:
    """The scored text as runs of (text, style): the probability's colour, unknown characters marked,
    unscored ones (a stream model's first) plain."""
    import numpy as np

    n = len(result.text)
    if not n:
        return []
    buckets = np.minimum((np.clip(result.prob, 0.0, 1.0) * len(PROB_STYLES)).astype(np.int64), len(PROB_STYLES) - 1)
    buckets = np.where(result.known, buckets, len(PROB_STYLES))
    buckets = np.where(result.scored, buckets, len(PROB_STYLES) + 1)
    styles = list(PROB_STYLES) + [UNKNOWN_STYLE, SEED_STYLE]
    cuts = [0, *(np.flatnonzero(np.diff(buckets)) + 1).tolist(), n]
    return [(result.text[a:b], styles[int(buckets[a])]) for a, b in zip(cuts, cuts[1:], strict=False)]


def describe(result: TextScore, total: int) -> str:
    """The label: bits/char, unknown characters, and whether the text was cut."""
    import math

    parts = []
    bpc = result.bits_per_char
    if math.isnan(bpc):
        parts.append("too short to score")
    else:
        parts.append(f"{bpc:.3f} bits/char over {result.chars_scored:,} characters")
    if result.unknown:
        parts.append(f"{result.unknown:,} unknown (underlined)")
    if total > len(result.text):
        parts.append(f"only the first {len(result.text):,} of {total:,} characters are scored")
    return " · ".join(parts)


class ScorePane(Vertical):
    """The score mode's widgets. The playground sets `source` (its model, or a training snapshot not
    built yet) and calls rescore() when it changes."""

    DEFAULT_CSS = """
    ScorePane {
        width: 1fr;
        height: 1fr;
    }
    ScorePane > #score-label {
        height: 1;
        color: $text-muted;
    }
    ScorePane > #score-text {
        height: 1fr;
        min-height: 3;
    }
    ScorePane > #score-view {
        height: 2fr;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        &:focus {
            border: round $accent;
        }
    }
    """

    class CharFocused(Message):
        """The cursor is on a scored character: the candidates the model had there, the character, and
        a note with its probability (for the next-char panel)."""

        def __init__(self, top: list[tuple[str, float]], char: str, note: str) -> None:
            super().__init__()
            self.top, self.char, self.note = top, char, note

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.source: PlaygroundModel | Snapshot | None = None  # a training Snapshot: one is built from it
        self.result: TextScore | None = None  # the last TextScore shown
        self.label_text = HINT
        self.scored_requests = 0  # results shown so far (tests wait on it)
        self._request = 0
        self._timer: Timer | None = None
        self._scorer: tuple[CharRNN, TextScorer] | None = None  # (the CharRNN it was made for, its TextScorer)
        self._lock = threading.Lock()  # one scoring at a time: the scorer keeps the last text's rows

    def compose(self) -> ComposeResult:
        yield Static(Text(HINT, no_wrap=True, overflow="ellipsis"), id="score-label")
        yield ScoreBox(id="score-text", soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        view = StreamView(id="score-view")
        view.border_title = "surprisal: green likely, red surprising"
        yield view

    @property
    def scorer_model(self) -> CharRNN | None:
        """The weights the current scorer was made for (None before the first scoring)."""
        return self._scorer[0] if self._scorer is not None else None

    @property
    def box(self) -> ScoreBox:
        return self.query_one(ScoreBox)

    @property
    def view(self) -> StreamView:
        return self.query_one("#score-view", StreamView)

    def rescore(self, now: bool = False) -> None:
        """Score the box's text again, after the debounce (now=True: at once)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if now:
            self._score_now()
        else:
            self._timer = self.set_timer(DEBOUNCE_SECONDS, self._score_now)

    def character_at_cursor(self) -> int | None:
        """The index of the character under the box's cursor (the one after it; at the end, the last)."""
        box = self.box
        document = box.document
        assert isinstance(document, Document)  # what a TextArea builds (a SyntaxAwareDocument is one too)
        index = document.get_index_from_location(box.cursor_location)
        n = len(self.result.text) if self.result is not None else 0
        return min(index, n - 1) if n else None

    def candidates_at(self, index: int) -> tuple[list[tuple[str, float]], str, str] | None:
        """(the candidates at `index`, the character there, a note with its probability) from the last
        result, or None where nothing was scored."""
        r = self.result
        if r is None or not 0 <= index < len(r.text):
            return None
        ch = r.text[index]
        if not r.scored[index]:
            return [], ch, f"{show_char(ch)}: not scored\n(no context yet)"
        what = "unknown char" if not r.known[index] else f"p {r.prob[index] * 100:.1f}%"
        return r.candidates(index), ch, f"here: {show_char(ch)}\n{what}\n{r.bits[index]:.2f} bits"

    # ---- internals ---------------------------------------------------------------------------------
    @on(TextArea.Changed, "#score-text")
    def _changed(self, event: TextArea.Changed) -> None:
        event.stop()
        box = self.box
        wrap = len(box.text) <= WRAP_LIMIT
        if box.soft_wrap != wrap:
            box.soft_wrap = wrap
        self.rescore()

    @on(TextArea.SelectionChanged, "#score-text")
    def _box_cursor(self, event: TextArea.SelectionChanged) -> None:
        event.stop()
        index = self.character_at_cursor()
        if index is not None:
            self.view.set_cursor(index, floor=0)  # mirrored: the view says where it is; it posts CursorMoved

    @on(StreamView.CursorMoved, "#score-view")
    def _view_cursor(self, event: StreamView.CursorMoved) -> None:
        # Said again from here: a message this pane caused (by moving the view's cursor) stops here.
        event.stop()
        shown = self.candidates_at(event.index)
        if shown is not None:
            self.post_message(self.CharFocused(*shown))

    def _set_label(self, text: str) -> None:
        self.label_text = text
        self.query_one("#score-label", Static).update(
            Text(visible(text), no_wrap=True, overflow="ellipsis"), layout=False
        )

    def _score_now(self) -> None:
        self._timer = None
        text = self.box.text
        self._request += 1
        if not text:
            self.result = None
            self.view.clear()
            self._set_label(HINT)
            self.scored_requests += 1
            return
        if self.source is None:
            self._set_label(NO_MODEL)
            return
        self._set_label("scoring…" if self.result is None else self.label_text)
        self._score(self._request, self.source, text, self.view.wrap_width)

    @work(thread=True, exclusive=True, group="score", exit_on_error=False)
    def _score(self, request: int, source: PlaygroundModel | Snapshot, text: str, wrap: int) -> None:
        error = None
        result: TextScore | None = None
        layout: Layout | None = None
        try:
            from tui_gen.app.playground_model import model_for
            from tui_gen.core.errors import TuiGenError
            from tui_gen.model.score import TextScorer

            try:
                model, built = model_for(source)
                if built:
                    self.post_message(ModelReady(model))
                with self._lock:
                    if request != self._request:
                        return  # a newer text or newer weights came while this one waited: score that
                    if self._scorer is None or self._scorer[0] is not model.model:  # new weights: a new scorer
                        self._scorer = (model.model, TextScorer(model.model, model.vocab, model.framing))
                    result = self._scorer[1].score(text[:SCORE_LIMIT])
                layout = Layout(wrap)
                for run, style in style_runs(result):
                    layout.add(run, style)
            except TuiGenError as e:
                error = str(e)
        except Exception as e:  # noqa: BLE001 - a bug: say so in the app rather than kill it
            error = f"scoring failed: {type(e).__name__}: {e}"
        self.post_message(TextScored(request, len(text), result, layout, error))

    def on_text_scored(self, message: TextScored) -> None:
        message.stop()
        if message.request != self._request:
            return  # a newer text is on its way
        self.scored_requests += 1
        if message.error:
            self._set_label(message.error)
            return
        self.result = message.result
        self.view.show_layout(message.layout)
        self._set_label(describe(message.result, message.total))
        index = self.character_at_cursor()
        if index is not None:
            self.view.set_cursor(index, floor=0)
