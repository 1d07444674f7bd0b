"""New run (ctrl+n): the corpus, the model, the optimisation, the budget and the device in one form,
opened with the current run's settings, so that "the same, but LSTM" changes one field.

Each field is a row of the settings table (tui_gen.core.settings): its label, hint, choices and the
parser `tui-gen train` uses for its flag, so a value means the same in both; this module says only
where each stands (SECTIONS). Every field is checked as it is typed, by the run set-up's own rules
(training.setup.setting_problems, which asks new_run_config); a refused value's reason stands under
its field and Start says why it will not start. Dismisses with a training.setup.RunRequest (its
settings hold the device), or None.

Nothing here imports torch: the corpus preview, the list of built-in corpora, what `auto` would pick
and a resumed run's settings are found out in thread workers once the form is on screen, which
answer with messages of tui_gen.app.messages.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Select, Static

from tui_gen.app.bindings import NEW_RUN_BINDINGS
from tui_gen.app.messages import BuiltinsListed, CorpusPreviewed, DevicesProbed, RunSettingsRead
from tui_gen.core.config import FRAMINGS, PRESETS, TrainConfig, preset
from tui_gen.core.errors import ConfigError
from tui_gen.core.flag_values import number
from tui_gen.core.model_size import parameter_count
from tui_gen.core.settings import BUDGET_KEYS, BY_NAME, SETTINGS, Setting, shown
from tui_gen.core.textsafe import visible
from tui_gen.training.setup import DEFAULT_MINUTES, TRAIN_SETTINGS, RunRequest, new_run_config, setting_problems

if TYPE_CHECKING:
    from tui_gen.app.serve import Served
    from tui_gen.data.preview import CorpusPreview

PATH_CHOICE = "<path>"  # the corpus choice "a file or folder", beside the built-in corpora' names
AUTO_FRAMING = "auto"
UNTIL_STOPPED = "until stopped"
INSPECT_DELAY = 0.3  # seconds after the last key in the path box before it is read

# Where each setting stands in the form, in order (the corpus, framing and budget have rows of their
# own): the form's layout. What a field is (label, hint, parser, choices) is its row in the settings
# table (tui_gen.core.settings), which marks each setting the form shows with a label.
SECTIONS = {
    "Model": ("cell", "hidden_sizes", "embedding_dim", "dropout"),
    "Optimisation": ("batch_size", "lr", "lr_schedule", "warmup_steps", "weight_decay", "grad_clip", "seed"),
}
DEVICE_KEY = "device"  # the last field, under the budget
FIELDS: dict[str, Setting] = {key: BY_NAME[key] for keys in (*SECTIONS.values(), (DEVICE_KEY,)) for key in keys}
# Typed into a box, parsed as `tui-gen train` parses the flag; or chosen from the row's choices.
TYPED: dict[str, Callable[[str], object]] = {key: s.parse for key, s in FIELDS.items() if s.parse is not None}
CHOSEN: dict[str, tuple[str, ...]] = {key: s.choices for key, s in FIELDS.items() if s.choices}
FRAMING = BY_NAME["framing"]  # its own row: "auto" (the corpus's own framing) stands beside the choices
FORM_KEYS = {*FIELDS, FRAMING.name, *BUDGET_KEYS}
# What the budget row answers for: the TrainConfig fields and the request's steps / minutes.
BUDGET_FIELDS = {key for s in SETTINGS if s.budget for key in (s.name, s.dest)}


def fmt_bytes(n: int | None) -> str:
    if n is None:  # a preview says it when it could not tell
        return "unknown size"
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


class LetterSelect(Select):
    """A Select that also takes a letter while closed, as a browser's drop-down does: `l` on the cell
    picks lstm, so "the same, but LSTM" is ctrl+n, l, ctrl+n."""

    def __init__(self, options, **kwargs) -> None:
        super().__init__(options, **kwargs)
        self.values = [value for _, value in options]

    def set_options(self, options) -> None:
        """New options (new labels), keeping the choice when it is still one of them."""
        options = list(options)
        keep = self.value
        self.values = [value for _, value in options]
        super().set_options(options)
        if keep in self.values:
            self.value = keep
            self._watch_value(keep)  # the same value: Select would keep showing its old label

    def on_key(self, event) -> None:
        if self.expanded or not event.is_printable or not event.character or event.character == "?":
            return
        event.stop()  # a letter here is a choice, never an app command (q would quit)
        event.prevent_default()
        letter = event.character.lower()
        matching = [v for v in self.values if str(v).lower().startswith(letter)]
        if not matching:
            return
        at = self.values.index(self.value) if self.value in self.values else -1
        later = [v for v in matching if self.values.index(v) > at]
        self.value = (later or matching)[0]  # the same letter again: the next one starting with it


@dataclass
class Check:
    """The form read and checked: the request it would start, and each field's problem."""

    request: RunRequest
    problems: dict[str, str]  # field id ("hidden_sizes", "corpus", "budget", "general", ...) -> message


class NewRunScreen(ModalScreen[RunRequest | None]):
    CSS_PATH = "new_run.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [*NEW_RUN_BINDINGS]
    AUTO_FOCUS = "#field-cell"

    def __init__(
        self, prefill: RunRequest, budget_minutes: float = DEFAULT_MINUTES, served: Served | None = None
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.prefill = prefill
        self.served = served  # run by `tui-gen serve`: a corpus path must be inside its root (tui_gen.app.serve)
        self.budget_minutes = budget_minutes  # the budget a resumed run's form opens with
        self.extras: dict[str, Any] = {}  # settings the form does not show, carried over (eval_every, seq_len, ...)
        self.preset_name = prefill.preset if prefill.preset in PRESETS else "default"
        self.preview: CorpusPreview | None = None  # the preview of preview_ref, once read
        self.preview_ref: str | None = None
        self.preview_error: str | None = None
        self.device_errors: dict[str, str] = {}
        self._start_when_read = False
        self._inspect_timer: Timer | None = None
        self._builtin_names: set[str] = set()
        self._corpus_options: list[tuple] = [("a file or folder (below)", PATH_CHOICE)]

    # ---- layout ----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog new-run-dialog"):
            yield Label("New run", classes="dialog-title")
            with VerticalScroll(id="new-run-body"):
                yield Label("Corpus", classes="form-section")
                yield from self._row(
                    "corpus",
                    "Source",
                    LetterSelect(self._corpus_options, allow_blank=False, compact=True, id="field-corpus"),
                )
                with Horizontal(classes="form-row"):
                    yield Label("Path", classes="form-label")
                    yield Input(placeholder="a text file, or a folder of .txt files", compact=True, id="field-path")
                with Horizontal(classes="form-row"):
                    yield Label("", classes="form-label")
                    yield Button("File…", id="pick-file", compact=True)
                    yield Button("Folder…", id="pick-folder", compact=True)
                yield Static("", id="corpus-info", classes="form-info")
                yield from self._row(
                    FRAMING.name,
                    FRAMING.label,
                    LetterSelect(
                        self._framing_options(AUTO_FRAMING), allow_blank=False, compact=True, id="field-framing"
                    ),
                )
                for section, keys in SECTIONS.items():
                    yield Label(section, classes="form-section")
                    if section == "Optimisation":
                        yield from self._row(
                            "preset",
                            "Preset",
                            LetterSelect(
                                [(name, name) for name in PRESETS],
                                value=self.preset_name,
                                allow_blank=False,
                                compact=True,
                                id="field-preset",
                            ),
                            "lecture: CS20's recipe",
                        )
                    for key in keys:
                        yield from self._field(key)
                    if section == "Model":
                        yield Static("", id="params", classes="form-info")
                yield Label("Budget and device", classes="form-section")
                with Horizontal(classes="form-row"):
                    yield Label("Budget", classes="form-label")
                    yield LetterSelect(
                        [("minutes", "minutes"), ("steps", "steps"), (UNTIL_STOPPED, UNTIL_STOPPED)],
                        allow_blank=False,
                        compact=True,
                        id="field-budget-kind",
                    )
                    yield Input(compact=True, id="field-budget", classes="form-short")
                yield Static("", id="error-budget", classes="form-error")
                yield from self._field(DEVICE_KEY)
            yield Static("", id="error-general", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Static("", id="start-status", classes="form-status")
                yield Button("Start", id="start", variant="primary")
                yield Button("Cancel", id="cancel")

    def _row(self, key: str, label: str, widget, hint: str = "") -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(label, classes="form-label")
            yield widget
            if hint:
                yield Label(hint, classes="form-hint")
        yield Static("", id=f"error-{key}", classes="form-error")

    def _field(self, key: str) -> ComposeResult:
        s = FIELDS[key]
        if key in CHOSEN:
            yield from self._row(
                key,
                s.label,
                LetterSelect([(c, c) for c in CHOSEN[key]], allow_blank=False, compact=True, id=f"field-{key}"),
                s.hint,
            )
        else:
            yield from self._row(key, s.label, Input(compact=True, id=f"field-{key}", classes="form-short"), s.hint)

    @staticmethod
    def _framing_options(auto: str | Text) -> list[tuple[str | Text, str]]:
        return [(auto, AUTO_FRAMING), *((f, f) for f in FRAMINGS)]

    def on_mount(self) -> None:
        request = self.prefill
        if request.resume:
            # The run's own settings are in its checkpoint: the form shows this launch's until they are read.
            self._fill(new_run_config(RunRequest()), None, "default", None, None)
            self._status(f"reading the settings of {request.resume}…")
            self._read_run_settings(request.resume)
        else:
            self._fill_from_request(request)
        self._list_builtins()
        self._probe_devices()

    # ---- filling ---------------------------------------------------------------------------------------
    def _fill_from_request(self, request: RunRequest) -> None:
        try:
            cfg = new_run_config(request)
        except ConfigError:
            cfg = new_run_config(RunRequest())
        self.extras = {k: v for k, v in request.settings.items() if k not in FORM_KEYS}
        steps, minutes = request.steps, request.minutes
        until = not steps and not minutes and cfg.max_steps is None and cfg.max_minutes is None
        self._fill(cfg, request.corpus, request.preset, steps or cfg.max_steps, minutes, until)

    def _fill(
        self,
        cfg: TrainConfig,
        corpus: str | None,
        preset_name: str,
        steps: int | None,
        minutes: float | None,
        until_stopped: bool = False,
    ) -> None:
        self.preset_name = preset_name if preset_name in PRESETS else "default"
        self.query_one("#field-preset", Select).value = self.preset_name
        for key in TYPED:
            self.query_one(f"#field-{key}", Input).value = shown(getattr(cfg, key))
        for key, choices in CHOSEN.items():
            value = getattr(cfg, key)
            self.query_one(f"#field-{key}", Select).value = value if value in choices else choices[0]
        self.query_one("#field-framing", Select).value = cfg.framing or AUTO_FRAMING
        kind = UNTIL_STOPPED if until_stopped else ("steps" if steps else "minutes")
        self.query_one("#field-budget-kind", Select).value = kind
        amount = steps if steps else (minutes or cfg.max_minutes or self.budget_minutes)
        self.query_one("#field-budget", Input).value = "" if until_stopped else shown(amount)
        if corpus:
            self._set_corpus(corpus)

    def _set_corpus(self, corpus: str) -> None:
        choice = self.query_one("#field-corpus", Select)
        if corpus in self._builtin_names or ("/" not in corpus and not Path(corpus).exists()):
            if corpus not in [value for _, value in self._corpus_options]:
                self._corpus_options.insert(0, (corpus, corpus))  # a name typed at launch, not a built-in (yet)
                choice.set_options(self._corpus_options)
            choice.value = corpus
        else:
            choice.value = PATH_CHOICE
            self.query_one("#field-path", Input).value = corpus
        self._schedule_inspect()

    @work(thread=True, exclusive=True, exit_on_error=False, group="run-settings")
    def _read_run_settings(self, resume: str) -> None:
        try:
            from tui_gen.training.checkpoint import read_meta

            meta = read_meta(resume)
            config = TrainConfig.from_json(dict(meta["train_config"]))
            corpus = meta.get("corpus") if isinstance(meta.get("corpus"), str) else None
            self.post_message(RunSettingsRead(config, corpus, None))
        except Exception as e:  # noqa: BLE001 - an unreadable checkpoint: the form keeps the launch's settings
            self.post_message(RunSettingsRead(None, None, f"could not read the settings of {resume}: {e}"))

    def on_run_settings_read(self, message: RunSettingsRead) -> None:
        if message.config is None:
            self._status(message.error or "")
            return
        cfg = message.config
        default = TrainConfig()
        self.extras = {
            k: getattr(cfg, k)
            for k in TRAIN_SETTINGS
            if k not in FORM_KEYS and k != "threads" and getattr(cfg, k) != getattr(default, k)
        }
        device = self.prefill.settings.get("device", cfg.device)
        cfg.device = device if device in CHOSEN[DEVICE_KEY] else "auto"
        self._fill(cfg, message.corpus, "default", None, self.budget_minutes)
        self._status("")

    # ---- the corpus ------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="builtins")
    def _list_builtins(self) -> None:
        try:
            from tui_gen.data.preview import builtin_corpora

            self.post_message(BuiltinsListed(builtin_corpora(self._data_dir())))
        except Exception:  # noqa: BLE001 - no list: the corpus can still be typed as a path
            self.post_message(BuiltinsListed([]))

    def on_builtins_listed(self, message: BuiltinsListed) -> None:
        choice = self.query_one("#field-corpus", Select)
        self._builtin_names = {b.name for b in message.builtins}
        options = [
            (Text(f"{b.name} · {'cached' if b.cached else 'downloads when the run starts'}"), b.name)
            for b in message.builtins
        ]
        extra = [
            (value, value)
            for label, value in self._corpus_options
            if value != PATH_CHOICE and value not in self._builtin_names
        ]  # a name typed at launch
        self._corpus_options = [*options, *extra, self._corpus_options[-1]]
        choice.set_options(self._corpus_options)

    def _data_dir(self) -> Path | None:
        return Path(self.prefill.data_dir) if self.prefill.data_dir else None

    def corpus_ref(self) -> str:
        choice = self.query_one("#field-corpus", Select).value
        if choice != PATH_CHOICE:
            return str(choice)
        text = self.query_one("#field-path", Input).value.strip()
        return str(Path(text).expanduser()) if text else ""

    def _schedule_inspect(self, delay: float = 0.0) -> None:
        if self._inspect_timer is not None:
            self._inspect_timer.stop()
        self._inspect_timer = self.set_timer(delay, self._inspect_now) if delay else None
        if not delay:
            self.call_after_refresh(self._inspect_now)

    def _inspect_now(self) -> None:
        ref = self.corpus_ref()
        if ref == self.preview_ref:
            return
        self.preview_ref, self.preview, self.preview_error = ref, None, None
        if not ref or self._outside_root(ref):  # nothing outside a served root is read: check() says why
            self._show_corpus()
            return
        self.query_one("#corpus-info", Static).update(Text(visible(f"reading {ref}…"), style="dim"))
        self._inspect(ref)

    @work(thread=True, exclusive=True, exit_on_error=False, group="inspect")
    def _inspect(self, ref: str) -> None:
        try:
            from tui_gen.core.errors import TuiGenError
            from tui_gen.data.preview import preview_corpus

            try:
                self.post_message(CorpusPreviewed(ref, preview_corpus(ref, self._data_dir()), None))
            except TuiGenError as e:
                self.post_message(CorpusPreviewed(ref, None, str(e)))
        except Exception as e:  # noqa: BLE001 - a bug: say it in the form, keep the app
            self.post_message(CorpusPreviewed(ref, None, f"could not read {ref}: {type(e).__name__}: {e}"))

    def on_corpus_previewed(self, message: CorpusPreviewed) -> None:
        if message.ref != self.preview_ref:
            return  # an older choice's answer
        self.preview, self.preview_error = message.preview, message.error
        self._show_corpus()
        if self._start_when_read:
            self._start_when_read = False
            self.action_start()

    def _show_corpus(self) -> None:
        p = self.preview
        info = self.query_one("#corpus-info", Static)
        framing = self.query_one("#field-framing", Select)
        auto = "auto"
        if p is None:
            info.update("")
        elif p.builtin and not p.cached:
            size = f" ({fmt_bytes(p.size)})" if p.size else ""
            info.update(
                Text(
                    f"built-in, not on this machine yet: fetched{size} when the run starts\n"
                    f"framing {p.framing}: {p.reason}"
                )
            )
            auto = f"auto: {p.framing}"
        else:
            where = f" in the first {fmt_bytes(p.read_bytes)} (a sample)" if p.sampled else ""
            files = f" in {p.files:,} files" if p.files > 1 else ""
            vocab = p.vocab_size(self._min_char_count(self.check().request.settings))
            info.update(
                Text(
                    visible(
                        f"{fmt_bytes(p.size)}{files} · {p.lines:,} lines · vocabulary of {vocab:,} "
                        f"characters{where}\nframing {p.framing}: {p.reason}"
                    )
                )
            )
            auto = f"auto: {p.framing}"
        framing.set_options(self._framing_options(Text(visible(auto))))
        self._refresh()

    def _outside_root(self, ref: str) -> bool:
        """Served, whether `ref` is a path outside the served root (a built-in corpus, or the corpus this
        form opened with, which the server's owner chose, never is)."""
        if self.served is None or ref in self._builtin_names or ref == self.prefill.corpus:
            return False
        return not self.served.inside(ref)

    @on(Button.Pressed, "#pick-file")
    def _pick_file(self, event: Button.Pressed) -> None:
        event.stop()
        from textual_fspicker import FileOpen

        from tui_gen.app.screens.rooted_pickers import RootedFileOpen

        title, start = "Corpus: a text file", self._picker_start()
        picker = FileOpen(start, title) if self.served is None else RootedFileOpen(self.served, Path(start), title)
        self.app.push_screen(picker, self._picked)

    @on(Button.Pressed, "#pick-folder")
    def _pick_folder(self, event: Button.Pressed) -> None:
        event.stop()
        from textual_fspicker import SelectDirectory

        from tui_gen.app.screens.rooted_pickers import RootedSelectDirectory

        title, start = "Corpus: a folder of .txt files", self._picker_start()
        picker = (
            SelectDirectory(start, title)
            if self.served is None
            else RootedSelectDirectory(self.served, Path(start), title)
        )
        self.app.push_screen(picker, self._picked)

    def _picker_start(self) -> str:
        ref = self.corpus_ref()
        path = Path(ref) if ref and ref not in self._builtin_names else Path(".")
        return str(path if path.is_dir() else (path.parent if path.parent.is_dir() else Path(".")))

    def _picked(self, path: Path | None) -> None:
        if path is not None:
            self._set_corpus(str(path))

    # ---- the device --------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="devices")
    def _probe_devices(self) -> None:
        auto, errors = None, {}
        try:
            from tui_gen.training.device import pick_device

            auto = pick_device("auto").type
            for name in ("cuda", "mps"):
                try:
                    pick_device(name)
                except ConfigError as e:
                    errors[name] = str(e)
        except Exception:  # noqa: BLE001 - unknown: the training process says so if it cannot
            pass
        self.post_message(DevicesProbed(auto, errors))

    def on_devices_probed(self, message: DevicesProbed) -> None:
        self.device_errors = message.errors
        if message.auto:
            self.query_one(f"#field-{DEVICE_KEY}", Select).set_options(
                [(f"auto (picks {message.auto} here)" if c == "auto" else c, c) for c in CHOSEN[DEVICE_KEY]]
            )
        self._refresh()

    # ---- checking --------------------------------------------------------------------------------------
    def check(self) -> Check:
        """Read every field, parse it as the CLI parses its flag, and ask the run set-up about the rest."""
        problems: dict[str, str] = {}
        settings = dict(self.extras)
        for key, parse in TYPED.items():
            try:
                settings[key] = parse(self.query_one(f"#field-{key}", Input).value.strip())
            except argparse.ArgumentTypeError as e:
                problems[key] = str(e)
        for key in CHOSEN:
            settings[key] = self.query_one(f"#field-{key}", Select).value
        framing = self.query_one("#field-framing", Select).value
        settings["framing"] = None if framing == AUTO_FRAMING else framing
        steps = minutes = None
        kind = self.query_one("#field-budget-kind", Select).value
        amount = self.query_one("#field-budget", Input).value.strip()
        if kind == UNTIL_STOPPED:
            settings["max_steps"] = settings["max_minutes"] = None
        else:
            try:
                if kind == "steps":
                    steps = number(int)(amount)
                else:
                    minutes = number(float)(amount)
            except argparse.ArgumentTypeError as e:
                problems["budget"] = f"{kind}: {e}"
        request = RunRequest(
            corpus=self.corpus_ref() or None,
            preset=self.preset_name,
            settings=settings,
            steps=steps,
            minutes=minutes,
            models_dir=self.prefill.models_dir,
            data_dir=self.prefill.data_dir,
        )
        for key, message in setting_problems(request).items():
            where = self._field_of(key)
            if where == "general" and key and key not in ("preset",):
                message = f"{key.replace('_', ' ')}: {message}"  # a setting carried over, not in the form
            problems.setdefault(where, message)
        if not self.corpus_ref():
            problems["corpus"] = "give a path to a text file or a folder of .txt files, or pick a built-in corpus"
        elif self.served is not None and self._outside_root(self.corpus_ref()):
            problems["corpus"] = (
                f"this app is served from {self.served.root}: give a file or folder inside it, or a built-in corpus"
            )
        elif self.preview_error and self.preview_ref == self.corpus_ref():
            problems["corpus"] = self.preview_error
        device = settings.get("device")
        if device in self.device_errors:
            problems.setdefault("device", self.device_errors[device])
        return Check(request, problems)

    @staticmethod
    def _field_of(key: str) -> str:
        if key in BUDGET_FIELDS:
            return "budget"
        if key in FIELDS or key in (FRAMING.name, "preset"):
            return key
        return "general"

    def _refresh(self) -> Check:
        result = self.check()
        for error in self.query(".form-error").results(Static):
            key = (error.id or "").removeprefix("error-")
            message = result.problems.get(key)
            error.update(Text(visible(message), style="red") if message else "")
            error.set_class(bool(message), "-shown")
        self._show_parameters(result.request)
        if not result.problems and not self._start_when_read:
            self._status("")
        return result

    def _show_parameters(self, request: RunRequest) -> None:
        s = request.settings
        params = self.query_one("#params", Static)
        try:
            hidden, cell, embedding = list(s["hidden_sizes"]), s["cell"], int(s["embedding_dim"])
            if not hidden or min(hidden) < 1 or embedding < 0:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            params.update(Text("parameters: – (fix the model's fields)", style="dim"))
            return
        model = f"{str(cell).upper()} {shown(hidden)}" + (" one-hot" if not embedding else "")
        vocab = self.preview.vocab_size(self._min_char_count(s)) if self.preview is not None else None
        if vocab is None:
            params.update(Text(f"{model} · parameters: – (known once the corpus is read)", style="dim"))
            return
        count = parameter_count(vocab, hidden, str(cell), embedding)
        params.update(Text(f"{model} · {count:,} parameters (vocabulary of about {vocab:,})"))

    def _min_char_count(self, settings: dict) -> int:
        """The vocabulary's threshold: a carried-over setting, else the preset's."""
        given = settings.get("min_char_count")
        if isinstance(given, int) and given >= 1:
            return given
        try:
            return preset(self.preset_name).min_char_count
        except ConfigError:
            return TrainConfig().min_char_count

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#start-status", Static).update(Text(visible(text), style=style))

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if event.input.id == "field-path":
            choice = self.query_one("#field-corpus", Select)
            if event.value.strip() and choice.value != PATH_CHOICE:
                choice.value = PATH_CHOICE
            self._schedule_inspect(INSPECT_DELAY)
        self._refresh()

    @on(Select.Changed)
    def _chosen(self, event: Select.Changed) -> None:
        if event.select.id == "field-corpus":
            self._schedule_inspect()
        elif event.select.id == "field-preset" and event.value != self.preset_name:
            self._change_preset(str(event.value))
        self._refresh()

    def _change_preset(self, name: str) -> None:
        """The fields a preset sets (the old one's and the new one's) take the new preset's values; the
        others keep what was typed."""
        keys = set(PRESETS.get(self.preset_name, {})) | set(PRESETS.get(name, {}))
        self.preset_name = name
        cfg = preset(name)
        for key in keys:
            self.extras.pop(key, None)
            if key in TYPED:
                self.query_one(f"#field-{key}", Input).value = shown(getattr(cfg, key))
            elif key in CHOSEN:
                self.query_one(f"#field-{key}", Select).value = getattr(cfg, key)

    # ---- starting ----------------------------------------------------------------------------------------
    def action_start(self) -> None:
        result = self._refresh()
        if result.problems:
            first = next(iter(result.problems))
            self._status(f"Not started: {self._label(first)}: {result.problems[first]}", "red")
            target = self.query(f"#field-{first}")
            if target:
                target.first().focus()
            return
        if self.preview_ref != self.corpus_ref() or (self.preview is None and self.preview_error is None):
            self._start_when_read = True  # starts as soon as the corpus has been read (and found good)
            self._inspect_now()
            self._status("reading the corpus first…")
            return
        self.dismiss(result.request)

    @staticmethod
    def _label(key: str) -> str:
        if key in FIELDS:
            return FIELDS[key].label.lower()
        return {"general": "settings"}.get(key, key)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    @on(Button.Pressed, "#start")
    def _start_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_start()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
