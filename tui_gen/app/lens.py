"""The playground as a lens: the sweep screen (w), the neuron explorer (n) and the gradient reach (the
palette's "Gradient reach"), opened by Lens.

They start from the playground: its seed and drawing settings, its last output, and its current weights
(a checkpoint, or the newest training snapshot). Lens is a controller the app holds and calls from its
actions; the screens do the rest themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.widgets import Input

from tui_gen.app.screens.neurons import NeuronScreen
from tui_gen.app.screens.reach import ReachScreen
from tui_gen.app.screens.sweep import SweepScreen
from tui_gen.app.widgets.playground import Playground
from tui_gen.app.widgets.samples_panel import SamplesPanel
from tui_gen.app.widgets.stream_view import StreamView

NO_WEIGHTS = "There is no model yet: wait for training's first evaluation, or press ctrl+o to open a saved run."


class Lens:
    """Opens the lens screens over `app`, from `playground` (and, for a text to explore when the playground
    has written nothing yet, training's newest samples in `samples`)."""

    def __init__(
        self,
        app: App[Any],
        playground: Playground,
        samples: SamplesPanel,
        models_dir: str = "models",
        run_dir: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._app = app
        self._playground = playground
        self._samples = samples
        self._models_dir = models_dir  # the runs the reach screen can overlay
        self._run_dir = run_dir  # the app's training run folder now: a snapshot's settings are in its checkpoint

    def _ready(self, what: str) -> bool:
        if isinstance(self._app.screen, (SweepScreen, NeuronScreen, ReachScreen)):
            return False  # one at a time: its own keys are what is wanted
        if self._playground.weights is None:
            self._app.notify(NO_WEIGHTS, title=what, severity="warning", markup=False)
            return False
        return True

    def sweep(self) -> None:
        if not self._ready("Sweep"):
            return
        pg = self._playground
        draw = pg.read_draw()  # says what is wrong with a box, if one is
        if draw is None:
            return
        length, settings = draw
        seed = pg.query_one("#seed", Input).value
        self._app.push_screen(SweepScreen(pg, seed, pg.temperature, length, settings))

    def neurons(self) -> None:
        if not self._ready("Neuron explorer"):
            return
        pg = self._playground
        text = pg.query_one(StreamView).text
        if not text.strip():  # nothing written yet: training's newest samples are text of the model's kind
            blocks = self._samples.blocks
            text = "\n".join(seed + more for seed, more in blocks[0][2]) if blocks else ""
        self._app.push_screen(NeuronScreen(pg, text))

    def gradient_reach(self) -> None:
        if not self._ready("Gradient reach"):
            return
        self._app.push_screen(ReachScreen(self._playground, self._models_dir, self._run_dir()))
