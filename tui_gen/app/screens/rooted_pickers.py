"""The new-run form's file pickers in an app that `tui-gen serve` runs (tui_gen.app.serve): textual-fspicker's
FileOpen and SelectDirectory, kept inside the served root. Imported when a picker opens, as
textual-fspicker itself is, so the app's first frame does not wait for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual_fspicker import FileOpen, SelectDirectory
from textual_fspicker.parts import DirectoryNavigation

if TYPE_CHECKING:
    from tui_gen.app.serve import Served


class RootedNavigation(DirectoryNavigation):
    """The file pickers' folder list in an app `tui-gen serve` runs: it stays inside the served root. A move
    outside it (.., a typed path, a link) lands on the root, and the root lists no '..'."""

    def __init__(self, served: Served, location: Path) -> None:
        self.served = served
        super().__init__(served.clamp(location))

    def validate__location(self, location: Path) -> Path:  # Textual's validator of the reactive `_location`
        return location if self.served.inside(location) else self.served.root

    @property
    def is_root(self) -> bool:
        return self.location.resolve() == self.served.root or super().is_root


def _rooted(widgets: ComposeResult, navigation: RootedNavigation) -> ComposeResult:
    """A picker's own layout, its folder list replaced by `navigation`."""
    for widget in widgets:
        yield navigation if type(widget) is DirectoryNavigation else widget


class RootedFileOpen(FileOpen):
    """FileOpen inside the served root; no completions as a path is typed (they would list folders
    outside it), and a typed path outside it is refused."""

    def __init__(self, served: Served, location: Path, title: str) -> None:
        super().__init__(served.clamp(location), title, suggest_completions=False)
        self.served, self.start = served, location

    def compose(self) -> ComposeResult:
        yield from _rooted(super().compose(), RootedNavigation(self.served, self.start))

    def _should_return(self, candidate: Path) -> bool:
        if not self.served.inside(candidate):
            self._set_error(f"Served: choose a file inside {self.served.root}")
            return False
        return super()._should_return(candidate)


class RootedSelectDirectory(SelectDirectory):
    """SelectDirectory inside the served root."""

    def __init__(self, served: Served, location: Path, title: str) -> None:
        super().__init__(served.clamp(location), title)
        self.served, self.start = served, location

    def compose(self) -> ComposeResult:
        yield from _rooted(super().compose(), RootedNavigation(self.served, self.start))
