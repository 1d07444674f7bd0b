"""The run folder a trainer holds: every file the trainer writes there goes through the folder's open
descriptor, never through its path.

    folder = RunFolder.open(Path("models/my-run"))   # or runs.lock.lock_run_folder(...).held
    folder.write_atomic("last.safetensors", blob)
    fd = folder.open_append("metrics.jsonl")
    if not folder.whereabouts().here: ...            # moved, renamed or deleted under the trainer

A trainer opens its run folder once (runs.lock.lock_run_folder opens it to take the writer's lock, and
hands out that same descriptor) and from then on creates, replaces and removes files relative to it
(dir_fd). So:
- a folder moved or renamed under a running trainer keeps its checkpoints and its log together, in
  the folder's new place; nothing appears at the old path;
- a folder deleted under it is never re-created by a save: writing into it fails (ENOENT), and a
  second trainer started on the path finds no run there to resume;
- a name in the folder that is a symbolic link is never followed (O_NOFOLLOW): what the trainer writes
  stays in the folder. A rename over a link replaces the link itself.
whereabouts() tells, with one stat of the path and one of the descriptor, whether the path still names
the held folder; the trainer looks before each evaluation and save and about once a second, and stops
with one warning when it does not (tui_gen.training.trainer).

Where the OS has no directory descriptors (Windows: no flock either), the folder is used by its path,
as before: fd is None and none of the above holds.

Engine code: no torch.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from tui_gen.core.atomic import O_CLOEXEC, O_NOFOLLOW, create_temp_in, write_atomic, write_atomic_in

O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
PROBE_PREFIX, PROBE_SUFFIX = ".write-test-", ".tmp"  # probe(): named as a temporary file, which watchers skip
PROBE_PATTERN = PROBE_PREFIX + "*" + PROBE_SUFFIX  # one left by a process killed mid-probe
HAS_DIR_FD = os.open in os.supports_dir_fd and os.rename in os.supports_dir_fd  # POSIX (os.replace too), not Windows


@dataclass(frozen=True)
class Whereabouts:
    """Where the held folder is now. kind: "here" (the path still names it), "moved" (it exists, under
    another name: `path`, or None where that cannot be told), "deleted" (it exists no more). `other`:
    the original path now names something else (a new folder made there, say)."""

    kind: str
    path: Path | None
    other: bool = False

    @property
    def here(self) -> bool:
        return self.kind == "here"


class RunFolder:
    def __init__(self, path: Path, fd: int | None, owns_fd: bool = False):
        """fd: the folder open (O_DIRECTORY), or None to use the path. owns_fd: close() closes it (else
        its owner does: a runs.lock.RunLock)."""
        self.path = Path(path)
        self.fd = fd if HAS_DIR_FD else None
        self._owns = owns_fd and fd is not None
        self._identity = _identity(os.fstat(self.fd)) if self.fd is not None else None

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """Create the folder if needed and hold it. Raises OSError."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if not HAS_DIR_FD:
            return cls(path, None)
        fd = os.open(path, os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        return cls(path, fd, owns_fd=True)

    def close(self) -> None:
        if self._owns and self.fd is not None:
            os.close(self.fd)
        self.fd = None
        self._owns = False

    # ---- writing ------------------------------------------------------------------------------
    def write_atomic(self, name: str, data: bytes, prefix: str | None = None, suffix: str = ".tmp") -> None:
        """Replace the file `name` with data, atomically (tui_gen.core.atomic). Raises OSError."""
        if self.fd is None:
            write_atomic(self.path / name, data, prefix, suffix)
        else:
            write_atomic_in(self.fd, name, data, prefix, suffix)

    def open_append(self, name: str) -> int:
        """The file `name`, created if missing, open for reading and appending: its descriptor. Never
        through a symbolic link (the file would be written outside the folder), only a regular file (a
        FIFO or a device is not a log), and only a file with no other name (a hard link: appending would
        change the file under its other names too, a backup's or anyone's): each raises OSError saying so."""
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK
        try:
            fd = os.open(self._name(name), flags, 0o644, dir_fd=self.fd)
        except OSError as e:
            if e.errno == errno.ELOOP or self._is_link(name):
                raise OSError(
                    errno.ELOOP,
                    "it is a symbolic link, which tui-gen does not follow: the file "
                    "would be written outside the run folder",
                ) from None
            raise
        try:
            held = os.fstat(fd)
            if not stat.S_ISREG(held.st_mode):
                raise OSError(errno.EINVAL, "it is not a regular file")
            if held.st_nlink > 1:
                raise OSError(
                    errno.EMLINK,
                    "it is a hard link, and appending would change the file under its other names too: "
                    "copy it, then move the copy over it",
                )
        except BaseException:
            os.close(fd)
            raise
        return fd

    def unlink(self, name: str) -> bool:
        """Remove the file `name` (a link itself, never what it points to): True if it was there.
        Raises OSError for anything else than its absence."""
        try:
            os.unlink(self._name(name), dir_fd=self.fd)
        except FileNotFoundError:
            return False
        return True

    def names(self) -> list[str]:
        """The names in the folder. Raises OSError."""
        return os.listdir(self.fd if self.fd is not None else self.path)

    def remove_matching(self, pattern: str) -> int:
        """Remove every file whose name matches the fnmatch pattern; how many were removed. Files that
        cannot be removed are left; a folder that cannot be listed removes nothing."""
        removed = 0
        try:
            names = self.names()
        except OSError:
            return 0
        for name in names:
            if fnmatch(name, pattern):
                try:
                    removed += self.unlink(name)
                except OSError:
                    pass
        return removed

    def probe(self) -> None:
        """Prove the folder can be written: create a temporary file in it, and remove it. Raises OSError."""
        if self.fd is None:
            import tempfile

            fd, tmp = tempfile.mkstemp(prefix=PROBE_PREFIX, suffix=PROBE_SUFFIX, dir=self.path)
            os.close(fd)
            os.unlink(tmp)
            return
        fd, tmp = create_temp_in(self.fd, PROBE_PREFIX, PROBE_SUFFIX)
        os.close(fd)
        os.unlink(tmp, dir_fd=self.fd)

    # ---- where it is -----------------------------------------------------------------------------
    def whereabouts(self) -> Whereabouts:
        """Does the path still name the held folder? Costs a stat of each (and a readlink in /proc when
        it does not). A path that cannot be looked at (no permission) counts as "here": only a folder
        known to be gone stops a run."""
        if self.fd is None:
            return Whereabouts("here", self.path)
        try:
            now = _identity(os.stat(self.path))
        except (FileNotFoundError, NotADirectoryError):
            now = None
        except OSError:
            return Whereabouts("here", self.path)
        if now == self._identity:
            return Whereabouts("here", self.path)
        try:
            held = os.fstat(self.fd)
        except OSError:
            return Whereabouts("deleted", None, now is not None)
        where = self._current_path()
        if held.st_nlink == 0 or where == "deleted":
            return Whereabouts("deleted", None, now is not None)
        return Whereabouts("moved", where if isinstance(where, Path) else None, now is not None)

    def _current_path(self) -> Path | str | None:
        """The held folder's path now, from /proc/self/fd (Linux): a Path, "deleted", or None when it
        cannot be told."""
        try:
            target = os.readlink(f"/proc/self/fd/{self.fd}")
        except OSError:
            return None
        if target.endswith(" (deleted)"):
            return "deleted"
        return Path(target) if target.startswith("/") else None

    def _name(self, name: str) -> str:
        if os.sep in name or (os.altsep and os.altsep in name) or name in ("", ".", ".."):
            raise ValueError(f"not a file name of the run folder: {name!r}")  # a bug, never user input
        return name if self.fd is not None else str(self.path / name)

    def _is_link(self, name: str) -> bool:
        try:
            return stat.S_ISLNK(os.stat(self._name(name), dir_fd=self.fd, follow_symlinks=False).st_mode)
        except OSError:
            return False


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino
