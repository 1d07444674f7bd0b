"""How long a user's regular expression takes to find every match in a text, measured in a child
process with a timeout.

Python's re holds the GIL while it matches, so a pattern that backtracks catastrophically (`(a+)+$`
on a long run of a's) would stop every thread of the process, a UI's included, for as long as it
runs, and that can be hours. Measured in a fresh interpreter (only `re` and `json`: about 30 ms to
start), a slow pattern costs its caller a timeout, never a freeze.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = ("import json, re, sys, time\n"
         "job = json.loads(sys.stdin.read())\n"
         "pattern = re.compile(job['pattern'])\n"
         "start = time.perf_counter()\n"
         "for _ in pattern.finditer(job['text']): pass\n"
         "print(time.perf_counter() - start)\n")


def match_seconds(pattern: str, text: str, timeout: float) -> float | None:
    """Seconds the pattern takes over text, or None if the child ran past timeout (it is killed).
    Raises OSError if no child could be started, ValueError if the child failed (a bad pattern)."""
    job = json.dumps({"pattern": pattern, "text": text})  # ASCII: any character, lone surrogates too
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", CHILD], input=job.encode("ascii"),
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ValueError(lines[-1] if lines else f"the child exited with {done.returncode}")
    return float(done.stdout.decode("ascii").strip())
