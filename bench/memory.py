"""Peak memory of priming, evaluating and loading, each in a fresh subprocess (its VmHWM), with the
default model (hidden [128, 256], embedding 32).

    tui-gen: prime a 1 MB seed; `tui-gen eval RUN FILE` on a 10 MB line; load a sparse checkpoint
    baseline (same run): the one-pass way (the code before issue 11) on a smaller input, and that
    figure extrapolated linearly to the full input (its cost per character times the characters)

Targets: the 1 MB seed and the 10 MB line under 600 MB each.

Corpora bigger than memory (corpus_rows; `python -m bench --memory --corpus-mb 1000`): a corpus of
the tweets repeated to the size asked for, generated in a temporary folder (never kept), encoded into
its cache, then trained on. Targets: peak RSS under 1.5 GB while building and while training, the
build at least 50 MB/s, training chars/s within 10% of the tweets' in the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from .common import REPO

MB = 10**6
TARGET = 600 * MB

_COMMON = textwrap.dedent("""
    import sys, torch
    from tui_gen.model.network import CharRNN, ModelConfig
    from tui_gen.data.vocab import Vocab

    def peak():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    VOCAB = Vocab([chr(c) for c in range(32, 127)] + ["\\n"])
    def default_model():
        torch.manual_seed(0)
        return CharRNN(ModelConfig(vocab_size=len(VOCAB))).eval()
    def text(n):
        words = "make it great the people we will win jobs America".split()
        out, i = [], 0
        while sum(map(len, out)) < n:
            out.append(words[i % len(words)] + " ")
            i += 1
        return "".join(out)[:n]
""")

PRIME = _COMMON + textwrap.dedent("""
    from tui_gen.model.sample import encode_seed, prime
    n, way = int(sys.argv[1]), sys.argv[2]
    model = default_model()
    ids = encode_seed(VOCAB, text(n), "lines")
    with torch.inference_mode():
        if way == "chunked":
            prime(model, ids)
        else:  # before issue 11: the whole seed in one pass
            model(ids)
    print(peak())
""")

EVAL = _COMMON + textwrap.dedent("""
    import contextlib, io, math
    from tui_gen.data.corpus import validation_batches
    from tui_gen.model.network import masked_nll
    n, way, ckpt, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    path = f"{folder}/line-{n}.txt"
    with open(path, "w") as f:
        f.write(text(n) + "\\n")
    if way == "chunked":  # the real command, end to end
        from tui_gen.cli.main import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["eval", ckpt, path, "--device", "cpu"]) == 0
    else:  # before issue 11: each batch through the model whole
        from tui_gen.training.checkpoint import load_checkpoint
        ck = load_checkpoint(ckpt)
        line = open(path).read().split("\\n")[0]
        with torch.inference_mode():
            for b in validation_batches([line], ck.vocab, 100, 8):
                logits, _ = ck.model(b.inputs)
                masked_nll(logits, b.targets, b.mask)
    print(peak())
""")

LOAD = _COMMON + textwrap.dedent("""
    import json, struct
    path, way = sys.argv[1], sys.argv[2]
    if way == "ours":
        from tui_gen.training.checkpoint import load_checkpoint
        load_checkpoint(path)
    else:  # before issue 11: the whole file, then every tensor, then the model
        from safetensors.torch import load
        from tui_gen.model.network import ModelConfig
        with open(path, "rb") as f:
            tensors = load(f.read())
        (n,) = struct.unpack("<Q", open(path, "rb").read(8))
        meta = json.loads(json.loads(open(path, "rb").read(8 + n)[8:])["__metadata__"]["tui_gen"])
        model = CharRNN(ModelConfig(**meta["model_config"]))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    print(peak())
""")


CACHE_BUILD = _COMMON + textwrap.dedent("""
    import time
    from tui_gen.data.corpus import load_corpus
    path, data = sys.argv[1], sys.argv[2]
    t0, c0 = time.perf_counter(), time.process_time()
    load_corpus(path, data_dir=data)
    print(time.perf_counter() - t0, time.process_time() - c0, peak())
""")

CACHE_TRAIN = _COMMON + textwrap.dedent("""
    import time
    from dataclasses import replace
    from tui_gen.core.config import TrainConfig
    from tui_gen.data.corpus import load_corpus
    from tui_gen.training.trainer import Trainer
    path, data, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    corpus = load_corpus(path, data_dir=data)  # the cache built before: reused
    trainer = Trainer(corpus, replace(TrainConfig(), val_fraction=0.001, device="cpu", threads=threads))
    for _ in range(3):  # warm-up
        trainer._train_step()
    chars, t0 = 0, time.perf_counter()
    for _ in range(steps):
        chars += trainer._train_step()[1]
    print(0, chars / (time.perf_counter() - t0), peak())
""")


def _child_out(code: str, *args: str, threads: int) -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=3600
    )
    if r.returncode != 0:
        raise RuntimeError(f"memory benchmark child failed:\n{r.stderr[-3000:]}")
    return [float(x) for x in r.stdout.split()[-3:]]


def generate_corpus(path: Path, size: int) -> None:
    """The tweets repeated to `size` bytes (cut at a line end): lines framing, the tweets' alphabet."""
    from .common import tweets_path

    block = Path(tweets_path()).read_bytes()
    with path.open("wb") as f:
        left = size
        while left > 0:
            f.write(block[:left])
            left -= len(block)


def corpus_rows(size: int = 1000 * MB, threads: int = 2, steps: int = 20, rounds: int = 2) -> list[tuple]:
    from .common import tweets_path

    limit = 1.5e9
    with tempfile.TemporaryDirectory(prefix="tui-gen-bench-corpus-") as tmp:
        big = Path(tmp) / "big.txt"
        generate_corpus(big, size)
        seconds, cpu_seconds, build_peak = _child_out(CACHE_BUILD, str(big), tmp, threads=threads)
        tweets_cache = str(Path(tmp) / "tweets-data")
        _child_out(CACHE_BUILD, tweets_path(), tweets_cache, threads=threads)
        rates: dict[str, list[float]] = {"big": [], "tweets": []}
        train_peak = 0.0
        for _ in range(rounds):  # interleaved: a busy machine slows both alike
            _, rate, _ = _child_out(CACHE_TRAIN, tweets_path(), tweets_cache, str(steps), str(threads), threads=threads)
            rates["tweets"].append(rate)
            _, rate, pk = _child_out(CACHE_TRAIN, str(big), tmp, str(steps), str(threads), threads=threads)
            rates["big"].append(rate)
            train_peak = max(train_peak, pk)
        on_disk = sum(f.stat().st_size for f in Path(tmp).glob("cache/*/*"))
    mbps, cpu_mbps = size / MB / seconds, size / MB / cpu_seconds
    big_rate, tweets_rate = max(rates["big"]), max(rates["tweets"])
    name = f"{size / MB:,.0f} MB corpus"
    return [
        (
            f"{name}: cache build (peak RSS, target < 1.5 GB: {'under' if build_peak < limit else 'OVER'})",
            f"{build_peak / MB:,.0f} MB",
            "before: the first 64 MiB only, as one string",
            "",
        ),
        (
            f"{name}: cache build speed (target >= 50 MB/s: {'met' if mbps >= 50 else 'MISSED'})",
            f"{mbps:,.0f} MB/s",
            f"{seconds:.1f} s ({cpu_mbps:,.0f} MB per CPU-second: the figure on an idle "
            f"machine); cache on disk {on_disk / MB:,.0f} MB",
            "",
        ),
        (
            f"{name}: training (peak RSS, target < 1.5 GB: {'under' if train_peak < limit else 'OVER'})",
            f"{train_peak / MB:,.0f} MB",
            "",
            "",
        ),
        (
            f"{name}: training chars/s (target within 10% of the tweets': "
            f"{'met' if big_rate >= 0.9 * tweets_rate else 'MISSED'})",
            f"{big_rate:,.0f}",
            f"tweets: {tweets_rate:,.0f} (best of {rounds}, {steps} steps each)",
            f"{big_rate / tweets_rate:.2f}x",
        ),
    ]


def _child(code: str, *args: str, threads: int) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800
    )
    if r.returncode != 0:
        raise RuntimeError(f"memory benchmark child failed:\n{r.stderr[-3000:]}")
    return int(r.stdout.split()[-1])


def _sampled_peak(code: str, *args: str, threads: int, seconds: float) -> tuple[int, bool]:
    """Peak RSS (VmHWM, read from /proc every 0.5 s) of a child run for at most `seconds`, and whether
    it finished. For a run too long to wait for (a 10 MB line is 10 M sequential steps: over 30
    minutes here) whose memory is all allocated before its loop: the RSS is flat from then on."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    p = subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak, deadline = 0, time.monotonic() + seconds
    try:
        while p.poll() is None and time.monotonic() < deadline:
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]) * 1024)
            except OSError:
                break
            time.sleep(0.5)
        return peak, p.poll() is not None
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


def _baseline_peak(code: str, small: int, full: int, threads: int, *extra: str) -> tuple[int, int]:
    """The one-pass way on `small` characters, and that cost per character extrapolated to `full`
    (above the fixed cost of starting Python and torch, measured on a tiny input)."""
    fixed = _child(code, "1000", "one-pass", *extra, threads=threads)
    at_small = _child(code, str(small), "one-pass", *extra, threads=threads)
    return at_small, fixed + (at_small - fixed) * full // small


def _default_checkpoint(folder: Path) -> str:
    """A checkpoint of the default model (random weights), lines framing, as `tui-gen eval` reads."""
    import torch

    from tui_gen.core.config import TrainConfig
    from tui_gen.data.vocab import Vocab
    from tui_gen.model.network import CharRNN, ModelConfig
    from tui_gen.training.checkpoint import save_checkpoint

    vocab = Vocab([chr(c) for c in range(32, 127)] + ["\n"])
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=len(vocab)))
    meta = {
        "kind": "best",
        "framing": "lines",
        "vocab": vocab.to_json(),
        "model_config": model.config.to_json(),
        "train_config": TrainConfig().to_json(),
        "step": 1,
        "corpus": "bench",
    }
    path = folder / "default.safetensors"
    save_checkpoint(path, {f"model.{k}": v for k, v in model.state_dict().items()}, meta)
    return str(path)


def sparse_checkpoint(path: Path, config, vocab) -> int:
    """A valid checkpoint of `config` whose weights are all zeros and not on disk (a sparse file of a
    few KB). Returns its weights' bytes. tests/test_checkpoint_memory.py uses it too."""
    import struct

    import torch

    from tui_gen.core.config import TrainConfig
    from tui_gen.model.network import CharRNN
    from tui_gen.training.checkpoint import FORMAT_VERSION

    with torch.device("meta"):
        shapes = {f"model.{k}": list(v.shape) for k, v in CharRNN(config).state_dict().items()}
    table, offset = {}, 0
    for name, shape in shapes.items():
        n = 4 * int(torch.Size(shape).numel())
        table[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "best",
        "framing": "lines",
        "vocab": vocab.to_json(),
        "model_config": config.to_json(),
        "train_config": TrainConfig().to_json(),
        "step": 1,
    }
    table["__metadata__"] = {"tui_gen": json.dumps(meta)}
    head = json.dumps(table).encode()
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        f.truncate(8 + len(head) + offset)
    return offset


def _sparse_checkpoint(folder: Path) -> tuple[str, int]:
    """A valid checkpoint of a 626 MiB model (hidden [4096, 4096]) that takes a few KB on disk."""
    from tui_gen.data.vocab import Vocab
    from tui_gen.model.network import ModelConfig

    vocab = Vocab([chr(c) for c in range(32, 127)] + ["\n"])
    path = folder / "sparse.safetensors"
    offset = sparse_checkpoint(path, ModelConfig(vocab_size=len(vocab), hidden_sizes=[4096, 4096]), vocab)
    return str(path), offset


def _row(what: str, ours: int, full: int, baseline: tuple[int, int], small: int) -> tuple:
    at_small, extrapolated = baseline
    verdict = "under" if ours < TARGET else "OVER"
    return (
        f"{what} (peak RSS, target < 600 MB: {verdict})",
        f"{ours / MB:,.0f} MB",
        f"one pass: {at_small / MB:,.0f} MB at {small / MB:g} MB, so ~{extrapolated / MB:,.0f} MB at "
        f"{full / MB:g} MB (extrapolated)",
        f"{extrapolated / ours:.1f}x less",
    )


def run(
    threads: int = 2, seed_chars: int = 1 * MB, line_chars: int = 10 * MB, eval_seconds: float = 90.0
) -> list[tuple]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="tui-gen-bench-memory-") as tmp:
        folder = Path(tmp)
        small = 100_000
        ours = _child(PRIME, str(seed_chars), "chunked", threads=threads)
        rows.append(
            _row(
                f"prime a {seed_chars / MB:g} MB seed",
                ours,
                seed_chars,
                _baseline_peak(PRIME, small, seed_chars, threads),
                small,
            )
        )

        ckpt = _default_checkpoint(folder)
        ours, finished = _sampled_peak(
            EVAL, str(line_chars), "chunked", ckpt, tmp, threads=threads, seconds=eval_seconds
        )
        what = f"tui-gen eval, one {line_chars / MB:g} MB line" + ("" if finished else f", first {eval_seconds:g} s")
        rows.append(_row(what, ours, line_chars, _baseline_peak(EVAL, small, line_chars, threads, ckpt, tmp), small))

        sparse, model_bytes = _sparse_checkpoint(folder)
        ours = _child(LOAD, sparse, "ours", threads=threads)
        old = _child(LOAD, sparse, "one-pass", threads=threads)
        rows.append(
            (
                f"load a sparse checkpoint, {model_bytes / 2**20:.0f} MiB of weights (peak RSS)",
                f"{ours / MB:,.0f} MB",
                f"whole file, then tensors, then model: {old / MB:,.0f} MB",
                f"{old / ours:.1f}x less",
            )
        )
    return rows
