"""tui-gen from Python: load a run, generate, stream and score text, train. The package's face.

    import tui_gen

    run = tui_gen.load("models/trump-tweets-20261128-101500")   # a run folder (its best) or a checkpoint
    run.generate("Hillary", length=100, temperature=0.8, random_seed=1)   # the continuation only
    for ch in run.stream("Make America"): print(ch, end="")
    run.score("Make America great again").bits_per_char
    run = tui_gen.train("my-book.txt", steps=2000, hidden_sizes=(256, 256), cell="lstm")

What it promises (the names are re-exported by tui_gen/__init__.py, which loads this module, and torch,
only when one of them is first used: `import tui_gen` stays cheap):
- The same engine and the same results as the command line: generate() with a random_seed writes what
  `tui-gen generate RUN --seed TEXT --random-seed N` writes after the seed (model/sample.py's Generator,
  called as the CLI calls it); score() is `tui-gen score`'s (model/score.py); train() takes its settings
  by their TrainConfig names and checks them with the CLI's own run set-up (training/setup.py).
- No terminal assumptions, so it works in Jupyter: nothing is printed, no Rich, no signal handler.
  Training runs in a thread of its own while the caller's thread waits for its events, so Ctrl+C (a
  notebook's interrupt) always lands in the caller's code, never inside a training step: it asks the
  run to stop, the step ends, `last` is saved and train() returns the run.
- Errors are the engine's own (tui_gen.core.errors.TuiGenError: a missing run, a corrupt checkpoint, a
  bad setting), each one clear sentence; a wrong argument name or type is Python's TypeError.

No torch at module level: each function imports what it needs.
"""

from __future__ import annotations

import difflib
import math
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tui_gen.core import events as ev
from tui_gen.core import gate
from tui_gen.core.config import TrainConfig
from tui_gen.core.errors import ConfigError, TuiGenError
from tui_gen.core.settings import BUDGET_KEYS, BY_NAME, Kind

if TYPE_CHECKING:
    from tui_gen.data.vocab import Vocab
    from tui_gen.model.network import CharRNN
    from tui_gen.model.sample import Generator, Token
    from tui_gen.model.score import TextScore
    from tui_gen.runs.listing import RunCurves
    from tui_gen.training.checkpoint import Checkpoint
    from tui_gen.training.trainer import Trainer

PathLike = str | os.PathLike[str]
OnEvent = Callable[[ev.Event], object]

# The run folder's checkpoint names: a checkpoint file by one of these is its folder's run.
RUN_CHECKPOINTS = ("best.safetensors", "last.safetensors")
MAX_RANDOM_SEED = 2**63 - 1  # what `tui-gen generate --random-seed` takes
WAIT_SECONDS = 0.1  # the longest the caller's thread waits on the trainer's thread without checking again


class TrainingError(TuiGenError):
    """A run that ended without a usable end: it diverged, or its last step could not be saved. The
    message is the run's own (what happened, and what to do); the checkpoints saved before stay."""

    kind = "training"


# ---- loading ---------------------------------------------------------------------------------------


def load(path: PathLike, *, device: str | None = None) -> Run:
    """A run to generate, stream and score with: a run folder (its `best` checkpoint, or `last` before
    the first evaluation) or a checkpoint file.

    device: "cpu" (the default, as `tui-gen generate`: one character at a time is fastest there),
    "cuda", "mps" or "auto". Raises CheckpointError (a TuiGenError) for a missing run or a checkpoint
    that is truncated, corrupt or not tui-gen's, exactly as `tui-gen generate` does.

        >>> run = tui_gen.load("models/trump-tweets-20261128-101500")
        >>> run.step, run.bits_per_char
        (2000, 1.834)
    """
    from tui_gen.training.checkpoint import load_checkpoint
    from tui_gen.training.device import pick_device

    if device is not None and not isinstance(device, str):
        raise TypeError(f"device must be a name like 'cpu' or 'cuda', not {type(device).__name__}")
    return Run(load_checkpoint(os.fspath(path), device=pick_device(device or "cpu")))


class Point(NamedTuple):
    """One point of a curve: its step, the characters trained on by then, the training time (seconds,
    pauses excluded) and the bits per character. chars_seen and elapsed are None for a run whose history
    comes from its checkpoint (a run from before the metrics log), which kept neither."""

    step: int
    chars_seen: int | None
    elapsed: float | None
    bits_per_char: float


@dataclass(frozen=True)
class History:
    """A run's training and validation curves, oldest first: from its metrics log as the app's runs
    screen reads it (tui_gen.runs.listing), at most 4,096 points a curve (a longer run's points are means
    of neighbouring ones, the newest kept as it is); a run resumed from an earlier checkpoint goes on
    from there, without the steps that were never saved. `pandas.DataFrame(run.history.train)` makes a
    table of them."""

    train: list[Point]
    val: list[Point]


@dataclass(frozen=True)
class Score:
    """How surprised a model is by a text, character by character: `tui-gen score`'s figures.

    surprisal[i] is the bits of text[i] (-log2 of the probability the model gave it), one per
    character; NaN where a character is not scored (a stream model's first character, when its
    vocabulary has no line break to start after). bits_per_char is their mean over the scored ones.
    A character the model never saw is scored as "unknown" (known[i] is False), not refused."""

    text: str
    bits_per_char: float
    surprisal: list[float]
    known: list[bool]
    total_bits: float
    chars_scored: int
    unknown: int  # characters outside the model's vocabulary
    _result: TextScore = field(repr=False, compare=False)

    def most_surprising(self, n: int = 10) -> list[int]:
        """The positions of the n most surprising characters, most surprising first."""
        return self._result.most_surprising(n)

    def candidates(self, i: int) -> list[tuple[str, float]]:
        """What the model expected at position i: its top characters and their probabilities."""
        if not -len(self.text) <= i < len(self.text):
            raise IndexError(f"position {i} is outside the text of {len(self.text)} characters")
        return self._result.candidates(i % len(self.text))


class Run:
    """A trained model and the run it comes from. Made by load() and train().

    path: the run folder (or the checkpoint file, for one outside any run folder); checkpoint_path: the
    file loaded; step: its training step; bits_per_char: its best validation bits per character (None
    before the first evaluation); config: its TrainConfig; vocab: its characters (tui_gen.data.vocab.Vocab:
    `run.vocab.chars`); history: its curves, read afresh at each access; model: the torch module."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        if checkpoint.path is None:
            raise ValueError("a Run is loaded from a file: use tui_gen.load(path)")
        self._checkpoint = checkpoint
        self.checkpoint_path: Path = checkpoint.path
        in_folder = checkpoint.path.name in RUN_CHECKPOINTS
        self.path: Path = checkpoint.path.parent if in_folder else checkpoint.path
        self._run_folder: Path | None = self.path if in_folder else None
        self.model: CharRNN = checkpoint.model
        self.vocab: Vocab = checkpoint.vocab
        self.framing: str = checkpoint.framing
        self.step: int = checkpoint.step
        self.bits_per_char: float | None = checkpoint.val_bpc

    def __repr__(self) -> str:
        from tui_gen.training.trainer import describe_model

        bpc = f"{self.bits_per_char:.3f} bits/char" if self.bits_per_char is not None else "not evaluated"
        return (
            f"<tui_gen.Run {str(self.path)!r}: step {self.step}, {bpc}, "
            f"{describe_model(self.model.config)}, {self.framing} framing>"
        )

    @cached_property
    def config(self) -> TrainConfig:
        """The configuration it was trained with (CheckpointError if its header's is unreadable)."""
        from tui_gen.training.trainer import resume_config

        return resume_config(self._checkpoint)

    @property
    def history(self) -> History:
        """Its train and validation curves, read now (a run still training has more at each access)."""
        if self._run_folder is not None:
            from tui_gen.runs.listing import read_curves

            return _history(read_curves(self._run_folder))
        return _header_history(self._checkpoint.meta.get("history"))

    # ---- writing ----------------------------------------------------------------------------------

    def generate(
        self,
        seed: str = "",
        length: int = 200,
        temperature: float = 1.0,
        *,
        top_k: int | None = None,
        top_p: float | None = None,
        random_seed: int | None = None,
        stop: bool = True,
    ) -> str:
        """The model's continuation of `seed` (the seed itself left out): at most `length` characters,
        ending at the model's end marker or line break, included, unless stop=False.

        temperature: above 0 (1: the model's own probabilities; lower: safer; near 0: always the most
        likely). top_k: draw only from the k likeliest characters; top_p: from the smallest set holding
        that share of the probability. random_seed: the same text each time, and exactly what
        `tui-gen generate RUN --seed SEED --random-seed N -t T -n LENGTH` writes after the seed.

            >>> run.generate("Hillary", length=60, temperature=0.8, random_seed=1)
            ' is a total disaster! _E_'
        """
        import torch

        tokens = self._tokens(seed, length, temperature, top_k, top_p, random_seed, stop)
        with _one_thread(), torch.inference_mode():  # as the CLI: inference mode held around the loop
            return "".join(t.char for t in tokens)

    def stream(
        self,
        seed: str = "",
        length: int = 200,
        temperature: float = 1.0,
        *,
        top_k: int | None = None,
        top_p: float | None = None,
        random_seed: int | None = None,
        stop: bool = True,
    ) -> Iterator[str]:
        """generate(), a character at a time as the model writes it: "".join(run.stream(...)) is
        run.generate(...) for the same arguments. The arguments are checked now; the model runs as the
        characters are asked for, and stopping early (break) costs nothing more.

            >>> for ch in run.stream("Make America", temperature=0.7):
            ...     print(ch, end="", flush=True)
        """
        return _chars_on_one_thread(self._tokens(seed, length, temperature, top_k, top_p, random_seed, stop))

    def _tokens(
        self,
        seed: str,
        length: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        random_seed: int | None,
        stop: bool,
    ) -> Iterator[Token]:
        """The Generator's stream, set up as `tui-gen generate` sets it up (cli/main.py cmd_generate),
        every argument checked before anything runs."""
        import torch

        from tui_gen.model.sample import SamplingSettings, encode_seed

        if not isinstance(seed, str):
            raise TypeError(f"seed must be a str, not {type(seed).__name__}")
        _check_whole("length", length)
        if length < 0:
            raise ConfigError(f"length must be 0 or more characters, got {length}")
        for name, value in (("temperature", temperature), ("top_p", top_p)):
            if value is not None and not _is_number(value):
                raise TypeError(f"{name} must be a number, not {type(value).__name__}")
        if top_k is not None:
            _check_whole("top_k", top_k)
        settings = SamplingSettings(
            temperature=temperature, top_k=0 if top_k is None else top_k, top_p=1.0 if top_p is None else top_p
        )
        settings.validate()
        if random_seed is not None:
            _check_whole("random_seed", random_seed)
            if not 0 <= random_seed <= MAX_RANDOM_SEED:
                raise ConfigError(f"random_seed must be 0 to 2**63 - 1, got {random_seed}")
        encode_seed(
            self.vocab, seed, self.framing
        )  # a character the model never saw: said now, not at the first next()
        generator = torch.Generator().manual_seed(random_seed) if random_seed is not None else None
        return self._generator(stop, generator).stream(seed, settings, length)

    def _generator(self, stop: bool, generator: Any) -> Generator:
        from tui_gen.model.sample import Generator

        stops = self._checkpoint.stop_strings if stop else ()
        return Generator(self.model, self.vocab, self.framing, stop_strings=stops, top_n=0, generator=generator)

    # ---- reading ----------------------------------------------------------------------------------

    def score(self, text: str) -> Score:
        """How surprised the model is by `text`, character by character, computed as `tui-gen score`
        computes it (a lines model reads each line from the start-of-line state, its line break
        included; a stream model reads the text after a line break). The text is taken as it is: a
        "\\r" is a character like any other (`tui-gen score` reads a file's "\\r\\n" as "\\n").

            >>> s = run.score("Make America great again!")
            >>> s.bits_per_char, s.surprisal[:3]
            (2.31, [4.1, 0.9, 2.2])
        """
        from tui_gen.model.score import TextScorer

        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        if not text:
            raise ConfigError("nothing to score: the text is empty")
        result = TextScorer.for_checkpoint(self._checkpoint).score(text)
        return Score(
            text=text,
            bits_per_char=result.bits_per_char,
            surprisal=[float(b) for b in result.bits],
            known=[bool(k) for k in result.known],
            total_bits=result.total_bits,
            chars_scored=result.chars_scored,
            unknown=result.unknown,
            _result=result,
        )


def _check_whole(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, not {type(value).__name__}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@contextmanager
def _one_thread() -> Iterator[None]:
    """torch on one CPU thread for the time inside, then as it was: what `tui-gen generate` does (one
    character at a time, more threads only add synchronisation), so that the arithmetic, and with it
    every draw, is the CLI's."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _chars_on_one_thread(tokens: Iterator[Token]) -> Iterator[str]:
    """Each token's character, each drawn on one thread (_one_thread), the caller's own code between
    them running with torch's threads as they were. Closing this closes the stream."""
    try:
        while True:
            with _one_thread():
                token = next(tokens, None)
            if token is None:
                return
            yield token.char
    finally:
        close = getattr(tokens, "close", None)
        if close is not None:
            close()


def _history(curves: RunCurves) -> History:
    def points(columns: list[list[float]]) -> list[Point]:
        steps, chars, times, bpcs = columns
        return [
            Point(round(s), None if math.isnan(c) else round(c), None if math.isnan(t) else t, b)
            for s, c, t, b in zip(steps, chars, times, bpcs, strict=True)
        ]

    return History(points(curves.train_points()), points(curves.val_points()))


def _header_history(history: object) -> History:
    """A checkpoint outside any run folder: the history its header keeps ([step, bits/char] pairs, the
    train curve averaged over every 10 steps), each value checked as the runs screen checks it."""

    def points(part: str) -> list[Point]:
        found = history.get(part) if isinstance(history, dict) else None
        kept = []
        for point in found if isinstance(found, list) else []:
            if isinstance(point, list) and len(point) == 2:
                step, bpc = gate.whole(point[0]), gate.bpc(point[1])
                if step is not None and bpc is not None:
                    kept.append(Point(step, None, None, bpc))
        return kept

    return History(points("train"), points("val"))


# ---- training ---------------------------------------------------------------------------------------

_SETTINGS = tuple(f.name for f in fields(TrainConfig))
_ARGUMENTS = ("corpus", "out", "steps", "minutes", "resume", "on_event", "preset", "models_dir", "overwrite")


def train(
    corpus: PathLike | None = None,
    *,
    out: PathLike | None = None,
    steps: int | None = None,
    minutes: float | None = None,
    resume: PathLike | None = None,
    on_event: OnEvent | None = None,
    preset: str = "default",
    models_dir: PathLike = "models",
    overwrite: bool = False,
    **settings: Any,
) -> Run:
    """Train a model, as `tui-gen train` does, and return its run (its best checkpoint).

    corpus: a built-in corpus's name ("trump-tweets", see `tui-gen data list`), a text file or a folder
    of .txt files; None: the tweets, or the corpus of the run resumed. out: the run folder (default
    models_dir/<corpus>-<date>-<time>); overwrite: let a new run replace the run already there.
    steps or minutes: how long (default 6 minutes), counted from where a resumed run stopped. resume: a
    run folder (continues from its last) or checkpoint. preset: "default" or "lecture".

    settings: the training settings by their TrainConfig names (the README's options table):
    hidden_sizes=(256, 256), cell="lstm", lr=1e-3, ... A name that is not one is a TypeError naming the
    closest; each value is checked exactly as the CLI checks its flag (ConfigError, before anything
    starts), and on resume the settings that cannot change are refused as `--resume` refuses them.

    on_event(event) is called, in the caller's thread, with each of the trainer's events
    (tui_gen.events: Started, Step, Eval, Samples, Saved, RunWarning, BudgetChanged, Finished), as
    training goes on; nothing is printed otherwise. Training waits while on_event runs.

    Ctrl+C (KeyboardInterrupt, a notebook's interrupt, or raised by on_event) stops the run cleanly:
    the step ends, the run is evaluated and `last` saved, the last events still reach on_event, and the
    run is returned. A second Ctrl+C raises KeyboardInterrupt at once, while the run finishes its step
    and saves in the background. Any other exception from on_event stops the run the same way, then
    is raised. A run that diverges or cannot save its end raises TrainingError with its own message.

        >>> run = tui_gen.train("my-book.txt", steps=2000, hidden_sizes=(256, 256), cell="lstm")
    """
    from tui_gen.training.setup import RunRequest, new_run_config, prepare_run

    if on_event is not None and not callable(on_event):
        raise TypeError(f"on_event must be a function taking an event, not {type(on_event).__name__}")
    request = RunRequest(
        corpus=_path_text("corpus", corpus),
        resume=_path_text("resume", resume),
        preset=preset,
        settings=_settings(settings),
        steps=steps,
        minutes=minutes,
        out=_path_text("out", out),
        models_dir=_path_text("models_dir", models_dir) or "models",
        overwrite=overwrite,
    )
    if steps is not None and minutes is not None:
        raise ConfigError("give steps or minutes, not both: a run's length is one or the other")
    if not request.resume:
        new_run_config(request)  # the CLI's checks, before torch is imported: a bad value costs nothing
    trainer = prepare_run(request).trainer
    finished = _run_in_thread(trainer, on_event)
    if finished is None:  # the trainer always ends with Finished; without it, _run_in_thread raised
        raise TrainingError("the run ended without saying how: see its metrics log")
    if ev.FinishReason(finished.reason).is_failure:
        raise TrainingError(finished.message)
    run_dir = Path(finished.last_path).parent if finished.last_path else trainer.run_dir
    if run_dir is None:
        raise TrainingError("the run saved nothing: it has no run folder")
    return load(run_dir)


def _path_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path or a name (str), not {type(value).__name__}")
    return os.fspath(value)


def _settings(given: dict[str, Any]) -> dict[str, Any]:
    """The training settings given by name, as the run set-up takes them (RunRequest.settings): an
    unknown name is a TypeError (Python's own for a wrong keyword) naming the closest; the budget goes
    by steps= or minutes=; a tuple of hidden sizes is the list the settings take. Values are left to
    the run set-up's checks."""
    settings = {}
    for name, value in given.items():
        if name in BUDGET_KEYS:
            raise TypeError(f"train() takes the run's length as steps= or minutes=, not {name}=")
        if name not in BY_NAME:
            raise TypeError(f"train() got an unknown setting {name}={_close_to(name)}")
        if BY_NAME[name].kind is Kind.SIZES and isinstance(value, tuple):
            value = list(value)
        settings[name] = value
    return settings


def _close_to(name: str) -> str:
    """What the user may have meant: a setting whose flag this is (hidden for hidden_sizes), or a
    close spelling of a setting or an argument."""
    for s in BY_NAME.values():
        if s.flag and name.replace("_", "-") == s.flag.lstrip("-"):
            return f": did you mean {s.name}=? (--{s.flag.lstrip('-')} is its flag)"
    close = difflib.get_close_matches(name, [*_SETTINGS, *_ARGUMENTS], n=1)
    if close and close[0] not in BUDGET_KEYS:
        return f": did you mean {close[0]}=?"
    return ": the settings are TrainConfig's fields (the README's options table)"


class _Raised(NamedTuple):
    """An exception of the training thread, handed to the caller's thread to raise."""

    error: BaseException


_END = object()  # the training thread has nothing more to send


def _run_in_thread(trainer: Trainer, on_event: OnEvent | None) -> ev.Finished | None:
    """Run the trainer in a thread of its own, its events handed one at a time to on_event in this
    thread (the trainer waits while on_event runs, as it waits for the CLI to print). Returns the run's
    Finished event. See train() for Ctrl+C and on_event's exceptions."""
    channel: queue.Queue[object] = queue.Queue(maxsize=1)
    abandoned = threading.Event()  # this thread has stopped listening: the trainer's thread ends alone

    def send(item: object) -> None:
        while not abandoned.is_set():
            try:
                channel.put(item, timeout=WAIT_SECONDS)
                return
            except queue.Full:
                continue

    def feed() -> None:
        try:
            for event in trainer.run():
                send(event)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, which raises it
            send(_Raised(e))
        finally:
            send(_END)

    # Not a daemon: a script that ends (or a second Ctrl+C) still lets the run finish its step and save.
    worker = threading.Thread(target=feed, name="tui-gen training", daemon=False)
    worker.start()
    finished: ev.Finished | None = None
    error: BaseException | None = None
    deliver = on_event
    interrupted = False
    try:
        while True:
            try:
                item = _receive(channel)
                if item is _END:
                    break
                if isinstance(item, _Raised):
                    error = error or item.error
                    continue
                if isinstance(item, ev.Finished):
                    finished = item
                if deliver is not None:
                    deliver(item)  # type: ignore[arg-type]  # the trainer's events
            except KeyboardInterrupt:
                if interrupted:
                    raise  # the second: at once
                interrupted = True
                trainer.request_stop()
            except Exception as e:  # noqa: BLE001 - on_event's own error: stop and save first, then raise it
                error = error or e
                deliver = None
                trainer.request_stop()
    except BaseException:
        abandoned.set()
        trainer.request_stop()
        raise
    worker.join()
    if error is not None:
        raise error
    return finished


def _receive(channel: queue.Queue[object]) -> object:
    """The next item, waiting in short turns: Ctrl+C is taken between them on every platform."""
    while True:
        try:
            return channel.get(timeout=WAIT_SECONDS)
        except queue.Empty:
            continue
