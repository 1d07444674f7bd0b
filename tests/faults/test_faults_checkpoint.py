"""Damaged and hostile checkpoints, from a real trained run: load_checkpoint raises CheckpointError
and nothing else, and `generate`, `eval`, `train --resume` exit 2 with one clear line."""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from support.data import tiny_text
from support.processes import run_cli, run_main
from tui_gen.core.errors import CheckpointError, TuiGenError
from tui_gen.training.checkpoint import FORMAT_VERSION, load_checkpoint

SUFFIX = ".safetensors"


# ---- building bad files from a good one ---------------------------------------------------------


def split_file(blob: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def join_file(header: dict, data: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def with_meta(blob: bytes, change) -> bytes:
    """The same tensors, with the tui-gen JSON metadata changed by change(meta) (returns the new meta)."""
    header, data = split_file(blob)
    meta = json.loads(header["__metadata__"]["tui_gen"])
    header["__metadata__"]["tui_gen"] = json.dumps(change(meta))
    return join_file(header, data)


def with_tensors(blob: bytes, change) -> bytes:
    """The same metadata, with the tensors changed by change(tensors) (returns the new dict)."""
    header, _ = split_file(blob)
    return st_save(change(st_load(blob)), metadata=header["__metadata__"])


class Evil:
    """Unpickling this runs os.system: it must never happen."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def bad_files(good: bytes, marker: Path) -> dict[str, bytes]:
    def newer(m):
        m["format_version"] = FORMAT_VERSION + 1
        return m

    def vocab_short(m):
        m["vocab"] = m["vocab"][:-1]
        return m

    def vocab_size_too(m):  # consistent with itself, but not with the weights' shapes
        m["vocab"] = m["vocab"][:-1]
        m["model_config"]["vocab_size"] -= 1
        return m

    def hidden_claims_more(m):
        m["model_config"]["hidden_sizes"] = [8192] * 16
        return m

    def no_format(m):
        del m["format_version"]
        return m

    header, data = split_file(good)
    huge = dict(header)
    name = next(k for k in header if k.startswith("model."))
    start = header[name]["data_offsets"][0]
    huge[name] = {"dtype": "F32", "shape": [25_000_000_000], "data_offsets": [start, start + 100_000_000_000]}
    not_json = bytearray(good)
    not_json[8:12] = b"{{{{"
    meta_not_json = dict(header)
    meta_not_json["__metadata__"] = {"tui_gen": "{'step': 3, oops"}
    pickled = pickle.dumps({"model": Evil(marker)})
    return {
        "header claims a 100 GB tensor": join_file(huge, data),
        "wrong shape": with_tensors(good, lambda t: {**t, "model.head.weight": torch.zeros(3, 3)}),
        "wrong dtype f16": with_tensors(good, lambda t: {**t, "model.head.bias": t["model.head.bias"].half()}),
        "wrong dtype i64": with_tensors(good, lambda t: {**t, "model.head.bias": t["model.head.bias"].long()}),
        "missing weight": with_tensors(good, lambda t: {k: v for k, v in t.items() if k != "model.head.bias"}),
        "extra weight": with_tensors(good, lambda t: {**t, "model.extra": torch.zeros(2)}),
        "foreign tensor": with_tensors(good, lambda t: {**t, "junk": torch.zeros(2)}),
        "NaN weight": with_tensors(good, lambda t: {**t, "model.head.bias": t["model.head.bias"] * float("nan")}),
        "vocabulary shorter than weights": with_meta(good, vocab_short),
        "vocabulary and config both shorter than weights": with_meta(good, vocab_size_too),
        "config claims a huge model": with_meta(good, hidden_claims_more),
        "header is not JSON": bytes(not_json),
        "metadata is not JSON": join_file(meta_not_json, data),
        "no format version": with_meta(good, no_format),
        "newer format version": with_meta(good, newer),
        "pickle renamed": pickled,
        "torch.save zip renamed": _torch_save_bytes({"model": Evil(marker)}),
        "empty file": b"",
        "eight zero bytes": b"\0" * 8,
        "plain text": b"this is not a checkpoint\n" * 100,
        "safetensors without tui-gen metadata": st_save({"x": torch.zeros(2)}),
    }


def _torch_save_bytes(obj) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good_blob(trained_run) -> bytes:
    return (trained_run / "best.safetensors").read_bytes()


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory, good_blob):
    d = tmp_path_factory.mktemp("bad")
    marker = d / "PWNED"
    files = {}
    for name, blob in bad_files(good_blob, marker).items():
        p = d / (name.replace(" ", "-") + SUFFIX)
        p.write_bytes(blob)
        files[name] = p
    return d, marker, files


def _bad_names() -> list[str]:
    # names only: built from a throwaway good checkpoint made of tensors, no training needed
    tensors = {"model.head.weight": torch.zeros(2, 2), "model.head.bias": torch.zeros(2)}
    blob = st_save(
        tensors,
        metadata={"tui_gen": json.dumps({"format_version": 1, "vocab": ["a"], "model_config": {"vocab_size": 3}})},
    )
    return list(bad_files(blob, Path("/nonexistent")))


BAD_NAMES = _bad_names()


# ---- load_checkpoint ------------------------------------------------------------------------------


def test_good_checkpoint_loads(trained_run):
    ck = load_checkpoint(trained_run)
    assert ck.path.name == "best.safetensors" and ck.step > 0


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_checkpoint_is_checkpoint_error(name, bad_dir):
    d, marker, files = bad_dir
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(files[name])
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 600
    assert not marker.exists(), "unpickling ran code"
    if name == "newer format version":
        assert "newer tui-gen" in msg


def test_truncated_at_50_offsets(trained_run, tmp_path):
    blob = (trained_run / "last.safetensors").read_bytes()
    p = tmp_path / ("t" + SUFFIX)
    offsets = sorted({round(i * (len(blob) - 1) / 49) for i in range(50)})
    assert len(offsets) == 50
    for cut in offsets:
        p.write_bytes(blob[:cut])
        with pytest.raises(CheckpointError):
            load_checkpoint(p)


def test_flipped_bytes_load_or_raise_checkpoint_error(trained_run, tmp_path):
    """Flip 1 to 8 random bytes, 400 times: either a consistent checkpoint (a flipped weight is
    still a weight) or CheckpointError; never another exception."""
    blob = (trained_run / "best.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    p = tmp_path / ("f" + SUFFIX)
    outcomes = {"loaded": 0, "refused": 0}
    for seed in range(400):
        rng = random.Random(seed)
        b = bytearray(blob)
        # half the seeds aim at the header, where a flip is most likely to confuse a parser
        hi = 8 + n if seed % 2 else len(b)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(hi)] ^= 1 << rng.randrange(8)
        p.write_bytes(bytes(b))
        try:
            ck = load_checkpoint(p)
        except CheckpointError:
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
            assert all(torch.isfinite(v).all() for v in ck.model.state_dict().values())
    print(outcomes)
    assert outcomes["refused"] > 50


def test_folder_without_best_falls_back_to_last(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "best.safetensors").unlink()
    assert load_checkpoint(run).path.name == "last.safetensors"
    (run / "last.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no best"):
        load_checkpoint(run)


def test_hostile_headers_allocate_nothing(trained_run, tmp_path):
    """In a child (so its peak RSS is its own): headers that claim 100 GB, and sparse files whose
    apparent size holds 3.5 GiB "tensors" at no cost on disk. Each is refused unread."""
    good = (trained_run / "best.safetensors").read_bytes()
    header, data = split_file(good)
    big = int(3.5 * 2**30)
    cases = {}
    for tensor_name in ("junk", "state.0", "optim.0.exp_avg", "rng.torch"):
        h = dict(header)
        h[tensor_name] = {"dtype": "U8", "shape": [big], "data_offsets": [len(data), len(data) + big]}
        head = join_file(h, data)
        p = tmp_path / f"sparse-{tensor_name}{SUFFIX}"
        with p.open("wb") as f:
            f.write(head)
            f.truncate(len(head) + big)
        cases[tensor_name] = p
    name = next(k for k in header if k.startswith("model."))
    h = dict(header)
    h[name] = {"dtype": "F32", "shape": [25_000_000_000], "data_offsets": [0, 100_000_000_000]}
    (tmp_path / "claims-100GB.safetensors").write_bytes(join_file(h, data))
    cases["100 GB claim"] = tmp_path / "claims-100GB.safetensors"
    script = textwrap.dedent(f"""
        import json, resource, sys, time
        from tui_gen.training.checkpoint import load_checkpoint
        from tui_gen.core.errors import CheckpointError
        load_checkpoint({str(trained_run)!r})  # warm up: first use of torch's modules
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        results = {{}}
        for name, path in {json.dumps({k: str(v) for k, v in cases.items()})}.items():
            t = time.monotonic()
            try:
                load_checkpoint(path)
                results[name] = "loaded"
            except CheckpointError as e:
                results[name] = "refused in %.2fs: %s" % (time.monotonic() - t, e)
        growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
        print(json.dumps({{"growth": growth, "results": results}}))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    print(report)
    for name, outcome in report["results"].items():
        assert outcome.startswith("refused"), (name, outcome)
    assert report["growth"] < 32 * 2**20, f"peak RSS grew by {report['growth'] / 2**20:.0f} MiB"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_any_bytes_give_checkpoint_error(tmp_path_factory, data):
    p = _scratch(tmp_path_factory) / ("x" + SUFFIX)
    p.write_bytes(data)
    with pytest.raises(CheckpointError):
        load_checkpoint(p)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=st.binary(min_size=0, max_size=64), n=st.integers(0, 2**64 - 1))
def test_any_length_prefix_gives_checkpoint_error(tmp_path_factory, head, n):
    p = _scratch(tmp_path_factory) / ("y" + SUFFIX)
    p.write_bytes(struct.pack("<Q", n) + head)
    with pytest.raises(CheckpointError):
        load_checkpoint(p)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
META_KEYS = [
    "format_version",
    "vocab",
    "model_config",
    "framing",
    "train_config",
    "step",
    "epoch",
    "batch_index",
    "elapsed",
    "best_val_bpc",
    "history",
    "optimizer",
    "end_marker",
    "corpus_digest",
]


TENSOR = st.builds(
    lambda shape, dtype: torch.zeros(shape, dtype=dtype),
    st.lists(st.integers(0, 5), max_size=3).map(tuple),
    st.sampled_from([torch.float32, torch.float64, torch.float16, torch.int64, torch.bool]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    framing=st.sampled_from(["lines", "stream"]),
    key=st.one_of(st.none(), st.sampled_from(META_KEYS)),
    sub=st.one_of(st.none(), st.text(max_size=12)),
    value=JSON,
    tensor=st.one_of(
        st.none(),
        st.tuples(
            st.sampled_from(
                [
                    "optim.0.exp_avg",
                    "optim.3.step",
                    "optim.1.exp_avg_sq",
                    "optim.99.exp_avg",
                    "state.0",
                    "state.1",
                    "rng.torch",
                ]
            ),
            st.one_of(st.none(), TENSOR),
        ),
    ),
)
def test_mangled_checkpoint_resumes_or_says_why(
    tmp_path_factory, trained_run, trained_stream_run, framing, key, sub, value, tensor
):
    """One metadata field (or one of its sub-fields) replaced by any JSON value, or one training-state
    tensor replaced or removed: loading, resume_config, and resuming for one step (what
    `train --resume` does) raise TuiGenError or work; nothing else escapes."""
    from tui_gen.data.corpus import CorpusText
    from tui_gen.training.trainer import Trainer, resume_config

    run = trained_run if framing == "lines" else trained_stream_run
    good = (run / "last.safetensors").read_bytes()

    def change(m):
        if key is None:
            pass
        elif sub is not None and isinstance(m.get(key), dict):
            m[key][sub] = value
        else:
            m[key] = value
        return m

    blob = with_meta(good, change)
    if tensor is not None:
        name, t = tensor
        blob = with_tensors(
            blob, lambda ts: {**{k: v for k, v in ts.items() if k != name}, **({name: t} if t is not None else {})}
        )
    p = _scratch(tmp_path_factory) / ("m" + SUFFIX)
    p.write_bytes(blob)
    try:
        ck = load_checkpoint(p)
        cfg = resume_config(ck, max_steps=ck.step + 1, max_minutes=None, sample_length=8, threads=1, device="cpu")
        corpus = CorpusText(name="tiny", text=tiny_text(), framing=framing)
        for _ in Trainer(corpus, cfg, run_dir=None, resume=ck).run():
            pass
        event("resumed and trained")
    except TuiGenError as e:
        event(f"refused: {type(e).__name__}")


def _scratch(factory) -> Path:
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = factory.mktemp("scratch")
    return _SCRATCH


_SCRATCH: Path | None = None


# ---- the same files through the CLI ------------------------------------------------------------


def _commands(path: Path, corpus: Path) -> dict[str, list[str]]:
    return {
        "generate": ["generate", path, "--length", "5"],
        "eval": ["eval", path, corpus],
        "train --resume": ["train", "--resume", path, corpus, "--steps", "1", "--quiet"],
    }


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_checkpoint_via_cli_in_process(name, bad_dir, capsys, tmp_path, monkeypatch):
    d, marker, files = bad_dir
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "c.txt"
    corpus.write_text(tiny_text())
    for cmd, argv in _commands(files[name], corpus).items():
        r = run_main(argv, capsys)
        line = r.assert_clean_error()
        assert str(files[name].name) in line or "checkpoint" in line, (cmd, line)
    assert not marker.exists()
    assert not (tmp_path / "models").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["pickle renamed", "torch.save zip renamed", "newer format version", "header claims a 100 GB tensor"]
)
def test_bad_checkpoint_via_cli_subprocess(name, bad_dir, tmp_path):
    """End to end, each command in its own process."""
    d, marker, files = bad_dir
    corpus = tmp_path / "c.txt"
    corpus.write_text(tiny_text())
    cmds = _commands(files[name], corpus)
    cmd = list(cmds)[BAD_NAMES.index(name) % 3]  # spread the three commands over the cases
    r = run_cli(cmds[cmd], cwd=tmp_path, timeout=60)
    r.assert_clean_error()
    assert not marker.exists()


def test_run_folder_without_checkpoints_via_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty-run").mkdir()
    for argv in (["generate", "empty-run"], ["eval", "empty-run"], ["train", "--resume", "empty-run", "--steps", "1"]):
        run_main(argv, capsys).assert_clean_error("no best")


def test_resume_with_state_that_does_not_fit(trained_run, trained_stream_run, tmp_path, capsys, monkeypatch):
    """Files that load (the weights are fine) but whose training state does not fit: `train --resume`
    refuses the optimizer's with one line; a carried hidden state of the wrong shape is dropped (the
    run starts that state from zero) and training goes on."""
    monkeypatch.chdir(tmp_path)
    good = (trained_run / "last.safetensors").read_bytes()
    cases = {
        "moment of the wrong shape": lambda t: {**t, "optim.0.exp_avg": torch.zeros(3)},
        "moment of the wrong dtype": lambda t: {**t, "optim.0.exp_avg": t["optim.0.exp_avg"].double()},
        "moment missing": lambda t: {k: v for k, v in t.items() if k != "optim.0.exp_avg_sq"},
        "state of a parameter that does not exist": lambda t: {**t, "optim.99.step": torch.tensor(1.0)},
    }
    for name, change in cases.items():
        p = tmp_path / f"{name.replace(' ', '-')}.safetensors"
        p.write_bytes(with_tensors(good, change))
        load_checkpoint(p)  # the weights are fine
        r = run_main(["train", "--resume", p, "--steps", "1", "--quiet"], capsys)
        r.assert_clean_error("optimizer state")
    stream = (trained_stream_run / "last.safetensors").read_bytes()
    p = tmp_path / "stream-state.safetensors"
    p.write_bytes(with_tensors(stream, lambda t: {**t, "state.0": torch.zeros(1, 3, 5)}))
    (tmp_path / "c.txt").write_text(tiny_text())
    r = run_main(
        ["train", "--resume", p, tmp_path / "c.txt", "--steps", "1", "--quiet", "--out", tmp_path / "r"], capsys
    )
    r.assert_ok()


# ---- a stored configuration of the wrong type ----------------------------------------------------


@pytest.mark.parametrize(
    "key, value",
    [
        ("seq_len", 50.5),
        ("batch_size", 16.0),
        ("seed", 1.5),
        ("hidden_sizes", [64.5]),
        ("sample_length", 2.5),
        ("lr", "0.1"),
    ],
)
def test_a_stored_configuration_of_the_wrong_type_is_one_line(trained_run, tmp_path, capsys, key, value):
    """It used to pass validation and crash training (sample_length: at the first evaluation, before
    anything was saved); eval and --resume printed a traceback."""
    from support.processes import run_main
    from tui_gen.core.config import setting_name

    run = tmp_path / "run"
    run.mkdir()

    def change(meta):
        meta["train_config"][key] = value
        return meta

    for name in ("best", "last"):
        (run / f"{name}{SUFFIX}").write_bytes(with_meta((trained_run / f"{name}{SUFFIX}").read_bytes(), change))
    for argv in (["eval", run], ["train", "--resume", run, "--steps", "1"]):
        run_main(argv, capsys).assert_clean_error(
            "invalid training configuration", setting_name(key).lstrip("-") if key != "hidden_sizes" else "hidden sizes"
        )


@pytest.mark.parametrize(
    "overrides",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"seq_len": ' + "9" * 5000 + "}",
        '{"seq_len": 50.5}',
        '{"hidden_sizes": [[[64]]]}',
        '{"bogus": 1}',
    ],
)
def test_overrides_that_cannot_be_used_are_one_line_at_launch(overrides, capsys, monkeypatch):
    from support.processes import run_main

    monkeypatch.setenv("TUI_GEN_OVERRIDES", overrides)
    run_main(["launch"], capsys).assert_clean_error("")
