"""Downloads from mirrors that misbehave slowly or hostilely, over loopback sockets: a byte (or a
header line) at a time, too slow overall, a hostile reason phrase; SIGTERM mid-download, to the CLI
and to the training process; which URL schemes a mirror may use.

Decided: less than datasets.STALL_BYTES in `stall_seconds`, or longer than `deadline_seconds` in
all, is a DownloadError saying it stalled; SIGTERM ends `tui-gen data get` with one line and exit
143, and no `.part` file is left, by the CLI or by the training process; a mirror may be http://,
https:// or file://, anything else is refused with a clear error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support.data import REPO
from support.waiting import wait_until
from tui_gen.core.errors import DownloadError
from tui_gen.data import sources as datasets

TWEETS = datasets.BUILTINS["trump-tweets"]
CONTROLS = {chr(c) for c in range(0x20) if c != 0x0A} | {"\x7f"} | {chr(c) for c in range(0x80, 0xA0)}


class Drip:
    """A loopback server that answers every connection with `talk(conn)` in its own thread."""

    def __init__(self, talk) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.talk = talk
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn) -> None:
        with conn:
            try:
                conn.recv(65536)  # the request
                self.talk(conn, self.closed)
            except OSError:
                pass  # the client hung up, as it should

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/trump_tweets.txt"

    def stop(self) -> None:
        self.closed.set()
        self.sock.close()


def headers(length: int | None = TWEETS.size) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + (f"Content-Length: {length}\r\n".encode() if length else b"") + b"\r\n"


def drip_body(every: float, size: int, seconds: float = 20.0):
    """Headers at once, then `size` bytes every `every` seconds, for at most `seconds`."""

    def talk(conn, closed):
        conn.sendall(headers())
        end = time.monotonic() + seconds
        while not closed.is_set() and time.monotonic() < end:
            conn.sendall(b"x" * size)
            time.sleep(every)

    return talk


def drip_headers(conn, closed):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    end = time.monotonic() + 20
    while not closed.is_set() and time.monotonic() < end:
        conn.sendall(b"X-Slow: 1\r\n")  # a header line every 0.3 s: the headers never end
        time.sleep(0.3)


@pytest.fixture
def serve(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    servers = []

    def start(talk) -> Drip:
        s = Drip(talk)
        servers.append(s)
        monkeypatch.setenv("TUI_GEN_TWEETS_URL", s.url)
        return s

    yield start
    for s in servers:
        s.stop()


def test_a_byte_at_a_time_is_a_stall(serve, tmp_path):
    serve(drip_body(every=0.1, size=1))  # 10 bytes/s: every read gets something, the socket never times out
    with pytest.raises(DownloadError, match="stalled") as info:
        datasets.fetch("trump-tweets", tmp_path, stall_seconds=1, deadline_seconds=60)
    assert "\n" not in str(info.value) and f"less than {datasets.STALL_BYTES} bytes in 1 s" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # the .part is gone


def test_a_header_line_at_a_time_is_a_stall(serve, tmp_path):
    serve(drip_headers)
    with pytest.raises(DownloadError, match="stalled"):
        datasets.fetch("trump-tweets", tmp_path, stall_seconds=1, deadline_seconds=60)
    assert list(tmp_path.iterdir()) == []


def test_steady_but_too_slow_hits_the_deadline(serve, tmp_path):
    serve(drip_body(every=0.05, size=4096))  # ~80 KB/s: never a stall, but 2.2 MB takes ~27 s
    # 2 s windows: a server thread held up for a second on a loaded machine is still no stall
    with pytest.raises(DownloadError, match="took more than 5 s"):
        datasets.fetch("trump-tweets", tmp_path, stall_seconds=2, deadline_seconds=5)
    assert list(tmp_path.iterdir()) == []


def test_other_url_schemes_are_refused(tmp_path, monkeypatch):
    for url in ("ftp://example.com/t.txt", "data:text/plain,hello", "javascript:alert(1)"):
        monkeypatch.setenv("TUI_GEN_TWEETS_URL", url)
        with pytest.raises(DownloadError, match="only http://, https:// and file://"):
            datasets.fetch("trump-tweets", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_file_url_mirror_is_allowed(tmp_path, monkeypatch):
    """An offline mirror: the right bytes are taken, wrong ones fail the checksum as from any server."""
    mirror = tmp_path / "mirror.txt"
    mirror.write_bytes(b"not the tweets\n")
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", mirror.as_uri())
    data = tmp_path / "data"
    with pytest.raises(DownloadError, match="checksum"):
        datasets.fetch("trump-tweets", data)
    assert list(data.iterdir()) == []


def env_for(tmp_path: Path, url: str) -> dict:
    env = {
        **os.environ,
        "TUI_GEN_TWEETS_URL": url,
        "TUI_GEN_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    for var in ("http_proxy", "HTTP_PROXY"):
        env.pop(var, None)
    return env


def wait_for_part(folder: Path, timeout: float = 60, min_size: int = 1) -> Path:
    def part() -> Path | None:
        parts = [p for p in folder.glob(".*.part") if p.stat().st_size >= min_size] if folder.is_dir() else []
        return parts[0] if parts else None

    return wait_until(part, timeout, f"a .part file with data in {folder}", every=0.05)


def test_sigterm_during_data_get_leaves_no_part(serve, tmp_path):
    server = serve(drip_body(every=0.05, size=4096, seconds=60))  # slow but steady: no stall
    p = subprocess.Popen(
        [sys.executable, "-m", "tui_gen", "data", "get", "trump-tweets"],
        cwd=tmp_path,
        env=env_for(tmp_path, server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for_part(tmp_path / "data")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 143, err  # 128 + SIGTERM, as a shell reports it
    last = [ln for ln in err.replace("\r", "\n").split("\n") if ln.strip()][-1]
    assert last.startswith("tui-gen: terminated") and "Traceback" not in err
    assert list((tmp_path / "data").iterdir()) == []


def test_terminating_the_training_process_mid_download_leaves_no_part(serve, tmp_path):
    from tui_gen.process.parent import TrainingProcess
    from tui_gen.process.spec import TrainingSpec

    # Headers that never end: no data, so the child never gets to read "stop" (it does between chunks);
    # only SIGTERM ends it.
    serve(drip_headers)
    process = TrainingProcess()
    data = tmp_path / "data"
    process.start(
        TrainingSpec(
            corpus="trump-tweets",
            models_dir=str(tmp_path / "models"),
            data_dir=str(data),
            settings={"device": "cpu"},
            steps=1,
            threads=1,
        )
    )
    try:
        wait_for_part(data, timeout=300, min_size=0)  # torch starting at nice 10: ~100 s beside busy processes
    finally:
        code = process.shutdown(timeout=0.5)  # "stop" goes unread: then SIGTERM
    assert code == -signal.SIGTERM  # it still dies by the signal (the app says so), after cleaning up
    assert list(data.iterdir()) == []


def test_hostile_reason_phrase_is_shown_literally(tmp_path):
    def talk(conn, closed):
        conn.sendall(b"HTTP/1.1 503 \x1b]2;PWNED\x07 [reverse blink]gone[/] \x9b31m\r\nContent-Length: 0\r\n\r\n")

    server = Drip(talk)
    try:
        r = subprocess.run(
            [sys.executable, "-m", "tui_gen", "data", "get", "trump-tweets"],
            cwd=tmp_path,
            env=env_for(tmp_path, server.url),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    finally:
        server.stop()
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = r.stderr.strip().split("\n")[-1]
    assert "503" in line and "[reverse blink]gone[/]" in line and "␛]2;PWNED␇" in line
    assert not set(r.stderr) & CONTROLS, sorted(set(r.stderr) & CONTROLS)
