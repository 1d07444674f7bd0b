"""Text you can take out, through Pilot: the copy key's clipboard text (Textual records what it sent as
app.clipboard) and the save key's file, for the playground, the highlighted sample and the sweep; a run
folder that is gone or full; the mouse's selection; the help screen's words."""

from __future__ import annotations

import shutil
from dataclasses import replace

from textual.widgets import Input

from support import fake_events
from support.pilot import notes, run, screen_text, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.bindings import COPY_KEY, SAVE_KEY, TAKEOUT_BINDINGS
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens.sweep import SweepScreen
from tui_gen.app.takeout import clipboard_text
from tui_gen.app.widgets import StreamView
from tui_gen.app.widgets.samples_panel import SamplesPanel
from tui_gen.runs.saved_text import save_text

NARROW = (80, 24)


def make_app(model=None) -> TuiGenApp:
    return TuiGenApp(LaunchOptions(train=False, models_dir="models-test-unused"), model=model, warm_up=False)


def in_run(tiny_model, tmp_path):
    """The tiny model as a checkpoint of a run folder under tmp_path: the folder text is saved in."""
    folder = tmp_path / "models" / "tiny-run"
    folder.mkdir(parents=True)
    return replace(tiny_model, path=str(folder / "best.safetensors")), folder


def saved(folder, pattern: str = "*.txt") -> list:
    return sorted((folder / "samples").glob(pattern)) if (folder / "samples").is_dir() else []


async def write(pilot, app, seed: str = "The ", length: int = 80) -> str:
    """A generation from `seed` with Seed# 7, focus back in the seed box; what the output holds."""
    pg = app.playground
    pg.pace = None
    await pilot.press("2")
    await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "seed", what="the seed box")
    app.query_one("#seed", Input).value = seed
    app.query_one("#length", Input).value = str(length)
    app.query_one("#rng-seed", Input).value = "7"
    await pilot.press("enter")
    await wait_for(pilot, lambda: pg.last_end is not None, what="the generation to end")
    return pg.written


def drawn_highlights(panel: SamplesPanel) -> list[str]:
    """The parts of the samples panel drawn highlighted (reversed), as plain text."""
    out = []
    for block in panel.query(".sample-block"):
        content = block.content
        out += [content.plain[span.start : span.end] for span in content.spans if span.style == "reverse"]
    return out


async def saved_note(pilot, app, before: int) -> str:
    await wait_for(pilot, lambda: len(app.notices) > before and app.notices[-1].title in ("Saved", "Not saved"))
    return notes(app)[-1]


def test_the_playgrounds_output_is_copied_and_saved_and_a_deleted_run_folder_is_said(tiny_model, tmp_path):
    model, folder = in_run(tiny_model, tmp_path)

    async def body():
        app = make_app(model)
        async with app.run_test(size=NARROW) as pilot:
            text = await write(pilot, app)
            assert text.startswith("The ") and len(text) > len("The ")
            assert app.focused.id == "seed"  # the keys work while typing
            await pilot.press(COPY_KEY)
            assert app.clipboard == clipboard_text(text)
            assert notes(app)[-1] == (
                f"Copied: Sent the playground's output ({len(app.clipboard):,} characters) to the terminal's "
                f"clipboard. A terminal without OSC 52 receives nothing: {SAVE_KEY} saves it to a file instead."
            )
            before = len(app.notices)
            await pilot.press(SAVE_KEY)
            note = await saved_note(pilot, app, before)
            (file,) = saved(folder, "playground-*.txt")
            assert file.read_text(encoding="utf-8") == text  # exactly what was written, seed included
            assert note == f"Saved: Saved the playground's output ({len(text):,} characters) to {file}"
            before = len(app.notices)
            await pilot.press(SAVE_KEY)  # again: a second file, the first untouched
            await saved_note(pilot, app, before)
            assert len(saved(folder, "playground-*.txt")) == 2 and file.read_text(encoding="utf-8") == text

            shutil.rmtree(folder)  # the run folder deleted while the app shows its text
            before = len(app.notices)
            await pilot.press(SAVE_KEY)
            note = await saved_note(pilot, app, before)
            assert note == (
                f"Not saved: Could not save the playground's output: the run folder {folder} is not there any "
                f"more (deleted or moved). Nothing was lost: the text is still here, to copy with {COPY_KEY} "
                f"or save again with {SAVE_KEY}."
            )
            assert not folder.exists()  # never made again
            assert app.playground.written == text and app.query_one(StreamView).row_count > 1

    run(body())


def test_the_highlighted_sample_is_copied_and_saved_into_the_runs_samples_folder(tmp_path):
    folder = tmp_path / "models" / "run"
    folder.mkdir(parents=True)
    started = replace(fake_events.started(), run_dir=str(folder))

    async def body():
        app = make_app()
        async with app.run_test(size=NARROW) as pilot:
            app.handle_events([started, *fake_events.evaluation(300, 2.5, 2.5, True)])
            app.handle_events(fake_events.evaluation(600, 2.2, 2.2, True))
            await pilot.press("3")
            panel = app.query_one(SamplesPanel)
            await wait_for(pilot, lambda: app.focused is panel and len(panel.query(".sample-block")) == 2)
            assert panel.highlighted == (0, 0)  # the newest sample, from the newest evaluation
            assert drawn_highlights(panel) == [f"Hillary{fake_events.SAMPLE_TEXTS[0][1]} (step 600)"]
            await pilot.press("down")
            seed, continuation = fake_events.SAMPLE_TEXTS[1]
            text = f"{seed}{continuation} (step 600)"
            assert drawn_highlights(panel) == [text.replace("\x1b", "␛")]  # one at a time, drawn as shown
            assert "\x1b[31m" in text  # the sample holds an escape sequence
            await pilot.press(COPY_KEY)
            assert app.clipboard == text.replace("\x1b", "␛")  # which never reaches a terminal's paste
            assert "the sample from 'I' at step 600" in notes(app)[-1]
            assert f"({len(text):,} characters)" in notes(app)[-1]
            before = len(app.notices)
            await pilot.press(SAVE_KEY)
            note = await saved_note(pilot, app, before)
            (file,) = saved(folder, "sample-step600-*.txt")
            assert file.read_text(encoding="utf-8") == text  # the file has it exactly
            assert note.startswith("Saved: Saved the sample from 'I' at step 600") and str(file) in note
            # down past the newest evaluation's samples: the older one's, then it stops at the last
            for _ in range(10):
                await pilot.press("down")
            await pilot.press(COPY_KEY)
            seed, continuation = fake_events.SAMPLE_TEXTS[-1]
            assert panel.highlighted == (1, 2) and app.clipboard == f"{seed}{continuation} (step 300)"
            await pilot.press("1")  # another pane: the panel's highlight goes with its focus
            await wait_for(pilot, lambda: not drawn_highlights(panel), what="the highlight to go")

    run(body())


def test_a_sample_from_a_lines_start_is_named_so_when_copied():
    """A corpus without the lecture's seeds' characters samples from a line's start (an empty seed:
    model.sample.sample_seeds); copying one says so, not "from ''"."""
    from tui_gen.core import events as ev

    async def body():
        app = make_app()
        async with app.run_test(size=NARROW) as pilot:
            app.handle_events([fake_events.started(), ev.Samples(40, 0.8, [("", "the cat sat\n")])])
            await pilot.press("3")
            panel = app.query_one(SamplesPanel)
            await wait_for(pilot, lambda: app.focused is panel and len(panel.query(".sample-block")) == 1)
            await pilot.press(COPY_KEY)
            assert app.clipboard == "the cat sat"
            assert "the sample from a line's start at step 40" in notes(app)[-1]

    run(body())


def test_the_sweep_is_copied_and_saved_whole(tiny_model, tmp_path):
    model, folder = in_run(tiny_model, tmp_path)

    async def body():
        app = make_app(model)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "seed", what="the seed box")
            app.query_one("#seed", Input).value = "The "
            app.query_one("#length", Input).value = "40"
            app.query_one("#rng-seed", Input).value = "7"
            await pilot.press("escape", "w")
            await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen), what="the sweep")
            screen = app.screen
            screen.query_one("#sweep-temperatures", Input).value = "0.5, 2"
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.drawing and len(screen.samples) == 2, what="the samples")
            await pilot.press(COPY_KEY)
            text = screen.text
            assert app.clipboard == clipboard_text(text)
            first, low, high = text.rstrip("\n").split("\n\n")
            assert first.startswith("Sweep from the seed 'The '")
            for part, sample in zip((low, high), screen.samples, strict=True):
                head, body_text = part.split("\n", 1)
                assert head.startswith(f"T {sample.temperature:g} · ")
                assert body_text == "The " + sample.text.rstrip("\n")
            before = len(app.notices)
            await pilot.press(SAVE_KEY)
            await saved_note(pilot, app, before)
            (file,) = saved(folder, "sweep-*.txt")
            assert file.read_text(encoding="utf-8") == text

    run(body())


def test_a_full_disk_is_a_clear_notice_and_leaves_nothing_behind(tiny_model, tmp_path):
    from support.processes import mount_tmpfs

    disk = tmp_path / "disk"
    mount_tmpfs(disk, 64 * 1024)
    try:
        folder = disk / "run"
        (folder / "samples").mkdir(parents=True)
        model = replace(tiny_model, path=str(folder / "best.safetensors"))
        filler = folder / "filler"
        try:
            with open(filler, "wb") as f:
                f.write(b"x" * (64 * 1024))
        except OSError:
            pass  # full: as meant

        async def body():
            app = make_app(model)
            async with app.run_test(size=NARROW) as pilot:
                text = await write(pilot, app)  # the disk is full: any file is too big
                before = len(app.notices)
                await pilot.press(SAVE_KEY)
                note = await saved_note(pilot, app, before)
                assert note.startswith("Not saved: Could not save the playground's output: cannot write ")
                assert "No space left on device" in note and "Nothing was lost" in note
                assert list((folder / "samples").iterdir()) == []  # no half file, no temporary file
                assert app.playground.written == text

        run(body())
    finally:
        import subprocess

        subprocess.run(["umount", str(disk)], check=False)


def test_what_the_mouse_selects_in_the_output_is_copied_instead(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("2")
            view = app.query_one(StreamView)
            await wait_for(pilot, lambda: view.size.width > 0, what="the output")
            w = view.wrap_width
            # rows: x…xabc / defgh / second line (the first wrapped, the second after a line break)
            view.append_seed("x" * (w - 3) + "abcdefgh\nsecond line")
            await pilot.pause()
            assert view.row_count == 3
            dx, dy = view.content_region.x - view.region.x, view.content_region.y - view.region.y  # its border
            await pilot.mouse_down(view, offset=(dx + w - 2, dy))  # from "b"
            await pilot.hover(view, offset=(dx + 3, dy + 2))  # to the "o" of "second" (the cell under the mouse)
            await pilot.mouse_up(view, offset=(dx + 3, dy + 2))
            await pilot.pause()
            assert app.screen.get_selected_text() == "bcdefgh\nseco"  # the wrap joined, the line break kept
            selected = view._selection_style()  # and drawn as selected: all of row 1, none of row 0's x's
            assert all(seg.style and selected.bgcolor == seg.style.bgcolor for seg in view._row_strip(1))
            assert selected.bgcolor != list(view._row_strip(0))[0].style.bgcolor
            await pilot.press(COPY_KEY)
            assert app.clipboard == "bcdefgh\nseco"
            assert notes(app)[-1].startswith("Copied: Sent the selected text (12 characters)")

    run(body())


def test_save_text_never_replaces_a_file_and_never_makes_the_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    when = 1_800_000_000.0
    first = save_text(run_dir, "playground", "one", when)
    second = save_text(run_dir, "playground", "two", when)  # the same second: -2
    assert first.parent == run_dir / "samples" and first.name.startswith("playground-")
    assert second.name == first.name.replace(".txt", "-2.txt")
    assert first.read_text() == "one" and second.read_text() == "two"
    (run_dir / "samples" / second.name.replace("-2.txt", "-3.txt")).write_text("someone else's")
    third = save_text(run_dir, "playground", "three", when)
    assert third.name.endswith("-4.txt") and third.read_text() == "three"
    assert sorted(p.name for p in (run_dir / "samples").iterdir() if p.name.startswith(".")) == []  # no temporaries


def test_the_clipboard_gets_line_breaks_and_tabs_and_never_an_escape():
    assert clipboard_text("a\tb\nc") == "a\tb\nc"
    assert clipboard_text("x\x1b[2Jy\x07") == "x␛[2Jy␇"


def test_the_help_screen_names_the_keys_and_what_a_terminal_without_osc_52_gets():
    async def body():
        app = make_app()
        async with app.run_test(size=(139, 60)) as pilot:
            await pilot.press("question_mark")
            await pilot.pause()
            shown = " ".join(screen_text(app).split())
            for binding in TAKEOUT_BINDINGS:
                assert f"{app.get_key_display(binding)} {binding.tooltip}" in shown
            assert "^y Copy the output, highlighted sample or sweep" in shown
            assert "The copy goes as OSC 52: a terminal without it (macOS Terminal) receives nothing" in shown

    run(body())
