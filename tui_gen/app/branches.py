"""The playground's branches: every generation from one seed, the first one written and each one
continued from a candidate the user picked, kept so that [ and ] can go back and forth between them.

Plain data (no textual, no torch): a branch is its seed and its tokens, each the character written
with the probability and candidates the model gave there, at most the playground's max length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_BRANCHES = 50  # older ones are dropped past this: each holds up to 10,000 tokens


@dataclass
class Written:
    char: str
    prob: float  # the model's probability of this character
    top: list[tuple[str, float]]  # the candidates at this position, likeliest first


@dataclass
class Branch:
    seed: str
    tokens: list[Written] = field(default_factory=list)
    parent: int | None = None  # the branch it was continued from (its index when it was made)
    at: int = 0  # the position it branched at (the first character that differs)

    @property
    def text(self) -> str:
        return "".join(t.char for t in self.tokens)


class Branches:
    """The branches of the current seed, and which one is shown."""

    def __init__(self) -> None:
        self.items: list[Branch] = []
        self.index = -1

    @property
    def current(self) -> Branch | None:
        return self.items[self.index] if self.items else None

    def start(self, seed: str) -> Branch:
        """A new generation: a fresh family of branches."""
        self.items = [Branch(seed)]
        self.index = 0
        return self.items[0]

    def fork(self, at: int) -> Branch:
        """A new branch holding the current one's first `at` tokens (the rest is written next); the
        current one stays as it is."""
        base = self.current
        assert base is not None
        branch = Branch(base.seed, list(base.tokens[:at]), parent=self.index, at=at)
        self.items.append(branch)
        if len(self.items) > MAX_BRANCHES:
            del self.items[0]
        self.index = len(self.items) - 1
        return branch

    def move(self, step: int) -> bool:
        """Show the branch before (-1) or after (+1) this one; False at either end."""
        to = self.index + step
        if not self.items or not 0 <= to < len(self.items):
            return False
        self.index = to
        return True

    def label(self) -> str:
        """ "branch 2 of 3", or "" while there is only one."""
        return f"branch {self.index + 1} of {len(self.items)}" if len(self.items) > 1 else ""
