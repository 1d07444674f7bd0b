"""The playground: type a seed, set the temperature, watch the model write.

Generation runs in a thread worker of the UI process, from the model set with set_model() or built
from the newest training Snapshot (offer_snapshot), so it never waits for a training step. The thread
posts what it wrote every ~10 ms as one TokensGenerated message; the StreamView appends only that.
The temperature is read by the sampler at every character, so moving the slider while text streams
changes the characters that come next.

Every written character is kept with its probability and candidates (tui_gen.app.branches): once a
generation has stopped, a cursor in the output picks a position, and a candidate picked there (1-5 or a
click) writes on from it (Generator.branch); [ and ] go back and forth between the branches. ctrl+e
swaps the seed and output for the score mode (widgets/score_pane.py), on the same model.

The branch shown (its seed and what was written) can be copied to the terminal's clipboard or saved into
samples/ of the run folder its weights came from (tui_gen.app.takeout): ctrl+y and ctrl+f.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Label, Static
from textual.worker import get_current_worker

from tui_gen.app.bindings import PLAYGROUND_BINDINGS
from tui_gen.app.branches import Branch, Branches, Written
from tui_gen.app.messages import GenerationEnded, ModelReady, SnapshotWanted, TokensGenerated
from tui_gen.app.playground_model import PlaygroundModel
from tui_gen.app.takeout import copy, save
from tui_gen.app.widgets.next_char_panel import NextCharPanel
from tui_gen.app.widgets.score_pane import ScorePane
from tui_gen.app.widgets.stream_view import StreamView, prob_style
from tui_gen.app.widgets.temperature_slider import TemperatureSlider
from tui_gen.core.textsafe import visible

if TYPE_CHECKING:  # annotations only: tui_gen.model imports torch, which only the generator thread loads
    from tui_gen.core.events import Snapshot
    from tui_gen.model.sample import SamplingSettings

BATCH_SECONDS = 0.01  # the generator thread posts what it wrote this often
PACE = 500.0  # characters a second: fast, yet slow enough to watch it write and move the temperature
TOP_N = 5  # candidates in the next-character panel
MAX_LENGTH = 10_000
DEFAULT_LENGTH = 400
DEFAULT_TEMPERATURE = 0.8
MAX_RNG_SEED = 2**32 - 1
NO_MODEL = "no model yet: wait for training's first evaluation, or press ctrl+o"
BRANCH_NOTE = "1-5 or a click:\nwrite on from\nhere with it"


@dataclass(frozen=True)
class Draw:
    """How characters are drawn, besides the temperature (which may move while text streams)."""

    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1: off
    seed: int | None = None  # the random generator's seed: the same text again; None: a fresh draw


class ShowControls(Highlighter):
    """The seed box's highlighter: control characters and escape sequences (pasted, say) are drawn as
    symbols, never sent to the terminal. The value itself is untouched."""

    def __call__(self, text: str | Text) -> Text:
        if isinstance(text, str):  # Highlighter's signature; the Input always passes a Text
            text = Text(text)
        shown = visible(text.plain.replace("\n", "⏎"))  # one line: a pasted newline is a symbol too
        return text if shown == text.plain else Text(shown, no_wrap=True, overflow="ignore", end="")

    def highlight(self, text: Text) -> None:
        """Unused: the symbols change the text's characters, which no highlighting in place can do."""


def describe_chars(chars: list[str]) -> str:
    shown = ", ".join(repr(c) for c in chars[:10])
    return shown + (f" and {len(chars) - 10} more" if len(chars) > 10 else "")


class Playground(Vertical):
    BINDINGS = [*PLAYGROUND_BINDINGS]  # a copy: Textual types BINDINGS list[BindingType], and lists are invariant

    generating: reactive[bool] = reactive(False)
    scoring: reactive[bool] = reactive(False)  # score mode (ctrl+e) rather than writing
    pace: float | None = PACE  # characters a second at most; None: as fast as the model goes

    def watch_generating(self, generating: bool) -> None:
        self.refresh_bindings()  # the footer's "esc Stop" comes and goes

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.model: PlaygroundModel | None = None
        self._snapshot: Snapshot | None = None  # the newest training Snapshot not built into a model yet
        self._follow_training = True  # a checkpoint the user loaded pins the playground to it
        self.training_live = False  # the app says whether a training process can send weights
        self.model_coming = False  # a checkpoint is being loaded: Enter waits for it rather than refusing
        self._waiting: tuple[str, int, Draw] | None = None  # a request held until the first weights come
        self._generation = 0
        self._live_settings: SamplingSettings | None = None  # the running generator's settings
        self.generated = 0  # characters of the current / last generation
        self.last_end: GenerationEnded | None = None
        self.label_text = NO_MODEL  # the line above the output: which model, and how the last run ended
        self._run_note = ""  # how the last generation ended, kept on the label when the model changes
        self._temperature = DEFAULT_TEMPERATURE  # the slider's value, readable from the generator thread
        self.branches = Branches()  # the current seed's generations, each character with its candidates
        self._writing: Branch | None = None  # the branch the generator thread is writing into
        self._written_from: str | None = None  # the run folder of the weights that wrote it (text_folder)

    def compose(self) -> ComposeResult:
        with Horizontal(id="seed-row", classes="playground-row"):
            yield Label("Seed", classes="field-label")
            yield Input(
                placeholder="type a seed, then Enter",
                id="seed",
                compact=True,
                select_on_focus=False,
                highlighter=ShowControls(),
            )
        with Horizontal(id="knobs-row", classes="playground-row"):
            yield TemperatureSlider(DEFAULT_TEMPERATURE, id="temperature")
            yield Label("Length", classes="field-label")
            yield Input(str(DEFAULT_LENGTH), id="length", type="integer", compact=True, max_length=5)
            yield Label("Top-k", classes="field-label")
            yield Input("0", id="top-k", type="integer", compact=True, max_length=4)
            yield Label("Top-p", classes="field-label")
            yield Input("1", id="top-p", type="number", compact=True, max_length=6)
            yield Label("Seed#", classes="field-label")
            yield Input("", id="rng-seed", type="integer", compact=True, max_length=10, placeholder="random")
        yield Static(Text(NO_MODEL, no_wrap=True, overflow="ellipsis"), id="model-label")
        with Horizontal(id="output-row"):
            yield StreamView(id="output")
            yield ScorePane(id="score-pane")
            yield NextCharPanel(id="next-char")

    def on_mount(self) -> None:
        # A steady cursor: the seed box holds the focus while training is watched, and a blinking one
        # redraws the screen twice a second, CPU that training, on 2 cores, then does not get
        # (bench --app: about 10% more steps a second without it).
        for box in self.query(Input):
            box.cursor_blink = False

    # ---- the public API ------------------------------------------------------------------------------
    @property
    def temperature(self) -> float:
        return self._temperature

    @property
    def output(self) -> StreamView:
        return self.query_one("#output", StreamView)

    @property
    def score_pane(self) -> ScorePane:
        return self.query_one(ScorePane)

    @property
    def entry_box(self) -> Widget:
        """Where typing goes: the seed box, or in score mode the text to score."""
        return self.score_pane.box if self.scoring else self.query_one("#seed", Input)

    def toggle_score(self) -> None:
        """Between writing from a seed and scoring a text (ctrl+e)."""
        self.stop()
        self.scoring = not self.scoring
        self.set_class(self.scoring, "-scoring")
        panel = self.query_one(NextCharPanel)
        panel.clear()
        if self.scoring:
            if self.training_live and self._follow_training:
                self.post_message(SnapshotWanted())  # the newest weights to score with
            self._sync_score_source()
            self.score_pane.rescore(now=True)
        elif self.output.cursor is not None:
            self._show_written(self.output.cursor)
        self.call_after_refresh(self.entry_box.focus)  # once its style shows it
        self.refresh_bindings()

    @property
    def weights(self):
        """What the next generation would use: the newest training Snapshot not built yet, else the
        model (None: none yet). The sweep and the neuron explorer use the same."""
        return self._snapshot if self._snapshot is not None else self.model

    def text_folder(self) -> str | None:
        """The run folder whose samples/ text written now is saved in: the checkpoint's own folder when the
        playground writes with one, else that of the run the app shows (its training, or the one watched)."""
        weights = self.weights
        if isinstance(weights, PlaygroundModel) and weights.source == "checkpoint" and weights.path:
            return str(Path(weights.path).parent)
        return getattr(self.app, "run_folder", None)

    @property
    def written(self) -> str:
        """The branch shown, as text: its seed and what the model wrote after it ("" before any)."""
        branch = self.branches.current
        return branch.seed + branch.text if branch is not None else ""

    def read_draw(self) -> tuple[int, Draw] | None:
        """The Length and drawing boxes, checked as generate() checks them; None (said why) if one is wrong."""
        length = self._number("#length", "Length", 1, MAX_LENGTH)
        top_k = self._number("#top-k", "Top-k", 0, 1000) if length is not None else None
        top_p = self._fraction("#top-p", "Top-p") if top_k is not None else None
        rng_seed = self._rng_seed() if top_p is not None else None
        if length is None or top_k is None or top_p is None or rng_seed is False:
            return None
        return length, Draw(top_k, top_p, rng_seed)

    def set_model(self, model: PlaygroundModel, pin: bool | None = None) -> None:
        """Generate from this model from now on. pin=True (a checkpoint the user chose): newer training
        snapshots do not replace it until follow_training() is called."""
        self.model = model
        if pin is not None:
            self._follow_training = not pin
        if model.source == "checkpoint" and pin:
            self._snapshot = None
        self.model_coming = False
        self._show_label()
        self._sync_score_source()
        if self._waiting is not None and not self.generating:
            seed, length, draw = self._waiting
            self._waiting = None
            self._start(seed, length, draw)

    def expect_model(self, coming: bool = True) -> None:
        """A checkpoint is being loaded (coming=True), or its load failed (False): an Enter pressed
        meanwhile waits for it, and is dropped if it never comes (the load's own error says why)."""
        self.model_coming = coming
        if not coming and self._waiting is not None and self._snapshot is None and self.model is None:
            self._waiting = None
            self._show_label()

    def follow_training(self) -> None:
        """Use training's weights again (training now continues from the loaded checkpoint)."""
        self._follow_training = True

    def offer_snapshot(self, snapshot: Snapshot) -> None:
        """A Snapshot event from training. Built into a model lazily, in the generator thread."""
        if not self._follow_training:
            return
        self._snapshot = snapshot
        self._show_label()
        self._sync_score_source()
        if self._waiting is not None and not self.generating:
            seed, length, draw = self._waiting
            self._waiting = None
            self._start(seed, length, draw)

    def set_training_live(self, live: bool) -> None:
        self.training_live = live
        if not live and self._waiting is not None and self._snapshot is None:
            self._waiting = None
            self.app.notify(
                "Training stopped before it sent any weights, so there is nothing to generate from. "
                "Press r to restart training, or ctrl+o to open a checkpoint.",
                title="No model",
                severity="warning",
                markup=False,
            )
            self._show_label()

    def generate(self) -> bool:
        """Generate from the seed with the current settings. Returns False (and says why) if it can't."""
        seed = self.query_one("#seed", Input).value
        if self.scoring:
            return False
        length = self._number("#length", "Length", 1, MAX_LENGTH)
        draw = self._draw_settings() if length is not None else None
        if length is None or draw is None:
            return False
        vocab_chars = self._vocab_chars()
        if vocab_chars is not None:
            unknown = sorted({c for c in seed if c not in vocab_chars})
            if unknown:
                self.app.notify(
                    f"The seed has characters this model never saw: {describe_chars(unknown)}. Remove or replace them.",
                    title="Unknown characters",
                    severity="warning",
                    markup=False,
                )
                return False
        if self.model is None and self._snapshot is None:
            if self.model_coming:
                self._waiting = (seed, length, draw)
                self._set_label("loading the checkpoint…")
                return True
            if self.training_live:
                self._waiting = (seed, length, draw)
                self.post_message(SnapshotWanted())
                self._set_label("waiting for the first weights from training…")
                return True
            if getattr(self.app, "watching", None):
                text = (
                    "The watched run has no checkpoint yet: the playground generates from it once its first "
                    "evaluation saves one."
                )
            else:
                text = (
                    "There is no model to generate from yet. Press r to start training, or ctrl+o to open a saved run."
                )
            self.app.notify(text, title="No model", severity="warning", markup=False)
            return False
        if self.training_live and self._follow_training:
            self.post_message(SnapshotWanted())  # fresher weights for the next time
        self._start(seed, length, draw)
        return True

    def stop(self) -> bool:
        """Stop generating. Returns False if nothing was being generated."""
        self._waiting = None
        if not self.generating:
            return False
        self._generation += 1  # late batches of the stopped run are ignored
        self.workers.cancel_group(self, "generate")
        self.generating = False
        self.last_end = GenerationEnded(self._generation, self.generated, "stopped")
        self._finish_line("stopped")
        self._place_cursor()
        return True

    def pick(self, rank: int) -> bool:
        """Branch: write on from the output's cursor with candidate `rank` (0: the likeliest) there
        instead of the character written. Only while nothing is being written. False (and nothing
        done) when there is no such candidate."""
        branch, i = self.branches.current, self._cursor_position()
        if self.generating or self.scoring or branch is None or i is None:
            return False
        top = branch.tokens[i].top
        if not 0 <= rank < len(top):
            return False
        length = self._number("#length", "Length", 1, MAX_LENGTH)
        if length is None:
            return False
        draw = self._draw_settings()
        if draw is None:
            return False
        char = top[rank][0]
        new = self.branches.fork(i)
        self._start(new.seed, max(1, length - i), draw, branch=new, forced=char)
        return True

    def switch_branch(self, step: int) -> bool:
        """Show the branch before (-1) or after (+1) this one, as it was left."""
        if self.generating or not self.branches.move(step):
            return False
        branch = self.branches.current
        assert branch is not None  # move() went to one
        self._render_branch(branch)
        self._run_note = f" · {len(branch.tokens):,} chars"
        self._show_label()
        self._place_cursor(branch.at if branch.parent is not None else None)
        return True

    # ---- bindings -----------------------------------------------------------------------------------------
    def action_generate(self) -> None:
        self.generate()

    def action_temperature(self, direction: int) -> None:
        self.query_one(TemperatureSlider).action_step(direction)

    def action_toggle_score(self) -> None:
        self.toggle_score()

    def action_pick(self, rank: int) -> None:
        self.pick(rank)

    def action_branch(self, step: int) -> None:
        self.switch_branch(step)

    def action_copy_text(self) -> None:
        copy(self, self.written, "the playground's output")

    def action_save_text(self) -> None:
        save(self, self.written, self._written_from or self.text_folder(), "playground", "the playground's output")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pick":  # digits pick only in the output or the next-char panel: else they switch panes
            focused = self.screen.focused
            return (
                not self.generating
                and not self.scoring
                and focused is not None
                and focused.id in ("output", "next-char")
                and self._cursor_position() is not None
            )
        if action == "branch":
            return not self.generating and not self.scoring and len(self.branches.items) > 1
        if action in ("generate", "copy_text", "save_text"):  # score mode: its box has its own copy
            return not self.scoring
        return True

    @on(StreamView.CursorMoved, "#output")
    def _cursor_moved(self, event: StreamView.CursorMoved) -> None:
        event.stop()
        if not self.scoring:
            self._show_written(event.index)

    @on(ScorePane.CharFocused)
    def _scored_char_focused(self, event: ScorePane.CharFocused) -> None:
        event.stop()
        if self.scoring:
            self.query_one(NextCharPanel).show(event.top, event.char, note=event.note)

    @on(NextCharPanel.Picked)
    def _candidate_clicked(self, event: NextCharPanel.Picked) -> None:
        event.stop()
        if not self.scoring:
            self.pick(event.index)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.generate()

    @on(TemperatureSlider.Changed)
    def _temperature_changed(self, event: TemperatureSlider.Changed) -> None:
        self._temperature = event.value
        if self._live_settings is not None:
            self._live_settings.temperature = event.value  # read by the sampler at the next character

    # ---- internals ------------------------------------------------------------------------------------------
    def _draw_settings(self) -> Draw | None:
        """Top-k, top-p and the random seed from their boxes; None (said why) when one is wrong."""
        top_k = self._number("#top-k", "Top-k", 0, 1000)
        top_p = self._fraction("#top-p", "Top-p") if top_k is not None else None
        rng_seed = self._rng_seed() if top_p is not None else None
        if top_k is None or top_p is None or rng_seed is False:
            return None
        return Draw(top_k, top_p, rng_seed)

    def _sync_score_source(self) -> None:
        """The score mode scores with the playground's model: the newest snapshot, else the model."""
        source = self._snapshot if self._snapshot is not None else self.model
        pane = self.score_pane
        if source is pane.source:
            return
        same_weights = isinstance(source, PlaygroundModel) and pane.scorer_model is source.model
        pane.source = source
        if self.scoring and not same_weights:
            pane.rescore()

    def _cursor_position(self) -> int | None:
        """The generated character under the output's cursor (its index in the branch), if any."""
        branch, cursor = self.branches.current, self.output.cursor
        if branch is None or cursor is None:
            return None
        i = cursor - len(branch.seed)
        return i if 0 <= i < len(branch.tokens) else None

    def _place_cursor(self, position: int | None = None) -> None:
        """A stopped or finished generation: the cursor on a generated character (the last, unless
        `position` says which), so its candidates can be picked."""
        branch = self.branches.current
        if branch is None or not branch.tokens:
            self.output.set_cursor(None)
            return
        last = len(branch.tokens) - 1
        position = last if position is None else min(position, last)
        self.output.set_cursor(len(branch.seed) + position, floor=len(branch.seed))

    def _show_written(self, index: int) -> None:
        """The next-char panel for output character `index`: the candidates the model had there."""
        branch = self.branches.current
        if branch is None:
            return
        i = index - len(branch.seed)
        if 0 <= i < len(branch.tokens):
            tok = branch.tokens[i]
            self.query_one(NextCharPanel).show(tok.top, tok.char, note="" if self.generating else BRANCH_NOTE)

    def _render_branch(self, branch: Branch) -> None:
        out = self.output
        out.clear()
        out.append_seed(branch.seed)
        self._append_pieces([(t.char, t.prob) for t in branch.tokens])

    def _append_pieces(self, pieces: list[tuple[str, float]]) -> None:
        out = self.output
        # One append per run of characters of the same colour: fewer, larger appends.
        run: list[str] = []
        run_style: Style | None = None
        run_prob = 0.0
        for ch, p in pieces:
            style = prob_style(p)
            if style is not run_style and run:
                out.append_char("".join(run), run_prob)
                run = []
            run.append(ch)
            run_style, run_prob = style, p
        if run:
            out.append_char("".join(run), run_prob)

    def _number(self, selector: str, name: str, low: int, high: int) -> int | None:
        box = self.query_one(selector, Input)
        try:
            value = int(box.value)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            what = "0 (off)" if low == 0 else str(low)
            self.app.notify(
                f"{name} must be a whole number from {what} to {high:,}; it is {box.value!r}.",
                title=f"Check {name.lower()}",
                severity="warning",
                markup=False,
            )
            box.focus()
            return None
        return value

    def _fraction(self, selector: str, name: str) -> float | None:
        box = self.query_one(selector, Input)
        try:
            value = float(box.value)
        except ValueError:
            value = None
        if value is None or not 0 < value <= 1:
            self.app.notify(
                f"{name} must be a number above 0 and at most 1 (1 is off); it is {box.value!r}.",
                title=f"Check {name.lower()}",
                severity="warning",
                markup=False,
            )
            box.focus()
            return None
        return value

    def _rng_seed(self) -> int | None | bool:
        """The random seed typed (the same seed and settings write the same text), None when the box is
        empty (a fresh draw each time), False (said why) when it is not a whole number."""
        box = self.query_one("#rng-seed", Input)
        if not box.value.strip():
            return None
        try:
            value = int(box.value)
        except ValueError:
            value = -1
        if not 0 <= value <= MAX_RNG_SEED:
            self.app.notify(
                f"Seed# must be a whole number from 0 to {MAX_RNG_SEED:,}, or empty for a fresh draw "
                f"each time; it is {box.value!r}.",
                title="Check seed#",
                severity="warning",
                markup=False,
            )
            box.focus()
            return False
        return value

    def _vocab_chars(self) -> set[str] | frozenset[str] | None:
        if self._snapshot is not None:
            return set((self._snapshot.meta or {}).get("vocab") or []) or None
        if self.model is not None:
            return set(self.model.vocab.chars)
        return None

    def _show_label(self) -> None:
        if self._snapshot is not None:
            text = f"model: training weights · step {self._snapshot.step:,}"
        elif self.model is not None:
            text = f"model: {self.model.label}"
        else:
            text = NO_MODEL
        which = self.branches.label()
        self._set_label(text + self._run_note + (f" · {which}" if which else ""))
        self.output.border_title = f"output · {which}" if which else "output"  # seen when the label is cut

    def _set_label(self, text: str) -> None:
        self.label_text = text
        self.query_one("#model-label", Static).update(
            Text(visible(text), no_wrap=True, overflow="ellipsis"), layout=False
        )

    def _start(
        self, seed: str, length: int, draw: Draw, branch: Branch | None = None, forced: str | None = None
    ) -> None:
        """Generate `length` characters from `seed`; or, given a branch (forked from the one shown) and
        the character `forced` at its end, write on from the branch's tokens with that character."""
        self._generation += 1
        self._writing = branch if branch is not None else self.branches.start(seed)
        self._written_from = self.text_folder()
        prefix = self._writing.text
        self.generated = len(self._writing.tokens)
        self._run_note = " · writing…"
        self.last_end = None
        self._render_branch(self._writing)
        self.query_one(NextCharPanel).clear()
        self.generating = True
        self._show_label()
        source = self._snapshot if self._snapshot is not None else self.model
        self._generate(
            self._generation,
            source,
            seed,
            length,
            draw,
            self.temperature,
            (prefix, forced) if forced is not None else None,
        )

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _generate(
        self,
        generation: int,
        source,
        seed: str,
        length: int,
        draw: Draw,
        temperature: float,
        branch_at: tuple[str, str] | None = None,
    ) -> None:
        worker = get_current_worker()
        count, reason, error = 0, "length", None
        pieces: list[tuple[str, float]] = []
        tops: list[list[tuple[str, float]]] = []
        top: list[tuple[str, float]] = []
        try:
            import torch

            from tui_gen.app.playground_model import model_for
            from tui_gen.core.errors import TuiGenError
            from tui_gen.model.sample import Generator, SamplingSettings

            try:
                model, built = model_for(source)
                if built:
                    self.post_message(ModelReady(model))
                if model.framing == "stream" and not seed:
                    raise TuiGenError(
                        "type a seed first: this model continues text, so it needs something to start from"
                    )
                settings = SamplingSettings(temperature=temperature, top_k=draw.top_k, top_p=draw.top_p)
                self._live_settings = settings
                settings.temperature = self._temperature  # the slider may have moved while the model was built
                rng = torch.Generator().manual_seed(draw.seed) if draw.seed is not None else None
                gen = Generator(
                    model.model, model.vocab, model.framing, model.generation_stops, top_n=TOP_N, generator=rng
                )
                pace = self.pace
                start = last = time.monotonic()
                if branch_at is None:
                    tokens = gen.stream(seed, settings, length)
                else:
                    prefix, forced = branch_at
                    tokens = gen.branch(seed, prefix, forced, settings, length)
                for tok in tokens:
                    if worker.is_cancelled:
                        reason = "stopped"
                        break
                    pieces.append((tok.char, tok.prob))
                    tops.append(tok.top)
                    top = tok.top
                    count += 1
                    now = time.monotonic()
                    if pace and (due := start + count / pace) > now:
                        time.sleep(due - now)  # keep to the pace (the model is usually faster)
                        now = due
                    if now - last >= BATCH_SECONDS:
                        self.post_message(TokensGenerated(generation, pieces, top, tops))
                        pieces, tops, last = [], [], now
                else:
                    reason = "length" if count >= length else "end"
            except TuiGenError as e:
                reason, error = "error", str(e)
        except Exception as e:  # noqa: BLE001 - a bug: say so in the app rather than kill it
            reason, error = "error", f"generating failed: {type(e).__name__}: {e}"
        finally:
            self._live_settings = None
            if pieces:
                self.post_message(TokensGenerated(generation, pieces, top, tops))
            self.post_message(GenerationEnded(generation, count, reason, error))

    def on_tokens_generated(self, message: TokensGenerated) -> None:
        message.stop()
        if message.generation != self._generation:
            return
        self._append_pieces(message.pieces)
        if self._writing is not None:
            tops = message.tops or [[] for _ in message.pieces]
            self._writing.tokens.extend(Written(ch, p, t) for (ch, p), t in zip(message.pieces, tops, strict=False))
        self.generated += len(message.pieces)
        if message.pieces:
            self.query_one(NextCharPanel).show(message.top, message.pieces[-1][0])

    def on_generation_ended(self, message: GenerationEnded) -> None:
        message.stop()
        if message.generation != self._generation:
            return
        self.generating = False
        self.last_end = message
        if message.error:
            self.app.notify(
                message.error[0].upper() + message.error[1:], title="Cannot generate", severity="error", markup=False
            )
        self._finish_line(message.reason)
        self._place_cursor()

    def on_model_ready(self, message: ModelReady) -> None:
        # A snapshot built in the generator thread: keep the model, forget the raw snapshot.
        if message.model.source == "training" and self._follow_training:
            if self._snapshot is not None and self._snapshot.step <= (message.model.step or 0):
                self._snapshot = None
            self.model = message.model
            self._show_label()
            self._sync_score_source()
        message.stop()

    def _finish_line(self, reason: str) -> None:
        words = {"length": "length reached", "end": "end of line", "stopped": "stopped", "error": "failed"}
        self._run_note = f" · {self.generated:,} chars, {words.get(reason, reason)}"
        self._show_label()
