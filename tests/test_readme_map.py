"""The README's map of the code ("How it is built") names every module of tui_gen, and nothing that is
gone: a newcomer reads the map first, and a map that lists half the modules (it listed 20 of 38) hides
the other half. Each line of the map is a name at its depth (two spaces a level), a package ending in
'/', then what it holds."""

from __future__ import annotations

import re

from support.data import REPO

PACKAGE = REPO / "tui_gen"
ENTRY = re.compile(r"^(?P<indent> *)(?P<names>[\w.]+/?(?:,\s*[\w.]+/?)*)(?:\s|$)")  # "a.py, b.py  what"


def map_block() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## How it is built", 1)[1]
    block = section.split("```", 2)[1]
    lines = block.strip("\n").splitlines()
    assert lines[0].startswith("tui_gen/"), "the map starts at tui_gen/"
    return lines


def modules_in_map(lines: list[str]) -> set[str]:
    """Paths relative to tui_gen/ of every module the map names."""
    found: set[str] = set()
    stack: list[str] = []
    for line in lines[1:]:
        m = ENTRY.match(line)
        if not m or not line.strip():
            continue
        depth = len(m["indent"]) // 2
        if depth == 0:  # bench/, tests/: beside the package
            stack = []
            continue
        stack = stack[: depth - 1]
        for name in (n.strip() for n in m["names"].split(",")):
            if name.endswith("/"):
                stack.append(name.rstrip("/"))
                found.add("/".join(stack) + "/")
            elif name.endswith(".py"):
                found.add("/".join([*stack, name]))
    return found


def modules_in_package() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py" and len(relative.parts) > 1:
            found.add("/".join(relative.parts[:-1]) + "/")  # a package: named by its folder
        else:
            found.add(relative.as_posix())
    return found


def test_the_map_reader_sees_nesting():
    lines = [
        "tui_gen/",
        "  __init__.py, __main__.py  the face",
        "  core/  base",
        "    errors.py  errors",
        "  app/  the app",
        "    widgets/  widgets",
        "      plot.py, view.py  plot",
        "    app.py  the App",
        "bench/  speed",
    ]
    assert modules_in_map(lines) == {
        "__init__.py",
        "__main__.py",
        "core/",
        "core/errors.py",
        "app/",
        "app/widgets/",
        "app/widgets/plot.py",
        "app/widgets/view.py",
        "app/app.py",
    }


def test_the_readme_map_names_every_module_and_only_those():
    named = modules_in_map(map_block())
    actual = modules_in_package()
    assert not actual - named, f"modules the README's map does not name: {sorted(actual - named)}"
    assert not named - actual, f"the README's map names what is not there: {sorted(named - actual)}"
