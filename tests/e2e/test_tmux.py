"""The app in a real terminal: tmux runs `python -m tui_gen launch` on a tiny corpus with a tiny model;
keys are typed into it, and what the terminal shows is read back with capture-pane.

Needs tmux (skipped without it). About 20-40 s, most of it starting Python and torch twice.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from support.data import REPO
from support.waiting import wait_until

TINY = {
    "framing": "lines",
    "hidden_sizes": [32],
    "seq_len": 32,
    "overlap": 8,
    "batch_size": 16,
    "eval_every": 20,
    "sample_length": 40,
    "warmup_steps": 2,
    "embedding_dim": 8,
    "threads": 1,
}

pytestmark = [
    pytest.mark.slow,
    # On a developer's machine without tmux this one test is skipped; in CI (which installs tmux
    # through `make test`) a missing tmux must fail, not hide the test.
    pytest.mark.skipif(
        shutil.which("tmux") is None and not os.environ.get("CI"), reason="tmux is not installed (apt-get install tmux)"
    ),
]


class Tmux:
    """One tmux server of our own (-L), so nothing else's sessions are touched."""

    def __init__(self, socket: str):
        self.socket = socket

    def __call__(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        if check and out.returncode:
            raise AssertionError(f"tmux {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "app")

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "app", *keys)

    def type(self, text: str) -> None:
        self("send-keys", "-t", "app", "-l", text)

    def wait(self, condition, timeout: float, what: str) -> str:
        """The pane's text once condition(text) holds."""

        def matching() -> str | None:
            shown = self.screen()
            return shown if condition(shown) else None

        return wait_until(matching, timeout, what, every=0.2, shown=lambda: "the screen shows:\n" + self.screen())


def processes_with(marker: str) -> list[int]:
    """Live processes (not zombies) whose environment holds the marker: the app and anything it started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def wait_until_gone(marker: str, timeout: float) -> None:
    """Until no process holds the marker: the app and its training process have ended."""
    wait_until(
        lambda: not processes_with(marker),
        timeout,
        "the app and its training process to end",
        every=0.2,
        shown=lambda: f"processes left behind: {processes_with(marker)}",
    )


def test_launch_type_generate_save_quit(tmp_path, tiny_corpus_file):
    marker = f"TUI_GEN_E2E={uuid.uuid4().hex}"
    models = tmp_path / "models"
    done = tmp_path / "exit-status"
    env = {
        "TUI_GEN_OVERRIDES": json.dumps(TINY),
        "TUI_GEN_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
        marker.split("=")[0]: marker.split("=")[1],
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # -u COLUMNS -u LINES: started from a process without a terminal, the pane's environment may say
    # 80x24, and that would win over the real size of the pane.
    launch = (
        f"cd {shlex.quote(str(tmp_path))} && env -u COLUMNS -u LINES {exports} "
        f"{shlex.quote(sys.executable)} -m tui_gen launch "
        f"{shlex.quote(str(tiny_corpus_file))} --minutes 10 --device cpu --cell lstm --hidden 32,32 "
        "--framing stream "
        f"--models-dir {shlex.quote(str(models))}; "
        f"echo $? > {shlex.quote(str(done))}"
    )
    tmux = Tmux(f"tui-gen-e2e-{os.getpid()}")
    tmux("new-session", "-d", "-s", "app", "-x", "160", "-y", "48", launch)
    try:
        # Wide terminal: training, samples and the playground at once; the seed box has the focus.
        # (Deadlines, not speeds: the training process imports torch at nice 10, slow on a loaded machine;
        # the budget is long enough that the run is still going when q is pressed however slow it is.)
        shown = tmux.wait(
            lambda s: "state  running" in s and "saved  step" in s, 300, "training and a first checkpoint"
        )
        # the launch flags (`tui-gen train`'s) win over TUI_GEN_OVERRIDES, and the panel names the model
        assert "LSTM 32,32 · " in shown and "(stream)" in shown, shown
        tmux.type("Hillary")
        tmux.keys("Tab")  # to the temperature slider
        for _ in range(4):
            tmux.keys("Right")  # 0.80 -> 1.00
        tmux.wait(lambda s: "● 1.00" in s or "●1.00" in s or " 1.00 " in s, 60, "the temperature to reach 1.00")
        tmux.keys("Enter")  # generate (from the slider)
        shown = tmux.wait(lambda s: " chars, " in s, 60, "the generation to finish")
        out_lines = [ln for ln in shown.splitlines() if "│ Hillary" in ln]
        assert out_lines, shown
        generated = out_lines[0].split("│ Hillary", 1)[1].split("│")[0].rstrip()
        assert generated, f"nothing streamed after the seed:\n{shown}"

        tmux.keys("C-s")  # save now
        shown = tmux.wait(lambda s: "Saved step" in s, 60, "the save notification")
        saved = sorted(models.glob("*/last.safetensors"))
        assert saved and saved[0].stat().st_size > 0

        # Either the dialog, or (nothing unsaved) the app exits at once, and with it the tmux server:
        # look for the exit first, and read the screen without failing when the server is gone.
        def pane() -> str:
            return tmux("capture-pane", "-p", "-t", "app", check=False)

        def screen_shown() -> str:
            return "the screen shows:\n" + pane()

        def exited_or_asked() -> str | None:
            if done.exists():
                return "exited"
            return "asked" if "Quit tui-gen?" in pane() else None

        tmux.keys("q")
        if wait_until(exited_or_asked, 180, "the quit dialog or the exit", every=0.2, shown=screen_shown) == "asked":
            tmux.keys("s")  # save and quit
        wait_until(done.exists, 180, "the app to exit", every=0.2, shown=screen_shown)  # saving may take up to 120 s
        assert done.read_text().strip() == "0"
        wait_until_gone(marker, 60)
        log = (models / "worker.log").read_text()
        assert "finished (stopped)" in log
    finally:
        tmux("kill-server", check=False)


@pytest.mark.parametrize("how", ["terminal closed (SIGHUP)", "SIGTERM to the app"])
def test_a_closed_terminal_or_sigterm_saves_and_leaves_nothing_running(tmp_path, tiny_corpus_file, how):
    """The training process is asked to save `last` and stop, even when the terminal is gone (where
    Textual may never finish writing to it), and no process is left behind. Before, a closed terminal
    15 s in left nothing saved."""
    marker = f"TUI_GEN_E2E={uuid.uuid4().hex}"
    models = tmp_path / "models"
    settings = {**TINY, "eval_every": 100_000, "first_eval": 0}  # nothing saved unless the signal saves it
    env = {
        "TUI_GEN_OVERRIDES": json.dumps(settings),
        "TUI_GEN_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
        marker.split("=")[0]: marker.split("=")[1],
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    launch = (
        f"cd {shlex.quote(str(tmp_path))} && env -u COLUMNS -u LINES {exports} {shlex.quote(sys.executable)} "
        f"-m tui_gen launch {shlex.quote(str(tiny_corpus_file))} --minutes 5 --device cpu "
        f"--models-dir {shlex.quote(str(models))}; sleep 30"
    )
    tmux = Tmux(f"tui-gen-e2e-sig-{os.getpid()}")
    tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "36", launch)
    try:
        tmux.wait(lambda s: "state  running" in s and "step   " in s and "step   –" not in s, 300, "training")
        assert not list(models.glob("*/last.safetensors"))
        if how.startswith("terminal"):
            tmux("kill-server")
        else:
            app = [
                p
                for p in processes_with(marker)
                if b"launch" in Path(f"/proc/{p}/cmdline").read_bytes()
                and b"spawn_main" not in Path(f"/proc/{p}/cmdline").read_bytes()
            ]
            assert len(app) == 1, app
            os.kill(app[0], signal.SIGTERM)
        wait_until_gone(marker, 120)  # the app waits up to 30 s for the save, then kills
        saved = list(models.glob("*/last.safetensors"))
        assert len(saved) == 1 and saved[0].stat().st_size > 0
        assert "finished (stopped)" in (models / "worker.log").read_text()
    finally:
        tmux("kill-server", check=False)
        for p in processes_with(marker):
            os.kill(p, signal.SIGKILL)
