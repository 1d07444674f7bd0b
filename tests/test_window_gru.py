"""window_gru, the GRU layer training runs on the CPU: nn.GRU's maths (float64 to rounding), bf16
products close to them, the same loss as the reference path after training, exact resume on every
precision, and --precision's rules (auto: bf16 only where the CPU does it natively)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from tui_gen.core.config import TrainConfig
from tui_gen.data.corpus import CorpusText
from tui_gen.model.network import CharRNN, ModelConfig, masked_nll
from tui_gen.model.window_gru import window_gru
from tui_gen.training.checkpoint import load_checkpoint
from tui_gen.training.device import matmul_dtype, native_bf16
from tui_gen.training.trainer import Trainer


def reference_and_window(matmul: torch.dtype, steps: int = 7, batch: int = 5, inputs: int = 6, hidden: int = 9):
    """The gradients of one random loss through nn.GRU (float64) and through window_gru."""
    torch.manual_seed(0)
    gru = nn.GRU(inputs, hidden).double()
    x = torch.randn(steps, batch, inputs, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(batch, hidden, dtype=torch.float64, requires_grad=True)
    w_out, w_last = torch.randn(steps, batch, hidden, dtype=torch.float64), torch.randn(batch, hidden).double()
    wrt = [x, h0, *gru.parameters()]

    out, last = gru(x, h0[None])
    ref = (out, last[0], torch.autograd.grad((out * w_out).sum() + (last[0] * w_last).sum(), wrt))
    weights = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    out, last = window_gru(x, h0, weights, matmul)
    ours = (out, last, torch.autograd.grad((out * w_out).sum() + (last * w_last).sum(), wrt))
    return ref, ours


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).norm() / b.norm()).detach())


def test_window_gru_is_nn_grus_maths_forward_and_backward():
    (out, last, grads), (w_out, w_last, w_grads) = reference_and_window(torch.float64)
    assert relative(w_out, out) < 1e-13 and relative(w_last, last) < 1e-13
    assert len(grads) == len(w_grads) == 6  # the input, the first state and the four weights
    for name, g, w in zip(["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"], grads, w_grads, strict=True):
        assert relative(w, g) < 1e-13, name


def test_bf16_products_stay_within_bf16s_rounding_of_the_exact_gradients():
    (out, last, grads), (w_out, _, w_grads) = reference_and_window(torch.bfloat16, steps=20)
    assert relative(w_out.double(), out) < 1e-2
    for g, w in zip(grads, w_grads, strict=True):
        assert relative(w.double(), g) < 2e-2  # bf16 keeps 8 bits: ~0.4% per product, summed over 20 steps


def model_and_batch(embedding: int):
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=30, hidden_sizes=[12, 20], embedding_dim=embedding))
    ids, targets = torch.randint(1, 30, (4, 11)), torch.randint(1, 30, (4, 11))
    state = [torch.randn(1, 4, 12), torch.randn(1, 4, 20)]
    return model, ids, targets, state


@pytest.mark.parametrize("embedding", [8, 0])  # an embedding, and the lecture's one-hot input
def test_the_model_trains_through_window_gru_with_the_same_logits_state_and_gradients(embedding):
    model, ids, targets, state = model_and_batch(embedding)
    with torch.no_grad():  # evaluation: the torch layers
        ref_logits, ref_state = model(ids, state)
    assert model._trains_window_gru()
    logits, new_state = model(ids, state)
    assert logits.shape == ref_logits.shape and torch.allclose(logits, ref_logits, atol=1e-5)
    for a, b in zip(new_state, ref_state, strict=True):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
    loss = masked_nll(logits, targets, torch.ones_like(targets))[0]
    ours = torch.autograd.grad(loss, list(model.parameters()))
    model._trains_window_gru = lambda: False  # the reference path: nn.GRU under autograd
    ref_loss = masked_nll(model(ids, state)[0], targets, torch.ones_like(targets))[0]
    ref = torch.autograd.grad(ref_loss, list(model.parameters()))
    for a, b in zip(ours, ref, strict=True):
        assert relative(a, b) < 1e-5


def test_an_lstm_and_a_model_being_evaluated_keep_the_torch_layers():
    lstm = CharRNN(ModelConfig(vocab_size=30, hidden_sizes=[8], cell="lstm"))
    assert not lstm._trains_window_gru()
    gru = CharRNN(ModelConfig(vocab_size=30, hidden_sizes=[8]))
    with torch.inference_mode():
        assert not gru._trains_window_gru()


# ---- training: the same loss as the reference path, exact resume ------------------------------------------


TEXT = "".join(f"the {w} sat on the {v} mat\n" for w in ["cat", "dog", "owl", "bee"] for v in ["red", "big", "old"]) * 6


def corpus(framing: str = "lines") -> CorpusText:
    return CorpusText(name="mats", text=TEXT, framing=framing)


def train_loss(make_config, precision: str, reference: bool, monkeypatch, steps: int = 60) -> float:
    cfg = make_config(precision=precision, max_steps=steps, eval_every=10**6, first_eval=0, lr=1e-2)
    trainer = Trainer(corpus(), cfg)
    if reference:
        monkeypatch.setattr(trainer.model, "_trains_window_gru", lambda: False)
    losses = [trainer._train_step()[0] for _ in range(steps)]
    return sum(losses[-10:]) / 10  # bits/char over the last ten steps


def test_after_training_the_loss_matches_the_reference_path(make_config, monkeypatch):
    """60 steps of the tiny model: nn.GRU in fp32 (the reference), window_gru in fp32 and in bf16. fp32
    agrees to float rounding; bf16 within 0.05 bits/char (the tolerance this test states)."""
    reference = train_loss(make_config, "fp32", True, monkeypatch)
    assert reference < 2.5  # it learned: the mats' text starts near log2(vocabulary) = 4.3
    assert abs(train_loss(make_config, "fp32", False, monkeypatch) - reference) < 1e-3
    assert abs(train_loss(make_config, "bf16", False, monkeypatch) - reference) < 0.05


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
@pytest.mark.parametrize(("framing", "overlap"), [("lines", 0), ("lines", 4), ("stream", 4)])
def test_resume_is_bit_identical_on_either_precision(tmp_path, make_config, precision, framing, overlap):
    # a constant rate: a cosine schedule depends on the budget, which differs between the two runs;
    # lines with overlap 0 (the default: the state carried through a line) is the path a user gets
    cfg = make_config(precision=precision, dropout=0.2, eval_every=9, lr=5e-3, lr_schedule="constant", overlap=overlap)
    straight = Trainer(corpus(framing), replace(cfg, max_steps=20), run_dir=tmp_path / "straight")
    list(straight.run())
    first = Trainer(corpus(framing), replace(cfg, max_steps=8), run_dir=tmp_path / "split")
    list(first.run())
    ck = load_checkpoint(tmp_path / "split" / "last.safetensors")
    second = Trainer(corpus(framing), replace(cfg, max_steps=20), run_dir=tmp_path / "split", resume=ck)
    list(second.run())
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name


# ---- --precision ---------------------------------------------------------------------------------------------


def test_auto_precision_is_bf16_only_where_the_cpu_has_it_natively(make_config):
    cpu = torch.device("cpu")
    assert matmul_dtype(cpu, "fp32") == torch.float32
    assert matmul_dtype(cpu, "bf16") == torch.bfloat16
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert native_bf16(cpu) == native
    assert matmul_dtype(cpu, "auto") == (torch.bfloat16 if native else torch.float32)
    trainer = Trainer(corpus(), make_config(precision="auto", max_steps=1))
    assert trainer.model.matmul_dtype == matmul_dtype(cpu, "auto")
    assert (", bf16 products" in next(iter(trainer.run())).device) == native  # the start line says which


def test_a_checkpoint_from_before_precision_resumes_in_fp32_as_it_trained():
    saved = TrainConfig().to_json()
    del saved["precision"]
    assert TrainConfig.from_json(saved).precision == "fp32"
    assert TrainConfig.from_json({**saved, "bf16": True}).precision == "bf16"
    assert TrainConfig.from_json({**saved, "precision": "auto"}).precision == "auto"
