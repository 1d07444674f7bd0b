"""Text the user saves from the app (the playground's output, a sample, a sweep): a new file in the run
folder's samples/ folder each time, never replacing one.

    path = save_text("models/tweets-20261128-101500", "playground", text)
    # models/tweets-20261128-101500/samples/playground-20261128-103012.txt (-2, -3, ... in the same second)

The run folder itself is never created: one deleted (or moved) since is an error saying so, and the text
stays where it was. samples/ is created inside it if missing, and opened without following a link
(a run folder someone else writes cannot send the file elsewhere). The file appears whole or not at
all (tui_gen.core.atomic.write_new_in), so a full disk leaves nothing half-written behind.

Engine code: no torch, no textual.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tui_gen.core.atomic import O_CLOEXEC, O_NOFOLLOW, write_new_in
from tui_gen.core.errors import RunFolderError
from tui_gen.core.textsafe import one_line

SAMPLES_DIR = "samples"
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
MAX_TRIES = 1000  # names taken in the same second before giving up (a sign of something else at work)


def file_name(stem: str, when: float, n: int = 1) -> str:
    """stem-YYYYmmdd-HHMMSS.txt, local time; -n before the suffix for the n-th in the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    return f"{stem}-{stamp}{f'-{n}' if n > 1 else ''}.txt"


def save_text(run_dir: str | os.PathLike[str], stem: str, text: str, when: float | None = None) -> Path:
    """Write text (UTF-8, as given) to a new file run_dir/samples/<stem>-<time>.txt: its path.
    Raises RunFolderError, one sentence saying what happened, for a run folder that is gone, a full disk,
    a folder that cannot be written."""
    run = Path(run_dir)
    folder = run / SAMPLES_DIR
    where = one_line(str(folder))
    if not run.is_dir():
        raise RunFolderError(f"the run folder {one_line(str(run))} is not there any more (deleted or moved)")
    data = text.encode("utf-8", "replace")  # as written; a lone surrogate, which UTF-8 cannot hold, as "?"
    try:
        try:
            os.mkdir(run / SAMPLES_DIR)  # in the run folder only: never its parents
        except FileExistsError:
            pass
        flags = os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
        fd = os.open(folder, flags)  # file-access: the samples folder itself, held so a link cannot redirect the file
    except FileNotFoundError:
        raise RunFolderError(f"the run folder {one_line(str(run))} is not there any more (deleted or moved)") from None
    except OSError as e:
        if os.path.islink(folder):
            raise RunFolderError(f"{where} is a symbolic link, which tui-gen does not follow when it writes") from None
        raise RunFolderError(f"cannot open {where}: {e.strerror or e}") from None
    try:
        now = time.time() if when is None else when
        for n in range(1, MAX_TRIES + 1):
            name = file_name(stem, now, n)
            try:
                write_new_in(fd, name, data)
            except FileExistsError:
                continue
            except OSError as e:
                raise RunFolderError(f"cannot write {where}/{name}: {e.strerror or e}") from None
            return folder / name
        raise RunFolderError(f"{where} already has {MAX_TRIES:,} files named {file_name(stem, now)} and the like")
    finally:
        os.close(fd)
