"""`tui-gen score`, `tui-gen neurons` and `tui-gen gradients`: the model as a lens on a text, from the
command line.

The computations are in score.py, neurons.py and reach.py; this module reads the input, prints, colours,
plots in text and writes HTML. Everything from the text reaches the terminal through textsafe (a text may hold escape
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

# reach.py's limits, repeated here so that building the parser does not load torch (tests/test_layers.py);
# tests/test_reach.py checks that they agree.
DEFAULT_MAX_LAG = 100
MAX_LAG = 1000

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
    n.add_argument(
        "--gates",
        action="store_true",
        help="rank the gates too, beside the hidden units: a GRU's update z and reset r, an LSTM's input i, "
        "forget f and output o (z1:17, f2:30)",
    )
    n.add_argument("--device", default="cpu", choices=DEVICES)

    g = sub.add_parser(
        "gradients",
        help="how far back the gradient of the loss reaches: vanishing gradients, measured",
        description="Measure how much of the loss at a character reaches back k characters: the mean norm of "
        "the gradient of the loss at t with respect to the input at t - k, relative to k = 0, over windows "
        "of the run's held-out text (or FILE); with training's window (seq_len) marked.",
    )
    g.add_argument("checkpoint", type=Path, help="a run folder (uses its best) or a .safetensors checkpoint")
    g.add_argument(
        "file",
        nargs="?",
        help="the text to measure over (default: the run's held-out split; the run's own corpus is measured on "
        "its held-out split, any other text whole)",
    )
    g.add_argument(
        "--max-lag",
        type=number(int),
        default=DEFAULT_MAX_LAG,
        metavar="K",
        help=f"the furthest lag measured (default {DEFAULT_MAX_LAG}, at most {MAX_LAG})",
    )
    g.add_argument("--json", action="store_true", help='print [{"lag": k, "relative": value}, ...], lag 0 first')
    g.add_argument("--device", default="cpu", choices=DEVICES)


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
    from tui_gen.model.neurons import GATE_WORDS, GATES, MAX_CHARS, explore, units_total

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
    cfg = ck.model.config
    if args.file is None and args.text is None:
        text, name = _corpus_head(ck, args.chars)
    else:
        text, name = read_text(args.file, args.text, "read")
    text = text[: args.chars]
    if len(text) < 2:
        raise ConfigError(f"{one_line(name)} has fewer than 2 characters: nothing to correlate")
    for pattern in args.regex:  # as the app does: compiled, and timed over this text in a child process
        check_regex(pattern, text)
    acts, ranked = explore(ck.model, ck.vocab, ck.framing, text, args.top, patterns, "both" if args.gates else "hidden")
    gates = (
        f"; gates {', '.join(f'{g}1' for g in GATES[cfg.cell])}, ...: "
        + "; ".join(f"{g}, the {GATE_WORDS[g]}" for g in GATES[cfg.cell])
        if args.gates
        else ""
    )
    out.write(
        f"{units_total(acts.layers):,} units ({cfg.cell.upper()} {','.join(map(str, cfg.hidden_sizes))}"
        f"{', cell states as c1, c2, ...' if CELL_TYPES[cfg.cell].cell_state else ''}{gates})"
        f" over {len(text):,} characters of "
        f"{one_line(name)}; r is the correlation of a unit's activation with the feature\n"
    )
    width = max((len(u.name) for units in ranked.values() for u in units), default=0) + 1
    for feature, units in ranked.items():
        out.write(f"{feature}\n")
        for u in units:
            out.write(f"  {u.name:<{width}} r = {u.correlation:+.3f}\n")
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


# ---- gradients ---------------------------------------------------------------------------------

PLOT_WIDTH = 101  # columns of the text plot: one per lag up to 100, then lags share a column
PLOT_DECADES = 8  # the plot's depth: 1 down to 1e-8; less reaches the bottom row as "v"
TABLE_LAGS = (*range(11), 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 150, 200, 300, 400, 500, 700, 1000)


def cmd_gradients(args) -> int:
    import numpy as np
    import torch

    from tui_gen.cli.output import Output
    from tui_gen.model.reach import THRESHOLDS, check_max_lag, gradient_reach, measured_text, window_edge, windows_of
    from tui_gen.runs.listing import describe_model
    from tui_gen.training.trainer import resume_config

    out = Output()  # a closed stdout: say so before the work
    check_max_lag(args.max_lag)  # before the model loads
    ck = _load(args)
    cfg = resume_config(ck)
    torch.set_num_threads(1)  # many small steps: 1.3 s on one thread, 11 s on two beside other work (2 cores)
    part, name = measured_text(
        ck.meta.get("corpus"), ck.framing, cfg.val_fraction, cfg.seed, ck.meta.get("corpus_digest"), args.file
    )
    windows = windows_of(part, ck.vocab, args.max_lag, seed=cfg.seed)
    reach = gradient_reach(ck.model, windows, args.max_lag)
    if args.json:
        out.write(json.dumps(reach.as_json()) + "\n")
        out.finish()
        return 0
    rel = reach.relative
    model = describe_model(ck.model.config.to_json()) or ck.model.config.cell.upper()
    out.write(
        f"gradient reach of {model} (checkpoint step {ck.step:,}, {ck.framing} framing) over {len(windows):,} "
        f"windows of {one_line(name)}\n"
        "relative: the mean norm of d loss(t) / d input(t - k), as a share of its value at lag 0\n\n"
    )
    lines = ck.framing == "lines"  # a line is read from its start: fewer windows reach far back

    def row(k: int) -> str:
        return f"{k:5}  {_relative(rel[k]):>8}" + (f"  {int(reach.windows[k]):7,}" if lines else "")

    out.write("  lag  relative" + ("  windows" if lines else "") + "\n")
    for k in sorted({k for k in TABLE_LAGS if k <= args.max_lag} | {args.max_lag}):
        out.write(row(k) + "\n")
    out.write("(every lag: --json)\n\n")
    edge = window_edge(cfg.seq_len)
    for line in reach_plot(rel, edge if edge <= args.max_lag else None):
        out.write(line + "\n")
    said = [
        f"below {100 * fraction:g}% " + (f"at lag {lag}" if lag is not None else f"beyond lag {args.max_lag}")
        for fraction, lag in ((f, reach.below(f)) for f in THRESHOLDS)
    ]
    out.write(f"\nthe signal falls {' and '.join(said)}\n")
    reached = np.flatnonzero(reach.windows > 0)
    if len(reached) and reached[-1] < args.max_lag:
        out.write(
            f"no line of this text reaches back beyond lag {int(reached[-1])}: a lines model reads each line from "
            "its start\n"
        )
    out.write(_window_words(cfg, ck.framing) + "\n")
    out.finish()
    return 0


def _relative(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.3g}" if value >= 1e-3 or value == 0 else f"{value:.1e}"


def _window_words(cfg, framing: str) -> str:
    """Training's window in words: the lecture's truncated BPTT, beside how far the gradient reaches."""
    from tui_gen.model.reach import state_words, window_edge

    return (
        f"training's window (|): seq_len {cfg.seq_len}, so a training step's gradient reaches back at most "
        f"{window_edge(cfg.seq_len)} characters (truncated BPTT); "
        f"{state_words(framing, cfg.overlap, cfg.state_reset_every)}"
    )


def reach_plot(relative, edge: int | None, width: int = PLOT_WIDTH, decades: int = PLOT_DECADES) -> list[str]:
    """The relative reach against the lag as lines of ASCII text: a log scale, 2 rows a decade, one
    column per lag (up to `width` columns: then neighbouring lags share one, their geometric mean), `|`
    at training's window edge, `v` on the bottom row where the reach is below the plot (or zero)."""
    import numpy as np

    rel = np.asarray(relative, dtype=np.float64)
    per_decade = 2
    cols = min(len(rel), width)
    bounds = np.linspace(0, len(rel), cols + 1).round().astype(int)
    values = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        chunk = rel[a:b]
        chunk = chunk[~np.isnan(chunk)]
        if not len(chunk):
            values.append(math.nan)
        elif (chunk <= 0).any():
            values.append(0.0)
        else:
            values.append(float(np.exp(np.log(chunk).mean())))
    positive = [v for v in values if v > 0]
    top = max(0, math.ceil(math.log10(max(positive)))) if positive else 0
    bottom = max(top - decades, math.floor(math.log10(min(positive)))) if positive else top - 1
    bottom = min(bottom, top - 1)
    rows = (top - bottom) * per_decade + 1
    grid = [[" "] * cols for _ in range(rows)]
    edge_col = None if edge is None else int(np.searchsorted(bounds, edge, side="right") - 1)
    if edge_col is not None:
        for r in range(rows):
            grid[r][edge_col] = "|"
    for c, v in enumerate(values):
        if math.isnan(v):
            continue
        if v <= 0 or math.log10(v) < bottom:
            grid[rows - 1][c] = "v"
            continue
        grid[round((top - math.log10(v)) * per_decade)][c] = "*"
    lines = []
    for r, row in enumerate(grid):
        label = _decade(top - r // per_decade) if r % per_decade == 0 else ""
        lines.append(f"{label:>7} +{''.join(row)}".rstrip())
    axis = [" "] * cols
    ticks = {0: "0", cols - 1: str(len(rel) - 1)}
    if edge_col is not None:
        ticks[edge_col] = str(edge)
    for c in sorted(ticks):
        text = ticks[c]
        at = max(0, min(c, cols - len(text)))
        if all(ch == " " for ch in axis[max(0, at - 1) : at + len(text) + 1]):
            axis[at : at + len(text)] = list(text)
    lines.append(" " * 8 + "+" + "-" * cols)
    lines.append(" " * 9 + "".join(axis).rstrip() + "   lag")
    return lines


def _decade(exponent: int) -> str:
    return f"{10.0**exponent:g}" if -4 <= exponent <= 4 else f"1e{exponent}"
