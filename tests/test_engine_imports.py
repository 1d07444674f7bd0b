"""The engine (everything outside tui_gen/app/) never imports a UI library: the CLI's headless
commands, the training process and scripts pay for neither, and the engine can run where neither is
installed. Checked in a fresh interpreter, since this one has imported both already."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tui_gen"
ENGINE = sorted(
    ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
    for p in PACKAGE.rglob("*.py")
    if p.relative_to(PACKAGE).parts[0] != "app" and p.stem != "__main__"
)


def test_engine_modules_import_neither_textual_nor_rich():
    code = (
        "import importlib, sys\n"
        f"for name in {ENGINE!r}:\n"
        "    importlib.import_module(('tui_gen.' + name).removesuffix('.__init__'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"engine modules pulled in: {out.stdout.strip()}"
    assert len(ENGINE) > 10  # the glob found the engine
