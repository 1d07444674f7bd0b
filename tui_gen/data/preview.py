"""What the new-run form shows about a corpus before any run starts: its size, its lines, the framing
a run would use and why, and how often each character occurs (for the vocabulary size).

It reads a bounded prefix (PREVIEW_BYTES), so pointing the form at a 1 GB file is a quick look, not a
load, and says when what it shows is from that sample. The training process reads the corpus again,
with every check of tui_gen.data.corpus.load_corpus: this is a preview, not the loader. Call it from a
thread: the framing guess (tui_gen.data.corpus) imports torch; the catalogue of built-ins does not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tui_gen.core.errors import CorpusError
from tui_gen.core.files import NotRegularFile, open_regular
from tui_gen.data.catalogue import BUILTINS, cached_path

PREVIEW_BYTES = 8 * 2**20
BINARY_PROBE = 65536  # a NUL byte in this much means a binary file, as load_corpus decides


@dataclass(frozen=True)
class BuiltinInfo:
    name: str
    description: str
    cached: bool


@dataclass(frozen=True)
class CorpusPreview:
    ref: str  # what was asked for: a built-in name or a path
    builtin: bool
    framing: str  # what a run would use without --framing
    reason: str  # and why: "built-in corpus", or what the guess saw
    size: int | None = None  # bytes on disk (a folder: its .txt files; a built-in not cached: its download)
    files: int = 1
    lines: int | None = None  # in what was read
    read_bytes: int = 0
    sampled: bool = False  # only the first PREVIEW_BYTES were read
    cached: bool = True  # a built-in that is on disk already
    counts: dict[str, int] = field(default_factory=dict)  # each character's count in what was read

    def vocab_size(self, min_char_count: int) -> int | None:
        """The size of the vocabulary a run would build (tui_gen.data.vocab), from what was read; None when
        nothing was (a built-in not downloaded yet)."""
        if not self.counts:
            return None
        from tui_gen.data.vocab import Vocab

        return len(Vocab.from_counts(self.counts, min_char_count))


def builtin_corpora(data_dir: Path | None = None) -> list[BuiltinInfo]:

    return [BuiltinInfo(c.name, c.description, cached_path(c.name, data_dir) is not None) for c in BUILTINS.values()]


def preview_corpus(ref: str, data_dir: Path | None = None, limit: int = PREVIEW_BYTES) -> CorpusPreview:
    """Raises CorpusError, with load_corpus's words, for a path that cannot be a corpus."""
    from tui_gen.data.corpus import explain_framing

    if ref in BUILTINS and not Path(ref).exists():  # as sources.open_corpus decides
        spec = BUILTINS[ref]
        path = cached_path(ref, data_dir)
        if path is None:
            return CorpusPreview(ref, True, spec.framing, "built-in corpus", size=spec.size, cached=False)
        text, size, files, sampled = _read_prefix(path, limit)
        return _preview(ref, True, spec.framing, "built-in corpus", text, size, files, sampled)
    text, size, files, sampled = _read_prefix(Path(ref), limit)
    guess = explain_framing(text)
    return _preview(ref, False, guess.framing, guess.reason, text, size, files, sampled)


def _preview(
    ref: str, builtin: bool, framing: str, reason: str, text: str, size: int, files: int, sampled: bool
) -> CorpusPreview:
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return CorpusPreview(
        ref,
        builtin,
        framing,
        reason,
        size=size,
        files=files,
        lines=lines,
        read_bytes=len(text.encode("utf-8")),
        sampled=sampled,
        counts=dict(Counter(text)),
    )


def _read_prefix(path: Path, limit: int) -> tuple[str, int, int, bool]:
    """The first `limit` bytes of a file, or of a folder's .txt files in name order, as text; the
    whole size on disk; how many files; whether that was all of it."""
    try:
        if not path.exists():
            raise CorpusError(
                f"{path} does not exist: give a text file, a folder of .txt files, or a built-in corpus name"
            )
        files = sorted(p for p in path.rglob("*.txt") if p.is_file()) if path.is_dir() else [path]
        if not files:
            raise CorpusError(f"the folder {path} has no .txt files in it")
        size = sum(f.stat().st_size for f in files)
        parts, left = [], limit
        for f in files:
            if left <= 0:
                break
            with open_regular(f) as handle:  # a FIFO typed in the form must not hang it
                raw = handle.read(left)
            if b"\x00" in raw[:BINARY_PROBE]:
                raise CorpusError(f"{f} looks like a binary file, not text: give a UTF-8 text file")
            left -= len(raw)
            part = raw.decode("utf-8", errors="replace")
            parts.append(part if part.endswith("\n") or len(files) == 1 else part + "\n")
    except NotRegularFile as e:
        raise CorpusError(f"{e}: give a text file or a folder of .txt files") from None
    except PermissionError:
        raise CorpusError(f"cannot read {path}: permission denied (check its and its folders' permissions)") from None
    except IsADirectoryError:
        raise CorpusError(f"{path} is a folder, not a file") from None
    except OSError as e:
        raise CorpusError(f"cannot read {str(path)[:200]}: {e.strerror or e}") from None
    sampled = size > limit
    text = "".join(parts).replace("\r\n", "\n").replace("\r", "\n")
    if sampled:
        text = text.rstrip("\ufffd")  # a character cut in two at the end of the sample
    if not text.strip():
        raise CorpusError(f"{path} has no text in it (it is empty or only white space)")
    return text, size, len(files), sampled
