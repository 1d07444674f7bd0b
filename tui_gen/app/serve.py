"""What an app that `tui-gen serve` runs does differently: one training at a time among the server's
apps, and a root folder that its file pickers and typed paths stay inside.

The server (tui_gen.cli.serve) starts one app process per browser tab, each a `tui-gen launch` with two
variables in its environment: ROOT_ENV, the folder the server was started in, and STATE_ENV, a folder
of the server's own that holds the training slot. Served.from_environ reads them (through the gate);
outside `tui-gen serve` neither is set and the app is as it always was.

The training slot (TrainingSlot) is an flock on a file in that folder. An app takes it before it starts
a training process and holds it until that process has ended (SlottedProcess does both), and notes
beside it the run folder that process trains once its Started event names it. An app that finds the
slot taken is told the run folder the other app trains (TrainedElsewhere), and watches it instead of
training; while the other app is still starting (no run folder noted yet), it waits for one
(Served.wait_for_other_run). The lock is the truth: the OS drops it when the app that holds it dies.

A served app also looks, every SERVER_CHECK_SECONDS, whether its server is still its parent: a server
killed outright cannot ask its apps to quit, and textual-serve's apps do not end when their input does.

Textual-free, so that the server imports the variables' names from here.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tui_gen.app.shown_run import RunEvent, TrainingProcessLike
from tui_gen.core import events as ev
from tui_gen.core import gate
from tui_gen.core.atomic import write_atomic
from tui_gen.core.commands import ProcessCommand
from tui_gen.core.errors import ConfigError
from tui_gen.core.files import open_regular
from tui_gen.process.spec import TrainingSpec

try:
    import fcntl

    _HAS_FLOCK = True
except ImportError:  # pragma: no cover - not POSIX: no slot, as runs.lock has no lock there
    _HAS_FLOCK = False

ROOT_ENV = "TUI_GEN_SERVE_ROOT"  # the folder the server was started in: pickers and typed paths stay inside
STATE_ENV = "TUI_GEN_SERVE_STATE"  # the server's own folder, holding the training slot
SLOT_LOCK = "training.lock"
SLOT_NOTE = "training.json"  # {"run": the run folder the slot's holder trains, or null while it starts}
NOTE_MAX_BYTES = 64 * 1024
WAIT_POLL_SECONDS = 0.25  # how often an app waiting for another's run folder looks again
SERVER_CHECK_SECONDS = 1.0  # how often a served app looks whether its server is still there


class TrainedElsewhere(Exception):
    """Another app of the same server trains: this one is to watch `run_dir` (None: that app is still
    starting, and has not named its run folder yet). Not a TuiGenError: nothing failed."""

    def __init__(self, run_dir: str | None) -> None:
        super().__init__(f"another app of this server trains {run_dir or '(starting)'}")
        self.run_dir = run_dir


class TrainingSlot:
    """One app's hold on the server's training slot: take() it (or learn it is taken), note() the run
    folder trained, release() it. Each instance opens the lock file itself, so two instances in one
    process exclude each other as two processes do (flock belongs to the open file, not the process)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def take(self) -> bool:
        """Hold the slot now (True), or False when another holds it. Taking it clears the note, so that a
        run the previous holder noted is not taken for this one's."""
        if self._fd is not None:
            return True
        fd = self._try_lock()
        if fd is None:
            return False
        self._fd = fd
        self._write_note(None)
        return True

    def note(self, run_dir: str) -> None:
        """Say which run folder the holder trains (the others watch it). Only the holder notes."""
        if self._fd is not None:
            self._write_note(run_dir)

    def release(self) -> None:
        """Let go of the slot (the note is cleared first). Safe to call more than once."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                self._write_note(None)
            os.close(fd)  # closing the descriptor drops the flock

    def other_run(self) -> str | None:
        """The run folder the slot's holder noted (None: none yet, or nobody holds the slot)."""
        try:
            with open_regular(self.folder / SLOT_NOTE) as f:
                data = gate.load_json(f.read(NOTE_MAX_BYTES + 1), max_bytes=NOTE_MAX_BYTES)
        except (OSError, ValueError):  # no note yet, or a torn one: nothing noted
            return None
        return gate.text(data.get("run")) if isinstance(data, dict) else None

    def free(self) -> bool:
        """Whether nobody holds the slot now (it is taken for a moment to tell, then let go of)."""
        if self._fd is not None:
            return False
        fd = self._try_lock()
        if fd is None:
            return False
        os.close(fd)
        return True

    def _try_lock(self) -> int | None:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.folder / SLOT_LOCK, flags, 0o600)  # file-access: the server's own lock file
        if not _HAS_FLOCK:  # pragma: no cover
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: held by another
            os.close(fd)
            return None
        return fd

    def _write_note(self, run_dir: str | None) -> None:
        write_atomic(self.folder / SLOT_NOTE, json.dumps({"run": run_dir}).encode())


class SlottedProcess:
    """A training process that runs only while its app holds the server's training slot: start() takes
    the slot (or raises TrainedElsewhere, starting nothing), the Started event notes the run folder,
    and the slot is let go of once the process has ended (its Exited event, or shutdown()). The rest is
    the wrapped process's (tui_gen.app.shown_run.TrainingProcessLike)."""

    def __init__(self, process: TrainingProcessLike, slot: TrainingSlot) -> None:
        self.process = process
        self.slot = slot

    @property
    def spec(self) -> TrainingSpec | None:
        return self.process.spec

    @property
    def alive(self) -> bool:
        return self.process.alive

    def start(self, spec: TrainingSpec) -> None:
        if not self.slot.take():
            raise TrainedElsewhere(self.slot.other_run())
        try:
            self.process.start(spec)
        except BaseException:
            self.slot.release()
            raise

    def get(self, timeout: float | None = None) -> Sequence[RunEvent]:
        batch = self.process.get(timeout)
        for e in batch:
            match e:
                case ev.Started(run_dir=str(run_dir)):
                    self.slot.note(run_dir)
                case ev.Exited():
                    self.slot.release()
        return batch

    def send(self, command: ProcessCommand | str) -> bool:
        return self.process.send(command)

    def shutdown(self, timeout: float = 5.0) -> int | None:
        try:
            return self.process.shutdown(timeout=timeout)
        finally:
            self.slot.release()


@dataclass(frozen=True)
class Served:
    """The app is one of `tui-gen serve`'s: its root folder and the server's state folder."""

    root: Path  # absolute and resolved
    state: Path
    server: int | None = None  # the server's pid: the app's parent (textual-serve execs it from a shell)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Served | None:
        """From ROOT_ENV and STATE_ENV (both, or neither: None, not served). Each must name an existing
        folder by an absolute path; anything else is a ConfigError (the server sets them, so it is a bug
        or a hand-made environment)."""
        env = os.environ if environ is None else environ
        given = {name: env.get(name) for name in (ROOT_ENV, STATE_ENV)}
        if not any(given.values()):
            return None
        folders = [_folder(name, value) for name, value in given.items()]
        return cls(folders[0], folders[1], os.getppid())

    @property
    def server_gone(self) -> bool:
        """Whether the server has ended without ending this app (killed: its Ctrl+C ends every app first).
        The app was then handed to another parent, and no browser can reach it any more."""
        return self.server is not None and os.getppid() != self.server

    def inside(self, path: str | Path) -> bool:
        """Whether `path` (relative ones from the working folder), its links resolved, is the root or in it."""
        try:
            return Path(path).expanduser().resolve().is_relative_to(self.root)
        except (OSError, RuntimeError, ValueError):  # a link loop, a NUL in the name
            return False

    def clamp(self, path: str | Path) -> Path:
        """`path` if it is inside the root, else the root."""
        return Path(path) if self.inside(path) else self.root

    def slotted(self, make: Callable[[], TrainingProcessLike]) -> Callable[[], SlottedProcess]:
        """A process factory making `make`'s processes, each run only while it holds the training slot."""
        return lambda: SlottedProcess(make(), TrainingSlot(self.state))

    def wait_for_other_run(self, given_up: Callable[[], bool]) -> None:
        """Return once the slot is free or its holder has noted its run folder, or given_up() says so."""
        slot = TrainingSlot(self.state)
        while not given_up() and slot.other_run() is None and not slot.free():
            time.sleep(WAIT_POLL_SECONDS)


def _folder(name: str, value: str | None) -> Path:
    text = gate.text(value or "")
    path = Path(text) if text else None
    if path is None or not path.is_absolute() or not path.is_dir():
        raise ConfigError(
            f"{name} must name an existing folder by its absolute path, got {text!r}: it is set by "
            "`tui-gen serve` for the apps it runs; leave it unset otherwise"
        )
    return path.resolve()
