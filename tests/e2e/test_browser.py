"""The served app in a real browser: `tui-gen serve` on a tiny corpus and a tiny model, and Debian's chromium,
headless, driven over the DevTools protocol (websocket-client; nothing is downloaded). A wrong token is
refused; with the token the page loads, the app draws its panels, and a seed typed into the terminal with
Enter makes the model write.

xterm.js draws on a canvas here (textual-serve loads its WebGL and canvas renderers), so the page has no
rows of text in its DOM: the test reads the terminal's own buffer through xterm's public API, from the
Terminal the page creates (a setter installed before the page's script runs catches it).

A screenshot of the app is saved in the test's folder; with TUI_GEN_SERVE_SCREENSHOT=PATH it is also
written to PATH.

Needs chromium (skipped, saying so, without it: `make test` installs it where it can). About 15-25 s.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
import websocket

from support.data import TINY_FLAGS, TINY_TEXT
from support.waiting import wait_until
from test_serve import Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WINDOW = (1500, 950)  # pixels: about 160x48 cells, the app's wide layout

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="the browser test needs chromium, which is not installed (apt-get install chromium; "
        "`make test` installs it when it runs as root with apt)",
    ),
]

# Runs before the page's own script: keeps each xterm.js Terminal the page makes (textual.js sets
# `this.terminal = new Terminal(...)` on an object of its own) in window.terminals.
CATCH_TERMINALS = """
Object.defineProperty(Object.prototype, 'terminal', {configurable: true, set(value) {
  Object.defineProperty(this, 'terminal', {value, writable: true, configurable: true, enumerable: true});
  (window.terminals = window.terminals || []).push(value);
}});
"""
SCREEN_TEXT = """(() => {
  const terminal = (window.terminals || [])[0];
  if (!terminal) return null;
  const buffer = terminal.buffer.active, rows = [];
  for (let y = 0; y < terminal.rows; y++) rows.push(buffer.getLine(buffer.viewportY + y).translateToString(true));
  return rows.join('\\n');
})()"""


class Chromium:
    """Headless chromium and one page of it, driven over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",  # CI runs as root, where chromium's sandbox refuses to start
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",  # chromium picks one and writes it to DevToolsActivePort
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        written = wait_until(lambda: port_file.is_file() and port_file.read_text().strip(), 60, "chromium to start")
        port = int(written.split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.calls = 0
        self.call("Page.enable")
        self.call("Network.enable")
        # The page asks fonts.googleapis.com for a web font: this machine may be offline, and a stylesheet
        # that waits on DNS would hold back the page's load (and the app's start) for seconds.
        self.call("Network.setBlockedURLs", urls=["*fonts.googleapis.com*", "*fonts.gstatic.com*"])
        self.call("Emulation.setFocusEmulationEnabled", enabled=True)  # headless: the page has the focus
        self.call("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINALS)

    def call(self, method: str, **params) -> dict:
        self.calls += 1
        self.ws.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.calls:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        wait_until(lambda: self.evaluate("document.readyState") == "complete", 60, f"{url} to load")

    def screen(self) -> str:
        return self.evaluate(SCREEN_TEXT) or ""

    def wait_for_screen(self, condition, timeout: float, what: str) -> str:
        """The terminal's text once condition(text) holds."""

        def matching() -> str | None:
            shown = self.screen()
            return shown if condition(shown) else None

        return wait_until(matching, timeout, what, every=0.2, shown=lambda: "the page shows:\n" + self.screen())

    def type(self, text: str) -> None:
        self.call("Input.insertText", text=text)

    def enter(self) -> None:
        key = dict(key="Enter", code="Enter", windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)
        self.call("Input.dispatchKeyEvent", type="keyDown", text="\r", **key)
        self.call("Input.dispatchKeyEvent", type="keyUp", **key)

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        self.ws.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def test_the_served_app_in_a_browser(tmp_path):
    (tmp_path / "tiny.txt").write_text(TINY_TEXT, encoding="utf-8")
    server = Server(tmp_path, "tiny.txt", *TINY_FLAGS, "--steps", "300", "--eval-every", "10")
    browser = Chromium(tmp_path / "profile")
    try:
        browser.open(f"{server.base}/?token=not-{server.token}")  # first: no cookie holds the token yet
        assert "needs the token" in browser.evaluate("document.body.innerText")
        assert browser.evaluate("(window.terminals || []).length") == 0

        browser.open(server.url)
        shown = browser.wait_for_screen(
            lambda s: all(f"─ {panel} ─" in s for panel in ("Training", "Loss", "Samples", "Playground")),
            60,
            "the app's panels",
        )
        assert "Seed" in shown
        # The seed box has the focus in the wide layout; Enter before the first evaluation waits for it.
        browser.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        browser.type("make ")
        browser.wait_for_screen(lambda s: re.search(r"Seed\s+make", s), 30, "the seed typed")
        browser.enter()
        shown = browser.wait_for_screen(lambda s: re.search(r"\d+ chars", s), 90, "the model to write")
        written = int(re.search(r"(\d+) chars", shown).group(1))
        assert written > 0
        output = [line for line in shown.splitlines() if "│ │" in line]  # the rows of the output box
        assert any("make" in line for line in output)

        browser.wait_for_screen(lambda s: "finished" in s and "val" in s, 90, "training to finish")
        shot = tmp_path / "serve.png"
        browser.screenshot(shot)
        assert shot.read_bytes().startswith(b"\x89PNG")
        if os.environ.get("TUI_GEN_SERVE_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["TUI_GEN_SERVE_SCREENSHOT"])
    finally:
        browser.close()
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGINT)  # as Ctrl+C: every app ends
            try:
                server.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        server.stop()
