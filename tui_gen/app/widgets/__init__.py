"""Self-contained widgets used by the tui_gen app."""

from tui_gen.app.widgets.error_panel import ErrorPanel
from tui_gen.app.widgets.loss_plot import LossPlot, decimate
from tui_gen.app.widgets.next_char_panel import NextCharPanel
from tui_gen.app.widgets.samples_panel import SamplesPanel
from tui_gen.app.widgets.stream_view import StreamView
from tui_gen.app.widgets.temperature_slider import TemperatureSlider
from tui_gen.app.widgets.training_panel import TrainingPanel

__all__ = [
    "ErrorPanel",
    "LossPlot",
    "NextCharPanel",
    "SamplesPanel",
    "StreamView",
    "TemperatureSlider",
    "TrainingPanel",
    "decimate",
]
