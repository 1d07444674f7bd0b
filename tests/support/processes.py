"""Running the CLI in a child process (its peak RSS measured) or in this one, watching a process
go, and a small filesystem that fills up."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from support.waiting import wait_until


@dataclass
class Result:
    rc: int
    out: str
    err: str
    seconds: float
    peak_rss: int | None = None  # bytes, the child's peak resident set (subprocess runs only)

    def error_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.startswith("tui-gen: error:")]

    def assert_clean_error(self, *needles: str, rc: int = 2) -> str:
        """Exit status rc, exactly one `tui-gen: error:` line holding every needle, no traceback."""
        assert "Traceback" not in self.err + self.out, self.err[-3000:]
        assert self.rc == rc, f"exit {self.rc}, expected {rc}\nstderr: {self.err[-3000:]}"
        lines = self.error_lines()
        assert len(lines) == 1, f"expected one error line, got {lines!r}\nstderr: {self.err[-3000:]}"
        for n in needles:
            assert n.lower() in lines[0].lower(), f"{n!r} not in {lines[0]!r}"
        return lines[0]

    def assert_ok(self) -> None:
        assert "Traceback" not in self.err + self.out, self.err[-3000:]
        assert self.rc == 0, f"exit {self.rc}\nstderr: {self.err[-3000:]}"


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child, as a user's shell would start it: one torch thread, no
    terminal width, and its data folder the `data/` of its own working directory (the suite's own data
    folder, TUI_GEN_DATA_DIR, is for the tests' in-process code); extra wins."""
    env = dict(os.environ)
    env.pop("TUI_GEN_DATA_DIR", None)
    env.update({"OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", **extra})
    env.pop("COLUMNS", None)  # as in CI: no terminal, rich's default width
    return env


def run_cli(
    args: list[str], cwd: Path, timeout: float = 120, preexec_fn=None, env: dict | None = None, stdin=subprocess.DEVNULL
) -> Result:
    """`python -m tui_gen ARGS` in a child process, with its peak RSS measured by wait4()."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_gen", *map(str, args)],
        cwd=cwd,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env or child_env(),
        preexec_fn=preexec_fn,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"tui-gen {' '.join(map(str, args))[:200]} ran over {timeout}s\n{err.decode()[-2000:]}"
        ) from None
    return Result(
        proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - t0
    )


def run_cli_rss(args: list[str], cwd: Path, timeout: float = 180) -> Result:
    """Like run_cli, but waits with os.wait4 so the child's own peak RSS is known exactly."""
    t0 = time.monotonic()
    with open(cwd / ".stdout", "wb") as out_f, open(cwd / ".stderr", "wb") as err_f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui_gen", *map(str, args)],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out_f,
            stderr=err_f,
            env=child_env(),
        )

        def ended() -> tuple[int, resource.struct_rusage] | None:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            return (status, usage) if pid else None

        try:
            status, usage = wait_until(ended, timeout, f"tui-gen {' '.join(map(str, args))[:200]} to end", every=0.05)
        except AssertionError:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Result(
        proc.returncode,
        (cwd / ".stdout").read_text("utf-8", "replace"),
        (cwd / ".stderr").read_text("utf-8", "replace"),
        time.monotonic() - t0,
        peak_rss=usage.ru_maxrss * 1024,
    )


def run_main(argv: list[str], capsys) -> Result:
    """tui_gen.cli.main.main in this process (no torch start-up per call). An escaping exception fails
    the test, which is the in-process form of "no traceback"."""
    from tui_gen.cli.main import main

    capsys.readouterr()
    t0 = time.monotonic()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own usage errors
        rc = e.code if isinstance(e.code, int) else 2
    cap = capsys.readouterr()
    return Result(rc, cap.out, cap.err, time.monotonic() - t0)


def run_main_in(argv: list[str], cwd: Path) -> Result:
    """run_main without capsys (for a module-scoped fixture): main(argv) in this process, in cwd, its
    output captured. An escaping exception fails the caller, as a traceback would."""
    import contextlib
    import io

    from tui_gen.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    t0 = time.monotonic()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in argv])
            except SystemExit as e:  # argparse's own usage errors
                rc = e.code if isinstance(e.code, int) else 2
    finally:
        os.chdir(old)
    return Result(rc, out.getvalue(), err.getvalue(), time.monotonic() - t0)


def mount_tmpfs(where: Path, size: int) -> None:
    """A small filesystem that fills up (CI runs as root); skipped only where mounting is impossible."""
    import pytest

    where.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"mounting a tmpfs is impossible here (needs root with CAP_SYS_ADMIN): {r.stderr.strip()}")


def umount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True)


def gone(pid: int) -> bool:
    """Whether no process has this pid any more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie still answers kill(0); it is gone once reaped, which multiprocessing does
    return False
