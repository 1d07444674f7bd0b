"""The open-run dialog with run folders and checkpoint headers full of escape sequences and markup:
every cell is shown literally (no control character reaches the screen, `[reverse blink]` shows as
text), saved_at shows only if it is tui-gen's own timestamp, and runs sort by their files' times,
not by a header's date."""

from __future__ import annotations

import json
import os
import shutil
import struct

from textual.widgets import DataTable

from support.pilot import run, screen_text, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import OpenRunScreen

HOSTILE = "\x1b]2;PWNED\x07[reverse blink]X[/]\x9b2J\u202e"
NAME = HOSTILE.replace("[/]", "")
CONTROLS = {chr(c) for c in range(0x20) if c != 0x0A} | {chr(c) for c in range(0x7F, 0xA0)} | {"\u202e"}


def set_meta(path, **fields) -> None:
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["tui_gen"])
    meta.update(fields)
    header["__metadata__"]["tui_gen"] = json.dumps(meta)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + blob[8 + n :])


def test_open_run_dialog_shows_hostile_runs_literally(saved_run, models_dir, factory):
    evil = models_dir / f"evil{NAME}"
    shutil.copytree(saved_run, evil)
    (evil / "last.safetensors").unlink()
    set_meta(evil / "best.safetensors", saved_at=HOSTILE, corpus=f"/x/{NAME}")
    forged = models_dir / "forged"
    shutil.copytree(saved_run, forged)
    for file in forged.iterdir():
        if file.suffix == ".safetensors":
            set_meta(file, saved_at="2999-12-31T23:59:59+0000")  # claims to be newest
        os.utime(file, (1_000_000, 1_000_000))  # but its files are the oldest
    (models_dir / "broken-run").rename(models_dir / f"broken{NAME}")

    async def body():
        app = TuiGenApp(LaunchOptions(train=False, models_dir=str(models_dir)), process_factory=factory, warm_up=False)
        async with app.run_test(size=(140, 40)) as pilot:
            app.action_open_run()
            await wait_for(
                pilot, lambda: isinstance(app.screen, OpenRunScreen) and app.screen.rows, what="the runs listed"
            )
            dialog = app.screen
            table = dialog.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 4, what="four rows")
            cells = [[getattr(c, "plain", c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            names = [r[0] for r in cells]
            # Sorted by the files' times (the forged date does not win), unreadable runs last.
            assert names[-2:] == ["forged", "broken␛]2;PWNED␇[reverse blink]X\ufffd2J\ufffd"]
            row = cells[names.index("evil␛]2;PWNED␇[reverse blink]X\ufffd2J\ufffd")]
            assert row[3] == "–"  # saved_at is not tui-gen's timestamp: not shown
            assert row[4] == "␛]2;PWNED␇[reverse blink]X\ufffd2J\ufffd"  # the corpus, literally
            assert cells[-2][3] == "2999-12-31 23:59"  # a well-formed date is shown, just not trusted for order
            for r in cells:
                for c in r:
                    assert not set(str(c)) & CONTROLS, (r, c)
            await pilot.pause()
            shown = screen_text(app)
            assert "[reverse blink]X" in shown and not set(shown) & CONTROLS
            svg = app.export_screenshot()
            assert "\x1b" not in svg and "\x07" not in svg
            # The unreadable run with a hostile name: its notification says so literally.
            table.move_cursor(row=names.index("broken␛]2;PWNED␇[reverse blink]X\ufffd2J\ufffd"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.notices, what="a notification")
            for n in app.notices:
                assert not set(n.title + n.message) & CONTROLS, (n.title, n.message)
            assert "[reverse blink]X" in app.notices[-1].title

    run(body())
