"""Built-in corpora: download over a real loopback HTTP server, checksum, caching, python-help."""

from __future__ import annotations

import hashlib
import http.server
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from support.data import TWEETS as SOURCE
from tui_gen.cli.main import main as cli_main
from tui_gen.core.errors import CorpusError, DownloadError
from tui_gen.data import sources as datasets

TWEETS = datasets.BUILTINS["trump-tweets"]


@pytest.fixture(scope="module")
def source_bytes() -> bytes:
    # Like every test that needs the real data, this fails (never skips) when it is missing.
    assert SOURCE.is_file(), f"the real data set is missing at {SOURCE}"
    return SOURCE.read_bytes()


class _Server:
    """A loopback HTTP server; routes maps a path to bytes (with Content-Length) or to an int
    (that many bytes, close-delimited, no Content-Length)."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes | int] = {}
        self.requests = 0
        routes, server = self.routes, self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                body = routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                if isinstance(body, bytes):
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.end_headers()
                try:
                    for _ in range(body // 65536):
                        self.wfile.write(b"x" * 65536)
                except OSError:
                    pass  # the client hung up, as it should

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    # A proxy set in the environment would otherwise swallow loopback requests.
    for var in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    srv = _Server()
    yield srv
    srv.stop()


# Bound but never listening: a connection is refused at once, and while the socket is held nothing
# else on the machine (another test run's server, say) can take the port. Held until the end of the run.
_HELD_PORTS: list[socket.socket] = []


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _HELD_PORTS.append(s)
    return f"http://127.0.0.1:{s.getsockname()[1]}/trump_tweets.txt"


def test_download_verifies_and_reports_progress(server, source_bytes, tmp_path, monkeypatch):
    server.routes["/t.txt"] = source_bytes
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", server.url("/t.txt"))
    calls: list[tuple[int, int | None]] = []

    path = datasets.fetch("trump-tweets", tmp_path, progress=lambda n, t: calls.append((n, t)))

    assert path == tmp_path / "trump_tweets.txt"
    assert path.read_bytes() == source_bytes
    counts = [n for n, _ in calls]
    assert len(counts) > 2 and counts == sorted(set(counts))  # strictly increasing
    assert calls[-1] == (TWEETS.size, TWEETS.size)
    assert {t for _, t in calls} == {TWEETS.size}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trump_tweets.txt"]
    assert datasets.cached_path("trump-tweets", tmp_path) == path


def test_wrong_bytes_fail_checksum_and_leave_nothing(server, source_bytes, tmp_path, monkeypatch):
    bad = bytearray(source_bytes)
    bad[len(bad) // 2] ^= 1  # same size, one bit off: only the hash can tell
    server.routes["/bad.txt"] = bytes(bad)
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", server.url("/bad.txt"))

    with pytest.raises(DownloadError, match="checksum"):
        datasets.fetch("trump-tweets", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_no_server_fails_fast_and_says_how_to_get_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", _closed_port_url())
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        datasets.fetch("trump-tweets", tmp_path, timeout=120)
    assert time.monotonic() - start < 60  # refused at once, not after waiting out the timeout
    msg = str(info.value)
    assert "\n" not in msg
    assert TWEETS.url in msg and "TUI_GEN_TWEETS_URL" in msg and "python-help" in msg
    assert list(tmp_path.iterdir()) == []


def test_http_404_is_a_download_error(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", server.url("/missing.txt"))
    with pytest.raises(DownloadError, match="404"):
        datasets.fetch("trump-tweets", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_endless_response_is_cut_off(server, tmp_path, monkeypatch):
    # No Content-Length and 64 MiB on offer: the reader must stop on its own, not at the end.
    server.routes["/huge"] = 64 * 1024 * 1024
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", server.url("/huge"))
    seen: list[int] = []
    with pytest.raises(DownloadError, match="more than"):
        datasets.fetch("trump-tweets", tmp_path, progress=lambda n, t: seen.append(n))
    assert max(seen) < 2 * TWEETS.size
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_no_partial_file(server, source_bytes, tmp_path, monkeypatch):
    server.routes["/t.txt"] = source_bytes
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", server.url("/t.txt"))

    def interrupt(n: int, total: int | None) -> None:
        if n > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        datasets.fetch("trump-tweets", tmp_path, progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_cached_file_needs_no_network(server, source_bytes, tmp_path, monkeypatch):
    server.routes["/t.txt"] = source_bytes
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", server.url("/t.txt"))
    first = datasets.fetch("trump-tweets", tmp_path)
    server.stop()
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", _closed_port_url())

    assert datasets.fetch("trump-tweets", tmp_path) == first
    assert server.requests == 1


def test_wrong_size_file_is_not_cached_and_gets_replaced(server, source_bytes, tmp_path, monkeypatch):
    (tmp_path / "trump_tweets.txt").write_bytes(source_bytes[:1000])
    assert datasets.cached_path("trump-tweets", tmp_path) is None

    monkeypatch.setenv("TUI_GEN_TWEETS_URL", _closed_port_url())
    with pytest.raises(DownloadError, match="1000 bytes"):  # the message points at the bad copy
        datasets.fetch("trump-tweets", tmp_path)

    server.routes["/t.txt"] = source_bytes
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", server.url("/t.txt"))
    assert datasets.fetch("trump-tweets", tmp_path).read_bytes() == source_bytes


def test_python_help_builds_offline_and_deterministically(tmp_path, monkeypatch):
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", _closed_port_url())
    a = datasets.fetch("python-help", tmp_path / "a")
    b = datasets.fetch("python-help", tmp_path / "b")
    assert a.name == "python-help.txt"
    text = a.read_text(encoding="utf-8")
    assert a.stat().st_size > 100_000
    assert "assert" in text and "**********" in text  # pydoc's own headings
    assert a.read_bytes() == b.read_bytes()
    assert datasets.cached_path("python-help", tmp_path / "a") == a
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["python-help.txt"]


def test_python_help_without_pydoc_data(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pydoc_data.topics", None)  # import now fails
    with pytest.raises(CorpusError, match="pydoc_data"):
        datasets.fetch("python-help", tmp_path)
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_default_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("TUI_GEN_DATA_DIR", raising=False)
    assert datasets.default_data_dir() == Path("data")
    monkeypatch.setenv("TUI_GEN_DATA_DIR", str(tmp_path / "d"))
    assert datasets.default_data_dir() == tmp_path / "d"
    assert datasets.fetch("python-help") == tmp_path / "d" / "python-help.txt"


def test_unknown_name_lists_known_ones(tmp_path):
    for call in (datasets.fetch, datasets.cached_path):
        with pytest.raises(CorpusError) as info:
            call("no-such-corpus", tmp_path)
        assert "trump-tweets" in str(info.value) and "python-help" in str(info.value)


def test_builtin_table():
    assert datasets.DEFAULT_CORPUS in datasets.BUILTINS
    assert datasets.OFFLINE_CORPUS in datasets.BUILTINS
    assert TWEETS.framing == "lines" and TWEETS.end_marker == "_E_"
    assert TWEETS.url_env == "TUI_GEN_TWEETS_URL"
    assert datasets.BUILTINS["python-help"].framing == "stream"


# ---- tiny-shakespeare: the same download path, its own mirror variable -----------------------------

SHAKESPEARE = datasets.BUILTINS["tiny-shakespeare"]


def _made_up_play(size: int) -> bytes:
    """Exactly `size` bytes of a play written here (speaker lines, speeches, blank lines): not the real file."""
    cast = ["First Watchman", "Mara", "Old Tobin", "All"]
    verse = [
        "The lamp is low and the river cold,",
        "Speak, speak.",
        "Who walks the road at this late hour?",
        "I heard a door, and then a voice.",
    ]
    speeches = [f"{cast[i % 4]}:\n{verse[i % 4]}\n{verse[(i * 3 + 1) % 4]}\n\n" for i in range(64)]
    body = "".join(speeches).encode("utf-8")
    return (body * (size // len(body) + 1))[:size]


def test_tiny_shakespeare_entry():
    assert (
        SHAKESPEARE.url == "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    )
    assert SHAKESPEARE.size == 1_115_394
    assert SHAKESPEARE.sha256 == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    assert SHAKESPEARE.url_env == "TUI_GEN_SHAKESPEARE_URL"
    assert SHAKESPEARE.framing == "stream" and SHAKESPEARE.end_marker is None


def test_tiny_shakespeare_with_the_wrong_bytes_is_refused(server, tmp_path, monkeypatch):
    # The right size, other bytes: only the SHA-256 can tell, and it must.
    server.routes["/input.txt"] = _made_up_play(SHAKESPEARE.size)
    monkeypatch.setenv("TUI_GEN_SHAKESPEARE_URL", server.url("/input.txt"))
    monkeypatch.setenv("TUI_GEN_TWEETS_URL", _closed_port_url())  # the tweets' variable plays no part
    with pytest.raises(DownloadError, match="checksum") as info:
        datasets.fetch("tiny-shakespeare", tmp_path)
    assert server.requests == 1
    assert "\n" not in str(info.value) and "TUI_GEN_SHAKESPEARE_URL" in str(info.value)
    assert SHAKESPEARE.url in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_tiny_shakespeare_unreachable_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TUI_GEN_SHAKESPEARE_URL", _closed_port_url())
    with pytest.raises(DownloadError) as info:
        datasets.fetch("tiny-shakespeare", tmp_path, timeout=5)
    msg = str(info.value)
    assert SHAKESPEARE.url in msg and "TUI_GEN_SHAKESPEARE_URL" in msg and "python-help" in msg
    assert str(tmp_path / "tinyshakespeare.txt") in msg
    assert list(tmp_path.iterdir()) == []


def test_tiny_shakespeare_downloads_once_and_is_framed_as_a_stream(server, tmp_path, monkeypatch, capsys):
    # The real file cannot be served here (no network, and it is not ours to commit): a made-up play,
    # with the entry's checksum set to it, goes through the same download, verification and caching.
    body = _made_up_play(50_000)
    entry = replace(SHAKESPEARE, size=len(body), sha256=hashlib.sha256(body).hexdigest())
    monkeypatch.setitem(datasets.BUILTINS, "tiny-shakespeare", entry)
    server.routes["/input.txt"] = body
    monkeypatch.setenv("TUI_GEN_SHAKESPEARE_URL", server.url("/input.txt"))
    monkeypatch.setenv("TUI_GEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")  # the table shows the whole path, however long tmp_path is

    assert cli_main(["data", "list"]) == 0
    listed = capsys.readouterr().out
    row = next(ln for ln in listed.splitlines() if ln.strip().startswith("tiny-shakespeare"))
    assert "stream" in row and "no (tui-gen data get tiny-shakespeare)" in row

    corpus, name = datasets.open_corpus("tiny-shakespeare")
    assert server.requests == 1 and (tmp_path / "tinyshakespeare.txt").read_bytes() == body
    assert name == "tiny-shakespeare" and corpus.read_text() == body.decode("utf-8")
    assert (corpus.framing, corpus.end_marker, corpus.framing_reason) == ("stream", None, "built-in corpus")

    assert cli_main(["data", "list"]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("tiny-shakespeare"))
    assert str(tmp_path / "tinyshakespeare.txt") in row
    datasets.open_corpus("tiny-shakespeare")
    assert server.requests == 1  # cached: no second download
