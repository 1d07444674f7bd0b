"""A corpus encoded once into a cache on disk, read back as memory maps.

    enc = open_cached(Path("enwik9"), data_dir=Path("data"), progress=lambda done, total: ...)
    enc.symbols      # [n_chars] uint8/uint16/uint32 memory map: the symbol of every character
    enc.chars        # symbol -> character (the corpus's own symbol table, in order of first use)
    enc.lines        # [n_lines, 2] int64 memory map: (start, length) of every non-empty line

The cache stores symbols, not vocabulary ids: the vocabulary depends on the run (min_char_count,
the training split, a checkpoint's own vocabulary on resume), while the symbols depend only on the
text. A run maps symbols to its ids with a lookup table of one entry per symbol (EncodedCorpus.lut),
a gather per batch; so no setting ever needs the text encoded again. Symbols take the smallest
unsigned type that holds them: one byte a character for up to 256 kinds of characters.

Layout: <data dir>/cache/<name>-<key>/ holding symbols.bin, lines.bin (raw little-endian arrays),
head.txt (the first few MiB of the text, for the framing and end-marker guesses) and meta.json
(written last: the symbol table, the counts, the source's identity). A build writes into a temporary
folder beside it and renames it into place, so a killed build leaves no half cache, only a temporary
folder that the next build removes; builders of the same source take turns on a lock file, so two
starts at once build once.

Reuse. The key of the folder is the source's identity: each file's resolved path, size, mtime and a
hash of its first and last 64 KiB. Checking it costs two small reads a file at each start, where
hashing all of a 1 GB corpus would cost seconds; the head/tail hash catches the edits that keep size
and mtime (a copy with `cp -p`, a clock reset), short of one that changes only the middle of a file
and restores its mtime. The full SHA-256 of the text is computed during the build anyway (the
corpus's identity in checkpoints, corpus_digest) and stored, not recomputed at each start.

Trust. What is read back is checked before anything uses it (_meta_ok): meta.json's values through
tui_gen.core.gate, the files' sizes against them, every symbol against the symbol table and every line
against the text (numpy over a few MiB at a time: well under a second a GB from the page cache). A
damaged cache is built again from the text, with a warning; one that cannot be (a read-only data
folder) is one error naming the folder to delete.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import json
import mmap
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tui_gen.core.errors import CorpusError
from tui_gen.core.files import NotRegularFile, open_regular
from tui_gen.core.gate import MAX_TEXT, OutsideValueError, load_json, whole

CACHE_VERSION = 1
READ_BYTES = 2**20  # bytes decoded and encoded at a time: ~20 MB of temporaries
HEAD_CHARS = 4 * 2**20  # text kept for the guesses: all of most corpora, so guesses match the whole text
EDGE_BYTES = 64 * 1024  # head and tail of each file hashed into the cache key
BINARY_PROBE = 65536  # a NUL byte in a file's first 64 KiB: binary
LINE_DTYPE = np.int64
META_BYTES = 64 << 20  # meta.json's most: the symbol table and its counts, for every Unicode character
CHECK_ITEMS = 1 << 21  # symbols or lines checked at a time: tens of MiB of temporaries, whatever the corpus

Progress = Callable[[int, "int | None"], None]
builds = 0  # caches built by this process: the tests' way to see that a cache was reused


@dataclass
class EncodedCorpus:
    """A text as symbols, in memory (encode_text) or memory-mapped from a cache (open_cached)."""

    symbols: np.ndarray  # [n_chars] unsigned: symbol of each character
    chars: list[str]  # symbol -> character
    counts: np.ndarray  # [n_symbols] int64: occurrences in the whole text
    line_counts: np.ndarray  # [n_symbols] int64: occurrences inside non-empty lines
    lines: np.ndarray  # [n_lines, 2] int64: (start, length) of each non-empty line, newline excluded
    digest: str  # sha256 of the text as UTF-8, first 16 hex digits (the old corpus_digest(text))
    head: str  # the text's first HEAD_CHARS characters, cut at a line end when there is one
    warnings: tuple[str, ...] = ()
    folder: Path | None = None  # the cache folder; None: in memory
    maps: list = field(default_factory=list, repr=False)  # the mmap objects behind symbols and lines
    _memo: dict = field(default_factory=dict, repr=False)

    def release(self) -> None:
        """Drop the mapped pages this process has touched from its resident set. They stay in the OS's
        page cache (touching one again is a minor fault, no disk read), but random batches would
        otherwise map the whole file into the process over an epoch: RSS would grow to the corpus's size."""
        for m in self.maps:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                m.madvise(mmap.MADV_DONTNEED)

    @property
    def n_chars(self) -> int:
        return len(self.symbols)

    def lut(self, vocab) -> np.ndarray:
        """Vocabulary id of each symbol (int64), for a gather per batch. Kept for the latest vocabulary
        (held, so that it is never mistaken for another one made at the same address)."""
        if self._memo.get("vocab") is not vocab:
            self._memo = {
                "vocab": vocab,
                "lut": np.array([vocab.id_of(c) for c in self.chars], dtype=np.int64).reshape(-1),
            }
        return self._memo["lut"]

    def decode(self, start: int = 0, stop: int | None = None) -> str:
        """The text of symbols[start:stop]: for small corpora and tests, never on the training path."""
        if "ords" not in self._memo:
            self._memo["ords"] = np.array([ord(c) for c in self.chars], dtype=np.uint32)
        table = self._memo["ords"]
        return table[np.asarray(self.symbols[start:stop])].tobytes().decode("utf-32-le", "surrogatepass")

    def counts_in(self, ranges: np.ndarray, chunk: int = 1 << 18, max_ranges: int = 256) -> np.ndarray:
        """Symbol counts over (start, length) ranges, gathered a bounded number of characters (and of
        ranges: each maps up to 64 KiB of the file into the process, the kernel's fault-around) at a time."""
        out = np.zeros(len(self.chars), dtype=np.int64)
        if len(ranges) == 0:
            return out
        ends = np.cumsum(ranges[:, 1])
        a = 0
        while a < len(ranges):
            b = int(np.searchsorted(ends, (ends[a - 1] if a else 0) + chunk, side="right"))
            b = min(max(b, a + 1), a + max_ranges)
            part = ranges[a:b]
            out += np.bincount(np.asarray(self.symbols[gather_index(part[:, 0], part[:, 1])]), minlength=len(out))
            a = b
            self.release()
        return out

    def counts_between(self, start: int, stop: int, chunk: int = 1 << 20) -> np.ndarray:
        out = np.zeros(len(self.chars), dtype=np.int64)
        for a in range(start, stop, chunk):
            out += np.bincount(np.asarray(self.symbols[a : min(stop, a + chunk)]), minlength=len(out))
            self.release()
        return out


def gather_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions start..start+length-1 of every range, concatenated (int64)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - offsets, lengths) + np.arange(total, dtype=np.int64)


def symbol_dtype(n_symbols: int) -> type:
    return np.uint8 if n_symbols <= 2**8 else np.uint16 if n_symbols <= 2**16 else np.uint32


# ---- encoding: text chunks in, symbols and line offsets out ---------------------------------------


class _Sink:
    """Where symbols go: a file (a cache build) or memory. Widened in place when the symbols outgrow
    their type (at most twice a build; cheap next to the build, and only for >256 kinds of characters)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.f = path.open("wb") if path else io.BytesIO()  # file-access: in the build's own new mkdtemp folder
        self.dtype = np.dtype(np.uint8)

    def write(self, sym: np.ndarray) -> None:
        self.f.write(sym.astype(self.dtype).tobytes())

    def widen(self, dtype) -> None:
        dtype = np.dtype(dtype)
        if self.path is None:
            data = self.held().astype(dtype)
            self.f = io.BytesIO()
            self.f.write(data.tobytes())
        else:
            self.f.close()
            wide = self.path.with_suffix(".wide")
            with self.path.open("rb") as src, wide.open("wb") as dst:  # file-access: the build's own mkdtemp folder
                while block := src.read(READ_BYTES):
                    dst.write(np.frombuffer(block, dtype=self.dtype).astype(dtype).tobytes())
            os.replace(wide, self.path)  # file-access: the build's own mkdtemp folder
            self.f = self.path.open("ab")  # file-access: the build's own mkdtemp folder
        self.dtype = dtype

    def held(self) -> np.ndarray:
        """The symbols written so far, of a sink in memory (no path)."""
        if not isinstance(self.f, io.BytesIO):  # never: only a sink without a path writes to memory
            raise TypeError("a sink with a path holds its symbols in its file")
        return np.frombuffer(self.f.getvalue(), dtype=self.dtype)

    def close(self) -> np.ndarray | None:
        if self.path is None:
            return self.held()
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        return None


class Encoder:
    """Text in chunks -> symbols, symbol counts, non-empty line offsets and the text's SHA-256. Every
    step is numpy over the chunk; nothing is kept of the text but HEAD_CHARS of it."""

    def __init__(self, symbols: _Sink, lines_out: io.IOBase | None = None):
        self.sink = symbols
        self.lines_out = lines_out if lines_out is not None else io.BytesIO()
        self.table = np.full(0x110000, -1, dtype=np.int32)  # code point -> symbol
        self.chars: list[str] = []
        self.space = np.zeros(0, dtype=bool)  # symbol is white space (what str.strip() removes)
        self.counts = np.zeros(0, dtype=np.int64)
        self.line_counts = np.zeros(0, dtype=np.int64)
        self.sha = hashlib.sha256()
        self.n = 0
        self.n_lines = 0
        self.head: list[str] = []
        self.head_len = 0
        # the line still open at the end of the last chunk: where it started, whether it has a
        # character that is not white space yet, and (while it has none) the counts of its white space
        self.open_start = 0
        self.open_nonempty = False
        self.open_ws = np.zeros(0, dtype=np.int64)

    def _grow(self, n: int) -> None:
        extra = n - len(self.counts)
        self.counts = np.concatenate([self.counts, np.zeros(extra, np.int64)])
        self.line_counts = np.concatenate([self.line_counts, np.zeros(extra, np.int64)])
        self.open_ws = np.concatenate([self.open_ws, np.zeros(extra, np.int64)])

    def feed(self, text: str) -> None:
        if not text:
            return
        if self.head_len < HEAD_CHARS:
            self.head.append(text[: HEAD_CHARS - self.head_len])
            self.head_len += len(self.head[-1])
        self.sha.update(text.encode("utf-8", "surrogatepass"))
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        sym = np.take(self.table, codes)
        if (sym < 0).any():
            new = np.unique(codes[sym < 0])
            self.table[new] = np.arange(len(self.chars), len(self.chars) + len(new), dtype=np.int32)
            fresh = [chr(c) for c in new.tolist()]
            self.chars += fresh
            self.space = np.concatenate([self.space, np.array([c.isspace() for c in fresh], dtype=bool)])
            self._grow(len(self.chars))
            sym = np.take(self.table, codes)
            if symbol_dtype(len(self.chars)) != self.sink.dtype:
                self.sink.widen(symbol_dtype(len(self.chars)))
        n_sym = len(self.chars)
        self.sink.write(sym)
        chunk_counts = np.bincount(sym, minlength=n_sym)
        self.counts += chunk_counts
        self._lines(sym, n_sym, chunk_counts)
        self.n += len(sym)

    def _lines(self, sym: np.ndarray, n_sym: int, chunk_counts: np.ndarray) -> None:
        """Non-empty lines (a character that is not white space, as str.strip() sees it) and the counts
        of the characters inside them. Line j of the chunk ends at its j-th newline; line 0 continues
        the line left open by the last chunk, and the chunk's tail stays open."""
        nl_sym = int(self.table[10])
        nl_pos = np.flatnonzero(sym == nl_sym) if nl_sym >= 0 else np.zeros(0, dtype=np.int64)
        k = len(nl_pos)
        # non-white-space characters before each newline, and in all the chunk: per line by differences
        cns = np.cumsum(~self.space[sym], dtype=np.int32)
        at = np.concatenate([[0], cns[nl_pos], [cns[-1]]]).astype(np.int64)
        has = np.diff(at) > 0  # k + 1 lines: the k that end here, then the open tail
        has[0] |= self.open_nonempty
        seg_start = np.concatenate([[0], nl_pos + 1])  # in the chunk
        seg_end = np.concatenate([nl_pos, [len(sym)]])
        # Inside non-empty lines: everything but the newlines and the white-space-only lines, which are
        # rare (a blank line holds nothing at all), so counted one by one.
        inside = chunk_counts.copy()
        if nl_sym >= 0:
            inside[nl_sym] -= k
        blank = np.flatnonzero(~has & (seg_end > seg_start))
        if len(blank):
            inside -= np.bincount(
                sym[gather_index(seg_start[blank], seg_end[blank] - seg_start[blank])], minlength=n_sym
            )
        self.line_counts += inside
        if has[0] and not self.open_nonempty:  # the open line's earlier white space counts now
            self.line_counts += self.open_ws
        if k == 0:
            if not has[0]:
                self.open_ws += chunk_counts
            self.open_nonempty = bool(has[0])
            return
        starts = self.n + seg_start[:k]
        starts[0] = self.open_start
        lengths = self.n + seg_end[:k] - starts
        keep = has[:k]
        rows = np.stack([starts[keep], lengths[keep]], axis=1).astype(LINE_DTYPE)
        self.lines_out.write(rows.tobytes())
        self.n_lines += len(rows)
        self.open_start = self.n + int(seg_start[k])
        self.open_nonempty = bool(has[k])
        self.open_ws = np.zeros(n_sym, dtype=np.int64)
        if not self.open_nonempty and seg_end[k] > seg_start[k]:
            self.open_ws += np.bincount(sym[seg_start[k] :], minlength=n_sym)

    def finish(self) -> None:
        if self.open_nonempty:  # the text's last line, with no newline after it
            self.lines_out.write(np.array([[self.open_start, self.n - self.open_start]], LINE_DTYPE).tobytes())
            self.n_lines += 1
        self.open_nonempty = False

    def head_text(self) -> str:
        head = "".join(self.head)
        if self.head_len >= HEAD_CHARS and "\n" in head:  # the text goes on: whole lines only
            head = head[: head.rindex("\n") + 1]
        return head

    @property
    def digest(self) -> str:
        return self.sha.hexdigest()[:16]


def encode_text(text: str) -> EncodedCorpus:
    """A text already in memory, encoded the way a cache is (tests, in-memory corpora)."""
    lines_out = io.BytesIO()
    enc = Encoder(_Sink(None), lines_out)
    for a in range(0, len(text), READ_BYTES):
        enc.feed(text[a : a + READ_BYTES])
    enc.finish()
    symbols = enc.sink.held()  # all of them: a sink in memory has nothing to close
    lines = np.frombuffer(lines_out.getvalue(), dtype=LINE_DTYPE).reshape(-1, 2)
    return EncodedCorpus(
        symbols=symbols,
        chars=enc.chars,
        counts=enc.counts,
        line_counts=enc.line_counts,
        lines=lines,
        digest=enc.digest,
        head=enc.head_text(),
    )


# ---- reading files: streaming UTF-8 decoding, the checks load_corpus has always made ---------------

_bad_bytes = threading.local()


def _count_and_replace(e: UnicodeError) -> tuple[str, int]:
    if not isinstance(e, UnicodeDecodeError):  # never: it is named only as a decoder's errors=
        raise e
    _bad_bytes.n = getattr(_bad_bytes, "n", 0) + (e.end - e.start)
    return "\ufffd", e.end


codecs.register_error("tui_gen.count_replace", _count_and_replace)


def _open_error(path: Path, e: OSError) -> CorpusError:
    match e:
        case NotRegularFile():  # a FIFO, a device: refused by open_regular, never waited on
            return CorpusError(f"{e}: give a text file or a folder of .txt files")
        case PermissionError():
            return CorpusError(f"cannot read {path}: permission denied (check the file's permissions)")
        case IsADirectoryError():
            return CorpusError(f"{path} is a folder, not a file")
        case _:
            return CorpusError(f"cannot read {path}: {e.strerror or e}")


def _encode_file(path: Path, enc: Encoder, warnings: list[str], in_folder: bool, step: Callable[[int], None]) -> None:
    """One file into the encoder: decoded as it is read (a sequence cut by a chunk's end is completed
    by the next chunk), CRLF and CR made LF, undecodable bytes counted and replaced."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="tui_gen.count_replace")
    _bad_bytes.n = 0
    chars = 0
    held_cr = ""  # a chunk ending in "\r" may be half of a "\r\n"
    last = ""
    try:
        with open_regular(path) as f:
            first = True
            while True:
                raw = f.read(READ_BYTES)
                if first and b"\x00" in raw[:BINARY_PROBE]:
                    raise CorpusError(f"{path} looks like a binary file, not text: give a UTF-8 text file")
                first = False
                text = held_cr + decoder.decode(raw, final=not raw)
                chars += len(text) - len(held_cr)
                held_cr = ""
                if text.endswith("\r") and raw:
                    text, held_cr = text[:-1], "\r"
                if "\r" in text:
                    text = text.replace("\r\n", "\n").replace("\r", "\n")
                enc.feed(text)
                if text:
                    last = text[-1]
                step(len(raw))
                if not raw:
                    break
    except OSError as e:
        raise _open_error(path, e) from None
    if in_folder and last != "\n":  # files are joined line by line
        enc.feed("\n")
    bad = _bad_bytes.n
    if bad:
        if bad > max(100, chars // 10):
            raise CorpusError(f"{path} is not UTF-8 text ({bad} undecodable bytes): convert it to UTF-8 first")
        warnings.append(f"{path.name}: {bad} bytes that are not valid UTF-8 were replaced by \ufffd")


def _identity(files: list[Path]) -> list[dict]:
    """What the cache is keyed on (see the module's docstring)."""
    out = []
    for p in files:
        try:
            h = hashlib.sha256()
            with open_regular(p) as f:
                st = os.fstat(f.fileno())
                h.update(f.read(EDGE_BYTES))
                if st.st_size > EDGE_BYTES:
                    f.seek(max(EDGE_BYTES, st.st_size - EDGE_BYTES))
                    h.update(f.read(EDGE_BYTES))
        except OSError as e:
            raise _open_error(p, e) from None
        out.append(
            {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "edges": h.hexdigest()[:16]}
        )
    return out


# ---- the cache on disk --------------------------------------------------------------------------------


def cache_root(data_dir: Path) -> Path:
    return Path(data_dir) / "cache"


def _safe_stem(source: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in source.stem)[:40].strip("-.")
    return stem or "corpus"


class _Damaged(Exception):
    """A cache folder of the right source whose meta or data cannot be trusted; the message says why."""


def _whole_numbers(name: str, values: object, n: int) -> list[int]:
    """meta.json's list `name` if it holds `n` whole numbers in range; else _Damaged."""
    if not isinstance(values, list) or len(values) != n or any(whole(v) is None for v in values):
        raise _Damaged(f"its {name} are not {n:,} whole numbers in range")
    return values


def _meta_ok(folder: Path, identity: list[dict], damage: list | None = None, check_data: bool = True) -> dict | None:
    """The cache's meta when the folder holds a whole, sound cache of this identity, else None.

    Everything read is checked before anything trusts it, since the files are outside this process's
    hands (a disk error, a bad copy, an edit): meta.json's values through tui_gen.core.gate (types, ranges,
    NaN, 400-digit numbers), the files' sizes against them, and with check_data every symbol against
    the symbol table and every line against the text's length (a symbol past the table is an
    IndexError in the middle of training; a line past the end reads past the map). A folder that is
    this identity's but fails a check adds (folder, why) to `damage`: the caller rebuilds it and says so."""
    try:
        return _checked_meta(folder, identity, check_data)
    except _Damaged as e:
        if damage is not None:
            damage.append((folder, str(e)))
        return None
    except OSError:  # no such cache (or going): build it
        return None


def _checked_meta(folder: Path, identity: list[dict], check_data: bool) -> dict | None:
    path = folder / "meta.json"
    if not path.exists():
        return None
    try:
        with open_regular(path) as f:
            data = f.read(META_BYTES + 1)
        meta = load_json(data, max_bytes=META_BYTES)
    except OutsideValueError as e:
        raise _Damaged(f"its meta.json cannot be read: {e}") from None
    if not isinstance(meta, dict):
        raise _Damaged("its meta.json is not a JSON object")
    if meta.get("version") != CACHE_VERSION or meta.get("files") != identity:
        return None  # another version's, or another source's that hashed alike: not this one's cache
    chars = meta.get("chars")
    if (
        not isinstance(chars, list)
        or not all(isinstance(c, str) and len(c) == 1 for c in chars)
        or len(set(chars)) != len(chars)
    ):
        raise _Damaged("its symbol table is not a list of distinct characters")
    counts = _whole_numbers("counts", meta.get("counts"), len(chars))
    line_counts = _whole_numbers("line_counts", meta.get("line_counts"), len(chars))
    n_chars, n_lines = whole(meta.get("n_chars")), whole(meta.get("n_lines"))
    if n_chars is None or n_lines is None:
        raise _Damaged("its numbers of characters and lines are not whole numbers in range")
    if sum(counts) != n_chars or any(inside > n for inside, n in zip(line_counts, counts, strict=False)):
        raise _Damaged("its symbol counts do not add up to its number of characters")
    dtype = np.dtype(symbol_dtype(len(chars)))
    if meta.get("dtype") != dtype.name:
        raise _Damaged(
            f"its symbol type is {str(meta.get('dtype'))[:20]!r}, not {dtype.name} for {len(chars):,} symbols"
        )
    digest, warnings = meta.get("digest"), meta.get("warnings")
    if not isinstance(digest, str) or len(digest) != 16 or any(c not in "0123456789abcdef" for c in digest):
        raise _Damaged("its digest is not 16 hex digits")
    if not isinstance(warnings, list) or any(not isinstance(w, str) or len(w) > MAX_TEXT for w in warnings):
        raise _Damaged("its warnings are not a list of lines")
    sizes = {"symbols.bin": n_chars * dtype.itemsize, "lines.bin": n_lines * 2 * np.dtype(LINE_DTYPE).itemsize}
    for name, size in sizes.items():
        actual = (folder / name).stat().st_size
        if actual != size:
            raise _Damaged(f"its {name} is {actual:,} bytes, not the {size:,} its meta.json says")
    try:
        with open_regular(folder / "head.txt") as f:
            f.read(4 * HEAD_CHARS + 1).decode("utf-8", "surrogatepass")  # as _load reads it
            if f.read(1):
                raise _Damaged(f"its head.txt is longer than {HEAD_CHARS:,} characters can be")
    except UnicodeDecodeError:
        raise _Damaged("its head.txt is not UTF-8 text") from None
    if check_data:
        _check_data(folder, len(chars), dtype, n_chars)
    return meta


def _check_data(folder: Path, n_symbols: int, dtype: np.dtype, n_chars: int) -> None:
    """Every symbol below n_symbols; every line (start, length) non-empty, inside the text, and after
    the one before it. Read CHECK_ITEMS at a time (a corpus may be 1 GB: bounded memory, and no map
    left holding its pages); a few numpy passes over each block: under a second a GB."""
    if n_chars and n_symbols < 1 << (8 * dtype.itemsize):  # else every value of the type is a symbol
        with open_regular(folder / "symbols.bin") as f:
            while (block := np.fromfile(f, dtype=dtype, count=CHECK_ITEMS)).size:
                top = int(block.max())
                if top >= n_symbols:
                    raise _Damaged(f"its symbols.bin holds symbol {top:,}, past its {n_symbols:,} symbols")
    end = 0  # where the line before the block ended
    with open_regular(folder / "lines.bin") as f:
        while (block := np.fromfile(f, dtype=LINE_DTYPE, count=CHECK_ITEMS * 2)).size:
            starts, lengths = block[0::2], block[1::2]
            # each bound on its own first, so that start + length cannot overflow
            if (
                (lengths < 1).any()
                or (lengths > n_chars).any()
                or (starts < 0).any()
                or (starts > n_chars - lengths).any()
            ):
                raise _Damaged("its lines.bin holds lines that are empty or negative, or reach past the text's end")
            if starts[0] < end or (starts[1:] < starts[:-1] + lengths[:-1]).any():
                raise _Damaged("its lines.bin holds lines out of order or overlapping")
            end = int(starts[-1] + lengths[-1])


def _map(path: Path, dtype, n: int, shape: tuple, maps: list) -> np.ndarray:
    if n == 0:  # an empty file cannot be mapped
        return np.zeros(shape, dtype=dtype)
    m = np.memmap(path, dtype=dtype, mode="r", shape=shape)
    raw = getattr(m, "_mmap", None)
    if raw is not None:
        maps.append(raw)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            raw.madvise(mmap.MADV_RANDOM)  # batches read a little here and there: no read-ahead into the map
    return np.asarray(m)


def _load(folder: Path, meta: dict) -> EncodedCorpus:
    maps: list = []
    return EncodedCorpus(
        symbols=_map(folder / "symbols.bin", meta["dtype"], meta["n_chars"], (meta["n_chars"],), maps),
        chars=list(meta["chars"]),
        counts=np.array(meta["counts"], dtype=np.int64),
        line_counts=np.array(meta["line_counts"], dtype=np.int64),
        lines=_map(folder / "lines.bin", LINE_DTYPE, meta["n_lines"], (meta["n_lines"], 2), maps),
        digest=meta["digest"],
        head=_read_head(folder),
        warnings=tuple(meta["warnings"]),
        folder=folder,
        maps=maps,
    )


def _read_head(folder: Path) -> str:
    with open_regular(folder / "head.txt") as f:
        return f.read(4 * HEAD_CHARS + 1).decode("utf-8", errors="surrogatepass")  # as _checked_meta allows


def _unwritable(root: Path, e: OSError) -> CorpusError:
    return CorpusError(
        f"cannot write the corpus cache in {root}: {e.strerror or e}; set TUI_GEN_DATA_DIR to a writable folder"
    )


@contextlib.contextmanager
def _build_lock(path: Path):
    """Builders of one source take turns (flock; released by the OS if a builder is killed).

    The lock file is removed by its holder before it lets go, so the cache folder does not collect
    one per corpus ever used. That makes a waiter's lock possibly one on a file no longer at `path`
    (or replaced there by a newer comer's): after locking, a builder checks that the file it holds is
    the one at `path`, and starts over if not. So at any moment only the holder of the file at `path`
    builds. A builder killed while holding it leaves the file; the next builder of that source removes it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: concurrent builders each build, the rename decides
        yield
        return
    while True:
        try:
            fd = os.open(
                path,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,  # file-access: our lock file
                0o644,
            )
        except OSError as e:
            raise _unwritable(path.parent, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                now = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # its holder removed it while this process waited: lock the one there now
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # still holding it: a waiter sees it gone and starts over
        os.close(fd)


def open_cached(source: Path, files: list[Path], data_dir: Path, progress: Progress | None = None) -> EncodedCorpus:
    """The cache of `source` (a file, or a folder whose .txt files are `files`, in order), built first
    if there is none for the files as they are now.

    A damaged cache of these files (see _meta_ok) is rebuilt from them, with a warning in the corpus's
    warnings. Where it cannot be (a read-only data folder), a CorpusError names the folder to delete."""
    damage: list[tuple[Path, str]] = []  # (folder, why): filled by _meta_ok
    try:
        enc = _open_cached(source, files, data_dir, progress, damage)
    except (CorpusError, OSError) as e:
        if not damage or not damage[0][0].exists():
            raise
        folder, why = damage[0]
        reason = (e.strerror or str(e)) if isinstance(e, OSError) else str(e)
        raise CorpusError(
            f"the corpus cache {folder} is damaged ({why}) and could not be rebuilt ({reason}): "
            "delete that folder, and the next start builds it again"
        ) from None
    if damage:
        folder, why = damage[0]
        enc.warnings += (f"the corpus cache {folder} was damaged ({why}): it was built again from the text",)
    return enc


def _remove_damaged(folder: Path) -> None:
    """Out of the way of the build that replaces it: renamed first (a process reading it keeps its
    maps, and one starting now finds no cache rather than half of one), then deleted."""
    aside = folder.with_name(f".{folder.name}-damaged.tmp")  # a killed build's leftovers look like this
    try:
        os.rename(folder, aside)  # file-access: a cache folder of ours, moved aside within the cache root
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _open_cached(
    source: Path, files: list[Path], data_dir: Path, progress: Progress | None, damage: list
) -> EncodedCorpus:
    identity = _identity(files)
    key = hashlib.sha256(json.dumps([CACHE_VERSION, identity]).encode()).hexdigest()[:16]
    source_key = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:8]
    root = cache_root(data_dir)
    name = f"{_safe_stem(source)}-{source_key}"
    folder = root / f"{name}-{key}"
    meta = _meta_ok(folder, identity, damage)
    if meta is not None:
        try:
            return _load(folder, meta)
        except OSError:  # removed meanwhile by a builder of a newer version: build or wait, below
            pass
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _unwritable(root, e) from None
    with _build_lock(root / f".{name}.lock"):
        meta = _meta_ok(folder, identity, damage)  # another process built it while this one waited
        if meta is None:
            for old in root.glob(f".{name}-*.tmp*"):  # left by killed builds: the lock says none is running
                shutil.rmtree(old, ignore_errors=True)
            if damage:
                _remove_damaged(folder)
            _build(folder, files, identity, source.is_dir(), progress)
            meta = _meta_ok(folder, identity, check_data=False)  # just written from the text
            assert meta is not None
            for old in root.glob(f"{name}-*"):  # earlier versions of this source: replaced
                if old != folder and old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)  # a process still reading one keeps its maps
    return _load(folder, meta)


def _build(folder: Path, files: list[Path], identity: list[dict], in_folder: bool, progress: Progress | None) -> None:
    global builds
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name.rsplit('-', 1)[0]}-", suffix=".tmp", dir=folder.parent))
    except OSError as e:
        raise CorpusError(
            f"cannot write the corpus cache in {folder.parent}: {e.strerror or e}; "
            "set TUI_GEN_DATA_DIR to a writable folder"
        ) from None
    total = sum(f["size"] for f in identity)
    done = [0]

    def step(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0], total)

    try:
        warnings: list[str] = []
        with (tmp / "lines.bin").open("wb") as lines_out:  # file-access: in the new mkdtemp folder
            enc = Encoder(_Sink(tmp / "symbols.bin"), lines_out)
            if progress:
                progress(0, total)
            for f in files:
                _encode_file(f, enc, warnings, in_folder, step)
            enc.finish()
            enc.sink.close()
            lines_out.flush()
            os.fsync(lines_out.fileno())
        (tmp / "head.txt").write_text(
            enc.head_text(),
            encoding="utf-8",  # file-access: new mkdtemp folder
            errors="surrogatepass",
        )
        meta = {
            "version": CACHE_VERSION,
            "files": identity,
            "n_chars": enc.n,
            "dtype": enc.sink.dtype.name,
            "n_lines": enc.n_lines,
            "chars": enc.chars,
            "counts": enc.counts.tolist(),
            "line_counts": enc.line_counts.tolist(),
            "digest": enc.digest,
            "warnings": warnings,
        }
        with (tmp / "meta.json").open("w", encoding="utf-8") as m:  # file-access: in the new mkdtemp folder
            json.dump(meta, m, ensure_ascii=True)
            m.flush()
            os.fsync(m.fileno())
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the cache from others sharing the data folder
        try:
            os.rename(tmp, folder)  # file-access: atomic, the cache appears whole or not at all
        except OSError:
            if _meta_ok(folder, identity) is None:  # a broken folder in the way: replace it
                shutil.rmtree(folder, ignore_errors=True)
                os.rename(tmp, folder)  # file-access: the finished build into place
        builds += 1
    except OSError as e:
        raise CorpusError(
            f"cannot write the corpus cache in {folder.parent}: {e.strerror or e}; "
            "free some space or set TUI_GEN_DATA_DIR to another folder"
        ) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
