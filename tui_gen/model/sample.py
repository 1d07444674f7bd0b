"""Sampling: prime the state with the whole seed (in chunks), then draw one character at a time.

Temperature T samples from softmax(logits / T) (the lecture drew from softmax(exp(logits / T)),
which sharpens far more than T says). Padding and "unknown" are never drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from tui_gen.core.config import LECTURE_SEEDS, MAX_SAMPLE_TEMPERATURE
from tui_gen.core.errors import ConfigError, TuiGenError, VocabularyError
from tui_gen.data.vocab import PAD, UNK, Vocab
from tui_gen.model.network import CharRNN, OneStep, State, state_from_tensors, state_tensors

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


OWN_SEEDS = 4  # samples from the corpus's own start when no lecture seed can be written


def sample_seeds(vocab: Vocab, framing: str) -> list[str]:
    """The seeds training's samples start from: the lecture's that this vocabulary can write (the
    tweets: all of them). A corpus with none of their characters (lower-case text, another script)
    gets OWN_SEEDS samples from the start of a line (lines framing, or a stream with line breaks),
    else from its most frequent letters (a stream without any), so that its samples are never none."""
    fitting = [s for s in LECTURE_SEEDS if not vocab.unknown_chars(s)]
    if fitting:
        return fitting
    if framing == "lines" or "\n" in vocab:
        return [""] * OWN_SEEDS  # encode_seed starts each after a line break: different draws of a line
    letters = [c for c in vocab.chars if c.isalpha()] or list(vocab.chars)
    return letters[:OWN_SEEDS]


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


def in_inference_mode(steps: Iterator[Token]) -> Iterator[Token]:
    """`steps`, each run in inference mode, and the caller's code between them in its own mode: what
    @torch.inference_mode() does for a generator, except that a caller already in inference mode (the
    CLI holds it around its whole loop) is not made to enter it again at each step. The decorator
    leaves and re-enters it around every yield, and that costs 7 us of a 110 us character (issue 22)."""
    try:
        while True:
            if torch.is_inference_mode_enabled():
                token = next(steps, None)
            else:
                with torch.inference_mode():
                    token = next(steps, None)
            if token is None:
                return
            yield token
    finally:  # closed early (the caller stopped reading): close the steps too, now, not when collected
        close = getattr(steps, "close", None)
        if close is not None:
            close()


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

    def stream(self, seed: str, settings: SamplingSettings, max_chars: int) -> Iterator[Token]:
        """The characters after `seed`, one at a time (lazily: nothing runs before the first is asked for)."""
        return in_inference_mode(self._stream(seed, settings, max_chars))

    def _stream(self, seed: str, settings: SamplingSettings, max_chars: int) -> Iterator[Token]:
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

    def branch(self, seed: str, prefix: str, char: str, settings: SamplingSettings, max_chars: int) -> Iterator[Token]:
        """Generation from seed + prefix with `char` forced next: yields the forced character's token
        first (so character len(prefix) of prefix + output is `char`), then up to max_chars - 1 drawn
        ones. `prefix` is the generated text before the point where the user picked `char`."""
        return in_inference_mode(self._branch(seed, prefix, char, settings, max_chars))

    def _branch(self, seed: str, prefix: str, char: str, settings: SamplingSettings, max_chars: int) -> Iterator[Token]:
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
        (after `text`, whose end a stop string may complete).

        The hot loop of generation, written for its per-step overhead (issue 22), and drawing exactly
        what it drew before for a fixed generator: the model steps through OneStep (the same kernels);
        a draw is OneDraw (torch.multinomial's own algorithm, without its checks); and the checks
        and the argmax run in numpy on the probabilities' own memory (a numpy call costs a fraction
        of a torch op on a tensor this small, and computes the same: IEEE division, the first maximum)."""
        banned = self._banned(logits)
        tail_len = max((len(s) for s in self.stop_strings), default=0)
        tail = text[-tail_len:] if tail_len else ""
        step = _stepper(self.model, state, logits.device)
        draw = OneDraw(logits.shape[-1], self.generator)
        for _ in range(max_chars):
            logits = logits + banned
            raw = torch.softmax(logits, -1)
            raw_np = raw.cpu().numpy()
            if not _finite(raw_np):  # NaN or +inf scores, at any step, not just the first
                raise TuiGenError(DIVERGED)
            temperature, top_k, top_p = settings.temperature, settings.top_k, settings.top_p  # may change
            plain = top_k == 0 and top_p >= 1.0
            if temperature < GREEDY_BELOW:
                i = int(raw_np.argmax())
            elif plain and temperature == 1.0:
                i = draw(raw_np)
            elif plain:  # next_char_probs's steps, less its copy and its checks that `raw` has made
                settings.validate()
                probs = torch.softmax(logits / temperature, -1).cpu().numpy()
                if not _finite(probs):
                    raise TuiGenError(DIVERGED)
                i = draw(probs)
            else:
                i = draw(next_char_probs(logits, settings).cpu().numpy())
            ch = self.vocab.char_of(i)
            yield Token(ch, float(raw_np[i]), self._top(raw))
            if tail_len:
                tail = (tail + ch)[-tail_len:]
                if self._stops(tail):
                    return
            logits = step(i)[0].float()

    def complete(self, seed: str, settings: SamplingSettings, max_chars: int) -> str:
        return "".join(t.char for t in self.stream(seed, settings, max_chars))


def _stepper(model: CharRNN, state: State, device: torch.device) -> Callable[[int], torch.Tensor]:
    """Feed one id, get the logits [1, vocab] after it: OneStep for a CharRNN; any other model with
    CharRNN.step's signature (the tests' stand-ins for a model) is stepped through its step()."""
    if isinstance(model, CharRNN):
        return OneStep(model, state)
    one = torch.empty(1, dtype=torch.long, device=device)

    def step(i: int) -> torch.Tensor:
        nonlocal state
        one[0] = i
        out, state = model.step(one, state)
        return out

    return step


class OneDraw:
    """One draw at a time from probabilities [vocab] (a float32 numpy array, non-negative, finite, with
    some mass): each call the index that torch.multinomial(torch.from_numpy(probs), 1, generator=generator)
    gives, and the generator left in the same state.

    It is torch's own algorithm for one sample (aten's multinomial: the argmax of p / q, q drawn from
    Exp(1) by exponential_ into a float32 tensor like p), without what makes a call cost 20 us here:
    its checks of the distribution (reductions read back one by one: the caller has checked) and its
    allocations. The division and the argmax run in numpy, on the noise tensor's own memory: IEEE
    division is exact to the last bit wherever it runs, and both argmaxes take the first maximum."""

    def __init__(self, size: int, generator: torch.Generator | None):
        self.generator = generator
        self._noise = torch.empty(size, dtype=torch.float32)
        self._noise_np = self._noise.numpy()  # the same memory
        self._ratio = np.empty(size, dtype=np.float32)

    def __call__(self, probs: np.ndarray) -> int:
        self._noise.exponential_(1, generator=self.generator)
        return int(np.divide(probs, self._noise_np, out=self._ratio).argmax())


def _finite(probs: np.ndarray) -> bool:
    """Whether every probability is a number: a sum of values in [0, 1] is finite unless one is not."""
    return math.isfinite(float(probs.sum()))


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
