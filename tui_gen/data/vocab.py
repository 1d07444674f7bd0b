"""Character vocabulary with reserved ids for padding and unknown characters.

The lecture's one_hot used index 0 both for padding and for a real character; here id 0 is padding
and id 1 is "unknown", and real characters start at 2, so no character can ever be mistaken for
padding.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from tui_gen.core.errors import CheckpointError

PAD = 0
UNK = 1
FIRST_CHAR_ID = 2
UNK_CHAR = "\ufffd"  # how an unknown id decodes


class Vocab:
    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("vocabulary characters must be distinct single characters")
        self.chars = chars
        self._index = {c: i + FIRST_CHAR_ID for i, c in enumerate(chars)}
        # A lookup table over code points makes encoding a numpy gather instead of a Python loop.
        top = max((ord(c) for c in chars), default=0) + 1
        self._table = np.full(top, UNK, dtype=np.int32)
        for c, i in self._index.items():
            self._table[ord(c)] = i

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> Vocab:
        """Characters seen at least min_count times, most frequent first (ties by code point)."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)
        return cls.from_counts(counts, min_count)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], min_count: int = 1) -> Vocab:
        """The vocabulary build() makes over a text with these character counts (the new-run form counts
        once and asks again when min_count changes; the corpus cache keeps counts, not text)."""
        kept = [c for c, n in counts.items() if n >= min_count and n > 0]
        kept.sort(key=lambda c: (-counts[c], ord(c)))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.chars) + FIRST_CHAR_ID

    def __contains__(self, ch: str) -> bool:
        return ch in self._index

    def id_of(self, ch: str) -> int:
        return self._index.get(ch, UNK)

    def encode(self, text: str, out: np.ndarray | None = None) -> np.ndarray:
        """Ids as int32 (or into `out`, any integer array of len(text)), encoded in chunks so a large
        corpus needs little more than its result."""
        out = np.empty(len(text), dtype=np.int32) if out is None else out
        chunk = 1 << 20
        for start in range(0, len(text), chunk):
            codes = np.frombuffer(text[start : start + chunk].encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            inside = codes < len(self._table)
            part = out[start : start + len(codes)]
            part[:] = UNK
            part[inside] = self._table[codes[inside]]
        return out

    def decode(self, ids: Iterable[int]) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i == PAD:
                continue
            out.append(self.chars[i - FIRST_CHAR_ID] if i >= FIRST_CHAR_ID else UNK_CHAR)
        return "".join(out)

    def char_of(self, i: int) -> str:
        return self.chars[i - FIRST_CHAR_ID] if i >= FIRST_CHAR_ID else ("" if i == PAD else UNK_CHAR)

    def count_unknown(self, text: str) -> int:
        """How many characters of text map to "unknown" (encoded a chunk at a time)."""
        chunk = 1 << 20
        return sum(int((self.encode(text[a : a + chunk]) == UNK).sum()) for a in range(0, len(text), chunk))

    def unknown_chars(self, text: str) -> list[str]:
        return sorted({c for c in text if c not in self._index})

    def to_json(self) -> list[str]:
        return list(self.chars)

    @classmethod
    def from_json(cls, data: object) -> Vocab:
        if not isinstance(data, list) or not all(isinstance(c, str) for c in data):
            raise CheckpointError("the checkpoint's vocabulary is not a list of characters")
        try:
            return cls(data)
        except ValueError as e:
            raise CheckpointError(f"the checkpoint's vocabulary is invalid: {e}") from None
