"""Self-contained widgets used by the tui_gen app."""

from tui_gen.app.widgets.loss_plot import LossPlot, decimate
from tui_gen.app.widgets.stream_view import StreamView, printable
from tui_gen.app.widgets.temperature_slider import TemperatureSlider

__all__ = ["LossPlot", "StreamView", "TemperatureSlider", "decimate", "printable"]
