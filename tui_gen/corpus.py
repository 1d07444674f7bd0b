"""Reading a corpus, splitting off validation, and cutting it into training batches.

Two framings:
- lines: each line is one sample (a tweet), framed as "\\n" + line + "\\n" so the model learns how
  a line starts (generation primes with the leading newline) and ends. Lines are cut into windows of
  seq_len with overlap; short lines and tails are padded, never dropped, and padded positions are
  masked out of the loss. Every window starts from a zero state, and every line's first window starts
  at the line's start, so the zero state is "start of a line", exactly what evaluation and generation
  begin from.
- stream: continuous text, truncated BPTT. Each batch row reads its own stretch of the text and
  carries its hidden state from window to window, reset every few windows so that a zero state is
  always a state the model has been trained from.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import CorpusError
from .vocab import PAD, Vocab

MAX_CORPUS_BYTES = 64 * 1024 * 1024  # read at most this much: memory stays bounded on huge files
MIN_VAL_CHARS = 200


@dataclass
class CorpusText:
    name: str
    text: str
    framing: str  # default framing for this corpus
    end_marker: str | None = None
    warnings: tuple[str, ...] = ()
    framing_reason: str = ""  # why this framing: "given", "built-in corpus", or what the guess saw


def _read_file(path: Path, budget: int, warnings: list[str]) -> str:
    try:
        with path.open("rb") as f:
            raw = f.read(budget + 1)
    except PermissionError:
        raise CorpusError(f"cannot read {path}: permission denied (check the file's permissions)") from None
    except IsADirectoryError:
        raise CorpusError(f"{path} is a folder, not a file") from None
    except OSError as e:
        raise CorpusError(f"cannot read {path}: {e.strerror or e}") from None
    if len(raw) > budget:
        raw = raw[:budget]
        warnings.append(f"{path.name} is larger than {MAX_CORPUS_BYTES // 2**20} MiB: only the first part is used")
    if b"\x00" in raw[:65536]:
        raise CorpusError(f"{path} looks like a binary file, not text: give a UTF-8 text file")
    text = raw.decode("utf-8", errors="replace")
    # Bytes, not replacement characters: one U+FFFD may stand for several bytes of a cut-off sequence.
    bad = len(raw) - len(raw.decode("utf-8", errors="ignore").encode("utf-8")) if "\ufffd" in text else 0
    if bad:
        if bad > max(100, len(text) // 10):
            raise CorpusError(f"{path} is not UTF-8 text ({bad} undecodable bytes): convert it to UTF-8 first")
        warnings.append(f"{path.name}: {bad} bytes that are not valid UTF-8 were replaced by \ufffd")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_corpus(path: str | Path, framing: str | None = None, end_marker: str | None = None) -> CorpusText:
    """A UTF-8 text file, or a folder of .txt files (read in name order)."""
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
    warnings: list[str] = []
    if is_dir:
        if not files:
            raise CorpusError(f"the folder {path} has no .txt files in it")
        parts, budget = [], MAX_CORPUS_BYTES
        for f in files:
            if budget <= 0:
                warnings.append(f"{path} holds more than {MAX_CORPUS_BYTES // 2**20} MiB: later files are skipped")
                break
            t = _read_file(f, budget, warnings)
            budget -= len(t.encode("utf-8"))
            parts.append(t if t.endswith("\n") else t + "\n")
        text = "".join(parts)
    else:
        text = _read_file(path, MAX_CORPUS_BYTES, warnings)
    if not text.strip():
        raise CorpusError(f"{path} has no text in it (it is empty or only white space)")
    guess = FramingGuess(framing, "given") if framing else explain_framing(text)
    return CorpusText(
        name=path.stem, text=text, framing=guess.framing,
        end_marker=end_marker, warnings=tuple(warnings), framing_reason=guess.reason,
    )


@dataclass(frozen=True)
class FramingGuess:
    framing: str  # "lines" or "stream"
    reason: str  # one short phrase a user can check against their text, e.g. "19,469 short lines"


# The guess reads at most this many characters from the start of the text (about as many bytes for
# mostly-ASCII text): enough to see thousands of lines, cheap on a corpus of any size.
FRAMING_SAMPLE_CHARS = 4 * 2**20
_SENTENCE_END = tuple('.!?:;"\'”’)]')
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
    return (line.endswith(":") and 0 < len(name) <= _SPEAKER_MAX_CHARS and name[0].isupper()
            and name.count(" ") < 4 and all(c.isalpha() or c in " .'-" for c in name))


def explain_framing(text: str) -> FramingGuess:
    """How to frame a text, and why, from signals a reader can check in the text itself.

    Stream: text whose lines belong together. Blank lines between paragraphs or stanzas, speeches after
    a speaker's name ending in ':' (a play), lines wrapped at a fixed width that run on into the next
    (hard-wrapped prose), few lines, or long ones. Lines: many short lines, each on its own (tweets,
    names, quotes, one record per line). Only the first FRAMING_SAMPLE_CHARS characters are read.
    """
    sample = text[:FRAMING_SAMPLE_CHARS]
    sampled = len(text) > len(sample)
    if sampled:  # whole lines only: a line cut in two would look like a short one
        sample = sample[:sample.rfind("\n") + 1] or sample
    where = f" (in the first {FRAMING_SAMPLE_CHARS // 2**20} MiB)" if sampled else ""

    rows = [ln.strip() for ln in sample.split("\n")]
    lines = [ln for ln in rows if ln]
    if len(lines) < 100:
        return FramingGuess("stream", f"only {len(lines)} non-empty lines{where}")
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
    pairs = [(a, b) for blk in blocks for a, b in zip(blk, blk[1:])]
    run_on = sum(1 for a, b in pairs if not a.endswith(_SENTENCE_END) and b[0].islower()) / max(1, len(pairs))
    wrapped = width >= 30 and near_width >= 0.6 and run_on >= 0.2

    # A play: speeches, each after a line holding only the speaker's name and ':' ("First Citizen:"),
    # the same cast again and again. With or without blank lines between the speeches.
    speakers = [a for a, b in zip(rows, rows[1:]) if b and _is_speaker(a)]
    if len(speakers) >= 0.05 * len(lines) and words_per_line >= 3 and len(set(speakers)) <= 0.5 * len(speakers):
        return FramingGuess("stream", f"a play: {len(speakers):,} speeches after {len(set(speakers)):,} "
                            f"speakers' names ending in ':'{where}")

    # A text of words (not names or records) cut by blank lines into many short blocks of several lines.
    # Blocks of one line each are records with blank lines between them, still lines.
    if (len(multi) >= 5 and in_multi >= 0.5 * len(lines) and words_per_line >= 3
            and float(np.median([len(b) for b in multi])) <= 50):
        if wrapped:
            return FramingGuess(
                "stream", f"hard-wrapped prose: {len(multi):,} paragraphs of lines about {width} characters{where}")
        size = in_multi / len(multi)
        return FramingGuess(
            "stream", f"{len(multi):,} stanzas or paragraphs of about {size:.0f} lines between blank lines{where}")

    # Hard-wrapped prose without blank lines (paragraphs indented instead): lines close under one width
    # that run on into the next. Lines that start with the same word again and again are records (log
    # lines, word lists), not prose.
    top_first = Counter(ln.split(None, 1)[0].lower() for ln in lines).most_common(1)[0][1] / len(lines)
    if wrapped and words_per_line >= 3 and top_first <= 0.15:
        return FramingGuess(
            "stream", f"hard-wrapped prose: lines about {width} characters, {run_on:.0%} running on into the next{where}")
    return FramingGuess("lines", f"{len(lines):,} independent short lines, median {median:.0f} characters{where}")


def guess_framing(text: str) -> str:
    return explain_framing(text).framing


@dataclass
class Split:
    train: list[str] | str
    val: list[str] | str


def split_corpus(corpus: CorpusText, framing: str, val_fraction: float, seed: int) -> Split:
    """Lines: a seeded random val_fraction of lines. Stream: the last val_fraction of the text."""
    if framing == "lines":
        lines = [ln for ln in corpus.text.split("\n") if ln.strip()]
        n_val = max(1, round(len(lines) * val_fraction))
        if len(lines) - n_val < 1 or len(lines) < 4:
            raise CorpusError(
                f"{corpus.name} has only {len(lines)} non-empty lines, too few to hold some out for "
                "validation: use --framing stream or a bigger corpus"
            )
        order = np.random.default_rng(seed).permutation(len(lines))
        val_idx = set(order[:n_val].tolist())
        return Split(
            train=[ln for i, ln in enumerate(lines) if i not in val_idx],
            val=[ln for i, ln in enumerate(lines) if i in val_idx],
        )
    n_val = max(MIN_VAL_CHARS, int(len(corpus.text) * val_fraction))
    if len(corpus.text) < 4 * n_val:
        raise CorpusError(
            f"{corpus.name} has only {len(corpus.text)} characters: at least {4 * MIN_VAL_CHARS} are needed"
        )
    return Split(train=corpus.text[:-n_val], val=corpus.text[-n_val:])


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
    reset: torch.Tensor | None = None  # stream: [B] bool, rows whose state starts from zero

    @property
    def real_chars(self) -> int:
        return int(self.mask.sum())


class LineWindows:
    """All windows of all lines, as one padded [N, seq_len + 1] array, shuffled each epoch."""

    def __init__(self, lines: list[str], vocab: Vocab, seq_len: int, overlap: int, batch_size: int, seed: int):
        stride = seq_len - overlap
        framed = [frame_line(ln) for ln in lines]
        ids = vocab.encode("".join(framed))
        lengths = np.fromiter((len(s) for s in framed), dtype=np.int64, count=len(framed))
        del framed  # a copy of the whole text: not needed once encoded
        ends = np.cumsum(lengths)
        starts = ends - lengths
        # Window k of a line starts at k * stride and holds seq_len + 1 ids (inputs and shifted
        # targets). A line of L ids has L - 1 targets and needs 1 + ceil((L - 1 - seq_len) / stride)
        # windows: every target is covered, the last window is padded.
        n_win = 1 + np.maximum(0, -(-(lengths - 1 - seq_len) // stride))
        line_of = np.repeat(np.arange(len(lengths)), n_win)
        k = np.arange(int(n_win.sum())) - np.repeat(np.cumsum(n_win) - n_win, n_win)
        win_start = starts[line_of] + k * stride
        self.lengths = (np.minimum(win_start + seq_len + 1, ends[line_of]) - win_start).astype(np.int32)
        del line_of, k
        self.windows = np.full((len(win_start), seq_len + 1), PAD, dtype=np.int32)
        offsets = np.arange(seq_len + 1)
        chunk = 1 << 16  # windows at a time: the int64 index arrays stay small on a 64 MiB corpus
        for a in range(0, len(win_start), chunk):
            take = offsets[None, :] < self.lengths[a:a + chunk, None]
            src = (win_start[a:a + chunk, None] + offsets[None, :])[take]
            self.windows[a:a + chunk][take] = ids[src]
        self.batch_size = batch_size
        self.seed = seed
        self._order_epoch: int | None = None
        self._order_cache = np.empty(0, dtype=np.int64)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, -(-len(self.windows) // self.batch_size))

    def _order(self, epoch: int) -> np.ndarray:
        if self._order_epoch != epoch:  # one shuffle per epoch, not per batch
            self._order_cache = np.random.default_rng([self.seed, epoch]).permutation(len(self.windows))
            self._order_epoch = epoch
        return self._order_cache

    def batch(self, epoch: int, index: int) -> Batch:
        rows = self._order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        w = torch.from_numpy(self.windows[rows].astype(np.int64))
        lengths = torch.from_numpy(self.lengths[rows].astype(np.int64))
        mask = torch.arange(w.shape[1] - 1)[None, :] < (lengths[:, None] - 1)
        return Batch(inputs=w[:, :-1], targets=w[:, 1:], mask=mask)


class StreamWindows:
    """Truncated BPTT over one long text: row b reads its own contiguous stretch, window by window."""

    def __init__(self, text: str, vocab: Vocab, seq_len: int, batch_size: int, reset_every: int, seed: int):
        self.ids = vocab.encode(text)
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.reset_every = reset_every
        self.seed = seed
        self.row_len = (len(self.ids) - 1) // batch_size
        if self.row_len < seq_len:
            self.batch_size = max(1, (len(self.ids) - 1) // seq_len)
            self.row_len = (len(self.ids) - 1) // self.batch_size

    @property
    def steps_per_epoch(self) -> int:
        return max(1, (self.row_len - 1) // self.seq_len)

    def batch(self, epoch: int, index: int) -> Batch:
        # A per-epoch shift moves the window boundaries, so each epoch cuts the text differently.
        rng = np.random.default_rng([self.seed, epoch])
        shift = int(rng.integers(0, max(1, self.row_len - self.steps_per_epoch * self.seq_len)))
        base = np.arange(self.batch_size) * self.row_len + shift + index * self.seq_len
        idx = base[:, None] + np.arange(self.seq_len + 1)[None, :]
        w = torch.from_numpy(self.ids[idx].astype(np.int64))
        reset = index % self.reset_every == 0
        return Batch(
            inputs=w[:, :-1], targets=w[:, 1:], mask=torch.ones(w.shape[0], self.seq_len, dtype=torch.bool),
            reset=torch.full((w.shape[0],), reset, dtype=torch.bool),
        )


def validation_batches(val: list[str] | str, vocab: Vocab, seq_len: int, reset_every: int,
                       tokens_per_batch: int = 16384):
    """Batches that score every held-out character once, each sample from a zero state.

    Lines: each line whole, from the start-of-line state. Stream: chunks as long as the stretch
    between state resets in training, so evaluation starts from the states training started from.
    """
    # Pieces as (length in ids, ids or a line): a line is encoded straight into its batch's row, so a
    # very long line costs its int64 row and its mask, not an int32 copy and a framed string besides.
    if isinstance(val, str):
        chunk = seq_len * reset_every + 1
        ids = vocab.encode(val)
        pieces = [(len(p), p) for p in (ids[i:i + chunk] for i in range(0, len(ids) - 1, chunk - 1))]
    else:
        pieces = [(len(ln) + 2, ln) for ln in val]  # framed as "\n" + line + "\n"
    pieces = [p for p in pieces if p[0] >= 2]
    pieces.sort(key=lambda p: p[0])
    newline = vocab.id_of("\n")
    i = 0
    while i < len(pieces):
        j = i
        while j < len(pieces) and (j - i + 1) * pieces[j][0] <= max(tokens_per_batch, pieces[i][0]):
            j += 1
        group = pieces[i:max(j, i + 1)]
        longest = max(n for n, _ in group)
        # One very long line is one row: the int64 ids (8 bytes a character) and the mask (1) are
        # its only allocations of its length; the model scores it in chunks (evaluate.py).
        w = np.full((len(group), longest), PAD, dtype=np.int64)
        mask = np.zeros((len(group), longest - 1), dtype=bool)
        for r, (n, p) in enumerate(group):
            if isinstance(p, str):
                w[r, 0] = w[r, n - 1] = newline
                vocab.encode(p, out=w[r, 1:n - 1])
            else:
                w[r, :n] = p
            mask[r, :n - 1] = True
        w = torch.from_numpy(w)
        yield Batch(inputs=w[:, :-1], targets=w[:, 1:], mask=torch.from_numpy(mask))
        i += len(group)
