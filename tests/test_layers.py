"""The layers hold, checked twice: import-linter's contracts (pyproject.toml, run by `make lint`) and,
here, at run time. Import-linter sees every import, deferred ones included, so the torch contract lists
each deliberate deferred import; these tests see what importing a module really loads, so a new
module-level torch import in one of them fails here even where a listed deferral hides it there. And a
contract that could never fail would be worth nothing: a deliberate violation in a copy of the package
must turn lint-imports red."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.data import REPO

PACKAGE = REPO / "tui_gen"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def modules_in(*packages: str) -> list[str]:
    found = []
    for package in packages:
        for path in sorted((PACKAGE / package).rglob("*.py")):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


# What the app and the CLI import before anything trains: none of it may load torch.
WITHOUT_TORCH = [
    *modules_in("core", "runs"),
    "tui_gen.data.catalogue",
    "tui_gen.data.preview",
    "tui_gen.data.vocab",
    "tui_gen.process.spec",
    "tui_gen.process.parent",
    "tui_gen.cli.main",
    "tui_gen.training.setup",
    "tui_gen.app.app",
]


def test_what_runs_before_training_imports_no_torch():
    code = (
        "import importlib, sys\n"
        f"for name in {WITHOUT_TORCH!r}:\n"
        "    importlib.import_module(name)\n"
        "    heavy = [m for m in ('torch', 'safetensors') if m in sys.modules]\n"
        "    if heavy:\n"
        "        sys.exit(f'{name} loaded {heavy}')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert len(WITHOUT_TORCH) > 20  # the globs found the layers


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(PACKAGE, root / "tui_gen", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


VIOLATIONS = {
    "Textual in the core": ("core/errors.py", "import textual\n", "Only the app imports Textual BROKEN"),
    "torch in a run folder's log": (
        "runs/metrics_log.py",
        "import torch\n",
        "What the app and the CLI read before any training needs no torch BROKEN",
    ),
    "the data layer reaching up into training": (
        "data/vocab.py",
        "import tui_gen.training.trainer\n",
        "Layers go one way: cli, app, process, training, model, data and runs, core BROKEN",
    ),
}


def test_the_contracts_hold_on_a_faithful_copy(package_copy: Path):
    out = lint_imports(package_copy)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


@pytest.mark.parametrize("case", list(VIOLATIONS))
def test_a_deliberate_violation_breaks_its_contract(package_copy: Path, tmp_path: Path, case: str):
    root = tmp_path / "copy"
    shutil.copytree(package_copy, root)
    module, line, broken = VIOLATIONS[case]
    path = root / "tui_gen" / module
    path.write_text(path.read_text(encoding="utf-8") + line, encoding="utf-8")
    out = lint_imports(root)
    assert out.returncode != 0
    assert broken in out.stdout, out.stdout
