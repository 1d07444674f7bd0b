"""Several samples from one seed at once: one per temperature (a sweep: 0.5, 0.8, 1.2 side by side),
or N at the same settings. Primed once, then drawn as one batch, each row with its own temperature.

Each sample comes with its mean surprisal: the bits per character the model (at temperature 1, as
scoring sees it, score.py) gives the characters drawn, so 0.5's safe text and 1.2's adventurous one can be
compared on one scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tui_gen.core.errors import ConfigError
from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CharRNN, map_state
from tui_gen.model.sample import GREEDY_BELOW, SamplingSettings, check_temperature, encode_seed, next_char_probs, prime

MAX_SAMPLES = 256


@dataclass
class SweepSample:
    temperature: float
    text: str  # the continuation (without the seed)
    bits: list[float]  # each drawn character's surprisal under the model at temperature 1

    @property
    def mean_bits(self) -> float:
        return sum(self.bits) / len(self.bits) if self.bits else math.nan


@torch.inference_mode()
def sweep(
    model: CharRNN,
    vocab: Vocab,
    framing: str,
    seed: str,
    temperatures: list[float],
    max_chars: int,
    stop_strings: tuple[str, ...] = ("\n",),
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[SweepSample]:
    """One sample per temperature, in the order given (repeat a temperature for several samples)."""
    if not 1 <= len(temperatures) <= MAX_SAMPLES:
        raise ConfigError(f"a sweep takes 1 to {MAX_SAMPLES} temperatures, got {len(temperatures)}")
    for t in temperatures:
        check_temperature(t)
    if max_chars < 0:
        raise ConfigError(f"length must not be negative, got {max_chars}")
    shared = SamplingSettings(temperature=1.0, top_k=top_k, top_p=top_p)  # the cut-offs, after each row's T
    shared.validate()
    model.eval()
    logits, state = prime(model, encode_seed(vocab, seed, framing))
    rows = len(temperatures)
    state = map_state(state, lambda t: t.expand(-1, rows, -1).contiguous())
    logits = logits.float().expand(rows, -1)
    temps = torch.tensor(temperatures, dtype=torch.float32, device=logits.device)[:, None]
    greedy = temps[:, 0] < GREEDY_BELOW
    stops = tuple(s for s in stop_strings if s)
    texts = [seed] * rows
    bits: list[list[float]] = [[] for _ in range(rows)]
    out = [""] * rows
    done = [False] * rows
    for _ in range(max_chars):
        logp = torch.log_softmax(logits, -1)  # the model's own probabilities: what scoring reports
        # next_char_probs never draws padding or "unknown", and refuses scores that are not finite
        probs = next_char_probs(logits / torch.where(greedy[:, None], 1.0, temps), shared)
        ids = torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0]
        ids = torch.where(greedy.cpu(), probs.argmax(-1).cpu(), ids)  # greedy rows: the most likely
        for r, i in enumerate(ids.tolist()):
            if done[r]:
                continue
            ch = vocab.char_of(i)
            out[r] += ch
            texts[r] += ch
            bits[r].append(-float(logp[r, i]) / math.log(2))
            done[r] = any(texts[r].endswith(s) for s in stops)
        if all(done):
            break
        step, state = model.step(ids.to(logits.device), state)
        logits = step.float()
    return [SweepSample(t, o, b) for t, o, b in zip(temperatures, out, bits, strict=False)]


def samples(
    model: CharRNN,
    vocab: Vocab,
    framing: str,
    seed: str,
    settings: SamplingSettings,
    n: int,
    max_chars: int,
    stop_strings: tuple[str, ...] = ("\n",),
    generator: torch.Generator | None = None,
) -> list[SweepSample]:
    """n samples at the same settings, drawn as one batch."""
    settings.validate()
    return sweep(
        model,
        vocab,
        framing,
        seed,
        [settings.temperature] * n,
        max_chars,
        stop_strings,
        settings.top_k,
        settings.top_p,
        generator,
    )
