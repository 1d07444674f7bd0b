"""Sampling: prime the state with the whole seed (in chunks), then draw one character at a time.

Temperature T samples from softmax(logits / T) (the lecture drew from softmax(exp(logits / T)),
which sharpens far more than T says). Padding and "unknown" are never drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from tui_gen.core.config import MAX_SAMPLE_TEMPERATURE
from tui_gen.core.errors import ConfigError, TuiGenError, VocabularyError
from tui_gen.data.vocab import PAD, UNK, Vocab
from tui_gen.model.network import CharRNN, State, state_from_tensors, state_tensors

GREEDY_BELOW = 1e-3  # temperatures this small pick the most likely character
DIVERGED = "the model's scores are not finite numbers (its training diverged): train it again with a lower --lr"


@dataclass
class SamplingSettings:
    """Read at every step, so a UI can move the temperature while text is streaming."""

    temperature: float = 1.0
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1: off

    def validate(self) -> None:
        check_temperature(self.temperature)
        if self.top_k < 0:
            raise ConfigError(f"--top-k must be 0 (off) or positive, got {self.top_k}")
        if not (0 < self.top_p <= 1) or math.isnan(self.top_p):
            raise ConfigError(f"--top-p must be in (0, 1], got {self.top_p}")


def check_temperature(t: float) -> None:
    if not isinstance(t, (int, float)) or math.isnan(t) or math.isinf(t) or t <= 0 or t > MAX_SAMPLE_TEMPERATURE:
        raise ConfigError(f"temperature must be a number above 0 and at most {MAX_SAMPLE_TEMPERATURE:g}, got {t}")


@dataclass
class Token:
    char: str
    prob: float  # the probability the model gave this character (before temperature)
    top: list[tuple[str, float]]  # the most likely next characters at this position


def next_char_probs(logits: torch.Tensor, settings: SamplingSettings) -> torch.Tensor:
    """Probabilities to draw from, for logits [..., vocab]."""
    settings.validate()  # read at every step: a value changed mid-stream is checked too
    logits = logits.float().clone()
    logits[..., PAD] = -math.inf
    logits[..., UNK] = -math.inf
    if bool(torch.isnan(logits).any() | torch.isposinf(logits).any()):
        raise TuiGenError(DIVERGED)
    if settings.temperature < GREEDY_BELOW:
        probs = torch.zeros_like(logits)
        probs.scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
        return probs
    logits = logits / settings.temperature
    if settings.top_k and settings.top_k < logits.shape[-1]:
        kth = logits.topk(settings.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    probs = torch.softmax(logits, dim=-1)
    if settings.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # keep the smallest set whose mass reaches top_p (always at least the top character)
        drop = sorted_p.cumsum(-1) - sorted_p >= settings.top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
        probs = probs / probs.sum(-1, keepdim=True)
    if not bool(torch.isfinite(probs).all()):
        raise TuiGenError(DIVERGED)
    return probs


def encode_seed(vocab: Vocab, seed: str, framing: str) -> torch.Tensor:
    unknown = vocab.unknown_chars(seed)
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:10])
        raise VocabularyError(
            f"the seed has characters the model never saw: {shown}"
            + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            + ": remove or replace them"
        )
    # Lines were trained as "\n" + line, so a seed starts after that newline: the start-of-line state.
    text = ("\n" + seed) if framing == "lines" else seed
    if not text:  # a stream has no start-of-text state: begin after a line break, as text often does
        if "\n" not in vocab:
            raise VocabularyError("this model needs a seed to start from: give one (--seed TEXT)")
        text = "\n"
    return torch.from_numpy(vocab.encode(text)).long().unsqueeze(0)


PRIME_CHUNK = 4096  # seed characters per forward pass: ~25 MB with the default model, whatever the seed's length


@torch.inference_mode()
def prime(
    model: CharRNN, ids: torch.Tensor, state: State | None = None, chunk: int = PRIME_CHUNK
) -> tuple[torch.Tensor, State]:
    """Feed the seed [B, T]; the last position's logits and the state after it.

    In chunks of `chunk` steps with the state carried: the same result as one pass, but one pass
    holds logits and every layer's outputs for all T positions (about 6 KB a character), so a
    pasted megabyte would cost gigabytes."""
    if ids.shape[1] == 0:
        raise ValueError("prime needs at least one id")
    device = model.head.weight.device
    for a in range(0, ids.shape[1], chunk):
        logits, new_state = model(ids[:, a : a + chunk].to(device), state)
        state = new_state
    return logits[:, -1], new_state


@dataclass
class BranchPoint:
    text: str  # seed + prefix + the chosen character
    token: Token  # the chosen character, with the probability and candidates the model had there
    logits: torch.Tensor  # [vocab]: the next character's scores after `text`
    state: State  # the state after `text`


class Generator:
    """Streams characters one by one; settings may change between characters."""

    def __init__(
        self,
        model: CharRNN,
        vocab: Vocab,
        framing: str,
        stop_strings: tuple[str, ...] = ("\n",),
        top_n: int = 5,
        generator: torch.Generator | None = None,
    ):
        self.model = model
        self.vocab = vocab
        self.framing = framing
        self.stop_strings = tuple(s for s in stop_strings if s)
        self.top_n = top_n
        self.generator = generator

    @torch.inference_mode()
    def stream(self, seed: str, settings: SamplingSettings, max_chars: int) -> Iterator[Token]:
        settings.validate()
        if max_chars < 0:
            raise ConfigError(f"length must not be negative, got {max_chars}")
        self.model.eval()
        logits, state = prime(self.model, encode_seed(self.vocab, seed, self.framing))
        yield from self._draw(logits[0].float(), state, seed, settings, max_chars)

    @torch.inference_mode()
    def branch_point(self, seed: str, prefix: str, char: str) -> BranchPoint:
        """Where a branch starts: the model's view after seed + prefix (the token it gives `char` there,
        with the candidates it had), and the state after seed + prefix + char."""
        if char not in self.vocab or len(char) != 1:
            raise VocabularyError(
                f"the model cannot write {char!r}: it is not in its vocabulary; pick one of the candidates"
            )
        self.model.eval()
        logits, state = prime(self.model, encode_seed(self.vocab, seed + prefix, self.framing))
        raw = torch.softmax(logits[0].float() + self._banned(logits[0]), -1)
        if not bool(torch.isfinite(raw).all()):
            raise TuiGenError(DIVERGED)
        token = Token(char, float(raw[self.vocab.id_of(char)]), self._top(raw))
        one = torch.tensor([self.vocab.id_of(char)], dtype=torch.long, device=logits.device)
        out, state = self.model.step(one, state)
        return BranchPoint(seed + prefix + char, token, out[0].float(), state)

    @torch.inference_mode()
    def branch(self, seed: str, prefix: str, char: str, settings: SamplingSettings, max_chars: int) -> Iterator[Token]:
        """Generation from seed + prefix with `char` forced next: yields the forced character's token
        first (so character len(prefix) of prefix + output is `char`), then up to max_chars - 1 drawn
        ones. `prefix` is the generated text before the point where the user picked `char`."""
        settings.validate()
        if max_chars < 1:
            raise ConfigError(f"a branch writes at least its chosen character, got length {max_chars}")
        point = self.branch_point(seed, prefix, char)
        yield point.token
        if self._stops(point.text):
            return
        yield from self._draw(point.logits, point.state, point.text, settings, max_chars - 1)

    def _banned(self, logits: torch.Tensor) -> torch.Tensor:
        banned = torch.zeros_like(logits.float())
        banned[PAD] = banned[UNK] = -math.inf
        return banned

    def _top(self, raw: torch.Tensor) -> list[tuple[str, float]]:
        if not self.top_n:
            return []
        tp, ti = raw.topk(min(self.top_n, raw.shape[-1]))
        return [(self.vocab.char_of(j), p) for p, j in zip(tp.tolist(), ti.tolist(), strict=False)]

    def _stops(self, text: str) -> bool:
        return any(text.endswith(s) for s in self.stop_strings)

    def _draw(
        self, logits: torch.Tensor, state: State, text: str, settings: SamplingSettings, max_chars: int
    ) -> Iterator[Token]:
        """Draw up to max_chars characters from `logits` (the next character's, [vocab]) and `state`
        (after `text`, whose end a stop string may complete)."""
        banned = self._banned(logits)
        tail_len = max((len(s) for s in self.stop_strings), default=0)
        tail = text[-tail_len:] if tail_len else ""
        one = torch.empty(1, dtype=torch.long, device=logits.device)
        for _ in range(max_chars):
            logits = logits + banned
            raw = torch.softmax(logits, -1)
            if not bool(torch.isfinite(raw).all()):  # NaN or +inf scores, at any step, not just the first
                raise TuiGenError(DIVERGED)
            plain = settings.top_k == 0 and settings.top_p >= 1.0
            if settings.temperature < GREEDY_BELOW:
                i = int(raw.argmax())
            elif plain and settings.temperature == 1.0:
                i = int(torch.multinomial(raw.cpu(), 1, generator=self.generator))
            else:
                i = int(torch.multinomial(next_char_probs(logits, settings).cpu(), 1, generator=self.generator))
            ch = self.vocab.char_of(i)
            yield Token(ch, float(raw[i]), self._top(raw))
            if tail_len:
                tail = (tail + ch)[-tail_len:]
                if self._stops(tail):
                    return
            one[0] = i
            out, state = self.model.step(one, state)
            logits = out[0].float()

    def complete(self, seed: str, settings: SamplingSettings, max_chars: int) -> str:
        return "".join(t.char for t in self.stream(seed, settings, max_chars))


@torch.inference_mode()
def sample_many(
    model: CharRNN,
    vocab: Vocab,
    framing: str,
    seeds: list[str],
    settings: SamplingSettings,
    max_chars: int,
    stop_strings: tuple[str, ...] = ("\n",),
    generator: torch.Generator | None = None,
) -> list[str]:
    """Continuations of several seeds at once: primed one by one, then drawn as one batch."""
    model.eval()
    seeds = [s for s in seeds if not vocab.unknown_chars(s)]
    if not seeds:
        return []
    states: list[State] = []
    last = []
    for s in seeds:
        logits, st = prime(model, encode_seed(vocab, s, framing))
        states.append(st)
        last.append(logits)
    # Every tensor of the seeds' states joined along the batch (each seed one row), layer by layer.
    joined = [torch.cat(parts, dim=1) for parts in zip(*(state_tensors(st) for st in states), strict=False)]
    state = state_from_tensors(joined, model.config.cell)
    logits = torch.cat(last, 0)
    texts = list(seeds)
    out = [""] * len(seeds)
    done = [False] * len(seeds)
    for _ in range(max_chars):
        probs = next_char_probs(logits, settings)
        ids = torch.multinomial(probs.cpu(), 1, generator=generator)
        for r, i in enumerate(ids[:, 0].tolist()):
            if done[r]:
                continue
            ch = vocab.char_of(i)
            out[r] += ch
            texts[r] += ch
            done[r] = any(texts[r].endswith(s) for s in stop_strings if s)
        if all(done):
            break
        logits, state = model.step(ids[:, 0].to(logits.device), state)
    return out
