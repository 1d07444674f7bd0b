"""`tui-gen score` and `tui-gen neurons`: the model as a lens on a text, from the command line.

The computations are in score.py and neurons.py; this module reads the input, prints, colours and
writes HTML. Everything from the text reaches the terminal through textsafe (a text may hold escape
sequences), and the HTML through html.escape.
"""

from __future__ import annotations

import html
import json
import math
import os
import sys
from pathlib import Path

from tui_gen.core.config import DEVICES
from tui_gen.core.flag_values import number
from tui_gen.core.model_size import CELL_TYPES
from tui_gen.core.textsafe import NEWLINE, one_line, safe_char

MAX_TEXT_BYTES = 16 * 1024 * 1024  # a bigger input is refused: scoring keeps ~100 bytes per character
CONTEXT = 24  # characters shown on each side of a surprising one
# Surprisal bands (bits) and their colours: xterm-256 foreground codes, and HTML backgrounds.
BANDS = (
    (1.0, 34, "#c8f0c8"),
    (2.5, 112, "#e4f4b0"),
    (4.0, 220, "#fbe7a0"),
    (7.0, 208, "#f9c090"),
    (math.inf, 196, "#f39a9a"),
)
UNKNOWN_STYLE = "\x1b[7;35m"  # reverse magenta: a character the model has no id for


def add_commands(sub) -> None:
    s = sub.add_parser(
        "score",
        help="how surprised a model is by a text, character by character",
        description="Score a text: bits per character, the most surprising characters, "
        "optionally the text coloured by surprisal.",
    )
    s.add_argument("checkpoint", type=Path, help="a run folder (uses its best) or a .safetensors checkpoint")
    s.add_argument("file", nargs="?", help="the text to score (- for standard input)")
    s.add_argument("--text", help="the text to score, given on the command line")
    s.add_argument(
        "--top", type=number(int), default=10, help="how many of the most surprising characters to list (default 10)"
    )
    s.add_argument(
        "--color",
        action="store_true",
        help="print the text coloured by surprisal (a terminal only; NO_COLOR turns it off)",
    )
    s.add_argument(
        "--html", type=Path, metavar="OUT", help="write the text coloured by surprisal to a standalone HTML file"
    )
    s.add_argument("--json", action="store_true", help="print the result as JSON, every character included")
    s.add_argument("--device", default="cpu", choices=DEVICES)

    n = sub.add_parser(
        "neurons",
        help="which units of a model track simple features of a text",
        description="Rank a model's units by how strongly they track features of a text "
        "(inside quotes or brackets, position in the line, ...).",
    )
    n.add_argument("checkpoint", type=Path, help="a run folder (uses its best) or a .safetensors checkpoint")
    n.add_argument("file", nargs="?", help="the text to read (default: the start of the checkpoint's corpus)")
    n.add_argument("--text", help="the text to read, given on the command line")
    n.add_argument("--top", type=number(int), default=5, help="units listed per feature (default 5)")
    n.add_argument(
        "--chars", type=number(int), default=20_000, help="read at most this many characters (default 20000)"
    )
    n.add_argument(
        "--regex",
        action="append",
        default=[],
        metavar="RE",
        help="also rank units for 'inside a match of RE' (repeatable, up to 16; a RE that takes "
        "more than 0.25 s over the text is refused)",
    )
    n.add_argument("--device", default="cpu", choices=DEVICES)


# ---- input -------------------------------------------------------------------------------------


def read_text(file: str | None, text: str | None, what: str = "score") -> tuple[str, str]:
    """The text and how to name it. A file is read as UTF-8 (invalid bytes replaced, with a note),
    its line endings made "\\n" as the corpus reader does."""
    from tui_gen.core.errors import ConfigError, CorpusError
    from tui_gen.core.files import NotRegularFile, open_regular

    if file is not None and text is not None:
        raise ConfigError(f"give the text to {what} once: a FILE or --text, not both")
    if text is not None:
        return text.replace("\r\n", "\n").replace("\r", "\n"), "the text given"
    if file is None:
        raise ConfigError(f"nothing to {what}: give a FILE (- for standard input) or --text TEXT")
    try:
        if file == "-":
            data, name = sys.stdin.buffer.read(MAX_TEXT_BYTES + 1), "standard input"
        else:
            path = Path(file)
            if path.is_dir():
                raise CorpusError(f"{one_line(file)} is a folder: give a text file")
            with open_regular(path) as f:
                data, name = f.read(MAX_TEXT_BYTES + 1), str(path)
    except FileNotFoundError:
        raise CorpusError(f"no such file: {one_line(file)}") from None
    except NotRegularFile as e:  # a pipe is read as standard input, where `-` says so
        raise CorpusError(f"{one_line(str(e))}: give a text file, or - to read standard input") from None
    except OSError as e:
        raise CorpusError(f"cannot read {one_line(file)}: {e.strerror or e}") from None
    if len(data) > MAX_TEXT_BYTES:
        raise CorpusError(f"{one_line(name)} is over {MAX_TEXT_BYTES // (1024 * 1024)} MiB: give a shorter text")
    decoded = data.decode("utf-8", errors="replace")
    bad = decoded.count("\ufffd") - data.count("\ufffd".encode())
    if bad:
        print(
            f"tui-gen: note: {bad:,} bytes of {one_line(name)} are not UTF-8 and were read as \ufffd", file=sys.stderr
        )
    return decoded.replace("\r\n", "\n").replace("\r", "\n"), name


def _load(args):
    from tui_gen.training.checkpoint import load_checkpoint
    from tui_gen.training.device import pick_device

    return load_checkpoint(args.checkpoint, device=pick_device(args.device))


# ---- score -------------------------------------------------------------------------------------


def cmd_score(args) -> int:
    from tui_gen.cli.output import Output
    from tui_gen.core.errors import ConfigError
    from tui_gen.model.evaluate import WARN_UNKNOWN_SHARE
    from tui_gen.model.score import TextScorer

    out = Output()  # a closed stdout: say so before loading anything
    if not 0 <= args.top <= 10_000:
        raise ConfigError(f"--top must be 0 to 10000, got {args.top}")
    if args.html:
        _check_html_path(args.html)  # before the work: a FIFO or /dev/null is refused, never replaced
    text, name = read_text(args.file, args.text)
    if not text:
        raise ConfigError(f"nothing to score: {one_line(name)} is empty")
    ck = _load(args)
    result = TextScorer.for_checkpoint(ck).score(text)
    if args.html:
        _write_html(args.html, result, name, ck)
    if args.json:
        out.write(json.dumps(_as_json(result, ck), ensure_ascii=False) + "\n")
        out.finish()
        return 0
    share = result.unknown / len(text)
    line = (
        f"{result.bits_per_char:.4f} bits/char over {result.chars_scored:,} characters of {one_line(name)} "
        f"({result.total_bits:,.1f} bits in all), checkpoint step {ck.step}, {ck.framing} framing"
    )
    if result.unknown:
        line += (
            f"; {result.unknown:,} characters ({100 * share:.1f}%) are outside the model's vocabulary, "
            "scored as 'unknown'" + (" (marked)" if args.color else "")
        )
        if share > WARN_UNKNOWN_SHARE:
            line += ": not comparable with its validation score"
    out.write(line + "\n")
    if args.color:
        colour = _colour_allowed(out)
        if colour is None:
            out.write_styled(_coloured(result) + "\n")
        else:
            print(f"tui-gen: note: no colours ({colour}); the text is printed plain", file=sys.stderr)
            out.write(text + ("" if text.endswith("\n") else "\n"))
    top = result.most_surprising(args.top)
    if top:
        out.write("most surprising:\n")
    for i in top:
        out.write(_surprise_line(result, i) + "\n")
    if args.html:
        out.write(f"wrote {one_line(str(args.html))}\n")
    out.finish()
    return 0


def _colour_allowed(out) -> str | None:
    """None when colours may be used, else why not."""
    if os.environ.get("NO_COLOR"):
        return "NO_COLOR is set"
    if not out.terminal:
        return "the output is not a terminal"
    if os.environ.get("TERM") == "dumb":
        return "TERM is dumb"
    return None


def _band(bits: float) -> int:
    return next(k for k, (limit, _, _) in enumerate(BANDS) if bits < limit or math.isnan(bits))


def _coloured(result) -> str:
    parts, current = [], None
    bits = result.bits
    for i, ch in enumerate(result.text):
        if ch == "\n":
            parts.append("\x1b[0m" + ("\x1b[7;35m" + NEWLINE + "\x1b[0m" if not result.known[i] else "") + "\n")
            current = None
            continue
        style = UNKNOWN_STYLE if not result.known[i] else f"\x1b[38;5;{BANDS[_band(bits[i])][1]}m"
        if style != current:
            parts.append("\x1b[0m" + style)
            current = style
        parts.append(safe_char(ch))
    parts.append("\x1b[0m")
    return "".join(parts)


def _context(text: str, i: int) -> str:
    before = one_line(text[max(0, i - CONTEXT) : i])
    after = one_line(text[i + 1 : i + 1 + CONTEXT])
    return f"{before}[{one_line(text[i])}]{after}"


def _surprise_line(result, i: int) -> str:
    text = result.text
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    expected = ", ".join(f"{_shown(c)} {p:.2f}" for c, p in result.candidates(i)[:3])
    mark = " (unknown)" if not result.known[i] else ""
    return (
        f"  {result.bits[i]:6.2f} bits  {_shown(text[i])}{mark} at line {line}, column {col}: "
        f"{_context(text, i)}   expected {expected}"
    )


def _shown(ch: str) -> str:
    """One character named visibly: quoted, a newline as \\n, a control as its symbol."""
    return "'\\n'" if ch == "\n" else f"'{one_line(ch)}'"


def _as_json(result, ck) -> dict:
    bits = result.bits
    return {
        "bits_per_char": result.bits_per_char,
        "total_bits": result.total_bits,
        "chars": result.chars_scored,
        "unknown": result.unknown,
        "checkpoint_step": ck.step,
        "framing": ck.framing,
        "characters": [
            {
                "char": ch,
                "bits": None if math.isnan(bits[i]) else float(bits[i]),
                "known": bool(result.known[i]),
                "candidates": result.candidates(i),
            }
            for i, ch in enumerate(result.text)
        ],
    }


def _check_html_path(path: Path) -> None:
    from tui_gen.core.errors import ConfigError
    from tui_gen.core.files import NotRegularFile, check_output_path

    try:
        check_output_path(path)
    except NotRegularFile as e:
        raise ConfigError(f"--html {one_line(str(e))}: give the name of a file to write") from None


def _write_html(path: Path, result, name: str, ck) -> None:
    from tui_gen.core.errors import OutputError
    from tui_gen.core.files import write_output

    bits = result.bits
    spans = []
    for i, ch in enumerate(result.text):
        shown = "\n" if ch == "\n" else safe_char(ch)
        cands = ", ".join(f"{_shown(c)} {p:.2f}" for c, p in result.candidates(i))
        title = (
            (f"{bits[i]:.2f} bits" if result.scored[i] else "not scored")
            + (" (unknown to the model)" if not result.known[i] else "")
            + (f"; expected {cands}" if cands else "")
        )
        colour = "#d9a0f0" if not result.known[i] else BANDS[_band(bits[i])][2]
        visible_nl = NEWLINE + "\n" if ch == "\n" and bits[i] >= BANDS[2][0] else shown
        spans.append(f'<span style="background:{colour}" title="{html.escape(title)}">{html.escape(visible_nl)}</span>')
    title = f"{result.bits_per_char:.3f} bits/char: {name}"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} pre{{font-family:monospace;white-space:pre-wrap;line-height:1.5}}
.key span{{padding:0 .5em}}</style></head><body>
<h1>{html.escape(one_line(name))}</h1>
<p>{result.bits_per_char:.4f} bits/char over {result.chars_scored:,} characters; checkpoint step {ck.step},
{html.escape(ck.framing)} framing. Hover a character for its surprisal and what the model expected.</p>
<p class="key">{"".join(f'<span style="background:{c}">&lt; {limit:g} bits</span>' for limit, _, c in BANDS[:-1])}<span
style="background:{BANDS[-1][2]}">more</span><span style="background:#d9a0f0">unknown</span></p>
<pre>{"".join(spans)}</pre>
</body></html>
"""
    try:
        write_output(path, page.encode("utf-8"))
    except OSError as e:
        raise OutputError(f"cannot write {one_line(str(path))}: {e.strerror or e}") from None


# ---- neurons -----------------------------------------------------------------------------------

MAX_REGEXES = 16


def cmd_neurons(args) -> int:
    from tui_gen.cli.output import Output
    from tui_gen.core.errors import ConfigError
    from tui_gen.core.regex_time import check_regex, compile_regex
    from tui_gen.model.neurons import MAX_CHARS, explore, units_total

    out = Output()
    if not 1 <= args.top <= 1000:
        raise ConfigError(f"--top must be 1 to 1000, got {args.top}")
    if not 2 <= args.chars <= MAX_CHARS:
        raise ConfigError(f"--chars must be 2 to {MAX_CHARS}, got {args.chars}")
    if len(args.regex) > MAX_REGEXES:  # each is timed in a child process, up to 3 s
        raise ConfigError(f"--regex was given {len(args.regex)} times: at most {MAX_REGEXES}")
    for pattern in args.regex:  # a bad one is said before the model loads
        compile_regex(pattern)
    patterns = {f"matches {one_line(r)}": r for r in args.regex}
    ck = _load(args)
    if args.file is None and args.text is None:
        text, name = _corpus_head(ck, args.chars)
    else:
        text, name = read_text(args.file, args.text, "read")
    text = text[: args.chars]
    if len(text) < 2:
        raise ConfigError(f"{one_line(name)} has fewer than 2 characters: nothing to correlate")
    for pattern in args.regex:  # as the app does: compiled, and timed over this text in a child process
        check_regex(pattern, text)
    acts, ranked = explore(ck.model, ck.vocab, ck.framing, text, args.top, patterns)
    cfg = ck.model.config
    out.write(
        f"{units_total(acts.layers):,} units ({cfg.cell.upper()} {','.join(map(str, cfg.hidden_sizes))}"
        f"{', cell states as c1, c2, ...' if CELL_TYPES[cfg.cell].cell_state else ''})"
        f" over {len(text):,} characters of "
        f"{one_line(name)}; r is the correlation of a unit's activation with the feature\n"
    )
    for feature, units in ranked.items():
        out.write(f"{feature}\n")
        for u in units:
            out.write(f"  {u.layer}:{u.unit:<5} r = {u.correlation:+.3f}\n")
    missing = [
        f
        for f in ("inside quotes", "inside brackets", "inside a URL", "inside a @/# word", *patterns)
        if f not in ranked
    ]
    if missing:
        out.write(f"(not in this text, so not ranked: {', '.join(missing)})\n")
    out.finish()
    return 0


def _corpus_head(ck, chars: int) -> tuple[str, str]:
    from tui_gen.core.errors import ConfigError
    from tui_gen.data.sources import open_corpus

    ref = ck.meta.get("corpus")
    if not ref:
        raise ConfigError("the checkpoint does not name its corpus: give a FILE or --text to read")
    corpus, name = open_corpus(ref, framing=ck.framing)
    return corpus.head[:chars], f"{name} (its first {chars:,} characters)"
