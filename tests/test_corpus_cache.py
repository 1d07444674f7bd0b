"""The corpus cache: built once, reused while the source is unchanged, rebuilt when it changes, never
half-built, and what training reads from it is what it would read from the text in memory."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from support.data import REPO
from tui_gen.core.config import TrainConfig
from tui_gen.core.errors import CorpusError
from tui_gen.data import cache as corpus_cache
from tui_gen.data.corpus import CorpusText, load_corpus
from tui_gen.training.trainer import Trainer, corpus_digest


def tweets_like(n_lines: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    words = "make america great again the people we will win jobs fake news tremendous very".split()
    return "".join(" ".join(rng.choice(words, size=int(rng.integers(3, 25)))) + " _E_\n" for _ in range(n_lines))


def cache_folders(data: Path) -> list[Path]:
    """The caches proper (a build in progress, or left by a killed one, is a hidden .tmp folder)."""
    return sorted(p for p in (data / "cache").glob("*") if p.is_dir() and not p.name.startswith("."))


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


def test_built_once_then_reused(tmp_path, data):
    src = tmp_path / "c.txt"
    src.write_text(tweets_like(300))
    before = corpus_cache.builds
    first = load_corpus(src, data_dir=data)
    assert corpus_cache.builds == before + 1
    (folder,) = cache_folders(data)
    stamp = (folder.stat().st_ino, (folder / "meta.json").stat().st_mtime_ns)
    second = load_corpus(src, data_dir=data)
    assert corpus_cache.builds == before + 1  # not built again
    assert cache_folders(data) == [folder]
    assert (folder.stat().st_ino, (folder / "meta.json").stat().st_mtime_ns) == stamp
    assert second.encoded.folder == folder and second.read_text() == first.read_text() == src.read_text()


def test_rebuilt_when_the_source_changes_and_the_old_cache_goes(tmp_path, data):
    src = tmp_path / "c.txt"
    src.write_text(tweets_like(300))
    builds = corpus_cache.builds
    load_corpus(src, data_dir=data)
    (old,) = cache_folders(data)
    with src.open("a") as f:
        f.write("one more line\n")
    again = load_corpus(src, data_dir=data)
    assert corpus_cache.builds == builds + 2
    assert again.read_text().endswith("one more line\n")
    assert cache_folders(data) == [again.encoded.folder] != [old]
    # Same size, same mtime, other bytes (a `cp -p` of another version): the head/tail hash sees it.
    st = src.stat()
    text = src.read_text()
    src.write_text("X" + text[1:])
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert src.stat().st_size == st.st_size and src.stat().st_mtime_ns == st.st_mtime_ns
    assert load_corpus(src, data_dir=data).read_text().startswith("X")
    assert corpus_cache.builds == builds + 3


def test_a_broken_cache_is_not_used(tmp_path, data):
    src = tmp_path / "c.txt"
    src.write_text(tweets_like(300))
    folder = load_corpus(src, data_dir=data).encoded.folder
    with (folder / "symbols.bin").open("r+b") as f:  # cut short, as a disk-full copy might leave it
        f.truncate(100)
    builds = corpus_cache.builds
    assert load_corpus(src, data_dir=data).read_text() == src.read_text()
    assert corpus_cache.builds == builds + 1


def test_an_interrupted_build_leaves_nothing(tmp_path, data):
    src = tmp_path / "c.txt"
    src.write_text(tweets_like(3000))

    def stop(done, total):
        if done > 0:
            raise KeyboardInterrupt

    corpus_cache_read = corpus_cache.READ_BYTES
    corpus_cache.READ_BYTES = 4096  # several chunks, so the stop comes mid-build
    try:
        with pytest.raises(KeyboardInterrupt):
            load_corpus(src, data_dir=data, progress=stop)
    finally:
        corpus_cache.READ_BYTES = corpus_cache_read
    assert list((data / "cache").iterdir()) == []  # not even the lock file: its holder removes it


KILLED_BUILD = textwrap.dedent("""
    import sys, time
    from tui_gen.data import cache as corpus_cache
    from tui_gen.data.corpus import load_corpus
    corpus_cache.READ_BYTES = 4096
    def progress(done, total):
        if done > 0:
            print("building", flush=True)
            time.sleep(600)  # killed here, mid-build
    load_corpus(sys.argv[1], data_dir=sys.argv[2], progress=progress)
""")


def test_a_killed_build_is_never_used_and_its_leftovers_go(tmp_path, data):
    src = tmp_path / "c.txt"
    src.write_text(tweets_like(3000))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(src), str(data)], stdout=subprocess.PIPE, env=env)
    try:
        assert p.stdout.readline() == b"building\n"
        p.send_signal(signal.SIGKILL)
    finally:
        p.wait(timeout=60)
    leftovers = [q for q in (data / "cache").iterdir() if q.is_dir()]
    assert leftovers and all(q.name.startswith(".") and q.name.endswith(".tmp") for q in leftovers)
    assert cache_folders(data) == []  # no cache, whole or half
    builds = corpus_cache.builds
    c = load_corpus(src, data_dir=data)
    assert corpus_cache.builds == builds + 1
    assert c.read_text() == src.read_text()
    assert [q for q in (data / "cache").iterdir() if q.is_dir()] == [c.encoded.folder]


CONCURRENT_BUILD = textwrap.dedent("""
    import sys
    from tui_gen.data import cache as corpus_cache
    from tui_gen.data.corpus import load_corpus
    c = load_corpus(sys.argv[1], data_dir=sys.argv[2])
    print(corpus_cache.builds, c.encoded.digest)
""")


def test_concurrent_builders_build_once(tmp_path, data):
    src = tmp_path / "c.txt"
    src.write_text(tweets_like(20_000))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_BUILD, str(src), str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e.decode()[-2000:] for _, e in outs]
    results = [o.decode().split() for o, _ in outs]
    assert sum(int(b) for b, _ in results) == 1  # one built it, the others waited and read it
    assert {d for _, d in results} == {hashlib.sha256(src.read_bytes()).hexdigest()[:16]}
    assert len(cache_folders(data)) == 1


@pytest.mark.parametrize(
    "kinds, dtype", [(90, np.uint8), (256, np.uint8), (257, np.uint16), (300, np.uint16), (70_000, np.uint32)]
)
def test_the_smallest_type_that_holds_the_symbols(tmp_path, data, kinds, dtype, monkeypatch):
    monkeypatch.setattr(corpus_cache, "READ_BYTES", 4096)  # new kinds arrive chunk after chunk: widened mid-build
    chars = [chr(c) for c in range(0x21, 0x7F)] + [chr(c) for c in range(0x10000, 0x10000 + 80_000)]
    chars = chars[: kinds - 1]  # and the newline
    text = "\n".join("".join(chars[i : i + 40]) for i in range(0, len(chars), 40)) + "\n"
    src = tmp_path / "c.txt"
    src.write_text(text, encoding="utf-8")
    c = load_corpus(src, data_dir=data, framing="stream")
    assert len(c.encoded.chars) == kinds
    assert c.encoded.symbols.dtype == dtype
    assert (c.encoded.folder / "symbols.bin").stat().st_size == len(text) * np.dtype(dtype).itemsize
    assert c.read_text() == text


def old_read(raw: bytes) -> tuple[str, int]:
    """What load_corpus did before the cache (the whole file in memory): text and bad-byte count."""
    text = raw.decode("utf-8", errors="replace")
    bad = len(raw) - len(raw.decode("utf-8", errors="ignore").encode("utf-8")) if "\ufffd" in text else 0
    return text.replace("\r\n", "\n").replace("\r", "\n"), bad


@pytest.mark.parametrize("read_bytes", [1, 2, 3, 7, 4096])
def test_streaming_decoding_matches_reading_it_whole(tmp_path, data, read_bytes, monkeypatch):
    """CRLF pairs, multi-byte characters and bad bytes cut by chunk ends: the same text, the same count."""
    monkeypatch.setattr(corpus_cache, "READ_BYTES", read_bytes)
    raw = (
        ("héllo wörld\r\n" * 20 + "€ euro\rline\r\n\r\n").encode() * 10
        + b"\xff\xfe bad \xe2\x82 cut\n"
        + "x😀y\n".encode() * 30
    )
    src = tmp_path / f"c{read_bytes}.txt"
    src.write_bytes(raw)
    c = load_corpus(src, data_dir=data)
    want, bad = old_read(raw)
    assert c.read_text() == want
    assert c.warnings == (f"{src.name}: {bad} bytes that are not valid UTF-8 were replaced by \ufffd",)
    assert c.encoded.digest == corpus_digest(want)  # checkpoints made before the cache still match


def test_a_folder_is_its_files_joined_line_by_line(tmp_path, data):
    folder = tmp_path / "books"
    (folder / "b").mkdir(parents=True)
    (folder / "a.txt").write_text("first file\nno newline at its end")
    (folder / "b" / "c.txt").write_text("second\r\nfile\n")
    (folder / "empty.txt").write_text("")
    c = load_corpus(folder, data_dir=data, framing="lines")
    assert c.read_text() == "first file\nno newline at its end\nsecond\nfile\n\n"


def test_refusals_are_the_same_as_before(tmp_path, data):
    (tmp_path / "bin.txt").write_bytes(b"abc\x00def" * 100)
    with pytest.raises(CorpusError, match="binary"):
        load_corpus(tmp_path / "bin.txt", data_dir=data)
    (tmp_path / "latin.txt").write_bytes(bytes(range(128, 256)) * 50)
    with pytest.raises(CorpusError, match="not UTF-8"):
        load_corpus(tmp_path / "latin.txt", data_dir=data)
    assert cache_folders(data) == []  # a refused corpus leaves no cache
    (tmp_path / "empty.txt").write_bytes(b"\n \t\n\r\n")
    for _ in range(2):  # (its cache, of a text with nothing in it, says so again at once)
        with pytest.raises(CorpusError, match="no text in it"):
            load_corpus(tmp_path / "empty.txt", data_dir=data)


def test_the_progress_reaches_the_whole_size(tmp_path, data):
    src = tmp_path / "c.txt"
    src.write_text(tweets_like(500))
    seen = []
    load_corpus(src, data_dir=data, progress=lambda done, total: seen.append((done, total)))
    size = src.stat().st_size
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def small_config(**kw) -> TrainConfig:
    return replace(
        TrainConfig(),
        hidden_sizes=[16, 16],
        embedding_dim=8,
        seq_len=16,
        overlap=4,
        batch_size=8,
        device="cpu",
        threads=1,
        min_char_count=2,
        **kw,
    )


@pytest.mark.parametrize("framing", ["lines", "stream"])
def test_training_reads_the_same_batches_from_the_cache_as_from_the_text(tmp_path, data, framing):
    text = tweets_like(400) + "rare ☃ char\r\n"  # a CR the file's reading makes a newline, a rare character
    src = tmp_path / "c.txt"
    src.write_bytes(text.encode())
    cached = load_corpus(src, data_dir=data, framing=framing)
    in_memory = CorpusText(name="c", text=text.replace("\r\n", "\n"), framing=framing)
    a, b = (Trainer(c, small_config(val_fraction=0.1)) for c in (cached, in_memory))
    assert a.vocab.chars == b.vocab.chars and "☃" not in a.vocab  # min_char_count applied from the counts
    assert a.corpus_digest == b.corpus_digest == corpus_digest(in_memory.text)
    assert (a.train_chars, a.val_chars, a.data.steps_per_epoch) == (b.train_chars, b.val_chars, b.data.steps_per_epoch)
    for epoch, index in [(0, 0), (0, 3), (1, 0), (1, a.data.steps_per_epoch - 1)]:
        x, y = a.data.batch(epoch, index), b.data.batch(epoch, index)
        assert torch.equal(x.inputs, y.inputs) and torch.equal(x.targets, y.targets) and torch.equal(x.mask, y.mask)
    for x, y in zip(a._val_batches(), b._val_batches(), strict=True):
        assert torch.equal(x.inputs, y.inputs) and torch.equal(x.mask, y.mask)
    assert a.evaluate() == pytest.approx(b.evaluate(), rel=1e-6)


@pytest.mark.parametrize("framing", ["lines", "stream"])
def test_a_corpus_much_bigger_than_its_batches_trains_without_an_array_of_its_size(tmp_path, data, framing):
    """Allocations traced from the Trainer's set-up to a few steps and an evaluation: far less than the
    corpus, where the text as a string and the window array of the code before the cache were several
    times its size. (numpy reports its allocations to tracemalloc; torch's are a batch and the model.)"""
    src = tmp_path / "big.txt"
    with src.open("w") as f:
        for i in range(8):
            f.write(tweets_like(25_000, seed=i))  # ~20 MB
    size = src.stat().st_size
    corpus = load_corpus(src, data_dir=data, framing=framing)  # the build reads it chunk by chunk
    Trainer(CorpusText(name="warm-up", text=tweets_like(50), framing=framing), small_config())  # torch's lazy imports
    tracemalloc.start()
    try:
        trainer = Trainer(corpus, small_config(val_fraction=0.002, max_steps=3, eval_every=1000))
        for _ in range(3):
            trainer._train_step()
        trainer.evaluate()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Lines: per line 16 bytes of offsets and 16 of window counts, 4 bytes a window: under a byte a
    # character (the window array before the cache: 4 * 17 / 12, ~6 bytes a character at seq-len 16).
    # Stream: batches and the held-out part only.
    assert peak < size * (1.0 if framing == "lines" else 0.1), f"{peak / 1e6:.1f} MB traced for {size / 1e6:.0f} MB"


# ---- issue 20: a cache of the right sizes whose contents are wrong -----------------------------------


def _poke(path: Path, offset: int, value: np.ndarray) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(value.tobytes())


def _edit_meta(folder: Path, **changes) -> None:
    import json

    meta = json.loads((folder / "meta.json").read_text())
    meta.update(changes)
    text = json.dumps(meta)
    for raw in changes.values():  # values json cannot write itself: NaN as NaN, a 400-digit number
        if isinstance(raw, str) and raw.startswith("RAW:"):
            text = text.replace(json.dumps(raw), raw[4:])
    (folder / "meta.json").write_text(text)


CORRUPTIONS = {
    "a symbol past the table": lambda f, m: _poke(f / "symbols.bin", 7, np.array([250], np.uint8)),
    "a line past the end": lambda f, m: _poke(
        f / "lines.bin", 16 * (m["n_lines"] - 1), np.array([m["n_chars"]], np.int64)
    ),
    "a negative length": lambda f, m: _poke(f / "lines.bin", 8, np.array([-5], np.int64)),
    "a huge start": lambda f, m: _poke(f / "lines.bin", 16, np.array([2**63 - 10], np.int64)),
    "lines out of order": lambda f, m: _poke(f / "lines.bin", 16, np.array([0], np.int64)),
    "NaN characters": lambda f, m: _edit_meta(f, n_chars="RAW:NaN"),
    "a 400-digit count": lambda f, m: _edit_meta(f, counts=["RAW:" + "9" * 400] + m["counts"][1:]),
    "a string for a count": lambda f, m: _edit_meta(f, n_lines=str(m["n_lines"])),
    "a float type": lambda f, m: _edit_meta(f, dtype="float64"),
    "two symbols for one character": lambda f, m: _edit_meta(f, chars=[m["chars"][0]] * len(m["chars"])),
    "meta.json not JSON": lambda f, m: (f / "meta.json").write_bytes(b"\xff{" + b"[" * 100_000),
    "head.txt not UTF-8": lambda f, m: (f / "head.txt").write_bytes(b"\xff\xfe broken"),
}


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_damaged_cache_of_the_right_sizes_is_rebuilt_with_a_warning(tmp_path, data, how):
    import json

    src = tmp_path / "c.txt"
    src.write_text(tweets_like(300))
    folder = load_corpus(src, data_dir=data).encoded.folder
    CORRUPTIONS[how](folder, json.loads((folder / "meta.json").read_text()))
    builds = corpus_cache.builds
    corpus = load_corpus(src, data_dir=data)
    assert corpus_cache.builds == builds + 1 and cache_folders(data) == [folder]
    assert corpus.read_text() == src.read_text()
    assert any("was damaged" in w and str(folder) in w for w in corpus.warnings), corpus.warnings
    again = load_corpus(src, data_dir=data)  # sound now: reused, quietly
    assert corpus_cache.builds == builds + 1 and not any("damaged" in w for w in again.warnings)


def test_a_damaged_cache_that_cannot_be_rebuilt_names_the_folder_to_delete(tmp_path, data, monkeypatch):
    src = tmp_path / "c.txt"
    src.write_text(tweets_like(300))
    folder = load_corpus(src, data_dir=data).encoded.folder
    _poke(folder / "symbols.bin", 0, np.array([255], np.uint8))

    def read_only(path):
        raise PermissionError(13, "Permission denied")  # as a data folder shared read-only would be

    monkeypatch.setattr(corpus_cache, "_remove_damaged", read_only)
    with pytest.raises(CorpusError) as e:
        load_corpus(src, data_dir=data)
    message = str(e.value)
    assert str(folder) in message and "is damaged (its symbols.bin holds symbol 255" in message
    assert "delete that folder" in message and "Permission denied" in message and "\n" not in message


def test_train_on_the_command_line_rebuilds_a_damaged_cache_or_says_what_to_delete(tmp_path, capsys, monkeypatch):
    from support.data import TINY_FLAGS
    from support.processes import run_main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUI_GEN_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "c.txt").write_text(tweets_like(300))
    argv = ["train", "c.txt", "--steps", "2", *TINY_FLAGS, "--device", "cpu"]
    run_main([*argv, "--out", "first"], capsys).assert_ok()
    (folder,) = cache_folders(tmp_path / "data")
    _poke(folder / "lines.bin", 8, np.array([-5], np.int64))
    r = run_main([*argv, "--out", "second"], capsys)
    r.assert_ok()
    assert "was damaged" in r.out + r.err and (tmp_path / "second").is_dir()
    _poke(folder / "symbols.bin", 3, np.array([254], np.uint8))
    monkeypatch.setattr(
        corpus_cache, "_remove_damaged", lambda path: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
    )
    line = run_main([*argv, "--out", "third"], capsys).assert_clean_error("is damaged", "delete that folder")
    assert str(folder) in line
