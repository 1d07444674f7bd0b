"""One writer per run folder.

A training process holds an exclusive flock on its run folder (the directory itself, so no lock file
joins the run's files) for as long as it trains; the OS drops it when the process ends, killed or
not. A second trainer on the same folder (the CLI, the app's training process) stops at once and
says which process has it. Readers (generate, eval, the app's playground) never take the lock.

The descriptor that holds the lock also holds the folder: RunLock.held is a runs.folder.RunFolder on
it, through which the trainer writes every file of the run, so a folder renamed or deleted under it
stays the one folder that is locked and written (see runs.folder).

Where flock does not exist (Windows), there is no lock: one writer per folder is then the user's
care, as the README says.
"""

from __future__ import annotations

import os
from pathlib import Path

from tui_gen.core.errors import RunFolderError
from tui_gen.runs.folder import O_DIRECTORY, RunFolder

try:
    import fcntl

    _HAS_FLOCK = True
except ImportError:  # pragma: no cover - not POSIX
    _HAS_FLOCK = False


class RunLock:
    def __init__(self, folder: Path, fd: int | None) -> None:
        self.folder = folder
        self._fd = fd
        self.held = RunFolder(folder, fd)  # the folder, by the locked descriptor (valid until release)

    def release(self) -> None:
        self.held.close()  # the descriptor is the lock's: the RunFolder only forgets it
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __del__(self) -> None:
        self.release()


def lock_run_folder(folder: Path) -> RunLock:
    if not _HAS_FLOCK:
        return RunLock(folder, None)
    try:
        fd = os.open(folder, os.O_RDONLY | O_DIRECTORY)  # file-access: the folder itself, to lock and hold
    except OSError as e:
        raise RunFolderError(f"cannot open the run folder {folder}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        who = f"process {holder}" if holder else "another process"
        raise RunFolderError(
            f"{folder} is being trained by {who}: a run folder has one writer at a time; wait for that run to "
            "finish (or stop it), or train into another folder"
        ) from None
    except OSError:  # a filesystem without flock (some network mounts): go on without the lock, still
        return RunLock(folder, fd)  # holding the folder
    return RunLock(folder, fd)


def folder_holder(folder: Path) -> int | None:
    """The pid of the process training in `folder` now (holding its lock), or None: nobody, or it cannot
    be told (not Linux). Read from /proc/locks, without taking the lock, so that looking never stops a
    trainer from starting."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))  # file-access: a folder, only fstat'ed
    except OSError:
        return None
    try:
        return _holder(fd)
    finally:
        os.close(fd)


def _holder(fd: int) -> int | None:
    """The pid holding a flock on the file open as fd, from /proc/locks (Linux), or None."""
    st = os.fstat(fd)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as f:  # file-access: the kernel's lock table
            for line in f:
                parts = line.split()
                # "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF" (a "->" marks a waiter)
                if "FLOCK" in parts and "->" not in parts and dev in parts:
                    pid = parts[parts.index(dev) - 1]
                    return int(pid) if pid.isdigit() else None
    except OSError:
        pass
    return None
