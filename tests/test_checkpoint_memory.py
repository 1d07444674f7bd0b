"""Loading a checkpoint allocates about one model (plus its training state), not the file's bytes, then
every tensor, then the model: measured on a sparse file (hundreds of MB apparent, a few KB on disk)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from support.data import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from bench import memory as bench_memory  # noqa: E402 - the sparse file the bench measures
from tui_gen.core.config import TrainConfig
from tui_gen.core.errors import CheckpointError
from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CharRNN, ModelConfig
from tui_gen.training.checkpoint import FORMAT_VERSION, MAX_PARAMETERS, load_checkpoint, save_checkpoint

VOCAB = Vocab.build(["Hello world, make it great _E_\n"])


def meta_for(config: ModelConfig) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "kind": "best",
        "framing": "lines",
        "vocab": VOCAB.to_json(),
        "model_config": config.to_json(),
        "train_config": TrainConfig().to_json(),
        "step": 1,
    }


def sparse_checkpoint(path: Path, config: ModelConfig) -> int:
    """A valid checkpoint of `config` whose weights are all zeros and not on disk. Its weights' bytes."""
    return bench_memory.sparse_checkpoint(path, config, VOCAB)


def test_a_sparse_checkpoint_loads_in_about_one_model_of_memory(tmp_path):
    config = ModelConfig(vocab_size=len(VOCAB), hidden_sizes=[2048, 3584], embedding_dim=32)
    path = tmp_path / "sparse.safetensors"
    model_bytes = sparse_checkpoint(path, config)
    small = tmp_path / "small.safetensors"
    sparse_checkpoint(small, ModelConfig(vocab_size=len(VOCAB), hidden_sizes=[8, 8], embedding_dim=4))
    assert model_bytes > 250e6 and path.stat().st_blocks * 512 < 2**20  # big, yet nothing on disk
    script = textwrap.dedent(f"""
        import sys
        import torch
        from tui_gen.training.checkpoint import load_checkpoint

        def status(key):
            for line in open("/proc/self/status"):
                if line.startswith(key):
                    return int(line.split()[1]) * 1024

        load_checkpoint({str(small)!r})  # warm up: torch's first use of its modules is not loading
        before = status("VmRSS:")
        ck = load_checkpoint({str(path)!r})
        grew = status("VmHWM:") - before
        assert all(not p.any() for p in ck.model.parameters())  # the holes read as zeros
        print(grew)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    grew = int(r.stdout.split()[-1])
    # one model, plus a little: one tensor's finiteness mask, allocator slack
    assert grew < 1.3 * model_bytes, (
        f"loading grew RSS by {grew / 2**20:.0f} MiB for a {model_bytes / 2**20:.0f} MiB model"
    )


def test_bytes_after_the_last_tensor_are_refused(tmp_path):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden_sizes=[8], embedding_dim=4))
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = meta_for(model.config)
    path = save_checkpoint(tmp_path / "x.safetensors", tensors, meta)
    load_checkpoint(path)
    with path.open("ab") as f:
        f.write(b"\x00" * 4096)
    with pytest.raises(CheckpointError, match="4096 bytes after its last tensor"):
        load_checkpoint(path)


def test_a_model_beyond_the_parameter_cap_is_refused_by_its_header(tmp_path):
    config = ModelConfig(vocab_size=len(VOCAB), hidden_sizes=[8192, 8192, 8192], embedding_dim=32)
    with torch.device("meta"):
        assert sum(t.numel() for t in CharRNN(config).state_dict().values()) > MAX_PARAMETERS
    path = tmp_path / "huge.safetensors"
    sparse_checkpoint(path, config)  # ~4.0 GB, under MAX_FILE_BYTES: only the cap refuses it, unread
    with pytest.raises(CheckpointError, match="parameters"):
        load_checkpoint(path)


def test_loaded_weights_are_the_models_own_tensors(tmp_path):
    """Checkpoint.tensors holds the weights as "model.*" without a second copy of them."""
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden_sizes=[8, 6], cell="lstm", embedding_dim=4))
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors["optim.0.exp_avg"] = torch.randn(3, 4)
    ck = load_checkpoint(save_checkpoint(tmp_path / "x.safetensors", tensors, meta_for(model.config)))
    for k, v in ck.model.state_dict().items():
        assert ck.tensors["model." + k].data_ptr() == v.data_ptr()
        assert torch.equal(v, tensors["model." + k])
    assert torch.equal(ck.tensors["optim.0.exp_avg"], tensors["optim.0.exp_avg"])


def test_loading_a_checkpoint_imports_neither_dynamo_nor_sympy(tmp_path):
    """The model a checkpoint fills is built uninitialised without torch's meta kernels, which import
    torch._dynamo and sympy: over a second of CPU at the UI's first checkpoint, taken from training."""
    model = CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden_sizes=[8, 6], embedding_dim=4))
    path = save_checkpoint(
        tmp_path / "x.safetensors", {f"model.{k}": v for k, v in model.state_dict().items()}, meta_for(model.config)
    )
    code = textwrap.dedent(f"""
        import sys
        import torch
        from tui_gen.training.checkpoint import load_checkpoint
        ck = load_checkpoint({str(path)!r})
        print(sorted(m for m in ("torch._dynamo", "sympy") if m in sys.modules))
        print(sum(float(p.detach().abs().sum()) for p in ck.model.parameters()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    imported, total = out.split("\n")[:2]
    assert imported == "[]"
    assert float(total) == pytest.approx(sum(float(p.detach().abs().sum()) for p in model.parameters()), rel=1e-6)
