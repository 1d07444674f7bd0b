"""Where a corpus comes from: a file, or a built-in corpus fetched (or built) once into the data folder.

Engine code: no UI imports, no printing. Failures are DownloadError / CorpusError with a one-line
message saying what happened and what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import queue
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tui_gen.core.atomic import write_atomic
from tui_gen.core.errors import CorpusError, DownloadError
from tui_gen.core.paths import default_data_dir
from tui_gen.data.catalogue import BUILTINS, DEFAULT_CORPUS, OFFLINE_CORPUS, BuiltinCorpus, builtin, cached_path
from tui_gen.data.corpus import CorpusText, load_corpus

_CHUNK = 64 * 1024
# A mirror may differ slightly and still deserve a clear checksum error; beyond this the server
# is broken or hostile and we stop reading rather than fill the disk.
_SLACK = 1024 * 1024

# A mirror that drips a byte at a time never trips the socket timeout (each read gets something):
# less than STALL_BYTES in STALL_SECONDS is a stall, and no download may take longer than DEADLINE.
STALL_SECONDS = 60.0
STALL_BYTES = 1024
DEADLINE_SECONDS = 30 * 60.0
# A mirror may be a local copy (offline machines): file:// is as good as http(s). Nothing else.
URL_SCHEMES = ("http", "https", "file")

Progress = Callable[[int, "int | None"], None]


def fetch(
    name: str,
    data_dir: Path | None = None,
    progress: Progress | None = None,
    timeout: float = 30.0,
    stall_seconds: float = STALL_SECONDS,
    deadline_seconds: float = DEADLINE_SECONDS,
) -> Path:
    """Return the corpus file, downloading or building it first if it is not there yet."""
    corpus = builtin(name)
    data_dir = data_dir if data_dir is not None else default_data_dir()
    path = cached_path(name, data_dir)
    if path is not None:
        return path
    dest = data_dir / corpus.filename
    if corpus.url is None:
        _build_python_help(dest, progress)
    else:
        _download(corpus, dest, progress, timeout, stall_seconds, deadline_seconds)
    return dest


def _temp_file(dest: Path) -> tuple[int, Path]:
    # The temp file sits next to dest so os.replace is an atomic rename on the same filesystem.
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as e:
        raise CorpusError(
            f"cannot write to the data folder {dest.parent}: {e.strerror or e}; "
            "set TUI_GEN_DATA_DIR to a writable folder"
        ) from None
    return fd, Path(tmp)


def _reason(e: BaseException) -> str:
    match e:
        case urllib.error.HTTPError():
            text = f"HTTP {e.code} {e.reason}"
        case urllib.error.URLError():
            text = str(e.reason)
        case _:
            text = str(e) or type(e).__name__
    return " ".join(text.split())  # one line, whatever the server sent


class _Stalled(Exception):
    """The mirror sent too little for too long, or the whole download took too long."""


def _reader(url: str, timeout: float, out: queue.Queue, stop: threading.Event) -> None:
    """In a thread: open url and put ("headers", response headers), then ("data", bytes) for each
    read, then ("end", None) or ("error", exception). The thread reading the network may block
    in a read for up to `timeout`; the caller waits on the queue with its own clock."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            out.put(("headers", resp.headers))
            # read1: whatever one read of the socket brings, so a slow mirror shows its progress;
            # read(n) would block until n bytes came.
            read = getattr(resp, "read1", resp.read)
            while not stop.is_set():
                chunk = read(_CHUNK)
                if not chunk:
                    break
                out.put(("data", chunk))
        out.put(("end", None))
    except BaseException as e:  # noqa: BLE001 - handed to the caller, who decides
        out.put(("error", e))


def _stream(url: str, timeout: float, stall_seconds: float, deadline_seconds: float):
    """Yield ("headers", headers) then each chunk as ("data", bytes); raise _Stalled when less than
    STALL_BYTES arrived in any stall_seconds (headers included), or deadline_seconds have passed."""
    chunks: queue.Queue = queue.Queue(maxsize=64)
    stop = threading.Event()
    thread = threading.Thread(target=_reader, args=(url, timeout, chunks, stop), daemon=True, name="tui-gen-download")
    thread.start()
    start = window_start = time.monotonic()
    window_bytes = 0
    try:
        while True:
            now = time.monotonic()
            if now - start >= deadline_seconds:
                raise _Stalled(f"it took more than {deadline_seconds:g} s")
            if now - window_start >= stall_seconds:
                if window_bytes < STALL_BYTES:
                    raise _Stalled(f"less than {STALL_BYTES} bytes in {stall_seconds:g} s")
                window_start, window_bytes = now, 0
            wait = min(window_start + stall_seconds, start + deadline_seconds) - now
            try:
                kind, value = chunks.get(timeout=max(wait, 0.01))
            except queue.Empty:
                continue
            if kind == "error":
                raise value
            if kind == "end":
                return
            if kind == "data":
                window_bytes += len(value)
            yield kind, value
    finally:
        # The thread ends at its next read (at most `timeout` later); it is a daemon, so it never
        # holds up the exit. Drain the queue so that a thread blocked on a full queue wakes up.
        stop.set()
        while True:
            try:
                chunks.get_nowait()
            except queue.Empty:
                break


def mirror_url(corpus: BuiltinCorpus) -> str:
    """The corpus's URL, or the mirror its environment variable names: http(s):// or file://."""
    assert corpus.url is not None
    url = (os.environ.get(corpus.url_env) if corpus.url_env else None) or corpus.url
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in URL_SCHEMES:
        where = f"{corpus.url_env} is" if url != corpus.url else "the URL is"
        raise DownloadError(
            f"{where} {url[:200]!r}: only http://, https:// and file:// URLs can be used; "
            f"set {corpus.url_env or 'it'} to one of those, or unset it to use {corpus.url}"
        )
    return url


def _download(
    corpus: BuiltinCorpus,
    dest: Path,
    progress: Progress | None,
    timeout: float,
    stall_seconds: float = STALL_SECONDS,
    deadline_seconds: float = DEADLINE_SECONDS,
) -> None:
    assert corpus.url is not None and corpus.size is not None and corpus.sha256 is not None
    url = mirror_url(corpus)
    limit = corpus.size + _SLACK
    how = (
        f"download it yourself from {corpus.url} into {dest}"
        + (f", or set {corpus.url_env} to a mirror" if corpus.url_env else "")
        + f", or use the offline corpus: tui-gen train {OFFLINE_CORPUS}"
    )
    if dest.exists():  # present but wrong size: say so, or a hand-made copy is silently ignored
        how = f"{dest} is {dest.stat().st_size} bytes, expected {corpus.size}; " + how

    fd, tmp = _temp_file(dest)
    done = False
    try:  # finally removes the temp file on any stop: an error, KeyboardInterrupt, SystemExit (SIGTERM)
        with os.fdopen(fd, "wb") as out:
            digest = hashlib.sha256()
            got = 0
            total = None
            try:
                for kind, value in _stream(url, timeout, stall_seconds, deadline_seconds):
                    if kind == "headers":
                        length = value.get("Content-Length")
                        total = int(length) if length and length.isdigit() else None
                        if total is not None and total > limit:
                            raise DownloadError(
                                f"{url} offers {total} bytes for {corpus.name}, expected "
                                f"{corpus.size}; refusing it: {how}"
                            )
                        if progress:
                            progress(0, total)
                        continue
                    got += len(value)
                    if got > limit:
                        raise DownloadError(
                            f"{url} sent more than {limit} bytes for {corpus.name} "
                            f"(expected {corpus.size}); stopped reading: {how}"
                        )
                    digest.update(value)
                    out.write(value)
                    if progress:
                        progress(got, total)
            except _Stalled as e:
                raise DownloadError(
                    f"the download of {corpus.name} from {url} stalled ({e}, {got} bytes so far); "
                    f"nothing was saved: try again later, or {how}",
                    reason=f"the download stalled: {e}",
                ) from None
            except (OSError, http.client.HTTPException, ValueError) as e:
                # URLError/HTTPError/timeouts are OSErrors; ValueError is a malformed URL.
                raise DownloadError(
                    f"could not download {corpus.name} from {url} ({_reason(e)}): {how}", reason=_reason(e)
                ) from None
            if got != corpus.size or digest.hexdigest() != corpus.sha256:
                raise DownloadError(
                    f"downloaded file does not match the expected checksum ({got} bytes from "
                    f"{url}, expected {corpus.size}); nothing was saved: {how}",
                    reason="what the server sent did not match its checksum",
                )
            out.flush()
            os.fsync(out.fileno())  # the bytes are on disk before the name says they are
        os.replace(tmp, dest)  # file-access: a download of ours into the data folder, checked whole
        done = True
    finally:
        if not done:
            tmp.unlink(missing_ok=True)


def _build_python_help(dest: Path, progress: Progress | None) -> None:
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise CorpusError(
            f"this Python has no pydoc_data module (its help topics), so {OFFLINE_CORPUS} cannot "
            f"be built; use a full Python installation, or another corpus: tui-gen train "
            f"{DEFAULT_CORPUS}"
        ) from None
    # Sorted keys: the same Python always builds the same bytes.
    data = ("\n\n".join(topics[k].strip() for k in sorted(topics)) + "\n").encode("utf-8")
    try:
        write_atomic(dest, data, prefix=f".{dest.name}.", suffix=".part")
    except OSError as e:
        raise CorpusError(
            f"cannot write {dest}: {e.strerror or e}; set TUI_GEN_DATA_DIR to a writable folder"
        ) from None
    if progress:
        progress(len(data), len(data))


def guess_end_marker(text: str) -> str | None:
    """A word that ends nearly every line (the tweets' `_E_`) is an end marker: generation stops there."""
    lines = [ln.rstrip() for ln in text.split("\n")[:5000] if ln.strip()]
    if len(lines) < 20:
        return None
    last = [ln.rsplit(None, 1)[-1] for ln in lines]
    word = max(set(last), key=last.count)
    return word if len(word) <= 8 and last.count(word) >= 0.9 * len(lines) else None


def open_corpus(
    arg: str | None,
    data_dir: Path | None = None,
    progress: Progress | None = None,
    framing: str | None = None,
    build_progress: Progress | None = None,
) -> tuple[CorpusText, str]:
    """A built-in corpus name (fetched or built once, then cached) or a path; and how to name it.
    Either is encoded into the corpus cache under the data folder on first use (data.cache):
    progress(done, total) reports a download, build_progress(done, total) that encoding, in bytes."""
    name = arg or DEFAULT_CORPUS
    if name in BUILTINS and not Path(name).exists():
        spec = BUILTINS[name]
        path = cached_path(name, data_dir) or fetch(name, data_dir, progress)
        corpus = load_corpus(
            path,
            framing=framing or spec.framing,
            end_marker=spec.end_marker,
            data_dir=data_dir,
            progress=build_progress,
        )
        if not framing:
            corpus.framing_reason = "built-in corpus"
        return corpus, name
    corpus = load_corpus(name, framing=framing, data_dir=data_dir, progress=build_progress)
    corpus.end_marker = guess_end_marker(corpus.head)
    return corpus, str(Path(name).resolve())
