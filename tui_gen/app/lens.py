"""The playground as a lens, the app's side: the sweep screen (w) and the neuron explorer (n).

Both start from the playground: its seed and drawing settings, its last output, and its current
weights (a checkpoint, or the newest training snapshot). A mixin of TuiGenApp, so app.py only names it.
"""

from __future__ import annotations

from textual.widgets import Input

from tui_gen.app.screens.neurons import NeuronScreen
from tui_gen.app.screens.sweep import SweepScreen
from tui_gen.app.widgets import StreamView
from tui_gen.app.widgets.samples_panel import SamplesPanel

NO_WEIGHTS = "There is no model yet: wait for training's first evaluation, or press ctrl+o to open a saved run."


class LensMixin:
    """Needs the app's playground, notify and push_screen."""

    def _lens_ready(self, what: str) -> bool:
        if isinstance(self.screen, (SweepScreen, NeuronScreen)):
            return False  # one at a time: its own keys are what is wanted
        if self.playground.weights is None:
            self.notify(NO_WEIGHTS, title=what, severity="warning", markup=False)
            return False
        return True

    def action_sweep(self) -> None:
        if not self._lens_ready("Sweep"):
            return
        pg = self.playground
        draw = pg.read_draw()  # says what is wrong with a box, if one is
        if draw is None:
            return
        length, settings = draw
        seed = self.query_one("#seed", Input).value
        self.push_screen(SweepScreen(pg, seed, pg.temperature, length, settings))

    def action_neurons(self) -> None:
        if not self._lens_ready("Neuron explorer"):
            return
        pg = self.playground
        text = pg.query_one(StreamView).text
        if not text.strip():  # nothing written yet: training's newest samples are text of the model's kind
            blocks = self.query_one(SamplesPanel).blocks
            text = "\n".join(seed + more for seed, more in blocks[0][2]) if blocks else ""
        self.push_screen(NeuronScreen(pg, text))
