"""The model, the masked loss, and the lines framing's windows."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from tui_gen.core.config import TrainConfig
from tui_gen.data.corpus import LineWindows, frame_line, load_corpus, split_corpus, training_texts
from tui_gen.data.vocab import PAD, UNK, Vocab
from tui_gen.model.network import CharRNN, ModelConfig, masked_nll

V = 20


def small_model(embedding_dim=8, cell="gru", seed=0, dropout=0.0, hidden=(12, 10)):
    torch.manual_seed(seed)
    m = CharRNN(
        ModelConfig(vocab_size=V, hidden_sizes=list(hidden), cell=cell, embedding_dim=embedding_dim, dropout=dropout)
    )
    return m  # float32: nn.GRU in float64 on a CPU is ~300x slower


def padded_batch(seed=0, B=4, T=11):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([T, 7, 1, 4])[:B]
    inputs = torch.randint(2, V, (B, T), generator=g)
    targets = torch.randint(2, V, (B, T), generator=g)
    mask = torch.arange(T)[None, :] < lengths[:, None]
    inputs = inputs.masked_fill(~mask, PAD)
    targets = targets.masked_fill(~mask, PAD)
    return inputs, targets, mask


# ---- the masked loss ----------------------------------------------------------------------------


def test_masked_loss_equals_mean_over_real_characters_by_hand():
    inputs, targets, mask = padded_batch()
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(*inputs.shape, V, generator=g, dtype=torch.float64) * 3
    nll, count = masked_nll(logits, targets, mask)
    total, n = 0.0, 0
    for b in range(inputs.shape[0]):
        for t in range(inputs.shape[1]):
            if not mask[b, t]:
                continue
            row = logits[b, t].tolist()
            top = max(row)
            log_z = top + math.log(sum(math.exp(x - top) for x in row))
            total += log_z - row[int(targets[b, t])]
            n += 1
    assert int(count) == n == int(mask.sum()) == 4 * 0 + 11 + 7 + 1 + 4
    assert float(nll) == pytest.approx(total, rel=1e-6)
    assert float(nll / count) == pytest.approx(total / n, rel=1e-6)


def test_padding_targets_do_not_count_even_if_they_are_real_ids():
    # The mask decides, not the target value: PAD targets inside the mask would count, real ids
    # outside it would not.
    logits = torch.zeros(1, 3, V)
    targets = torch.tensor([[5, 6, 7]])
    nll, count = masked_nll(logits, targets, torch.tensor([[True, False, False]]))
    assert int(count) == 1
    assert float(nll) == pytest.approx(math.log(V), rel=1e-6)


@pytest.mark.parametrize("embedding_dim", [8, 0])
def test_gradient_is_identical_with_garbage_in_padded_positions(embedding_dim):
    inputs, targets, mask = padded_batch(seed=3)
    g = torch.Generator().manual_seed(4)
    garbage_in = inputs.clone()
    garbage_tg = targets.clone()
    garbage_in[~mask] = torch.randint(2, V, (int((~mask).sum()),), generator=g)
    garbage_tg[~mask] = torch.randint(2, V, (int((~mask).sum()),), generator=g)
    assert not torch.equal(garbage_in, inputs) and not torch.equal(garbage_tg, targets)

    def grads(x, y):
        model = small_model(embedding_dim=embedding_dim, seed=5)
        logits, _ = model(x)
        nll, count = masked_nll(logits, y, mask)
        (nll / count).backward()
        return float(nll.detach()), {k: p.grad.clone() for k, p in model.named_parameters()}

    loss_a, ga = grads(inputs, targets)
    loss_b, gb = grads(garbage_in, garbage_tg)
    assert loss_a == loss_b
    for k in ga:
        assert torch.equal(ga[k], gb[k]), k
    # and the garbage did change what the model computes at padded positions (the test can fail)
    model = small_model(embedding_dim=embedding_dim, seed=5)
    la, _ = model(inputs)
    lb, _ = model(garbage_in)
    assert not torch.equal(la[~mask], lb[~mask])


def test_one_hot_mode_keeps_padding_all_zero():
    model = small_model(embedding_dim=0)
    ids = torch.tensor([[PAD, UNK, 2, V - 1, PAD]])
    x = model._inputs(ids)
    assert x.shape == (1, 5, V)
    assert torch.equal(x[0, 0], torch.zeros(V, dtype=x.dtype))
    assert torch.equal(x[0, 4], torch.zeros(V, dtype=x.dtype))
    for pos, i in ((1, UNK), (2, 2), (3, V - 1)):
        assert torch.equal(x[0, pos], F.one_hot(torch.tensor(i), V).to(x.dtype))
    # a PAD input behaves like a zero input vector: the first layer sees nothing
    out_pad, _ = model(torch.tensor([[PAD]]))
    layer0 = model.layers[0]
    h, _ = layer0(torch.zeros(1, 1, V, dtype=torch.float32))
    h2, _ = model.layers[1](h)
    assert torch.allclose(out_pad, model.head(h2))


def test_embedding_mode_padding_row_is_zero_and_untrained():
    model = small_model(embedding_dim=8)
    assert torch.equal(model.embed.weight[PAD], torch.zeros(8))
    inputs, targets, mask = padded_batch()
    logits, _ = model(inputs)
    nll, count = masked_nll(logits, targets, mask)
    nll.backward()
    assert torch.equal(model.embed.weight.grad[PAD], torch.zeros(8))


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("embedding_dim", [8, 0])
def test_forward_with_state_equals_step_by_step(cell, embedding_dim):
    model = small_model(embedding_dim=embedding_dim, cell=cell, seed=2).eval()
    ids = torch.randint(2, V, (3, 13), generator=torch.Generator().manual_seed(6))
    full, full_state = model(ids)
    state = None
    steps = []
    for t in range(ids.shape[1]):
        out, state = model(ids[:, t : t + 1], state)
        steps.append(out)
    stepped = torch.cat(steps, dim=1)
    assert torch.allclose(full, stepped, atol=1e-6)

    def flat(s):
        return [t for layer in s for t in (layer if isinstance(layer, tuple) else (layer,))]

    for a, b in zip(flat(full_state), flat(state), strict=False):
        assert torch.allclose(a, b, atol=1e-6)
    # and in two chunks, carrying the state
    first, mid = model(ids[:, :5])
    second, _ = model(ids[:, 5:], mid)
    assert torch.allclose(torch.cat([first, second], 1), full, atol=1e-6)
    # the state matters: starting the second chunk from zero differs
    cold, _ = model(ids[:, 5:])
    assert not torch.allclose(cold, second, atol=1e-4)


def test_zero_state_is_zero_state():
    model = small_model(cell="lstm")
    ids = torch.randint(2, V, (2, 6), generator=torch.Generator().manual_seed(0))
    a, _ = model(ids)
    b, _ = model(ids, model.zero_state(2))
    assert torch.equal(a, b)


# ---- lines framing ------------------------------------------------------------------------------


def expected_windows(ids: list[int], seq_len: int, stride: int) -> list[list[int]]:
    """Windows of seq_len + 1 ids starting at 0, stride, 2 * stride, ... until the last target is in."""
    starts = [0]
    while starts[-1] + seq_len < len(ids) - 1:
        starts.append(starts[-1] + stride)
    return [(ids[s : s + seq_len + 1] + [PAD] * (seq_len + 1))[: seq_len + 1] for s in starts]


def test_lines_windows_cover_every_line_fully():
    seq_len, overlap = 16, 4
    stride = seq_len - overlap
    rng = np.random.default_rng(0)
    alphabet = list("abcdefghij klmnop")
    lengths = [3, 500, 0, 1, 14, 15, 16, 17, 27, 28, 29]
    lines = ["".join(rng.choice(alphabet, size=n)) for n in lengths]
    vocab = Vocab.build(training_texts(lines))
    lw = LineWindows(lines, vocab, seq_len, overlap, batch_size=5, seed=3)
    windows, _ = lw.all_windows()

    expected: list[list[int]] = []
    for ln in lines:
        expected += expected_windows(vocab.encode(frame_line(ln)).tolist(), seq_len, stride)
    assert windows.tolist() == expected
    # the 3-char line: one window, padded after its 4 targets; the 500-char line: 42 windows
    three = vocab.encode(frame_line(lines[0])).tolist()
    assert windows[0].tolist() == three + [PAD] * (seq_len + 1 - 5)
    assert len(expected_windows(vocab.encode(frame_line(lines[1])).tolist(), seq_len, stride)) == 42

    # One epoch of batches: each window exactly once, the mask marks exactly the real targets.
    rows = []
    for i in range(lw.steps_per_epoch):
        b = lw.batch(0, i)
        assert b.inputs.shape[1] == seq_len and b.mask.dtype == torch.bool
        for x, y, m in zip(b.inputs.tolist(), b.targets.tolist(), b.mask.tolist(), strict=False):
            rows.append(tuple([x[0]] + y))
            assert m == [t != PAD for t in y]  # real targets, then padding
            assert m == sorted(m, reverse=True)
    assert Counter(rows) == Counter(tuple(w) for w in expected)

    # Every real character of every line is a target in some window, at the positions expected.
    for ln in lines:
        ids = vocab.encode(frame_line(ln)).tolist()
        covered = Counter()
        for k, _w in enumerate(expected_windows(ids, seq_len, stride)):
            for j in range(1, seq_len + 1):
                if k * stride + j < len(ids):
                    covered[k * stride + j] += 1
        assert set(covered) == set(range(1, len(ids)))
        # overlapped positions are covered twice, never more
        assert max(covered.values()) <= 2


def test_carrying_the_state_each_row_walks_whole_lines_and_an_epoch_covers_every_window_once():
    """overlap 0: row r's windows follow one another through a line, reset where a line starts; an
    epoch takes every window once, but for fewer than batch_size left for another epoch's order."""
    seq_len, batch_size = 16, 5
    rng = np.random.default_rng(1)
    lengths = [3, 500, 0, 1, 14, 15, 16, 17, 27, 28, 29, 60, 61, 200]
    lines = ["".join(rng.choice(list("abcdefghij klmnop"), size=n)) for n in lengths]
    vocab = Vocab.build(training_texts(lines))
    lw = LineWindows(lines, vocab, seq_len, 0, batch_size=batch_size, seed=3)
    assert lw.carries_state and lw.steps_per_epoch == lw.n_windows // batch_size
    framed = {tuple(vocab.encode(frame_line(ln)).tolist()) for ln in lines}
    for epoch in (0, 1):
        seen: Counter = Counter()
        text: list[list[int]] = [[] for _ in range(batch_size)]  # each row's line so far
        whole_lines = 0
        for i in range(lw.steps_per_epoch):
            b = lw.batch(epoch, i)
            assert b.reset is not None and b.inputs.shape == (batch_size, seq_len)
            for r in range(batch_size):
                real = int(b.mask[r].sum())
                if b.reset[r]:  # a line starts here (or the epoch does: a stretch may start mid-line)
                    if text[r] and text[r][0] == vocab.id_of("\n"):  # not a stretch's first, begun mid-line
                        assert tuple(text[r]) in framed  # the line before it was walked whole
                        whole_lines += 1
                    text[r] = [int(b.inputs[r, 0])]
                else:
                    assert real > 0 and int(b.inputs[r, 0]) == text[r][-1]  # it goes on where it stopped
                text[r] += b.targets[r, :real].tolist()
                seen[(tuple(b.inputs[r].tolist()), tuple(b.targets[r].tolist()))] += 1
                if i == 0:
                    assert b.reset[r]
        assert max(seen.values()) == 1 and lw.n_windows - batch_size < sum(seen.values()) <= lw.n_windows
        assert whole_lines >= len(lines) - 2 * batch_size  # all but those at the stretches' ends
    # the same epoch is the same batches (exact resume reads them again)
    assert torch.equal(lw.batch(1, 3).inputs, lw.batch(1, 3).inputs)
    assert not torch.equal(lw.batch(0, 3).inputs, lw.batch(1, 3).inputs)


def test_carrying_the_state_with_fewer_windows_than_rows_takes_a_row_per_window():
    lines = ["ab", "cd"]
    vocab = Vocab.build(training_texts(lines))
    lw = LineWindows(lines, vocab, seq_len=16, overlap=0, batch_size=8, seed=0)
    b = lw.batch(0, 0)
    assert lw.batch_size == 2 and b.inputs.shape[0] == 2 and bool(b.reset.all()) and lw.steps_per_epoch == 1


def test_line_windows_tails_are_padded_and_masked():
    lines = ["x" * 40]
    vocab = Vocab.build(training_texts(lines))
    lw = LineWindows(lines, vocab, seq_len=16, overlap=4, batch_size=8, seed=0)
    b = lw.batch(0, 0)
    real = int(b.mask.sum())
    # 42 ids, 41 targets: windows at 0, 12, 24 and 36 (the last holding targets 37..41)
    assert b.inputs.shape[0] == 4
    assert real == 16 + 16 + 16 + 5
    windows, lengths = lw.all_windows()
    last = windows[lengths.argmin()]
    assert (last[lengths.min() :] == PAD).all()


def test_no_tweet_is_dropped(tweets_path):
    cfg = TrainConfig()
    corpus = load_corpus(tweets_path, framing="lines")
    split = split_corpus(corpus, "lines", cfg.val_fraction, cfg.seed)
    assert len(split.train) > 18_000
    vocab = Vocab.build(training_texts(split.train), cfg.min_char_count)
    lw = LineWindows(split.train, vocab, cfg.seq_len, cfg.overlap, cfg.batch_size, cfg.seed)
    nl = vocab.id_of("\n")
    windows, lengths = lw.all_windows()
    starts = windows[:, 0] == nl
    assert int(starts.sum()) == len(split.train)
    short = [ln for ln in split.train if len(ln) + 1 < cfg.seq_len]
    assert len(short) > 100  # there are plenty of tweets shorter than a window, and all of them are in
    # the line-start windows hold exactly the train lines' beginnings
    got = Counter(vocab.decode(w).strip("\n") for w in windows[starts, : cfg.seq_len + 1])
    want = Counter(vocab.decode(vocab.encode(frame_line(ln))[: cfg.seq_len + 1]).strip("\n") for ln in split.train)
    assert got == want
    # and every train character is a target at least once: real targets >= characters + final newlines
    assert int((lengths - 1).sum()) >= sum(len(ln) + 1 for ln in split.train)
