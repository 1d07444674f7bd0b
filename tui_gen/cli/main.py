"""The `tui-gen` command: train, generate, eval, data, launch, score, neurons, gradients, export.

Every user error is one line on stderr and exit status 2 (1 for a failed run), never a traceback.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from tui_gen import __version__
from tui_gen.core.config import DEVICES, PRESETS, TrainConfig
from tui_gen.core.flag_values import number
from tui_gen.core.settings import FLAGGED, Kind, Setting, help_text
from tui_gen.core.textsafe import one_line

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, what a shell reports for a process killed by SIGTERM


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every `finally` runs (a download's .part file is
    removed) and the command ends with one line, not a silent death."""


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
    raise Terminated


class _Parser(argparse.ArgumentParser):
    """argparse's own errors (a flag that is not a number, an unknown choice) in the same one-line
    form as every other user error, instead of a usage block and a second format."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"tui-gen: error: {message} (see `{self.prog} --help`)\n")


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags that set up a run, shared by `train` and `launch`: the same names, defaults and help.

    Each training setting's flag is made from its row in the settings table (tui_gen.core.settings):
    its dest is the TrainConfig field (a budget flag's: RunRequest.steps / minutes), its type the row's
    parser, its help the row's with TrainConfig's default. Not given means None, so a run set-up can tell
    a flag given from a default (settings_from_args)."""
    defaults = TrainConfig().to_json()
    budget = p.add_mutually_exclusive_group()
    for s in FLAGGED:  # the budget's first: its group leads the help, as it always has
        if s.budget:
            flag, options = _flag(s, defaults[s.name])
            budget.add_argument(flag, **options)
    p.add_argument("--models-dir", type=Path, default=Path("models"), help="where run folders go (default models/)")
    p.add_argument("--preset", default="default", help=f"{' or '.join(PRESETS)} (the CS20 lecture's recipe)")
    for s in FLAGGED:
        if not s.budget:
            flag, options = _flag(s, defaults[s.name])
            p.add_argument(flag, **options)


def _flag(s: Setting, default: object) -> tuple[str, dict[str, Any]]:
    """One setting's flag and add_argument's options for it, as its row says. argparse's default stays
    None: a flag not given is left out of the request, and the preset or the checkpoint decides."""
    if s.flag is None:
        raise ValueError(f"the setting {s.name} has no flag")  # FLAGGED holds only rows with one
    options: dict[str, Any] = {"dest": s.dest, "help": help_text(s, default)}
    match s.kind:
        case Kind.WORD:
            options.update(choices=s.choices)
        case Kind.WHOLE | Kind.NUMBER | Kind.SIZES:
            options.update(type=s.parse, metavar=s.metavar)
    return s.flag, options


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="tui-gen",
        description="Train and play with a character-level GRU language model.",
        epilog="Run `tui-gen COMMAND --help` for each command's options.",
    )
    p.add_argument("--version", action="version", version=f"tui-gen {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser(
        "train", help="train a model headless", description="Train a model, saving checkpoints under models/."
    )
    t.add_argument(
        "corpus",
        nargs="?",
        help="built-in corpus name (see `tui-gen data list`) or a text file / folder of .txt files; "
        "default trump-tweets",
    )
    t.add_argument("--out", type=Path, help="run folder (default models/<corpus>-<time>)")
    t.add_argument("--overwrite", action="store_true", help="let a new run replace the run already in --out")
    t.add_argument("--resume", type=Path, help="a run folder (continues from its last) or checkpoint to continue from")
    add_run_flags(t)
    t.add_argument(
        "--nproc",
        type=number(int),
        metavar="N",
        help="train on N processes of this machine (one per GPU) under torchrun; see the README for more machines",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar or samples, just the final line")
    t.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="also write TensorBoard event files into DIR/<run name> as it trains (`tensorboard --logdir DIR`)",
    )

    g = sub.add_parser("generate", help="write text from a checkpoint", description="Stream generated text to stdout.")
    g.add_argument("checkpoint", type=Path, help="a run folder (uses its best) or a .safetensors checkpoint")
    g.add_argument("--seed", default="", dest="seed_text", help="text to start from (echoed, then continued)")
    g.add_argument("--temperature", "-t", type=number(float), default=0.8)
    g.add_argument("--length", "-n", type=number(int), default=300, help="at most this many characters")
    g.add_argument("--top-k", type=number(int), default=0)
    g.add_argument("--top-p", type=number(float), default=1.0)
    g.add_argument("--num", type=number(int), default=1, help="how many samples")
    g.add_argument("--random-seed", type=number(int), help="for repeatable output")
    g.add_argument("--no-stop", action="store_true", help="do not stop at the end-of-line marker")
    g.add_argument("--device", default="cpu", choices=DEVICES)

    e = sub.add_parser(
        "eval", help="validation bits/char of a checkpoint", description="Print validation bits per character."
    )
    e.add_argument("checkpoint", type=Path)
    e.add_argument(
        "corpus",
        nargs="?",
        help="corpus to score (default: the checkpoint's own); the run's own corpus is scored on its held-out "
        "split, any other text whole",
    )
    e.add_argument(
        "--all",
        action="store_true",
        help="score the whole corpus, the text the model trained on included, not the run's held-out split",
    )
    e.add_argument("--device", default="auto", choices=DEVICES)

    d = sub.add_parser("data", help="list or fetch built-in corpora", description="Built-in corpora.")
    dsub = d.add_subparsers(dest="data_command", metavar="list|get")
    dsub.add_parser("list", help="show the built-in corpora")
    dg = dsub.add_parser("get", help="download or build one")
    dg.add_argument("name")

    la = sub.add_parser(
        "launch",
        help="open the terminal app",
        description="Open the tui-gen terminal app; it trains with the same flags as `tui-gen train`.",
    )
    add_launch_flags(la)
    sv = sub.add_parser(
        "serve",
        help="serve the app to a browser",
        description="Serve the tui-gen app to web browsers (each tab is an app, started with these launch flags); "
        "the URL it prints holds the token that every page needs.",
        allow_abbrev=False,  # --host and --port are left out of the tabs' launch flags by their exact spelling
    )
    add_launch_flags(sv)
    _add_serve_options(sv)
    _add_lens_commands(sub)

    x = sub.add_parser(
        "export",
        help="write runs as TensorBoard event files",
        description="Write a run's metrics log (or every run of a models folder) as TensorBoard event files, "
        "one sub-folder of DIR per run; exporting again replaces the earlier export.",
    )
    x.add_argument("run", type=Path, metavar="RUN", help="a run folder, or a models folder (all its runs)")
    x.add_argument(
        "--tensorboard", type=Path, metavar="DIR", required=True, help="where to write (`tensorboard --logdir DIR`)"
    )
    return p


def add_launch_flags(p: argparse.ArgumentParser) -> None:
    """The flags of `launch`, and of `serve`, which passes them to each tab's app."""
    p.add_argument(
        "corpus", nargs="?", help="built-in corpus name or a text file; default: the tweets, else the offline corpus"
    )
    p.add_argument("--checkpoint", type=Path, help="a run folder or checkpoint to load into the playground")
    p.add_argument(
        "--watch",
        type=Path,
        metavar="RUN",
        help="watch a run another process trains (its run folder): live figures, plot and samples from "
        "its metrics log; the playground uses its newest checkpoint; nothing is trained or written",
    )
    add_run_flags(p)


def _add_serve_options(p: argparse.ArgumentParser) -> None:
    """`serve`'s --host and --port (cli/serve.py)."""
    from tui_gen.cli.serve import add_arguments

    add_arguments(p)


def _add_lens_commands(sub) -> None:
    """`score`, `neurons` and `gradients` (cli/lens.py)."""
    from tui_gen.cli.lens import add_commands

    add_commands(sub)


def main(argv: list[str] | None = None) -> int:
    from tui_gen.training.distributed import exit_process, in_process_group

    try:
        status = _run(argv)
    except Exception:
        if not in_process_group():
            raise  # Python prints it and exits with 1, as for any program
        # A torchrun rank: Python's own exit would run its teardown under gloo's threads and could
        # abort (SIGABRT) instead of exiting with 1. Say what Python would have said, then leave.
        traceback.print_exc()
        status = 1
    return exit_process(status)  # a torchrun rank leaves from here (see exit_process)


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # `train --nproc N` runs the same command line again under torchrun
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    from tui_gen.cli.output import silence_stdout
    from tui_gen.core.errors import OutputError, TuiGenError

    previous = signal.signal(signal.SIGTERM, _on_sigterm) if args.command != "launch" else None  # the app: its own
    try:
        return COMMANDS[args.command](args)
    except Terminated:
        print("tui-gen: terminated (SIGTERM); nothing half-written was left behind", file=sys.stderr)
        return EXIT_TERMINATED
    except OutputError as e:  # stdout closed or full: one line, and no second complaint at exit
        silence_stdout()
        print(f"tui-gen: error: {one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except TuiGenError as e:
        # Messages quote paths, headers and servers' replies: shown safe, on one line.
        print(f"tui-gen: error: {one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tui-gen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tui-gen generate ... | head`
        sys.stderr.close()
        return 0
    finally:
        if previous is not None:  # main() may be called in-process (tests)
            signal.signal(signal.SIGTERM, previous)


# ---- train -------------------------------------------------------------------------------------


def _build_progress(console):
    """Encoding a corpus into its cache (the first time only): a progress line on a terminal, once
    it has taken a second (a small corpus takes less and shows nothing); one line in a log."""
    start: float | None = None
    said = False
    show = _download_progress(console, "encoding the corpus (once)")

    def progress(done: int, total: int | None) -> None:
        nonlocal start, said
        now = time.monotonic()
        start = start or now
        if now - start < 1.0:
            return
        if console.is_terminal:
            show(done, total)
        elif not said:
            said = True
            console.print(f"encoding the corpus into its cache (once): {(total or 0) / 1e6:.0f} MB", highlight=False)

    return progress


def _download_progress(console, what: str = "downloading"):
    state = {"last": 0.0}

    def progress(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - state["last"] > 0.2 or (total and done >= total):
            state["last"] = now
            frac = f" ({100 * done / total:.0f}%)" if total else ""
            console.print(f"{what}: {done / 1e6:.1f} MB{frac}", end="\r", highlight=False)

    return progress


def run_request(args):
    """The train flags as the shared run set-up's request (flags not given are left out)."""
    from tui_gen.training.setup import RunRequest, settings_from_args

    return RunRequest(
        corpus=args.corpus,
        resume=str(args.resume) if args.resume else None,
        preset=args.preset,
        settings=settings_from_args(args),
        steps=args.steps,
        minutes=args.minutes,
        out=str(args.out) if args.out else None,
        models_dir=str(args.models_dir),
        overwrite=args.overwrite,
    )


def cmd_train(args) -> int:
    from tui_gen.core.errors import ConfigError
    from tui_gen.training.distributed import world_from_env
    from tui_gen.training.setup import new_run_config

    request = run_request(args)
    if not request.resume:  # checked before torch is imported: a bad flag costs no start-up time
        new_run_config(request)
    world = world_from_env()
    if args.nproc is not None:
        if not 1 <= args.nproc <= 1024:
            raise ConfigError(f"--nproc must be 1 to 1024, got {args.nproc}")
        if world.distributed:
            raise ConfigError(
                "--nproc starts torchrun itself: under torchrun leave it out "
                "(torchrun's --nproc-per-node says how many processes)"
            )
        if args.nproc > 1:
            from tui_gen.training.distributed import run_under_torchrun, strip_nproc

            return run_under_torchrun(strip_nproc(args.argv), args.nproc, args.device)
    if world.distributed:
        return _train_distributed(args, request, world)
    return _train(args, request)


def _train_distributed(args, request, world) -> int:
    """One of several processes under torchrun: rank 0 trains as a single process would (and prints);
    the others train silently. All leave together once rank 0 has saved."""
    from tui_gen.training.distributed import abandon, finish, lost_the_others, start

    start(world)
    try:
        status = _train(args, request, world)
    except RuntimeError as e:
        if not lost_the_others(e):
            abandon(world)
            raise
        abandon(world)  # another process failed or went away: its own message says why
        print(
            f"tui-gen: error: training process {world.rank} of {world.size} lost the others "
            f"({one_line(str(e))[:200]}); see the first error above",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except BaseException:
        abandon(world)
        raise
    finish(world)
    return status


def _train(args, request, world=None) -> int:
    from tui_gen.cli.output import console
    from tui_gen.training.setup import prepare_run

    out = console(stderr=False)  # a pipe or a file gets every line whole (see console)
    err = console(stderr=True)
    main = world is None or world.is_main
    trainer = prepare_run(
        request,
        download_progress=_download_progress(err) if main else None,
        build_progress=_build_progress(err) if main else None,
        world=world,
    ).trainer

    # Ctrl+C, or a scheduler's SIGTERM, or the terminal closing (SIGHUP): finish the step, save `last`,
    # exit. The same signal again gives up at once.
    stopped_by: list[int] = []

    def on_stop_signal(signum, frame):
        # This process's own second signal (under torchrun, another rank's stop also sets stop_requested)
        if stopped_by:
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated
        stopped_by.append(signum)
        trainer.request_stop()
        if not main:  # under torchrun every process gets the signal; rank 0 says so
            return
        again = "Ctrl+C" if signum == signal.SIGINT else signal.Signals(signum).name
        try:
            err.print(f"\nstopping after this step and saving... ({again} again to quit at once)")
        except OSError:  # SIGHUP: the terminal may be gone
            pass

    stop_signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.signal(sig, on_stop_signal) for sig in stop_signals}
    events = trainer.run()
    if main and args.tensorboard:  # a consumer of the trainer's events, like the metrics log's writer
        from tui_gen.runs.tensorboard import live

        events = live(events, args.tensorboard)
    try:
        status = _drive(events, out, err, args.quiet) if main else _drive_silently(events)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if status == 0 and stopped_by and stopped_by[0] != signal.SIGINT:
        return 128 + stopped_by[0]  # saved, and stopped by a signal: 143 for SIGTERM, 129 for SIGHUP
    return status


def _drive_silently(events) -> int:
    """A rank other than 0: it trains (events: its trainer.run()); rank 0 says everything."""
    from tui_gen.core import events as ev

    status = 0
    for e in events:
        if isinstance(e, ev.Finished) and e.reason in ("diverged", "failed"):
            status = EXIT_FAILED
    return status


def _drive(events, out, err, quiet: bool) -> int:
    """Print the trainer's events (trainer.run(), perhaps through a consumer such as TensorBoard's)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    from tui_gen.core import events as ev

    def warning(message: str) -> Text:  # a message may hold [brackets] and escapes: text, never markup
        return Text.assemble(("warning:", "yellow"), " ", one_line(message))

    progress = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )
    task = progress.add_task("train", total=1.0, info="")
    status = 0
    last_line = 0.0
    clipping = ev.StepMeans()  # the steps since the last step line: their mean gradient norm, share clipped
    with progress:
        for e in events:
            match e:
                case ev.Started():
                    if not quiet:
                        # a big held-out split is estimated at each evaluation from a fixed sample of it
                        sampled = (
                            f" (evaluations score a fixed sample of {e.eval_chars:,}; `tui-gen eval` scores all)"
                            if e.eval_chars is not None and e.eval_chars < e.val_chars
                            else ""
                        )
                        progress.console.print(
                            Text.assemble(
                                "corpus ",
                                (one_line(e.corpus), "bold"),
                                f" ({e.framing} framing{': ' + e.framing_reason if e.framing_reason else ''}; "
                                f"{e.train_chars:,} training / {e.val_chars:,} held-out characters{sampled}, "
                                f"vocabulary {e.vocab_size}); model {e.model + ', ' if e.model else ''}"
                                f"{e.parameters:,} parameters on {e.device}; run folder ",
                                one_line(str(e.run_dir)),
                                f"; resuming at step {e.step}" if e.step else "",
                            )
                        )
                    for note in e.notes:
                        progress.console.print(Text.assemble("note: ", one_line(note)), soft_wrap=True)
                    for w in e.warnings:
                        progress.console.print(warning(w), soft_wrap=True)
                case ev.Step():
                    progress.update(
                        task,
                        completed=e.progress or 0.0,
                        info=f"step {e.step}  {e.train_bpc:.3f} bits/char  {e.chars_per_sec:,.0f} chars/s",
                    )
                    clipping.add(e)
                    now = time.monotonic()
                    if not quiet and now - last_line > 10:
                        last_line = now
                        held = clipping.take()
                        grad = (
                            f"  grad {held.grad_norm:.3g} (clipped {held.clipped:.0%})"
                            if held is not None and held.grad_norm is not None and held.clipped is not None
                            else ""
                        )
                        progress.console.print(
                            f"step {e.step:>6}  epoch {e.epoch}  train {e.train_bpc:.3f} bits/char  lr {e.lr:.2e}  "
                            f"{e.chars_per_sec:,.0f} chars/s{grad}"
                        )
                case ev.Eval():
                    if not quiet:
                        progress.console.print(
                            f"[bold]step {e.step:>6}  validation {e.val_bpc:.3f} bits/char[/]"
                            + ("  (best)" if e.is_best else f"  (best {e.best_bpc:.3f})")
                        )
                case ev.Samples():
                    if not quiet:
                        for seed, text in e.samples[:4]:
                            progress.console.print(f"  [dim]{e.step} T={e.temperature}[/] ", _literal(seed, text))
                case ev.RunWarning():
                    progress.console.print(warning(e.message), highlight=False, soft_wrap=True)
                case ev.Finished():
                    if ev.FinishReason(e.reason).is_failure:
                        err.print(f"tui-gen: error: {one_line(e.message)}", markup=False, soft_wrap=True)  # one line
                        status = EXIT_FAILED
                    else:
                        out.print(
                            one_line(
                                e.message + (f"; checkpoints in {Path(e.last_path).parent}" if e.last_path else "")
                            ),
                            markup=False,
                            soft_wrap=True,
                        )
    return status


def _literal(seed: str, text: str):
    from rich.text import Text

    t = Text()
    t.append(one_line(seed), style="bold")
    t.append(one_line(text.rstrip("\n")))
    return t


# ---- generate / eval ---------------------------------------------------------------------------


def cmd_generate(args) -> int:
    import contextlib

    import torch

    from tui_gen.cli.output import Output
    from tui_gen.core.errors import ConfigError, OutputError
    from tui_gen.model.sample import Generator, SamplingSettings, encode_seed
    from tui_gen.training.checkpoint import load_checkpoint
    from tui_gen.training.device import pick_device

    out = Output()  # a closed stdout: say so before loading anything
    settings = SamplingSettings(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    settings.validate()
    if not 0 <= args.length <= 1_000_000:
        raise ConfigError(f"--length must be 0 to 1000000, got {args.length}")
    if not 1 <= args.num <= 10_000:
        raise ConfigError(f"--num must be 1 to 10000, got {args.num}")
    if args.random_seed is not None and not 0 <= args.random_seed < 2**63:
        raise ConfigError(f"--random-seed must be 0 to 2**63 - 1, got {args.random_seed}")
    ck = load_checkpoint(args.checkpoint, device=pick_device(args.device))
    torch.set_num_threads(1)  # one character at a time: more threads only add synchronisation
    gen = torch.Generator().manual_seed(args.random_seed) if args.random_seed is not None else None
    stops = () if args.no_stop else ck.stop_strings
    g = Generator(ck.model, ck.vocab, ck.framing, stop_strings=stops, top_n=0, generator=gen)
    encode_seed(ck.vocab, args.seed_text, ck.framing)  # unknown characters: say so before echoing anything
    try:
        # Inference mode held around the loop: the stream then need not enter it at each character.
        with torch.inference_mode():
            for _ in range(args.num):  # a terminal gets the text sanitised, a pipe byte-exact (see output.py)
                out.write(args.seed_text)
                out.flush()  # the seed at once, before priming
                last = ""
                for tok in g.stream(args.seed_text, settings, args.length):
                    out.write_live(tok.char)  # in chunks, at most LIVE_SECONDS apart: a flush each cost a step
                    last = tok.char
                if last != "\n":
                    out.write("\n")
                out.flush()
    except KeyboardInterrupt:
        with contextlib.suppress(OSError, OutputError):  # what was drawn before ctrl+c still shows
            out.flush()
        raise
    out.finish()
    return 0


LONG_EVAL_CHARS = 2**20  # characters `tui-gen eval` scores in about half a minute on a 2-core CPU


def _eval_progress(console, total: int):
    """Scoring `total` characters. On a terminal, once it has taken a second: a progress line, cleared
    when done so that the result line on stdout stands alone. In a log: one line before a long one
    (LONG_EVAL_CHARS or more: decided by its size, so a short one never says anything).
    Returns (progress, done): progress(scored) for score_batches, done() after it."""
    start = time.monotonic()
    state = {"last": 0.0, "shown": False}
    if not console.is_terminal and total >= LONG_EVAL_CHARS:
        console.print(f"scoring {total:,} characters", highlight=False)

    def progress(scored: int) -> None:
        now = time.monotonic()
        if console.is_terminal and now - start >= 1.0 and now - state["last"] > 0.2:
            state["last"], state["shown"] = now, True
            console.print(
                f"scoring: {scored:,} of {total:,} characters ({100 * scored / max(total, 1):.0f}%)",
                end="\r",
                highlight=False,
            )

    def done() -> None:
        if state["shown"]:
            from rich.control import Control, ControlType

            console.control(Control((ControlType.ERASE_IN_LINE, 2)), Control.move_to_column(0))

    return progress, done


def cmd_eval(args) -> int:
    import numpy as np

    from tui_gen.cli.output import Output, console
    from tui_gen.core.errors import CorpusError
    from tui_gen.data.corpus import LineSet, StreamPart, split_encoded, validation_batches, validation_targets
    from tui_gen.data.sources import open_corpus
    from tui_gen.model.evaluate import REFUSE_UNKNOWN_SHARE, WARN_UNKNOWN_SHARE, score_batches
    from tui_gen.training.checkpoint import load_checkpoint
    from tui_gen.training.device import pick_device
    from tui_gen.training.trainer import resume_config

    out = Output()  # a closed stdout: say so before the work
    err = console(stderr=True)
    device = pick_device(args.device)
    ck = load_checkpoint(args.checkpoint, device=device)
    cfg = resume_config(ck)
    own_ref, own_digest = ck.meta.get("corpus"), ck.meta.get("corpus_digest")
    corpus, ref = open_corpus(args.corpus or own_ref, framing=ck.framing, build_progress=_build_progress(err))
    enc = corpus.encoded_corpus()
    # The run's own corpus: the file or built-in it was trained on (as the checkpoint names it), or the
    # same text under another name. Its held-out split is the only part of it the model never saw.
    same_text = isinstance(own_digest, str) and enc.digest == own_digest
    own = not args.corpus or ref == own_ref or same_text
    if own and isinstance(own_digest, str) and not same_text:
        print(
            f"tui-gen: note: {one_line(ref)} has changed since this checkpoint was trained, so its held-out "
            "split is not exactly the text the model never saw",
            file=sys.stderr,
        )
    if args.all or not own:
        # the whole text: another corpus, or the run's own with its training text (--all)
        part = (
            LineSet(enc, np.ascontiguousarray(enc.lines[:, 0]), np.ascontiguousarray(enc.lines[:, 1]))
            if ck.framing == "lines"
            else StreamPart(enc, 0, enc.n_chars)
        )
        which = "all of it, the text it trained on included" if own else "all of it"
    else:
        part = split_encoded(enc, ck.framing, cfg.val_fraction, cfg.seed, corpus.name).val
        which = "its held-out split"
        if args.corpus:
            print(
                f"tui-gen: note: {one_line(ref)} is the run's own corpus: scoring its held-out split, the "
                "text the model never trained on (--all scores the whole file)",
                file=sys.stderr,
            )
    # the characters scored (lines: their own, not the framing's newlines), counted from the symbols
    counts = (
        enc.counts_in(np.stack([part.starts, part.lengths], axis=1))
        if isinstance(part, LineSet)
        else enc.counts_between(part.start, part.stop)
    )
    unknown = [c for c, n in zip(enc.chars, counts.tolist(), strict=False) if n and c not in ck.vocab]
    share = sum(int(n) for c, n in zip(enc.chars, counts.tolist(), strict=False) if c not in ck.vocab) / max(
        int(counts.sum()), 1
    )
    # An unknown character is one class to the model, however many kinds it stands for, and an easy
    # one to predict in a run of them: a text the model cannot read would score better than its own.
    if share >= REFUSE_UNKNOWN_SHARE:
        raise CorpusError(
            f"{100 * share:.0f}% of the characters of {ref} are unknown to the model, so it cannot "
            "score this text: evaluate it on text in the alphabet it was trained on"
        )
    if unknown:
        kinds = "1 kind of character is" if len(unknown) == 1 else f"{len(unknown)} kinds of characters are"
        print(
            f"tui-gen: note: {kinds} outside the model's vocabulary and count{'s' if len(unknown) == 1 else ''} "
            "as 'unknown'",
            file=sys.stderr,
        )
    ck.model.eval()
    # Every character of the part, never training's evaluation sample: a big split takes minutes, and
    # says how far it has got on stderr (stdout holds only the result line).
    progress, done = _eval_progress(err, validation_targets(part, cfg.seq_len, cfg.state_reset_every))
    batches = validation_batches(part, ck.vocab, cfg.seq_len, cfg.state_reset_every)
    score = score_batches(ck.model, batches, device, progress=progress)
    done()
    bpc = score.nll / max(score.chars, 1) / math.log(2)
    line = f"{bpc:.4f} bits/char on {one_line(ref)} ({which}, {score.chars:,} characters), checkpoint step {ck.step}"
    if share > WARN_UNKNOWN_SHARE:
        line += (
            f"; {100 * share:.1f}% of the characters are unknown to the model; "
            "this figure is not comparable with its validation score"
        )
    out.write(line + "\n")
    out.finish()
    return 0


# ---- data / launch -----------------------------------------------------------------------------


def cmd_data(args) -> int:
    from rich.table import Table

    from tui_gen.cli.output import console
    from tui_gen.data.sources import BUILTINS, cached_path, fetch

    if args.data_command == "get":
        from tui_gen.core.errors import CorpusError

        if args.name not in BUILTINS:
            raise CorpusError(f"unknown built-in corpus {args.name!r}: choose one of {', '.join(BUILTINS)}")
        err = console(stderr=True)
        path = cached_path(args.name) or fetch(args.name, progress=_download_progress(err))
        print(f"{args.name}: {one_line(str(path))}")
        return 0
    if args.data_command != "list":
        print("usage: tui-gen data list | tui-gen data get NAME", file=sys.stderr)
        return EXIT_USAGE
    from rich.text import Text

    table = Table("name", "framing", "cached", "description", box=None)
    for name, spec in BUILTINS.items():
        cached_at = cached_path(name)  # under TUI_GEN_DATA_DIR: from the environment, so shown as text, never markup
        cached = one_line(str(cached_at)) if cached_at else f"no (tui-gen data get {name})"
        table.add_row(name, spec.framing, Text(cached), spec.description)
    console().print(table)
    return 0


def cmd_export(args) -> int:
    """`tui-gen export RUN --tensorboard DIR`: one line per run exported; a run whose log could not be
    read whole still has the rest exported, and one error line on stderr (exit status 1)."""
    from tui_gen.runs.tensorboard import export

    status = 0
    for done in export(args.run, args.tensorboard):
        if done.first_step is not None and done.last_step is not None:  # something was written
            print(
                f"{one_line(str(done.run))} -> {one_line(str(done.folder))}: {done.scalars:,} scalars and "
                f"{done.samples:,} evaluations' samples, steps {done.first_step:,} to {done.last_step:,}"
            )
        if done.problem:
            print(f"tui-gen: error: {done.problem}", file=sys.stderr)
            status = EXIT_FAILED
    return status


def cmd_launch(args) -> int:
    from tui_gen.cli.terminal import keys_kept

    with keys_kept():  # first, so that keys typed while the app loads reach it
        from tui_gen.app.main import run_app  # no torch on this path: the first frame comes before torch loads

        return run_app(args)


def cmd_serve(args) -> int:
    from tui_gen.cli.serve import cmd_serve as run

    return run(args)


def cmd_score(args) -> int:
    from tui_gen.cli.lens import cmd_score as run

    return run(args)


def cmd_neurons(args) -> int:
    from tui_gen.cli.lens import cmd_neurons as run

    return run(args)


def cmd_gradients(args) -> int:
    from tui_gen.cli.lens import cmd_gradients as run

    return run(args)


COMMANDS = {
    "train": cmd_train,
    "generate": cmd_generate,
    "eval": cmd_eval,
    "data": cmd_data,
    "launch": cmd_launch,
    "serve": cmd_serve,
    "score": cmd_score,
    "neurons": cmd_neurons,
    "gradients": cmd_gradients,
    "export": cmd_export,
}


if __name__ == "__main__":
    sys.exit(main())
