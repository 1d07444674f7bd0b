"""tui_gen.core.files: every file from outside is opened without ever waiting on a FIFO, and only a regular
file is read or replaced. The gate itself, then each reader and writer that goes through it.

A test that calls a reader in this process runs it through `returns`: on code that would block in
open() on the FIFO, the test gives the FIFO a writer (which frees the open) and fails, instead of hanging
the suite."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from support.processes import run_cli
from support.waiting import wait_until
from tui_gen.core import files
from tui_gen.core.errors import CheckpointError, CorpusError
from tui_gen.core.files import NotRegularFile, check_output_path, open_regular, write_output

DEADLINE = 30.0  # how long a call that should return at once may take before it is said to block


def returns(fn, *args, fifo: Path):
    """fn(*args), which must not wait on `fifo`: its value, or what it raised."""
    out: dict = {}

    def call():
        try:
            out["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(DEADLINE)
    if t.is_alive():
        with contextlib.suppress(OSError):  # a writer frees an open() that waits for one
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(DEADLINE)
        raise AssertionError(f"{getattr(fn, '__name__', fn)} waited on the FIFO {fifo}")
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.fixture
def fifo(tmp_path) -> Path:
    p = tmp_path / "pipe.txt"
    os.mkfifo(p)
    return p


@pytest.fixture
def sock(tmp_path):
    s = socket.socket(socket.AF_UNIX)
    p = tmp_path / "sock"
    s.bind(str(p))
    yield p
    s.close()


# ---- the gate --------------------------------------------------------------------------------------


def test_a_fifo_is_refused_at_once_not_waited_on(fifo):
    with pytest.raises(NotRegularFile) as e:
        returns(open_regular, fifo, fifo=fifo)
    assert str(e.value) == f"{fifo} is a FIFO (named pipe), not a regular file"
    assert e.value.strerror == "it is a FIFO (named pipe), not a regular file"  # "cannot read X: it is ..."
    assert isinstance(e.value, OSError) and e.value.filename == str(fifo)


def test_devices_sockets_and_folders_are_refused(tmp_path, sock):
    for path, what in (("/dev/null", "a character device"), (tmp_path, "a folder"), (sock, "a socket")):
        with pytest.raises(NotRegularFile, match=what):
            open_regular(path)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "nothing")


def test_a_link_is_followed_to_what_it_names(tmp_path, fifo):
    (tmp_path / "real.txt").write_bytes(b"abc\n")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    with open_regular(tmp_path / "link.txt") as f:
        assert f.read() == b"abc\n"
    with open_regular(tmp_path / "link.txt", "r", encoding="utf-8") as f:
        assert f.read() == "abc\n"
    (tmp_path / "to-pipe").symlink_to(fifo)
    with pytest.raises(NotRegularFile, match="FIFO"):
        returns(open_regular, tmp_path / "to-pipe", fifo=fifo)
    with pytest.raises(ValueError):
        open_regular(tmp_path / "real.txt", "wb")  # reads only: outputs go through write_output


def test_a_fifo_swapped_in_after_the_look_is_still_refused_without_waiting(tmp_path, monkeypatch):
    """The stat before the open is a shortcut; what decides is the fstat of what was opened."""
    path = tmp_path / "c.txt"
    path.write_text("x")
    real_stat = os.stat

    def stat_then_swap(p, *a, **k):
        st = real_stat(p, *a, **k)
        if Path(p) == path and stat.S_ISREG(st.st_mode):
            path.unlink()
            os.mkfifo(path)
        return st

    monkeypatch.setattr(files.os, "stat", stat_then_swap)
    with pytest.raises(NotRegularFile, match="FIFO"):
        returns(open_regular, path, fifo=path)


def test_outputs_that_exist_and_are_not_files_are_refused(tmp_path, fifo, sock):
    check_output_path(tmp_path / "new.html")  # not there yet: fine
    (tmp_path / "old.html").write_text("old")
    check_output_path(tmp_path / "old.html")
    (tmp_path / "link").symlink_to("/dev/null")
    for path, what in (
        (fifo, "FIFO"),
        ("/dev/null", "character device"),
        (tmp_path / "link", "character device"),
        (sock, "socket"),
        (tmp_path, "folder"),
    ):
        with pytest.raises(NotRegularFile, match=what):
            check_output_path(path)


def test_write_output_writes_whole_files_and_never_replaces_a_fifo(tmp_path, fifo):
    out = tmp_path / "s.html"
    write_output(out, b"first")
    assert out.read_bytes() == b"first"
    out.chmod(0o600)
    write_output(out, b"second")
    assert out.read_bytes() == b"second" and stat.S_IMODE(out.stat().st_mode) == 0o600  # its mode kept
    with pytest.raises(NotRegularFile, match="FIFO"):
        write_output(fifo, b"x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.txt", "s.html"]  # no temporary file left


def test_a_fifo_made_at_the_output_path_during_the_write_is_not_replaced(tmp_path, monkeypatch):
    out = tmp_path / "s.html"
    real_fsync = os.fsync

    def fsync_then_mkfifo(fd):
        real_fsync(fd)
        if not out.exists():
            os.mkfifo(out)

    monkeypatch.setattr(files.os, "fsync", fsync_then_mkfifo)
    with pytest.raises(NotRegularFile, match="FIFO"):
        write_output(out, b"x")
    assert stat.S_ISFIFO(os.lstat(out).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["s.html"]  # the temporary file went


# ---- the readers ------------------------------------------------------------------------------------


def test_a_fifo_as_a_corpus_is_a_clear_error(tmp_path, fifo):
    from tui_gen.data.corpus import load_corpus
    from tui_gen.data.preview import preview_corpus

    with pytest.raises(CorpusError, match=r"is a FIFO \(named pipe\), not a regular file"):
        returns(load_corpus, fifo, None, None, tmp_path / "data", fifo=fifo)
    with pytest.raises(CorpusError, match=r"is a FIFO \(named pipe\), not a regular file"):
        returns(preview_corpus, str(fifo), tmp_path / "data", fifo=fifo)


def test_a_fifo_as_a_checkpoint_is_a_clear_error(fifo):
    from tui_gen.runs.header import read_header
    from tui_gen.training.checkpoint import load_checkpoint

    for reader in (read_header, load_checkpoint):
        with pytest.raises(CheckpointError, match="FIFO"):
            returns(reader, fifo, fifo=fifo)


def test_a_fifo_as_a_text_to_score_is_a_clear_error(fifo):
    from tui_gen.cli.lens import read_text

    with pytest.raises(CorpusError, match=r"FIFO.*- to read standard input"):
        returns(read_text, str(fifo), None, fifo=fifo)


def test_a_fifo_as_a_metrics_log_is_read_as_nothing_and_said(tmp_path):
    from tui_gen.runs.listing import open_curves
    from tui_gen.runs.metrics_log import MetricsReader

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = run_dir / "metrics.jsonl"
    os.mkfifo(log)
    reader = MetricsReader(log)
    assert returns(reader.read, fifo=log) == [] and reader.not_regular == "a FIFO (named pipe)"
    curves = returns(open_curves, run_dir, fifo=log).curves  # the compare screen's overlay
    assert curves.empty and "its metrics log is a FIFO (named pipe)" in curves.problem


def test_a_watched_fifo_log_is_a_notice_until_a_file_replaces_it(tmp_path):
    from tui_gen.core import events as ev
    from tui_gen.runs.metrics_log import encode
    from tui_gen.runs.watch import RunWatcher

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = run_dir / "metrics.jsonl"
    os.mkfifo(log)
    w = RunWatcher(run_dir)
    batch = returns(w.poll, fifo=log)
    (notice,) = [e for e in batch if isinstance(e, ev.WatchNotice) and e.kind == "not-a-file"]
    assert "is a FIFO (named pipe), not a regular file" in notice.message
    assert not [e for e in returns(w.poll, fifo=log) if isinstance(e, ev.WatchNotice)]  # said once
    log.unlink()
    log.write_text(encode(ev.Eval(5, 2.5, 2.5, True, 0.1), 1.0) + "\n")
    batch = w.poll()
    assert [e.kind for e in batch if isinstance(e, ev.WatchNotice)] == ["log"]
    assert [type(e) for e in batch if not isinstance(e, ev.WatchNotice)] == [ev.Eval]


def test_watching_a_file_says_it_is_a_file_not_that_it_does_not_exist(tmp_path):
    from tui_gen.runs.watch import RunWatcher

    log = tmp_path / "metrics.jsonl"
    log.write_text("")
    (notice,) = RunWatcher(log).poll()
    assert notice.kind == "missing" and "(it is a file)" in notice.message
    assert "does not exist" not in notice.message
    (notice,) = RunWatcher(tmp_path / "nope").poll()
    assert "does not exist" in notice.message


# ---- the command line ---------------------------------------------------------------------------------


def test_train_on_a_fifo_is_one_line_and_exit_2(tmp_path, fifo):
    r = run_cli(["train", fifo, "--steps", "1"], cwd=tmp_path, timeout=180)
    r.assert_clean_error("FIFO (named pipe), not a regular file")


# ---- the corpus cache's build lock -------------------------------------------------------------------


def test_the_build_lock_leaves_no_file_and_a_waiter_on_a_removed_one_takes_the_new_one(tmp_path, monkeypatch):
    """Builders of one source take turns on .<name>.lock, which its holder removes before letting go (so
    the cache folder does not collect one per corpus). B opened the file A holds; A removes it and lets
    go; C makes a new one and locks it. B's lock on the removed file must not let it in beside C."""
    import fcntl

    from tui_gen.data.cache import _build_lock

    path = tmp_path / ".c-1234.lock"
    real_flock = fcntl.flock
    b_opened, b_may_lock, b_retries, b_inside = (threading.Event() for _ in range(4))

    def flock(fd, op):
        if threading.current_thread().name == "B":
            if not b_opened.is_set():
                b_opened.set()
                assert b_may_lock.wait(DEADLINE)  # holding the old file open, as a waiter does
            else:
                b_retries.set()  # it saw the file it locked is gone: now it waits on C's
        return real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)

    def builder_b():
        with _build_lock(path):
            b_inside.set()

    with _build_lock(path):  # A
        b = threading.Thread(target=builder_b, name="B", daemon=True)
        b.start()
        assert b_opened.wait(DEADLINE)
    assert not path.exists()  # A removed it
    with _build_lock(path):  # C
        b_may_lock.set()
        wait_until(lambda: b_retries.is_set() or b_inside.is_set(), DEADLINE, "B to lock again", every=0.01)
        assert b_retries.is_set() and not b_inside.is_set()  # B waits for C, never beside it
    b.join(DEADLINE)
    assert b_inside.is_set() and not b.is_alive()
    assert list(tmp_path.iterdir()) == []  # and no lock file is left


def test_launch_watch_on_a_file_says_it_is_a_file(tmp_path, capsys):
    from support.processes import run_main

    log = tmp_path / "metrics.jsonl"
    log.write_text("")
    run_main(["launch", "--watch", log], capsys).assert_clean_error(f"--watch {log}: it is a file, not a run folder")
    run_main(["launch", "--watch", tmp_path / "nope"], capsys).assert_clean_error("there is no run folder there")
