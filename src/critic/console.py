"""What the command line shows on stderr while it works: progress bars on a terminal, one line
per epoch or step when piped. The library reports progress through callbacks; this module
draws them (Rich), so nothing else imports a terminal library.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

err = Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """One line on stderr, as it is (no markup)."""
    err.print(message, markup=False)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Any]:
    """A bar on a terminal; ``advance(n)`` and ``update(done, total)`` on what it yields.
    Piped, it draws nothing."""
    with Progress(description, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(description, total=total)

        class _Handle:
            def advance(self, n: int) -> None:
                bar.advance(task, n)

            def update(self, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

        yield _Handle()


class EpochReporter:
    """Keras-style epoch lines on stderr, with a progress bar when stderr is a terminal."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: Any = None
        self._epochs = 0

    def on_train_begin(self, epochs: int, steps: int) -> None:
        self._epochs = epochs
        if err.is_terminal:
            self._progress = Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=err, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(f"Epoch 1/{epochs}", total=steps)

    def on_batch_end(self, epoch: int, step: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step,
                                  description=f"Epoch {epoch}/{self._epochs}")

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        line = f"Epoch {epoch}/{self._epochs} - " + " - ".join(
            f"{key}: {value:.4f}" for key, value in logs.items())
        if self._progress is not None:
            self._progress.console.print(line)
            self._progress.update(self._task, completed=0)
        else:
            print(line, file=sys.stderr, flush=True)

    def on_train_end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
