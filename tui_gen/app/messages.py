"""Every message the app's parts send each other, in one place.

Thread workers post these (post_message is thread-safe); handlers run on the UI's event loop.
Widgets' own small "something changed" messages (TemperatureSlider.Changed) stay on the widget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.core.config import TrainConfig
    from tui_gen.data.preview import BuiltinInfo, CorpusPreview
    from tui_gen.runs.listing import RunInfo


class TrainingEvents(Message):
    """Everything the training process sent since the last drain, in order: one message per drain,
    so a burst of events costs one trip through the UI's queue."""

    def __init__(self, events: list[Any], source: object) -> None:
        super().__init__()
        self.events = events
        self.source = source  # the TrainingProcess (or RunWatcher) they came from: a replaced one's are dropped


class TokensGenerated(Message):
    """Characters the playground's generator produced in the last few milliseconds."""

    def __init__(
        self,
        generation: int,
        pieces: list[tuple[str, float]],
        top: list[tuple[str, float]],
        tops: list[list[tuple[str, float]]] | None = None,
    ) -> None:
        super().__init__()
        self.generation = generation  # which run of the generator: late messages of a stopped one are dropped
        self.pieces = pieces  # (character, probability the model gave it)
        self.top = top  # the candidates for the last character, most likely first
        self.tops = tops if tops is not None else []  # the candidates for each piece (for branching)


class GenerationEnded(Message):
    def __init__(self, generation: int, count: int, reason: str, error: str | None = None) -> None:
        super().__init__()
        self.generation = generation
        self.count = count  # characters generated
        self.reason = reason  # "length", "end", "stopped" or "error"
        self.error = error  # what went wrong, for the user (reason "error")


class TextScored(Message):
    """The score mode's text, scored in a thread: its TextScore and the coloured view laid out."""

    def __init__(self, request: int, total: int, result: Any, layout: Any, error: str | None = None) -> None:
        super().__init__()
        self.request = request  # which scoring: results of an older text are dropped
        self.total = total  # characters in the box (the result may hold only a prefix)
        self.result = result  # a tui_gen.model.score.TextScore (None on error)
        self.layout = layout  # a stream_view.Layout of the coloured text
        self.error = error


class ModelReady(Message):
    """A model for the playground was built from a snapshot or loaded from a checkpoint."""

    def __init__(self, model: PlaygroundModel, offer_resume: bool = False) -> None:
        super().__init__()
        self.model = model
        self.offer_resume = offer_resume  # loaded by the user: ask whether to train on from it


class ModelLoadFailed(Message):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class SnapshotWanted(Message):
    """The playground wants fresher weights from the training process."""


class RunInfosListed(Message):
    """The listing of the models folder (tui_gen.runs.listing.list_runs), read in a thread: for the open
    dialog, the runs screen and the gradient reach screen. error: why there are no rows (the folder could
    not be read)."""

    def __init__(self, rows: list[RunInfo], error: str | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.error = error


class CurvesRead(Message):
    """The curves of the runs picked for the loss plot (tui_gen.runs.listing.RunCurves), read in a thread."""

    def __init__(self, curves: list) -> None:
        super().__init__()
        self.curves = curves


class CurvesGrew(Message):
    """New lines of overlaid runs that are still training: [(CurveReader, [(event, extra)])]."""

    def __init__(self, updates: list) -> None:
        super().__init__()
        self.updates = updates


class WatchedCheckpointReady(Message):
    """The newest checkpoint of the watched run folder, loaded for the playground in a thread."""

    def __init__(self, folder: str, identity: tuple, model: PlaygroundModel | None, error: str | None = None) -> None:
        super().__init__()
        self.folder = folder  # the watch it was loaded for: a late one of an ended watch is dropped
        self.identity = identity  # tui_gen.runs.watch.checkpoint_identity of the file loaded
        self.model = model
        self.error = error


class WatchedLoadDone(Message):
    """A look for the watched run's newest checkpoint ended (after its WatchedCheckpointReady, if any)."""


class SweepDrawn(Message):
    """The sweep screen's samples (tui_gen.model.sweep.SweepSample), drawn in a thread, or why not."""

    def __init__(self, request: int, samples: list, error: str | None = None) -> None:
        super().__init__()
        self.request = request  # which draw: a late answer to an earlier one is dropped
        self.samples = samples
        self.error = error


class TextExplored(Message):
    """The neuron explorer's reading of a text (tui_gen.model.neurons.explore and its features), or why not."""

    def __init__(self, request: int, result: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.request = request
        self.result = result
        self.error = error


class ReachMeasured(Message):
    """The gradient reach screen's measurement of one model (tui_gen.app.screens.reach.Measured), or why not."""

    def __init__(self, key: str, request: int, result: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.key = key  # "" for the current model, else the overlaid run's folder
        self.request = request  # which measurement of it: a late answer to an earlier one is dropped
        self.result = result
        self.error = error


# ---- the new-run form's thread workers (tui_gen.app.screens.new_run) ---------------------------------------


class CorpusPreviewed(Message):
    """The form's corpus, read in a thread: its preview, or why it cannot be trained on."""

    def __init__(self, ref: str, preview: CorpusPreview | None, error: str | None) -> None:
        super().__init__()
        self.ref = ref  # the corpus it was read for: an answer for an earlier choice is dropped
        self.preview = preview
        self.error = error


class BuiltinsListed(Message):
    """The built-in corpora, and whether each is on this machine yet."""

    def __init__(self, builtins: list[BuiltinInfo]) -> None:
        super().__init__()
        self.builtins = builtins


class DevicesProbed(Message):
    """What the device `auto` picks here (None: unknown), and why each device that cannot be used cannot."""

    def __init__(self, auto: str | None, errors: dict[str, str]) -> None:
        super().__init__()
        self.auto = auto
        self.errors = errors


class RunSettingsRead(Message):
    """A resumed run's own settings, read from its checkpoint's header (config None: see error)."""

    def __init__(self, config: TrainConfig | None, corpus: str | None, error: str | None) -> None:
        super().__init__()
        self.config = config
        self.corpus = corpus
        self.error = error
