"""`tui-gen serve`: the token over HTTP and the websocket, one training at a time among the served apps,
the pickers inside the served root, and (slow) real tabs over websockets: a second tab watches the run
the first trains, closing a tab leaves no process behind, Ctrl+C to the server ends every app, saved.

The browser itself is tests/e2e/test_browser.py."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websocket
from textual.widgets import Input
from textual_fspicker import FileOpen, SelectDirectory
from textual_fspicker.parts import DirectoryNavigation

from support import fake_events
from support.data import TINY_FLAGS, TINY_OVERRIDES, TINY_TEXT
from support.pilot import FakeFactory, FakeTrainingProcess, notes, quitting, run, wait_for
from support.processes import child_env, run_cli
from support.waiting import wait_until
from tui_gen.app.app import SAVE_AND_QUIT_SECONDS, TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import NewRunScreen
from tui_gen.app.serve import ROOT_ENV, STATE_ENV, Served, SlottedProcess, TrainedElsewhere, TrainingSlot
from tui_gen.cli.serve import app_command, exposure_warning, launch_argv, public_url
from tui_gen.core import events as ev
from tui_gen.core.errors import ConfigError

WIDE = (160, 48)

# ---- the command line ------------------------------------------------------------------------------------


def test_the_tabs_launch_flags_are_serves_less_host_and_port():
    argv = ["serve", "my.txt", "--host", "0.0.0.0", "--steps", "40", "--port=9000", "--hidden", "16", "--port", "1"]
    assert launch_argv(argv) == ["launch", "my.txt", "--steps", "40", "--hidden", "16"]
    assert launch_argv(["serve", "--host=::", "--", "--port"]) == ["launch", "--", "--port"]  # a corpus named --port
    command = app_command(["launch", "it's.txt"], Path("/r o/ot"), Path("/state"))
    assert shlex.split(command) == [  # what the shell that textual-serve starts runs: exactly these words
        *("exec", "env", f"{ROOT_ENV}=/r o/ot", f"{STATE_ENV}=/state"),
        *(sys.executable, "-m", "tui_gen", "launch", "it's.txt"),
    ]


def test_the_printed_url_is_the_one_a_browser_elsewhere_types():
    assert public_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert public_url("::1", 8000) == "http://[::1]:8000"
    assert public_url("0.0.0.0", 8080) == f"http://{socket.gethostname()}:8080"  # not the unspecified address
    assert public_url("box.lan", 80) == "http://box.lan:80"


def test_listening_beyond_this_machine_says_who_can_train_on_it():
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert exposure_warning(host) is None, host
    for host in ("0.0.0.0", "::", "192.168.1.5", "box.lan"):
        assert "anyone who can reach it and has this URL can use the app and train on this machine" in (
            exposure_warning(host) or ""
        ), host


# ---- the training slot --------------------------------------------------------------------------------------


def test_the_slot_has_one_holder_who_names_its_run_for_the_others(tmp_path):
    first, second = TrainingSlot(tmp_path), TrainingSlot(tmp_path)
    assert first.free() and first.take() and first.held
    assert not second.take() and not second.free() and second.other_run() is None  # taken, nothing noted yet
    first.note("models/run-1")
    assert second.other_run() == "models/run-1"
    first.release()
    assert second.other_run() is None and second.free()  # released: the note is cleared too
    (tmp_path / "training.json").write_text('{"run": "models/stale"}')  # left by a holder that was killed
    assert second.take() and second.other_run() is None  # a new holder's note starts empty
    second.release()


def test_a_slotted_process_starts_only_while_it_holds_the_slot(tmp_path):
    trainer = SlottedProcess(FakeTrainingProcess(), TrainingSlot(tmp_path))
    trainer.start(LaunchOptions(corpus="tiny").new_run())
    assert trainer.alive
    other = FakeTrainingProcess()
    with pytest.raises(TrainedElsewhere) as starting:
        SlottedProcess(other, TrainingSlot(tmp_path)).start(LaunchOptions().new_run())
    assert starting.value.run_dir is None and other.spec is None  # the other is starting: nothing started here
    trainer.process.push(dataclasses.replace(fake_events.started(), run_dir="models/tiny-1"))
    assert [type(e) for e in trainer.get(1.0)] == [ev.Started]
    with pytest.raises(TrainedElsewhere) as training:
        SlottedProcess(other, TrainingSlot(tmp_path)).start(LaunchOptions().new_run())
    assert training.value.run_dir == "models/tiny-1"
    trainer.process.die(0, finished=True)
    trainer.get(1.0)  # its Exited lets go of the slot
    assert TrainingSlot(tmp_path).free()


def test_served_comes_from_the_servers_environment(tmp_path):
    (tmp_path / "root" / "corpora").mkdir(parents=True)
    (tmp_path / "state").mkdir()
    (tmp_path / "root" / "escape").symlink_to(tmp_path)
    assert Served.from_environ({}) is None
    served = Served.from_environ({ROOT_ENV: str(tmp_path / "root"), STATE_ENV: str(tmp_path / "state")})
    assert served == Served(tmp_path / "root", tmp_path / "state", server=os.getppid())
    assert served.inside(tmp_path / "root" / "corpora" / "a.txt") and served.inside(tmp_path / "root")
    assert not served.inside(tmp_path / "root" / ".." / "state") and not served.inside("/etc/hostname")
    assert not served.inside(tmp_path / "root" / "escape" / "state")  # a link out of the root is out
    for env in ({ROOT_ENV: "relative", STATE_ENV: str(tmp_path)}, {ROOT_ENV: str(tmp_path)}):
        with pytest.raises(ConfigError, match="tui-gen serve"):
            Served.from_environ(env)


# ---- a served app (Pilot, fake training processes) ----------------------------------------------------------


@pytest.fixture
def factory() -> FakeFactory:
    return FakeFactory()


@pytest.fixture
def served(tmp_path) -> Served:
    (tmp_path / "root").mkdir()
    (tmp_path / "state").mkdir()
    return Served((tmp_path / "root").resolve(), tmp_path / "state")


def served_app(factory, served: Served, corpus: Path, **options) -> TuiGenApp:
    launch = dict(corpus=str(corpus), models_dir=str(served.root / "models"), settings=dict(TINY_OVERRIDES))
    return TuiGenApp(LaunchOptions(**{**launch, **options}), process_factory=factory, warm_up=False, served=served)


def test_a_tab_watches_the_run_another_tab_trains(factory, served, tiny_corpus_file):
    other = TrainingSlot(served.state)  # another tab, still starting its training process
    assert other.take()
    run_dir = served.root / "models" / "tiny-1"
    run_dir.mkdir(parents=True)
    app = served_app(factory, served, tiny_corpus_file)

    async def body():
        async with app.run_test(size=WIDE) as pilot:
            await wait_for(pilot, lambda: "another tab" in (app.state.message or ""), what="the wait for the other tab")
            other.note(str(run_dir))  # its training process has started, in run_dir
            await wait_for(pilot, lambda: app.watching == str(run_dir), what="the watch of the other tab's run")
            assert any("Another tab of this server trains" in n for n in notes(app))
            assert all(p.spec is None for p in factory.processes)  # this tab started no training

    run(body())
    other.release()


def test_a_tab_trains_when_no_other_does_and_lets_go_once_its_run_ends(factory, served, tiny_corpus_file):
    app = served_app(factory, served, tiny_corpus_file)

    async def body():
        async with app.run_test(size=WIDE) as pilot:
            await wait_for(pilot, lambda: factory.processes and factory.last.alive, what="the tab's training")
            other = TrainingSlot(served.state)
            assert not other.take()  # held while this tab trains
            factory.last.push(dataclasses.replace(fake_events.started(), run_dir="models/tiny-7"))
            await wait_for(pilot, lambda: other.other_run() == "models/tiny-7", what="the run folder noted")
            factory.last.die(0, finished=True)
            await wait_for(pilot, other.free, what="the slot let go of")

    run(body())


def test_a_tab_whose_server_was_killed_saves_and_quits(factory, served, tiny_corpus_file):
    served = dataclasses.replace(served, server=os.getppid())
    app = served_app(factory, served, tiny_corpus_file)

    async def body():
        async with app.run_test(size=WIDE) as pilot:
            await wait_for(pilot, lambda: factory.processes and factory.last.alive, what="the tab's training")
            assert not quitting(app)
            app.served = dataclasses.replace(served, server=os.getppid() + 1)  # its parent is no longer the server
            await wait_for(pilot, lambda: quitting(app), what="the app to quit by itself")
            assert factory.last.shutdowns and factory.last.shutdowns[0] == SAVE_AND_QUIT_SECONDS  # saving

    run(body())
    assert len(factory.processes) == 1


def test_a_tab_whose_server_is_gone_before_its_first_paint_starts_nothing(factory, served, tiny_corpus_file):
    """The server check can come before the first paint, which starts training: the app then quits
    without starting a process (one started then was never stopped, and the app's exit hung on it)."""
    orphaned = dataclasses.replace(served, server=os.getppid() + 1)
    app = served_app(factory, orphaned, tiny_corpus_file)

    async def body():
        async with app.run_test(size=WIDE) as pilot:
            app._quit_if_server_gone()  # as the interval does when it fires first
            await wait_for(pilot, lambda: quitting(app), what="the app to quit by itself")
            started = len(factory.processes)
            app._after_first_paint()  # the paint's callback, late
            app.start_training(app.options.new_run(str(tiny_corpus_file)))
            assert len(factory.processes) == started

    run(body())
    assert not any(p.alive for p in factory.processes)
    assert not dataclasses.replace(served, server=os.getppid()).server_gone and not served.server_gone


def test_served_pickers_and_typed_paths_stay_inside_the_root(factory, served, tiny_corpus_file):
    inside = served.root / "corpora" / "mine.txt"
    inside.parent.mkdir()
    inside.write_text(TINY_TEXT, encoding="utf-8")
    outside = served.root.parent / "secret.txt"
    outside.write_text(TINY_TEXT, encoding="utf-8")
    app = served_app(factory, served, tiny_corpus_file, train=False)

    async def body():
        async with app.run_test(size=WIDE) as pilot:
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), what="the new-run form")
            form = app.screen
            for button, picker_type in (("#pick-file", FileOpen), ("#pick-folder", SelectDirectory)):
                form.query_one("#field-path", Input).value = str(outside)  # the picker opens by the path typed
                await pilot.pause(0.05)
                await pilot.click(button)
                await wait_for(pilot, lambda t=picker_type: isinstance(app.screen, t), what="the picker")
                picker = app.screen
                navigation = picker.query_one(DirectoryNavigation)
                await wait_for(pilot, lambda n=navigation: n.option_count > 0, what="the root listed")
                assert navigation.location == served.root  # not the outside path's folder
                assert ".." not in [
                    navigation.get_option_at_index(i).location.name for i in range(navigation.option_count)
                ]
                navigation.action_navigate_up()
                await pilot.pause(0.05)
                assert navigation.location == served.root
                navigation.location = "/"
                await pilot.pause(0.05)
                assert navigation.location == served.root
                if picker_type is FileOpen:
                    name = picker.query_one(Input)
                    name.focus()
                    name.value = str(outside)
                    await pilot.press("enter")
                    await pilot.pause(0.05)
                    assert app.screen is picker and "inside" in str(picker.query_one("Dialog").border_subtitle)
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is form, what="the form again")
            # a typed path outside the root is refused (and not read); one inside is taken
            assert f"served from {served.root}" in form.check().problems.get("corpus", "")
            assert form.preview is None
            form.query_one("#field-path", Input).value = str(inside)
            await wait_for(pilot, lambda: form.preview is not None, what="the inside corpus read")
            assert "corpus" not in form.check().problems

    run(body())


# ---- the server, over HTTP -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`python -m tui_gen serve` in a process group of its own, in `cwd`; its URL read from its output."""

    def __init__(self, cwd: Path, *flags: str) -> None:
        self.port = free_port()
        self.out: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui_gen", "serve", *flags, "--port", str(self.port)],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=child_env(COLUMNS="200"),
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self.wait_for(r"http://\S+\?token=\S+", 60)
        self.base, self.token = self.url.split("/?token=")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.append(line)

    def wait_for(self, pattern: str, timeout: float) -> str:
        def printed() -> str | None:
            found = re.search(pattern, "".join(self.out))
            if found:
                return found.group(0)
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"serve exited ({self.proc.returncode}) before printing {pattern!r}:\n{self.tail()}"
                )
            return None

        return wait_until(printed, timeout, f"serve to print {pattern!r}", every=0.05, shown=self.tail)

    def tail(self) -> str:
        return "".join(self.out)[-3000:]

    def get(self, path: str, cookie: str | None = None) -> tuple[int, str, dict]:
        request = urllib.request.Request(self.base + path, headers={"Cookie": cookie} if cookie else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    def tab(self, **query: str) -> websocket.WebSocket:
        ws_url = self.base.replace("http://", "ws://") + "/ws?" + "&".join(f"{k}={v}" for k, v in query.items())
        return websocket.create_connection(ws_url, timeout=30, suppress_origin=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own group: the server and every app it started
            self.proc.wait(10)


def test_a_port_taken_is_one_line_and_no_url(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli(["serve", "--port", str(taken.getsockname()[1])], cwd=tmp_path, timeout=60)
    result.assert_clean_error("cannot listen on 127.0.0.1", "pick another --port")
    assert "token" not in result.out


def test_every_page_and_the_websocket_need_the_token(tmp_path):
    server = Server(tmp_path, "--steps", "5")
    try:
        assert server.base == f"http://127.0.0.1:{server.port}" and len(server.token) >= 32
        for path in ("/", "/?token=wrong", f"/?token={server.token[:-1]}"):
            status, text, _ = server.get(path)
            assert status == 403 and "needs the token" in text and server.token not in text, path
        status, page, headers = server.get(f"/?token={server.token}")
        assert status == 200 and f'data-session-websocket-url="ws://127.0.0.1:{server.port}/ws"' in page
        cookie = headers["Set-Cookie"].split(";")[0]
        assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        assert server.get("/", cookie=cookie)[0] == 200  # a reload: the cookie carries the token
        assert server.get("/", cookie=cookie[:-1])[0] == 403
        assert server.get("/download/anything")[0] == 403
        for query in ({}, {"token": "wrong"}):
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                server.tab(width="80", height="24", **query)
            assert refused.value.status_code == 403
    finally:
        server.stop()


# ---- real tabs, over websockets (slow) ------------------------------------------------------------------------

SHUTDOWN_DEADLINE = 15.0  # seconds from Ctrl+C to the server's exit, a watching tab open: about 1 s here
ESCAPES = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])")
SIGINT_BIT, SIGTERM_BIT = 1 << (signal.SIGINT - 1), 1 << (signal.SIGTERM - 1)


class Tab:
    """A browser tab without the browser: the websocket textual-serve gives a tab, and what its app drew."""

    def __init__(self, server: Server) -> None:
        self.ws = server.tab(token=server.token, width=str(WIDE[0]), height=str(WIDE[1]))
        self.screen: list[str] = []
        self.closed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:  # always read: an unread websocket would stall the app's output
        try:
            while True:
                data = self.ws.recv()
                if isinstance(data, bytes):
                    self.screen.append(data.decode("utf-8", "replace"))
                elif not data:
                    break
        except (websocket.WebSocketException, OSError):
            pass
        self.closed.set()

    def shows(self, words: str) -> bool:
        return words in ESCAPES.sub("", "".join(self.screen))

    def close(self) -> None:
        self.ws.close()


def processes_under(root: int) -> dict[int, str]:
    """Every live process descended from `root` (not root itself), with its command line."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":  # a zombie has ended already
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: dict[int, str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = commands.get(pid, "")
        todo.extend(children.get(pid, []))
    return found


def apps_and_trainers(server: Server) -> tuple[list[int], list[int]]:
    under = processes_under(server.proc.pid)
    apps = [pid for pid, command in under.items() if " -m tui_gen launch " in command]
    trainers = [pid for pid, command in under.items() if "spawn_main" in command]
    return apps, trainers


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie has ended; its parent has only not reaped it yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def status_bits(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.slow
def test_tabs_share_one_training_and_leave_no_process_behind(tmp_path):
    (tmp_path / "tiny.txt").write_text(TINY_TEXT, encoding="utf-8")
    server = Server(tmp_path, "tiny.txt", *TINY_FLAGS, "--steps", "1000000", "--eval-every", "10")
    log = tmp_path / "models" / "worker.log"
    try:
        first = Tab(server)
        wait_until(lambda: list((tmp_path / "models").glob("*/last.safetensors")), 120, "the first tab's run to save")
        (app,), (trainer,) = apps_and_trainers(server)
        # The training process writes to its log, never to the app's stdout (textual-serve's packet stream),
        # and has its own signal handlers, none of the web driver's: SIGINT ignored, SIGTERM its own.
        assert os.readlink(f"/proc/{trainer}/fd/1") == str(log) == os.readlink(f"/proc/{trainer}/fd/2")
        assert os.readlink(f"/proc/{app}/fd/1").startswith("pipe:")
        assert status_bits(trainer, "SigIgn") & SIGINT_BIT and status_bits(trainer, "SigCgt") & SIGTERM_BIT

        second = Tab(server)
        wait_until(lambda: second.shows("Another tab of this server trains"), 60, "the second tab to watch")
        apps, trainers = apps_and_trainers(server)
        assert len(apps) == 2 and trainers == [trainer]  # the second tab trains nothing

        first.close()  # the tab closed: its app ends, and its training saves and ends with it
        wait_until(lambda: apps_and_trainers(server) == ([a for a in apps if a != app], []), 60, "the first tab's end")
        assert "finished (stopped)" in log.read_text()

        # Ctrl+C, to the server alone: it asks every app to quit at once and waits for them. (Left to
        # aiohttp's shutdown, the app would be told only once its websocket's close had timed out: ~20 s.)
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(SHUTDOWN_DEADLINE) == 0
        assert second.closed.wait(10) and not any(alive(pid) for pid in [*apps, trainer])
    finally:
        server.stop()
