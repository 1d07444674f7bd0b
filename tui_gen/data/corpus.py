"""Reading a corpus, splitting off validation, and cutting it into training batches.

Two framings:
- lines: each line is one sample (a tweet), framed as "\\n" + line + "\\n" so the model learns how
  a line starts (generation primes with the leading newline) and ends. Lines are cut into windows of
  seq_len; short lines and tails are padded, never dropped, and padded positions are masked out of
  the loss. Every line's first window starts at the line's start from a zero state, so the zero state
  is "start of a line", exactly what evaluation and generation begin from. With overlap 0 (the
  default) a line's later windows follow its first in the same batch row on the next steps, the state
  carried (truncated BPTT within the line): every character is predicted from its line's start, as
  evaluation predicts it. With overlap N > 0 (the lecture's way) every window starts from a zero state
  and repeats the last N characters of the one before.
- stream: continuous text, truncated BPTT. Each batch row reads its own stretch of the text and
  carries its hidden state from window to window, reset every few windows so that a zero state is
  always a state the model has been trained from.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import torch

from tui_gen.core.errors import CorpusError
from tui_gen.core.paths import default_data_dir
from tui_gen.data.cache import HEAD_CHARS, EncodedCorpus, Progress, encode_text, open_cached
from tui_gen.data.vocab import PAD, Vocab

MIN_VAL_CHARS = 200
RELEASE_EVERY = 8  # batches between dropping the corpus map's touched pages (EncodedCorpus.release)


@dataclass
class CorpusText:
    """A corpus: its text in memory (tests, small texts made on the spot), or `encoded`, the corpus
    encoded once into a cache on disk and memory-mapped (every corpus read from a file)."""

    name: str
    text: str | None
    framing: str  # default framing for this corpus
    end_marker: str | None = None
    warnings: tuple[str, ...] = ()
    framing_reason: str = ""  # why this framing: "given", "built-in corpus", or what the guess saw
    encoded: EncodedCorpus | None = None

    def encoded_corpus(self) -> EncodedCorpus:
        if self.encoded is None:
            self.encoded = encode_text(self.text or "")
        return self.encoded

    @property
    def head(self) -> str:
        """The text's beginning (all of most corpora): what the framing and end-marker guesses read."""
        return self.text[:HEAD_CHARS] if self.text is not None else self.encoded_corpus().head

    def read_text(self) -> str:
        """The whole text as one string: small corpora and tests only, never on the training path."""
        return self.text if self.text is not None else self.encoded_corpus().decode()


def load_corpus(
    path: str | Path,
    framing: str | None = None,
    end_marker: str | None = None,
    data_dir: Path | None = None,
    progress: Progress | None = None,
) -> CorpusText:
    """A UTF-8 text file, or a folder of .txt files (read in name order), encoded into the corpus cache
    under data_dir (default: paths.default_data_dir()) the first time; progress(done, total) in bytes
    while that is built."""
    path = Path(path)
    try:  # stat() itself fails in a folder we may not enter, or on a name too long
        exists, is_dir = path.exists(), path.is_dir()
        files = sorted(p for p in path.rglob("*.txt") if p.is_file()) if is_dir else []
        if is_dir and not files:
            with os.scandir(path):  # an unreadable folder: say so, not "no .txt files"
                pass
    except PermissionError:
        raise CorpusError(f"cannot read {path}: permission denied (check its and its folders' permissions)") from None
    except OSError as e:
        raise CorpusError(f"cannot read {str(path)[:200]}: {e.strerror or e}") from None
    if not exists:
        raise CorpusError(f"{path} does not exist: give a text file, a folder of .txt files, or a built-in corpus name")
    if is_dir and not files:
        raise CorpusError(f"the folder {path} has no .txt files in it")
    if data_dir is None:
        data_dir = default_data_dir()
    enc = open_cached(path, files if is_dir else [path], data_dir, progress)
    if enc.n_chars == 0 or len(enc.lines) == 0:  # no line with a character that is not white space
        raise CorpusError(f"{path} has no text in it (it is empty or only white space)")
    guess = (
        FramingGuess(framing, "given")
        if framing
        else explain_framing(enc.head, more_follows=len(enc.symbols) > len(enc.head))
    )
    return CorpusText(
        name=path.stem,
        text=None,
        framing=guess.framing,
        end_marker=end_marker,
        warnings=enc.warnings,
        framing_reason=guess.reason,
        encoded=enc,
    )


@dataclass(frozen=True)
class FramingGuess:
    framing: str  # "lines" or "stream"
    reason: str  # one short phrase a user can check against their text, e.g. "19,469 short lines"


# The guess reads at most this many characters from the start of the text (about as many bytes for
# mostly-ASCII text): enough to see thousands of lines, cheap on a corpus of any size.
FRAMING_SAMPLE_CHARS = 4 * 2**20
_SENTENCE_END = tuple(".!?:;\"'”’)]")
_SPEAKER_MAX_CHARS = 40


def _wrap_width(inner: list[int]) -> tuple[int, float]:
    """The width a text looks hard-wrapped at, and the share of lines close under it. `inner`: the
    lengths of lines followed by another line of the same paragraph (a paragraph's last line is short
    by nature). Wrapped at W, nearly every such line is W minus at most about a word."""
    if len(inner) < 20:
        return 0, 0.0
    width = int(np.percentile(inner, 95))
    near = sum(1 for n in inner if width - max(12, width // 5) <= n <= width)
    return width, near / len(inner)


def _is_speaker(line: str) -> bool:
    """A line that is only a name and ':' ("First Citizen:", "LADY MACBETH:"), not "else:" or a heading."""
    name = line[:-1]
    return (
        line.endswith(":")
        and 0 < len(name) <= _SPEAKER_MAX_CHARS
        and name[0].isupper()
        and name.count(" ") < 4
        and all(c.isalpha() or c in " .'-" for c in name)
    )


def explain_framing(text: str, more_follows: bool = False) -> FramingGuess:
    """How to frame a text, and why, from signals a reader can check in the text itself.

    Stream: text whose lines belong together. Blank lines between paragraphs or stanzas, speeches after
    a speaker's name ending in ':' (a play), lines wrapped at a fixed width that run on into the next
    (hard-wrapped prose), few lines, or long ones. Lines: many short lines, each on its own (tweets,
    names, quotes, one record per line). Only the first FRAMING_SAMPLE_CHARS characters are read.
    more_follows: `text` is itself the start of a longer text (the corpus cache keeps only its head).
    """
    sample = text[:FRAMING_SAMPLE_CHARS]
    sampled = more_follows or len(text) > len(sample)
    if sampled:  # whole lines only: a line cut in two would look like a short one
        sample = sample[: sample.rfind("\n") + 1] or sample
    where = f" (in the first {FRAMING_SAMPLE_CHARS // 2**20} MiB)" if sampled else ""

    rows = [ln.strip() for ln in sample.split("\n")]
    lines = [ln for ln in rows if ln]
    if len(lines) < 100:
        return FramingGuess("stream", f"only {len(lines)} non-empty line{'' if len(lines) == 1 else 's'}{where}")
    median = float(np.median([len(ln) for ln in lines]))
    if median > 400:
        return FramingGuess("stream", f"long lines, median {median:.0f} characters{where}")

    # Blocks: runs of non-empty lines between blank lines (paragraphs, stanzas, speeches).
    blocks: list[list[str]] = []
    current: list[str] = []
    for ln in rows:
        if ln:
            current.append(ln)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    multi = [b for b in blocks if len(b) > 1]
    in_multi = sum(len(b) for b in multi)
    words_per_line = sum(ln.count(" ") + 1 for ln in lines) / len(lines)
    inner = [len(ln) for b in blocks for ln in b[:-1]]
    width, near_width = _wrap_width(inner)
    # Lines that run on into the next: no sentence punctuation at the end, a lowercase word next.
    pairs = [(a, b) for blk in blocks for a, b in zip(blk, blk[1:], strict=False)]
    run_on = sum(1 for a, b in pairs if not a.endswith(_SENTENCE_END) and b[0].islower()) / max(1, len(pairs))
    wrapped = width >= 30 and near_width >= 0.6 and run_on >= 0.2

    # A play: speeches, each after a line holding only the speaker's name and ':' ("First Citizen:"),
    # the same cast again and again. With or without blank lines between the speeches.
    speakers = [a for a, b in zip(rows, rows[1:], strict=False) if b and _is_speaker(a)]
    if len(speakers) >= 0.05 * len(lines) and words_per_line >= 3 and len(set(speakers)) <= 0.5 * len(speakers):
        return FramingGuess(
            "stream",
            f"a play: {len(speakers):,} speeches after {len(set(speakers)):,} speakers' names ending in ':'{where}",
        )

    # A text of words (not names or records) cut by blank lines into many short blocks of several lines.
    # Blocks of one line each are records with blank lines between them, still lines.
    if (
        len(multi) >= 5
        and in_multi >= 0.5 * len(lines)
        and words_per_line >= 3
        and float(np.median([len(b) for b in multi])) <= 50
    ):
        if wrapped:
            return FramingGuess(
                "stream", f"hard-wrapped prose: {len(multi):,} paragraphs of lines about {width} characters{where}"
            )
        size = in_multi / len(multi)
        return FramingGuess(
            "stream", f"{len(multi):,} stanzas or paragraphs of about {size:.0f} lines between blank lines{where}"
        )

    # Hard-wrapped prose without blank lines (paragraphs indented instead): lines close under one width
    # that run on into the next. Lines that start with the same word again and again are records (log
    # lines, word lists), not prose.
    top_first = Counter(ln.split(None, 1)[0].lower() for ln in lines).most_common(1)[0][1] / len(lines)
    if wrapped and words_per_line >= 3 and top_first <= 0.15:
        return FramingGuess(
            "stream",
            f"hard-wrapped prose: lines about {width} characters, {run_on:.0%} running on into the next{where}",
        )
    return FramingGuess("lines", f"{len(lines):,} independent short lines, median {median:.0f} characters{where}")


def guess_framing(text: str) -> str:
    return explain_framing(text).framing


@dataclass
class Split:
    train: list[str] | str
    val: list[str] | str


def split_corpus(corpus: CorpusText, framing: str, val_fraction: float, seed: int) -> Split:
    """The split as strings: the same held-out part as split_encoded, for small corpora and tests."""
    enc = corpus.encoded_corpus()
    sp = split_encoded(enc, framing, val_fraction, seed, corpus.name)

    def texts(part: LineSet | StreamPart) -> list[str] | str:
        if isinstance(part, LineSet):  # lines framing: each line
            return [enc.decode(int(a), int(a + n)) for a, n in zip(part.starts, part.lengths, strict=False)]
        return enc.decode(part.start, part.stop)  # stream: the stretch (the training part starts at 0)

    return Split(train=texts(sp.train), val=texts(sp.val))


@dataclass
class LineSet:
    """Lines of an encoded text, each sample framed as "\n" + line + "\n"."""

    corpus: EncodedCorpus
    starts: np.ndarray  # [n] int64: where each line's characters start in corpus.symbols
    lengths: np.ndarray  # [n] int64: characters in the line, newline excluded

    def __len__(self) -> int:
        return len(self.starts)

    @classmethod
    def of_lines(cls, lines: list[str]) -> LineSet:
        """Lines in memory, empty ones too (a test's or a caller's own list)."""
        lengths = np.fromiter((len(ln) for ln in lines), dtype=np.int64, count=len(lines))
        return cls(encode_text("".join(lines)), np.cumsum(lengths) - lengths, lengths)


@dataclass
class StreamPart:
    """symbols[start:stop] of an encoded text, read as one continuous text."""

    corpus: EncodedCorpus
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start

    def ids(self, vocab: Vocab, a: int, b: int) -> np.ndarray:
        return self.corpus.lut(vocab)[np.asarray(self.corpus.symbols[self.start + a : self.start + b])]

    @classmethod
    def of_text(cls, text: str) -> StreamPart:
        enc = encode_text(text)
        return cls(enc, 0, enc.n_chars)


Part = TypeVar("Part", LineSet, StreamPart)  # a split's two parts are of one kind: lines, or a stretch


@dataclass
class EncodedSplit(Generic[Part]):
    train: Part
    val: Part

    def train_counts(self) -> dict[str, int]:
        """Character counts of the training text framed the way the model sees it: what
        Vocab.build(training_texts(train)) counts, from the cache's counts without reading the text."""
        enc = self.train.corpus
        if isinstance(self.train, LineSet) and isinstance(self.val, LineSet):  # (both parts are of one kind)
            counts = enc.line_counts - enc.counts_in(np.stack([self.val.starts, self.val.lengths], axis=1))
            out = {c: int(n) for c, n in zip(enc.chars, counts.tolist(), strict=False) if n}
            out["\n"] = out.get("\n", 0) + 2 * len(self.train)  # each line framed by two newlines
            return out
        counts = enc.counts - enc.counts_between(self.val.start, self.val.stop)
        return {c: int(n) for c, n in zip(enc.chars, counts.tolist(), strict=False) if n}


def split_encoded(
    enc: EncodedCorpus, framing: str, val_fraction: float, seed: int, name: str = "the corpus"
) -> EncodedSplit[LineSet] | EncodedSplit[StreamPart]:
    """Lines: a seeded random val_fraction of the non-empty lines (the same lines, for the same seed,
    as before the cache). Stream: the last val_fraction of the text."""
    if framing == "lines":
        n_lines = len(enc.lines)
        n_val = max(1, round(n_lines * val_fraction))
        if n_lines - n_val < 1 or n_lines < 4:
            raise CorpusError(
                f"{name} has only {n_lines} non-empty lines, too few to hold some out for "
                "validation: use --framing stream or a bigger corpus"
            )
        # A permutation of the line numbers (int32 where it fits: 4 bytes a line), shuffled as
        # Generator.permutation(n) shuffles arange(n), so the same lines are held out as before.
        order = np.arange(n_lines, dtype=np.int32 if n_lines < 2**31 else np.int64)
        np.random.default_rng(seed).shuffle(order)
        is_val = np.zeros(n_lines, dtype=bool)
        is_val[order[:n_val]] = True
        del order
        val_idx, train_idx = np.flatnonzero(is_val), np.flatnonzero(~is_val)
        del is_val

        def lineset(idx: np.ndarray) -> LineSet:
            starts, lengths = np.empty(len(idx), np.int64), np.empty(len(idx), np.int64)
            for a in range(0, len(idx), 1 << 20):  # a bounded part of the offsets' map at a time
                rows = enc.lines[idx[a : a + (1 << 20)]]
                starts[a : a + len(rows)], lengths[a : a + len(rows)] = rows[:, 0], rows[:, 1]
                enc.release()
            return LineSet(enc, starts, lengths)

        return EncodedSplit(train=lineset(train_idx), val=lineset(val_idx))
    n = enc.n_chars
    # With val_fraction below a half, the training part is then at least half the text. (n < 4 * n_val
    # said the same below a quarter, and refused every stream above it, whatever its length.)
    if n < 4 * MIN_VAL_CHARS:
        raise CorpusError(f"{name} has only {n:,} characters: at least {4 * MIN_VAL_CHARS:,} are needed")
    n_val = max(MIN_VAL_CHARS, int(n * val_fraction))
    return EncodedSplit(train=StreamPart(enc, 0, n - n_val), val=StreamPart(enc, n - n_val, n))


def frame_line(line: str) -> str:
    return "\n" + line + "\n"


def training_texts(split_part: list[str] | str) -> list[str]:
    """The text the vocabulary is built from, framed the way the model sees it."""
    if isinstance(split_part, str):
        return [split_part]
    return [frame_line(ln) for ln in split_part]


@dataclass
class Batch:
    inputs: torch.Tensor  # [B, T] int64
    targets: torch.Tensor  # [B, T] int64
    mask: torch.Tensor  # [B, T] bool: True where the target is a real character
    reset: torch.Tensor | None = None  # carrying the state: [B] bool, rows whose state starts from zero

    @property
    def real_chars(self) -> int:
        return int(self.mask.sum())


def _framed_rows(
    lines: LineSet, lut: np.ndarray, newline: int, line: np.ndarray, offset: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `width` ids from framed lines ("\n" + line + "\n"), row r from position offset[r] of
    line[r], padded past the line's end; and each row's count of real ids."""
    framed_len = lines.lengths[line] + 2
    n_real = np.minimum(framed_len - offset, width)
    pos = offset[:, None] + np.arange(width)[None, :]  # position in the framed line
    inside = (pos >= 1) & (pos <= framed_len[:, None] - 2)  # a character of the line itself
    src = np.where(inside, lines.starts[line][:, None] + pos - 1, 0)
    if lines.corpus.n_chars:
        out = lut[np.asarray(lines.corpus.symbols[src.ravel()])].reshape(src.shape)
    else:  # only empty lines: nothing to read
        out = np.zeros(src.shape, dtype=np.int64)
    out[~inside] = newline
    out[np.arange(width)[None, :] >= n_real[:, None]] = PAD
    return out, n_real


class LineWindows:
    """All windows of all lines, in a new order each epoch; each batch's windows are read from the line
    offsets when it is asked for, never a window array of the corpus.

    overlap > 0: independent windows, each from a zero state, shuffled one by one (per line 8 bytes,
    its window count, and per window 4 bytes, the epoch's order).

    overlap 0 (carries_state): the lines are shuffled, their windows laid end to end in that order (a
    line's windows in their own order) and cut into batch_size equal stretches, one per batch row, as
    the stream framing cuts its text; step i takes each stretch's window i. A row's state is carried
    from step to step and reset where a line starts (Batch.reset) and at an epoch's first step. The
    fewer than batch_size windows past the last whole stretch wait for another epoch's order. Per line
    12 bytes (its window count, the epoch's order)."""

    def __init__(
        self, lines: list[str] | LineSet, vocab: Vocab, seq_len: int, overlap: int, batch_size: int, seed: int
    ):
        self.lines = lines if isinstance(lines, LineSet) else LineSet.of_lines(lines)
        self.seq_len = seq_len
        self.stride = seq_len - overlap
        self.lut = self.lines.corpus.lut(vocab)
        self.newline = vocab.id_of("\n")
        # Window k of a line starts at k * stride of the framed line and holds seq_len + 1 ids (inputs
        # and shifted targets). A framed line of L ids has L - 1 targets and needs
        # 1 + ceil((L - 1 - seq_len) / stride) windows: every target is covered, the last window is padded.
        framed = self.lines.lengths + 2
        self.n_win = 1 + np.maximum(0, -(-(framed - 1 - seq_len) // self.stride))
        self.win_end = np.cumsum(self.n_win)  # windows of lines 0..j
        self.n_windows = int(self.win_end[-1]) if len(self.win_end) else 0
        # The training text's characters: each line's and its end (the newline it had in the corpus).
        # Not the windows' positions: overlapping windows hold some characters twice.
        self.train_chars = int(self.lines.lengths.sum()) + len(self.lines.lengths)
        self.carries_state = overlap == 0
        # carrying the state, every row needs a window at every step: no more rows than windows
        self.batch_size = max(1, min(batch_size, self.n_windows)) if self.carries_state else batch_size
        self.row_len = self.n_windows // self.batch_size  # carrying the state: each row's stretch, in windows
        self.seed = seed
        self._order_epoch: int | None = None
        self._order_cache: np.ndarray = np.empty(0, dtype=np.int64)
        self._ends_cache: np.ndarray = np.empty(0, dtype=np.int64)  # carrying: windows of order[:j + 1]

    @property
    def steps_per_epoch(self) -> int:
        if self.carries_state:
            return max(1, self.row_len)
        return max(1, -(-self.n_windows // self.batch_size))

    def _order(self, epoch: int) -> np.ndarray:
        """The epoch's order: of windows, or carrying the state, of lines. One shuffle per epoch, not
        per batch; as permutation(n) would."""
        if self._order_epoch != epoch:
            n = len(self.n_win) if self.carries_state else self.n_windows
            order = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
            np.random.default_rng([self.seed, epoch]).shuffle(order)
            self._order_cache, self._order_epoch = order, epoch
            if self.carries_state:
                self._ends_cache = np.cumsum(self.n_win[order])
        return self._order_cache

    def windows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows number `rows` (in line order) as [len(rows), seq_len + 1] ids, and their lengths."""
        rows = np.asarray(rows, dtype=np.int64)
        line = np.searchsorted(self.win_end, rows, side="right")
        k = rows - (self.win_end[line] - self.n_win[line])
        return _framed_rows(self.lines, self.lut, self.newline, line, k * self.stride, self.seq_len + 1)

    def all_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Every window, for tests and small corpora."""
        return self.windows(np.arange(self.n_windows))

    def batch(self, epoch: int, index: int) -> Batch:
        order = self._order(epoch)
        if index % RELEASE_EVERY == 0:
            self.lines.corpus.release()
        reset = None
        if self.carries_state:
            at = np.arange(self.batch_size, dtype=np.int64) * self.row_len + index  # in the epoch's windows
            place = np.searchsorted(self._ends_cache, at, side="right")
            line = order[place].astype(np.int64)
            k = at - (self._ends_cache[place] - self.n_win[line])  # the window's number in its line
            windows, n_real = _framed_rows(self.lines, self.lut, self.newline, line, k * self.stride, self.seq_len + 1)
            reset = torch.from_numpy((k == 0) | (index == 0))
        else:
            windows, n_real = self.windows(order[index * self.batch_size : (index + 1) * self.batch_size])
        w = torch.from_numpy(windows)
        lengths = torch.from_numpy(n_real)
        mask = torch.arange(w.shape[1] - 1)[None, :] < (lengths[:, None] - 1)
        return Batch(inputs=w[:, :-1], targets=w[:, 1:], mask=mask, reset=reset)


class StreamWindows:
    """Truncated BPTT over one long text: row b reads its own contiguous stretch, window by window."""

    carries_state = True

    def __init__(
        self, text: str | StreamPart, vocab: Vocab, seq_len: int, batch_size: int, reset_every: int, seed: int
    ):
        self.part = text if isinstance(text, StreamPart) else StreamPart.of_text(text)
        self.vocab = vocab
        self.n_ids = len(self.part)
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.reset_every = reset_every
        self.seed = seed
        self.row_len = (self.n_ids - 1) // batch_size
        if self.row_len < seq_len:
            self.batch_size = max(1, (self.n_ids - 1) // seq_len)
            self.row_len = (self.n_ids - 1) // self.batch_size

    @property
    def steps_per_epoch(self) -> int:
        return max(1, (self.row_len - 1) // self.seq_len)

    def batch(self, epoch: int, index: int) -> Batch:
        # A per-epoch shift moves the window boundaries, so each epoch cuts the text differently.
        rng = np.random.default_rng([self.seed, epoch])
        shift = int(rng.integers(0, max(1, self.row_len - self.steps_per_epoch * self.seq_len)))
        base = np.arange(self.batch_size) * self.row_len + shift + index * self.seq_len
        idx = self.part.start + base[:, None] + np.arange(self.seq_len + 1)[None, :]
        if index % RELEASE_EVERY == 0:
            self.part.corpus.release()
        sym = np.asarray(self.part.corpus.symbols[idx.ravel()]).reshape(idx.shape)
        w = torch.from_numpy(self.part.corpus.lut(self.vocab)[sym])
        reset = index % self.reset_every == 0
        return Batch(
            inputs=w[:, :-1],
            targets=w[:, 1:],
            mask=torch.ones(w.shape[0], self.seq_len, dtype=torch.bool),
            reset=torch.full((w.shape[0],), reset, dtype=torch.bool),
        )


def _as_part(val: list[str] | str | LineSet | StreamPart) -> LineSet | StreamPart:
    if isinstance(val, (LineSet, StreamPart)):
        return val
    return StreamPart.of_text(val) if isinstance(val, str) else LineSet.of_lines(val)


# Evaluation during training scores at most this many held-out characters: a fixed sample of the held-out
# split when it is bigger (validation_sample), all of it when it is not. The tweets' split (~110,700) fits
# whole, so its figures are exactly the whole split's. The default model scores ~90,000 characters a
# second on this project's 2-core CPU when it is quiet (10,000 to 30,000 while other work runs), so an
# evaluation costs ~3 s whatever the corpus's size, where a 300 MB corpus's whole split took 458 s; the
# estimate's standard error is ~0.006 bits/char (the tweets' split, lines or stream, a 300-step model).
EVAL_SAMPLE_CHARS = 2**18
# Mixed into the run's seed for the sample, so that it is not drawn from the same stream as the split's
# lines (np.random.default_rng(seed)) or an epoch's order (default_rng([seed, epoch])).
EVAL_SAMPLE_KEY = 0x5A3D1E


def validation_pieces(val: LineSet | StreamPart, seq_len: int, reset_every: int) -> tuple[np.ndarray, np.ndarray]:
    """The samples validation_batches scores, each from a zero state, as (where each starts, how many
    ids it holds). Lines: the line's number in `val`, and its framed length ("\n" + line + "\n").
    Stream: the offset in `val` of each stretch between state resets in training (seq_len x
    reset_every characters, and the one after it as its last target), and its length. A piece of n
    ids has n - 1 targets: the characters it scores."""
    if isinstance(val, StreamPart):
        chunk = seq_len * reset_every + 1
        starts = np.arange(0, max(len(val) - 1, 0), chunk - 1, dtype=np.int64)
        return starts, np.minimum(chunk, len(val) - starts)
    return np.arange(len(val), dtype=np.int64), val.lengths + 2


def validation_sample(
    val: list[str] | str | LineSet | StreamPart,
    seq_len: int,
    reset_every: int,
    seed: int,
    max_chars: int = EVAL_SAMPLE_CHARS,
) -> np.ndarray | None:
    """Which pieces (validation_pieces' numbers, ascending) an evaluation during training scores: None
    when the whole split has at most max_chars characters to score, so it is scored whole; else a
    seeded random sample of whole pieces (held-out lines, or stretches between state resets) of at most
    max_chars characters in all.

    It is a function of the seed and the split alone, never of a random state that advances: the same
    pieces at every evaluation of a run, and after a resume (a stream's pieces also depend on seq_len
    and reset_every, as the whole split's evaluation does). The pieces are drawn in a seeded random
    order and kept while they fit: an estimate of the whole split's bits/char without bias, except
    that a line longer than max_chars is never in it (a lines corpus of such lines is scored by
    `tui-gen eval`, which reads the whole split)."""
    part = _as_part(val)
    _, lengths = validation_pieces(part, seq_len, reset_every)
    targets = np.maximum(lengths - 1, 0)
    if int(targets.sum()) <= max_chars:
        return None
    n = len(targets)
    order = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    np.random.default_rng([EVAL_SAMPLE_KEY, seed]).shuffle(order)
    order = order[((targets > 0) & (targets <= max_chars))[order]]
    head = order[:max_chars]  # each piece scores one character or more: no more can fit
    return np.sort(head[np.cumsum(targets[head]) <= max_chars]).astype(np.int64)


def validation_targets(
    val: list[str] | str | LineSet | StreamPart, seq_len: int, reset_every: int, pieces: np.ndarray | None = None
) -> int:
    """How many characters validation_batches scores (of `pieces` alone, when given), without building them."""
    _, lengths = validation_pieces(_as_part(val), seq_len, reset_every)
    if pieces is not None:
        lengths = lengths[pieces]
    return int(np.maximum(lengths - 1, 0).sum())


def validation_batches(
    val: list[str] | str | LineSet | StreamPart,
    vocab: Vocab,
    seq_len: int,
    reset_every: int,
    tokens_per_batch: int = 16384,
    pieces: np.ndarray | None = None,
):
    """Batches that score every held-out character once (or those of `pieces` alone, validation_pieces'
    numbers: validation_sample's), each sample from a zero state.

    Lines: each line whole, from the start-of-line state. Stream: chunks as long as the stretch
    between state resets in training, so evaluation starts from the states training started from.
    Batches are made one at a time from the encoded text, so a large held-out part costs one batch.
    """
    part = _as_part(val)
    lut = part.corpus.lut(vocab)
    piece_start, piece_len = validation_pieces(part, seq_len, reset_every)
    if pieces is not None:
        piece_start, piece_len = piece_start[pieces], piece_len[pieces]
    keep = piece_len >= 2
    piece_start, piece_len = piece_start[keep], piece_len[keep]
    order = np.argsort(piece_len, kind="stable")
    newline = vocab.id_of("\n")
    i = 0
    while i < len(order):
        first = int(piece_len[order[i]])
        # as many pieces as fit in tokens_per_batch at the longest one's length (sorted: the last)
        cap = max(tokens_per_batch, first)
        j = i
        while j < len(order) and (j - i + 1) * int(piece_len[order[j]]) <= cap:
            j += 1
        group = order[i : max(j, i + 1)]
        lengths = piece_len[group]
        longest = int(lengths.max())
        # One very long line is one row: the int64 ids (8 bytes a character) and the mask (1) are
        # its only allocations of its length; the model scores it in chunks (evaluate.py).
        if isinstance(part, StreamPart):
            w = np.full((len(group), longest), PAD, dtype=np.int64)
            for r, g in enumerate(group):
                a = int(piece_start[g])
                w[r, : lengths[r]] = part.ids(vocab, a, a + int(lengths[r]))
        elif len(group) == 1:
            w = np.full((1, longest), PAD, dtype=np.int64)
            g = int(piece_start[group[0]])
            a, n = int(part.starts[g]), int(part.lengths[g])
            w[0, 0] = w[0, n + 1] = newline
            for c in range(0, n, 1 << 20):  # a chunk at a time: no int64 index of the line's length
                w[0, 1 + c : 1 + min(n, c + (1 << 20))] = lut[
                    np.asarray(part.corpus.symbols[a + c : a + min(n, c + (1 << 20))])
                ]
        else:
            w, _ = _framed_rows(part, lut, newline, piece_start[group], np.zeros(len(group), np.int64), longest)
        mask = np.arange(longest - 1)[None, :] < (lengths[:, None] - 1)
        ids = torch.from_numpy(w)
        part.corpus.release()
        yield Batch(inputs=ids[:, :-1], targets=ids[:, 1:], mask=torch.from_numpy(mask))
        i += len(group)
