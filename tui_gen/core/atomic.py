"""Writing a file so that a crash at any instant leaves either the old file or the new one.

write_atomic writes by path (a downloaded corpus, a page the lens writes). write_atomic_in writes a
file of a folder held open as a descriptor (a run folder, tui_gen.runs.folder): everything happens
relative to that descriptor, so a folder moved meanwhile gets the file in its new place and a folder
deleted meanwhile is never re-created. Its temporary file is created exclusively and never through a
link (O_EXCL | O_NOFOLLOW); the rename replaces whatever has the final name, a link included (the
link itself, never what it points to). write_new_in is the same, except that it replaces nothing: it
links the new file to a name nothing has yet (text the user saves, under a new name each time).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def write_atomic(path: Path, data: bytes, prefix: str | None = None, suffix: str = ".tmp") -> None:
    """Temporary file beside `path` (same filesystem, so the rename is atomic), fsync, rename,
    fsync the folder. Raises OSError after removing the temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix or path.name + ".", suffix=suffix, dir=path.parent)
    try:
        _write_synced(fd, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_atomic_in(dir_fd: int, name: str, data: bytes, prefix: str | None = None, suffix: str = ".tmp") -> None:
    """write_atomic for the file `name` of the folder open as dir_fd (POSIX): the temporary file is
    created in that folder, the rename is within it and the folder itself is fsynced. Raises OSError
    (ENOENT when the folder has been deleted) after removing the temporary file."""
    fd, tmp = create_temp_in(dir_fd, prefix or name + ".", suffix)
    try:
        _write_synced(fd, data)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        os.fsync(dir_fd)


def write_new_in(dir_fd: int, name: str, data: bytes) -> None:
    """Write a file `name` that does not exist yet into the folder open as dir_fd, whole or not at all:
    a temporary file, fsynced, then linked to `name`, which fails if something has that name already
    (FileExistsError: nothing is replaced, whoever made it and whenever). Raises OSError after removing
    the temporary file."""
    fd, tmp = create_temp_in(dir_fd, "." + name + ".", ".tmp")
    try:
        _write_synced(fd, data)
        os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
    with contextlib.suppress(OSError):  # make the new name itself durable
        os.fsync(dir_fd)


def create_temp_in(dir_fd: int, prefix: str, suffix: str) -> tuple[int, str]:
    """A new, empty file <prefix><random><suffix> in the folder open as dir_fd, opened for writing:
    (its descriptor, its name). Never an existing file, never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC
    for _ in range(100):
        name = f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(name, flags, 0o600, dir_fd=dir_fd), name
        except FileExistsError:  # taken (a name of ours, or anything else's): another name
            continue
    raise FileExistsError(f"no free temporary file name {prefix}...{suffix}")


def _write_synced(fd: int, data: bytes) -> None:
    """Make the new file readable by all (a temporary file is created 0600, which would hide it from
    others sharing the folder), write all of data, fsync and close it (closed whatever fails)."""
    try:
        os.fchmod(fd, 0o644)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
