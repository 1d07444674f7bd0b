"""Every file tui-gen opens, writes or renames goes through its file helpers (tui_gen.core.files for what comes
from outside, atomic and runs.folder for what it writes itself), or says on its line why not.

The audit reads tui_gen/'s source as Python (ast for the calls, tokenize for the comments), so a word
in a string or a comment is not a call. A direct call is allowed where its line, or a line of the call,
carries `# file-access: <reason>` (a fixed path like /proc/locks or os.devnull, a lock file of our own):
the reason is what a reviewer checks, and a new call without one fails here."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from support.data import REPO

PACKAGE = REPO / "tui_gen"
# The modules whose job is opening and writing files: everything else calls them.
HELPERS = {"core/files.py", "core/atomic.py", "runs/folder.py"}
# Openers defined by those modules, called as Class.open(...): a call of the helper, not a direct open.
HELPER_OPENERS = {"RunFolder"}
# Calls that open, write, read or rename a file by name.
METHODS = {"open", "write_text", "write_bytes", "read_text", "read_bytes"}
OS_RENAMES = {"replace", "rename"}  # os.replace, os.rename (str.replace is not one)
REASON = re.compile(r"#\s*file-access:\s*\S")


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Name) and f.id == "open":
        return "open"
    if not isinstance(f, ast.Attribute):
        return None
    base = f.value.id if isinstance(f.value, ast.Name) else None
    if f.attr in METHODS and base not in HELPER_OPENERS:
        return f"{base}.{f.attr}" if base in ("os", "io", "codecs") else f".{f.attr}"
    if f.attr in OS_RENAMES and base == "os":
        return f"os.{f.attr}"
    if f.attr == "rename":  # Path.rename
        return ".rename"
    return None


def direct_file_access(path: Path) -> list[tuple[int, str, str]]:
    """(line, call, source line) of each file call in `path` whose lines carry no file-access reason."""
    source = path.read_text(encoding="utf-8")
    reasons = {
        tok.start[0]
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT and REASON.match(tok.string)
    }
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name and not reasons.intersection(range(node.lineno, (node.end_lineno or node.lineno) + 1)):
            found.append((node.lineno, name, lines[node.lineno - 1].strip()))
    return sorted(set(found))


def test_the_audit_sees_calls_not_words(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        'text = "open(x) and os.replace(a, b)"  # open( in a string: not a call\n'
        "# with open(path) as f: a comment, not a call\n"
        'name = text.replace("a", "b")  # str.replace: not a file\n'
        'with open("/proc/locks") as f:  # file-access: the kernel\'s table, a fixed path\n'
        "    pass\n"
        "os.replace(\n"
        '    "a", "b")  # file-access: the reason may sit on any line of the call\n'
        "data = Path(p).read_bytes()\n"
        "os.rename(a, b)\n"
        "fd = os.open(p, 0)\n"
        "f = open(p)  # file-access:\n"  # a reason must be given
    )
    assert [(line, name) for line, name, _ in direct_file_access(sample)] == [
        (9, ".read_bytes"),
        (10, "os.rename"),
        (11, "os.open"),
        (12, "open"),
    ]


def test_every_file_access_goes_through_the_helpers_or_says_why():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).as_posix() in HELPERS:
            continue
        found += [f"{path.relative_to(REPO)}:{line}: {name}: {text}" for line, name, text in direct_file_access(path)]
    assert not found, (
        "open files from outside with tui_gen.core.files (open_regular, write_output), write your own "
        "through atomic / runs.folder, or add `# file-access: <reason>` to the line:\n" + "\n".join(found)
    )
