"""Scoring a text: every character's probability under the model, its surprisal in bits, and the
model's top candidates at that position.

Primed the way generation is primed (sample.encode_seed): under a lines model every line is scored
from the start-of-line state (the state after "\n", as lines were trained), its closing "\n" included,
so a held-out file scores exactly what `tui-gen eval` computes for it. Under a stream model the text
follows the `context` given, or a line break when there is none (what an empty seed does), and is cut
into segments of seq-len x 8 characters each scored from a zero state: the state resets of training
and of evaluation, and segments run side by side in one batch (one 10,000-character row would be
10,000 sequential steps, several times slower).

Probabilities are the model's own: the softmax over every id, before any temperature, so the mean
surprisal is the model's loss. A character outside the vocabulary is scored as the "unknown" id (as
evaluation does) and marked (`known` is False), never refused. The candidates leave out padding and
"unknown", which generation never draws.

TextScorer is incremental: scoring a text that shares most of its rows (lines, or stream segments)
with the last one runs only the rows that changed, so a UI can score as the user types (typing at the
end reruns one row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from tui_gen.data.vocab import PAD, UNK, Vocab
from tui_gen.model.network import CharRNN

TOP_K = 5  # candidates kept per position
BATCH_TOKENS = 16384  # positions (rows x length) per batch of lines
CHUNK_TOKENS = 4096  # positions per forward pass (rows x time steps): bounded memory for a long line
STREAM_SEGMENT = 400  # stream: characters scored from one zero state (seq-len 50 x 8, the default)
LN2 = math.log(2)


@dataclass
class TextScore:
    """Per character of `text` (arrays of len(text)); positions not scored (a stream model's first
    character when it has no start state) have scored False and NaN bits."""

    text: str
    vocab: Vocab
    prob: np.ndarray  # float64 [N]: the model's probability of this character (of "unknown" if unknown)
    known: np.ndarray  # bool [N]: the character is in the vocabulary
    scored: np.ndarray  # bool [N]
    top_ids: np.ndarray  # int64 [N, k]: the most likely characters at this position, best first
    top_probs: np.ndarray  # float64 [N, k]
    bits: np.ndarray = field(init=False)  # float64 [N]: surprisal, -log2(prob); NaN where not scored

    def __post_init__(self) -> None:
        with np.errstate(divide="ignore"):
            self.bits = np.where(self.scored, -np.log2(self.prob), np.nan)

    @property
    def chars_scored(self) -> int:
        return int(self.scored.sum())

    @property
    def total_bits(self) -> float:
        return float(np.nansum(self.bits))

    @property
    def bits_per_char(self) -> float:
        """Mean surprisal over the scored characters (NaN for an empty text)."""
        n = self.chars_scored
        return self.total_bits / n if n else math.nan

    @property
    def unknown(self) -> int:
        return int((~self.known).sum())

    def candidates(self, i: int) -> list[tuple[str, float]]:
        """The model's top characters at position i (what it expected there) and their probabilities."""
        return [
            (self.vocab.char_of(int(j)), float(p))
            for j, p in zip(self.top_ids[i], self.top_probs[i], strict=False)
            if j > UNK
        ]

    def most_surprising(self, n: int) -> list[int]:
        """Positions of the n highest-surprisal scored characters, most surprising first."""
        bits = np.where(self.scored, self.bits, -np.inf)
        order = np.argsort(-bits, kind="stable")[: max(0, n)]
        return [int(i) for i in order if self.scored[i]]


@dataclass
class _Piece:
    """Results for a run of targets: log-probability of each, and the top candidates."""

    logp: np.ndarray  # float64 [n]
    top_ids: np.ndarray  # int64 [n, k]
    top_probs: np.ndarray  # float64 [n, k]

    @classmethod
    def empty(cls, k: int) -> _Piece:
        return cls(np.zeros(0), np.zeros((0, k), np.int64), np.zeros((0, k)))

    @classmethod
    def join(cls, parts: list[_Piece], k: int) -> _Piece:
        if not parts:
            return cls.empty(k)
        return cls(
            np.concatenate([p.logp for p in parts]),
            np.concatenate([p.top_ids for p in parts]),
            np.concatenate([p.top_probs for p in parts]),
        )

    def slice(self, a: int, b: int | None = None) -> _Piece:
        return _Piece(self.logp[a:b], self.top_ids[a:b], self.top_probs[a:b])


def _results(logits: torch.Tensor, targets: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """logits [B, T, V], targets [B, T] -> target log-probs [B, T], top ids and probs [B, T, k]."""
    logp = torch.log_softmax(logits.float(), -1)
    target_logp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    masked = logp.clone()
    masked[..., PAD] = -math.inf
    masked[..., UNK] = -math.inf
    top_lp, top_ids = masked.topk(min(k, logp.shape[-1]), dim=-1)
    return target_logp, top_ids, top_lp.exp()


@torch.inference_mode()
def score_rows(model: CharRNN, rows: list[np.ndarray], k: int = TOP_K) -> list[_Piece]:
    """Each row of ids from a zero state: the results for its targets row[1:]. Rows are batched by
    length and run in time chunks with the state carried (the same maths as one pass)."""
    device = model.head.weight.device
    out: dict[int, _Piece] = {}  # by row number: every row gets one
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    i = 0
    while i < len(order):
        j = i + 1  # as many rows as fit in BATCH_TOKENS at the longest one's length (sorted: the last)
        while j < len(order) and (j - i + 1) * int(lengths[order[j]]) <= BATCH_TOKENS:
            j += 1
        group = order[i:j]
        longest = int(lengths[group].max())
        if longest < 2:
            for g in group:
                out[int(g)] = _Piece.empty(k)
            i = j
            continue
        padded = np.full((len(group), longest), PAD, dtype=np.int64)
        for r, g in enumerate(group):
            padded[r, : lengths[g]] = rows[g]
        w = torch.from_numpy(padded)
        step = max(1, CHUNK_TOKENS // len(group))
        state = None
        lp_parts, id_parts, p_parts = [], [], []
        for a in range(0, longest - 1, step):
            logits, state = model(w[:, a : min(a + step, longest - 1)].to(device), state)
            lp, ti, tp = _results(logits, w[:, a + 1 : a + 1 + logits.shape[1]].to(device), k)
            lp_parts.append(lp.double().cpu())
            id_parts.append(ti.cpu())
            p_parts.append(tp.double().cpu())
        lp_all, ti_all = torch.cat(lp_parts, 1).numpy(), torch.cat(id_parts, 1).numpy()
        tp_all = torch.cat(p_parts, 1).numpy()
        for r, g in enumerate(group):
            n = int(lengths[g]) - 1
            out[int(g)] = _Piece(lp_all[r, :n], ti_all[r, :n], tp_all[r, :n])
        i = j
    return [out[r] for r in range(len(rows))]


class TextScorer:
    """Scores texts under one model; keeps what it needs to rescore an edited text quickly: the
    results of every row (a framed line, a stream segment) of the last text, by content, so only the
    rows that changed are run again. Bound to its model's weights: make a new one for new weights."""

    def __init__(self, model: CharRNN, vocab: Vocab, framing: str, segment: int = STREAM_SEGMENT, top_k: int = TOP_K):
        self.model = model
        self.vocab = vocab
        self.framing = framing
        self.segment = max(1, int(segment))
        self.k = top_k
        self._rows: dict[bytes, _Piece] = {}

    @classmethod
    def for_checkpoint(cls, ck, top_k: int = TOP_K) -> TextScorer:
        """A stream model's segments as long as the stretch between state resets in its training."""
        cfg = ck.meta.get("train_config") or {}
        try:
            segment = int(cfg.get("seq_len", 50)) * int(cfg.get("state_reset_every", 8))
        except (TypeError, ValueError):
            segment = STREAM_SEGMENT
        return cls(ck.model, ck.vocab, ck.framing, segment, top_k)

    def score(self, text: str, context: str = "") -> TextScore:
        """Every character of `text`, which follows `context` (not scored; the seed, say)."""
        self.model.eval()
        scored = np.ones(len(text), bool)
        if self.framing == "lines":
            full = context + text
            lines = full.split("\n")  # every line of full but the last ends with "\n"
            rows = ["\n" + ln + "\n" for ln in lines[:-1]] + (["\n" + lines[-1]] if lines[-1] else [])
            skip = len(context)  # targets: full[0:] in order, each line's characters then its "\n"
        else:
            lead = context or ("\n" if "\n" in self.vocab else "")  # an empty seed starts after a line break
            if not lead and text:
                scored[0] = False  # no start state: the first character is context only
            full = lead + text
            # Segments of `segment` targets from a zero state, each starting on the last character of
            # the one before: the rule of training's state resets and of evaluation.
            rows = [full[a : a + self.segment + 1] for a in range(0, max(len(full) - 1, 0), self.segment)]
            skip = max(len(lead) - 1, 0)
        piece = self._score_rows(rows).slice(skip)
        ids = self.vocab.encode(text)
        prob = np.ones(len(text))
        prob[scored] = np.exp(piece.logp)
        top_ids = np.zeros((len(text), self.k), np.int64)
        top_probs = np.zeros((len(text), self.k))
        top_ids[scored], top_probs[scored] = piece.top_ids, piece.top_probs
        return TextScore(
            text=text,
            vocab=self.vocab,
            prob=prob,
            known=ids != UNK,
            scored=scored,
            top_ids=top_ids,
            top_probs=top_probs,
        )

    def _score_rows(self, rows: list[str]) -> _Piece:
        encoded = [self.vocab.encode(r).astype(np.int64) for r in rows]
        keys = [e.tobytes() for e in encoded]
        missing = {key: e for key, e in zip(keys, encoded, strict=False) if key not in self._rows}
        done = score_rows(self.model, list(missing.values()), self.k)
        cache = {key: self._rows[key] for key in keys if key in self._rows}  # only this text's rows: bounded
        cache.update(zip(missing, done, strict=False))
        self._rows = cache
        return _Piece.join([cache[key] for key in keys], self.k)


def score_text(
    model: CharRNN,
    vocab: Vocab,
    framing: str,
    text: str,
    context: str = "",
    segment: int = STREAM_SEGMENT,
    top_k: int = TOP_K,
) -> TextScore:
    """One text, from scratch (TextScorer(...).score)."""
    return TextScorer(model, vocab, framing, segment, top_k).score(text, context)
