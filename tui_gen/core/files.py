"""The one way tui-gen opens a file that comes from outside, and writes a file the user names.

    with open_regular(path) as f: ...     # a corpus, a checkpoint, a metrics log, a text to score
    check_output_path(path)               # before any work: `score --html PATH` names a FIFO? say so now
    write_output(path, data)              # then write it whole (temporary file beside it, rename)

Why a gate. A path from outside (a flag, the new-run form, a run folder someone else writes) may name
a FIFO, a device or a socket as well as a file. A plain open() of a FIFO waits until a writer comes:
in the app that is a thread nobody can cancel, the form says "reading ..." for ever and the process
cannot exit until something writes to the pipe. Opening a terminal device may make it the controlling
terminal; reading /dev/zero never ends. And writing an output by renaming a temporary file over PATH
replaces whatever PATH is, a FIFO or /dev/null (as root: the system's) included.

So reads go through open_regular: the path is stat'ed first (a device is never even opened: opening
some has effects), then opened with O_NONBLOCK | O_NOCTTY (a FIFO swapped in after that stat still
cannot block the open, nor a terminal become ours) and the open file fstat'ed: only a regular file is
read. Symbolic links are followed: users link their corpora, and what counts is what a link points at.
Outputs go through write_output, which refuses a PATH that exists and is not a regular file, before
the work and again right before the rename.

What is refused raises NotRegularFile, an OSError: the callers already turn an OSError into their own
one-line error (a CorpusError, a CheckpointError, ...), and its strerror reads well after
"cannot read PATH: ". Engine code: no torch, no textual.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
import typing
from pathlib import Path
from typing import IO

PathLike = str | os.PathLike[str]


class NotRegularFile(OSError):
    """PATH exists but is a FIFO, a device, a socket or a folder: nothing tui-gen reads or replaces.

    strerror is "it is a FIFO (named pipe), not a regular file" (for "cannot read PATH: ..."), str()
    the whole sentence "PATH is a FIFO (named pipe), not a regular file"; `what` the kind alone."""

    def __init__(self, path: PathLike, what: str) -> None:
        super().__init__(None, f"it is {what}, not a regular file", os.fspath(path))
        self.what = what

    def __str__(self) -> str:
        return f"{self.filename} is {self.what}, not a regular file"


_KINDS = {
    stat.S_IFREG: "a regular file",
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def describe_mode(mode: int) -> str:
    """What a file of st_mode `mode` is, in words: "a FIFO (named pipe)", "a folder", "a regular file"."""
    return _KINDS.get(stat.S_IFMT(mode), "a special file")


def _refuse_unless_regular(path: PathLike, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, describe_mode(mode))


# "rb" with no kwargs (buffered, as os.fdopen opens it by default): a BufferedReader, with readinto().
@typing.overload
def open_regular(path: PathLike, mode: typing.Literal["rb"] = "rb") -> io.BufferedReader: ...
@typing.overload
def open_regular(path: PathLike, mode: str = "rb", **kwargs: typing.Any) -> IO[typing.Any]: ...


def open_regular(path: PathLike, mode: str = "rb", **kwargs: typing.Any) -> IO[typing.Any]:
    """`path` opened for reading (mode "rb", or "r" with open()'s encoding/errors/newline kwargs) if it
    is a regular file, or a symbolic link to one. Raises NotRegularFile for anything else, without
    waiting: a FIFO never blocks the open. Other failures are open()'s own OSErrors (FileNotFoundError,
    PermissionError, ...)."""
    if mode not in ("rb", "r"):
        raise ValueError(f"open_regular reads only (mode 'rb' or 'r'), not {mode!r}")
    _refuse_unless_regular(path, os.stat(path).st_mode)  # a device is never opened at all
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        # What was opened, not what the name meant a moment ago: it may have been swapped meanwhile.
        _refuse_unless_regular(path, os.fstat(fd).st_mode)
        os.set_blocking(fd, True)  # a regular file's reads never wait anyway; this keeps them plain
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def check_output_path(path: PathLike) -> None:
    """Refuse (NotRegularFile) an output PATH that exists and is not a regular file, or a link to one:
    writing it would replace a FIFO, a device (/dev/null) or a socket with a file, or fail on a folder.
    A PATH that does not exist yet is fine, and so is one that cannot be stat'ed: the write says why."""
    try:
        st = os.stat(path)
    except OSError:
        return
    _refuse_unless_regular(path, st.st_mode)


def replace_checked(tmp: PathLike, path: PathLike) -> None:
    """os.replace(tmp, path) unless `path` has become something other than a regular file since it was
    checked (NotRegularFile then, and tmp is left for the caller to remove). What is left is the moment
    between this look and the rename itself, which no rename can close; whoever can swap names in that
    folder at that moment could write the file anyway."""
    check_output_path(path)
    os.replace(tmp, path)


def write_output(path: PathLike, data: bytes) -> None:
    """Write `data` to the file the user named as an output, whole or not at all: into a new temporary
    file beside it (O_EXCL | O_NOFOLLOW: never a file or link someone put there), fsync, then renamed
    over PATH; an existing file's permissions are kept, a new one gets the umask's. Raises
    NotRegularFile if PATH exists and is not a regular file (checked before and again right before
    the rename), else the OSError of what failed, after removing the temporary file."""
    path = Path(path)
    check_output_path(path)
    try:
        keep_mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        keep_mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if keep_mode is not None:
                os.fchmod(f.fileno(), keep_mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        replace_checked(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
