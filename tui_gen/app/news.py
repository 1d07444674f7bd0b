"""The shown run's news, said as notifications, coalesced by kind: NewsDesk.

A run's news is its warnings, its end, its budget changes, a watched folder's notices. A process or a
watched log may send thousands of them (a log can hold 20,000 `finished` lines), and Textual lays out
every live toast again for each new one: one toast each froze the app for minutes, deaf to ctrl+q. So
within one batch of events only the newest of a kind is said, and each kind at most once a window; the
newest is held meanwhile, with how many it stands for.

The app owns one NewsDesk; the watched run (tui_gen.app.watching.WatchedRun) says its news through the
same one, under kinds of its own, so that what it held back is forgotten when the watch ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.app import App
from textual.notifications import SeverityLevel
from textual.timer import Timer

MORE_NEWS = "(and {n:,} more like it since the last notice)"


@dataclass
class News:
    """A notification waiting to be said: the newest of its kind, and how many it stands for (`more`
    says the others, {n} their number)."""

    message: str
    title: str
    severity: SeverityLevel = "information"
    timeout: float | None = None
    more: str = MORE_NEWS
    count: int = 1


class NewsDesk:
    """Says news through `app.notify`, at most once every `every` seconds per kind (the kind "warning":
    every `warnings_every`), the newest of a kind held meanwhile and said, with the count, when its
    window ends (a timer of `app`'s). UI thread only."""

    def __init__(self, app: App[Any], *, every: float, warnings_every: float) -> None:
        self._app = app
        self._every = every
        self._warnings_every = warnings_every
        self._said_at: dict[str, float] = {}  # when each kind last popped up (time.monotonic)
        self._held: dict[str, News] = {}  # the newest of each kind not said yet
        self._timers: dict[str, Timer] = {}
        self._batch: dict[str, News] | None = None  # while a batch of events is folded: its newest of each kind

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Fold a batch of events inside this: of each kind, only the newest said in it goes on (counting
        the others). A batch begun inside another (a fallback starting a run while folding) is part of it."""
        if self._batch is not None:
            yield
            return
        self._batch = {}
        try:
            yield
        finally:
            batch, self._batch = self._batch, None
            for kind, news in batch.items():
                self._offer(kind, news)

    def say(
        self,
        kind: str,
        message: str,
        *,
        title: str,
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        more: str = MORE_NEWS,
    ) -> None:
        """Say a piece of news of `kind`, now or when its kind's window ends (see the class)."""
        news = News(message, title, severity, timeout, more)
        if self._batch is None:
            self._offer(kind, news)
            return
        held = self._batch.get(kind)
        news.count += held.count if held else 0
        self._batch[kind] = news

    def forget(self, prefix: str) -> None:
        """Drop the held news of kinds starting with prefix (a watch that ended: its news is old)."""
        for kind in [k for k in self._held if k.startswith(prefix)]:
            del self._held[kind]

    def _offer(self, kind: str, news: News) -> None:
        held = self._held.get(kind)
        if held is not None:
            news.count += held.count
        self._held[kind] = news
        every = self._warnings_every if kind == "warning" else self._every
        last = self._said_at.get(kind)
        wait = 0.0 if last is None else last + every - time.monotonic()
        if wait <= 0:
            self._flush(kind)
        elif kind not in self._timers:
            self._timers[kind] = self._app.set_timer(wait, partial(self._flush, kind))

    def _flush(self, kind: str) -> None:
        self._timers.pop(kind, None)
        news = self._held.pop(kind, None)
        if news is None:
            return
        self._said_at[kind] = time.monotonic()
        message = news.message
        if news.count > 1:
            message += "\n\n" + news.more.format(n=news.count - 1)
        self._app.notify(message, title=news.title, severity=news.severity, timeout=news.timeout, markup=False)
