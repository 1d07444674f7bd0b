"""Text from files, paths and checkpoint headers with escape sequences and Rich markup, through the
CLI: nothing it prints holds ESC or another C0/C1 control (besides the newline), and markup shows
literally. A tiny `train --steps 1` on a hostile folder corpus into a hostile --out, then every field
of its checkpoint's metadata rewritten with hostile text, through `eval` and `generate`."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from support.data import REPO
from support.processes import run_main

HOSTILE = "\x1b]2;PWNED\x07[reverse blink]X[/]\x9b2J\u202e\x7f"
NAME = HOSTILE.replace("[/]", "")  # a file name cannot hold "/"
CONTROLS = {chr(c) for c in range(0x20) if c != 0x0A} | {"\x7f"} | {chr(c) for c in range(0x80, 0xA0)}
TINY = ["--hidden", "8", "--seq-len", "16", "--batch-size", "4", "--embedding", "4", "--threads", "1"]


def raw_controls(text: str) -> list[str]:
    return sorted(set(text) & (CONTROLS | {"\u202e", "\ud800"}) | {c for c in text if "\ud800" <= c <= "\udfff"})


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, lines_corpus_text) -> tuple[Path, subprocess.CompletedProcess]:
    """`tui-gen train FOLDER --steps 1 --out OUT`: a folder corpus and a run folder named with escape
    sequences and markup; one file in it named with invalid UTF-8, and with invalid UTF-8 in it."""
    d = tmp_path_factory.mktemp("hostile")
    corpus = d / f"corpus{NAME}"
    corpus.mkdir()
    (corpus / f"a{NAME}.txt").write_text(lines_corpus_text, encoding="utf-8")
    bad_name = os.fsdecode(b"b\xff\x1b[31m.txt")  # not UTF-8: a lone surrogate once decoded
    (corpus / bad_name).write_bytes(b"one more line \xff\xfe _E_\n")
    out = d / f"run{NAME}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "200",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_gen",
            "train",
            str(corpus),
            "--steps",
            "1",
            "--eval-every",
            "1",
            "--out",
            str(out),
            *TINY,
        ],
        cwd=d,
        env=env,
        capture_output=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    return out, r


def test_train_prints_paths_and_warnings_literally(hostile_run):
    out, r = hostile_run
    stdout, stderr = r.stdout.decode("utf-8"), r.stderr.decode("utf-8")
    assert r.returncode == 0, stderr
    shown = stdout + stderr
    assert not raw_controls(shown), raw_controls(shown)
    assert "hostile0/corpus␛]2;PWNED␇[reverse blink]X" in shown  # the Started line: the corpus, as text
    assert "hostile0/run␛]2;PWNED␇[reverse blink]X" in shown  # and the --out path
    assert "warning: b\ufffd␛[31m.txt: 2 bytes that are not valid UTF-8" in shown  # the file name, made safe
    assert (out / "last.safetensors").is_file()


def rewrite_meta(src: Path, dest: Path, key: str, value) -> Path:
    blob = src.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["tui_gen"])
    meta[key] = value
    header["__metadata__"]["tui_gen"] = json.dumps(meta)
    h = json.dumps(header).encode()
    dest.write_bytes(struct.pack("<Q", len(h)) + h + blob[8 + n :])
    return dest


def test_every_header_field_through_eval_and_generate(hostile_run, tmp_path, capsys):
    out, _ = hostile_run
    last = out / "last.safetensors"
    blob = last.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    keys = sorted(json.loads(json.loads(blob[8 : 8 + n])["__metadata__"]["tui_gen"]))
    assert {"saved_at", "corpus", "vocab", "model_config", "framing", "end_marker"} <= set(keys)
    # The run as written: eval's line names its corpus, a hostile path.
    r = run_main(["eval", str(out), "--device", "cpu"], capsys)
    assert "Traceback" not in r.err
    assert r.rc == 0 and "bits/char on " in r.out and "[reverse blink]X" in r.out
    assert not raw_controls(r.out + r.err)
    for key in keys:
        for value in (HOSTILE, {"x": HOSTILE}, [HOSTILE]):
            path = rewrite_meta(last, tmp_path / f"{key}.safetensors", key, value)
            for args in (
                ["eval", str(path), "--device", "cpu"],
                ["generate", str(path), "-n", "5", "--random-seed", "1", "--device", "cpu"],
            ):
                r = run_main(args, capsys)
                assert "Traceback" not in r.err
                shown = r.err + (r.out if args[0] == "eval" else "")  # generate into a pipe: byte-exact
                assert not raw_controls(shown), (key, value, args[0], shown)
                if r.rc:
                    assert r.err.startswith("tui-gen: error: ") and r.err.count("\n") == 1, (key, r.err)


def test_data_list_and_get_show_a_hostile_data_dir_literally(tmp_path, capsys, monkeypatch):
    data = tmp_path / f"data{NAME}"
    monkeypatch.setenv("TUI_GEN_DATA_DIR", str(data))
    monkeypatch.setenv("COLUMNS", "400")  # the table shows the whole path
    r = run_main(["data", "get", "python-help"], capsys)
    assert "Traceback" not in r.err
    stderr = r.err.replace("\r", "")  # the progress line's own carriage return
    assert r.rc == 0 and "[reverse blink]X" in r.out and not raw_controls(r.out + stderr)
    r = run_main(["data", "list"], capsys)
    assert "Traceback" not in r.err
    assert r.rc == 0 and "[reverse blink]" in r.out and not raw_controls(r.out + r.err)
