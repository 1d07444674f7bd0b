"""A user's regular expression checked before it runs: compiled with every way compiling fails turned
into one message, and how long it takes to find every match in the text measured in a child process
with a timeout.

    pattern = check_regex(user_text, text)   # re.Pattern, or ConfigError saying why not (one line)

Python's re holds the GIL while it matches, so a pattern that backtracks catastrophically (`(a+)+$`
on a long run of a's) would stop every thread of the process, a UI's included, for as long as it
runs, and that can be hours; on the command line it simply never ends. Measured in a fresh
interpreter (only `re` and `json`: about 30 ms to start), a slow pattern costs its caller a timeout,
never a freeze. The app's neuron explorer and `tui-gen neurons --regex` both go through check_regex.

Compiling is not safe either: re's parser recurses once per nested group, so 5,000 nested
parentheses are a RecursionError, and a repeat count past C's range ({99999999999999999999}) an
OverflowError rather than re.error.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tui_gen.core.errors import ConfigError
from tui_gen.core.textsafe import one_line

REGEX_SECONDS = 0.25  # a regex slower than this over the text is refused (beside a screen it would stall it as long)
REGEX_TIMEOUT = 3.0  # the child is killed after this: the pattern "takes over 3 s"
SHOWN_CHARS = 60  # of a pattern quoted in a message (it may be 10,000 parentheses)

CHILD = (
    "import json, re, sys, time\n"
    "job = json.loads(sys.stdin.read())\n"
    "pattern = re.compile(job['pattern'])\n"
    "start = time.perf_counter()\n"
    "for _ in pattern.finditer(job['text']): pass\n"
    "print(time.perf_counter() - start)\n"
)


def match_seconds(pattern: str, text: str, timeout: float) -> float | None:
    """Seconds the pattern takes over text, or None if the child ran past timeout (it is killed).
    Raises OSError if no child could be started, ValueError if the child failed (a bad pattern)."""
    job = json.dumps({"pattern": pattern, "text": text})  # ASCII: any character, lone surrogates too
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", CHILD],
            input=job.encode("ascii"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ValueError(lines[-1] if lines else f"the child exited with {done.returncode}")
    return float(done.stdout.decode("ascii").strip())


def shown(pattern: str) -> str:
    """The pattern as a message quotes it: safe on one line, and cut when it is long."""
    return repr(one_line(pattern if len(pattern) <= SHOWN_CHARS else pattern[: SHOWN_CHARS - 1] + "…"))


def compile_regex(pattern: str) -> re.Pattern[str]:
    """re.compile, with every way it fails (re.error, RecursionError, OverflowError) as one
    ConfigError naming the pattern and the reason."""
    try:
        return re.compile(pattern)
    except re.error as e:
        reason = str(e)
    except RecursionError:
        reason = "its groups are nested too deep"
    except OverflowError as e:
        reason = str(e) or "a number in it is too large"
    raise ConfigError(f"the regular expression {shown(pattern)} is not valid ({reason}): fix it")


def check_regex(
    pattern: str, text: str, seconds: float = REGEX_SECONDS, timeout: float = REGEX_TIMEOUT
) -> re.Pattern[str]:
    """The pattern compiled, once it is known to find every match in `text` (the text it will run
    over) within `seconds`; else ConfigError saying why. A pattern that cannot be timed (no child
    process) is refused too: run untimed it might never end. Blocks up to `timeout`: call it from a
    thread where a screen is drawn."""
    compiled = compile_regex(pattern)
    try:
        took = match_seconds(pattern, text, timeout)
    except OSError as e:
        raise ConfigError(
            f"the regular expression {shown(pattern)} could not be timed over the text (no child "
            f"process: {e.strerror or e}), and untimed it might run for ever: try again"
        ) from None
    except ValueError as e:
        raise ConfigError(f"the regular expression {shown(pattern)} failed over the text ({e}): fix it") from None
    if took is None or took > seconds:
        took_text = f"over {timeout:g} s" if took is None else f"{took:.1f} s"
        raise ConfigError(
            f"the regular expression {shown(pattern)} takes {took_text} over this text (it "
            f"backtracks a lot; more than {seconds:g} s is refused): simplify it (no nested "
            "repeats like (a+)+)"
        )
    return compiled
