"""The book's two figures: training and validation loss, training and validation accuracy.

Dots are training, a line is validation, as in the book. Rendered as PNG and SVG to bytes
through matplotlib's object API (no pyplot, no backend switch, no change to ``rcParams``: a
notebook keeps its own settings). :class:`FigureWorker` draws them in a second process, which
imports matplotlib (~0.5 s) while the caller is still loading data and training.
"""

from __future__ import annotations

import io
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

FIGURES = {
    "loss": ("Training and validation loss", "Loss"),
    "accuracy": ("Training and validation accuracy", "Accuracy"),
}


def render_history(history: dict[str, list[float]], epochs: list[int], *,
                   formats: tuple[str, ...] = ("png", "svg")) -> dict[str, bytes]:
    """Draw the two figures from a Keras-style ``history.history`` dict.

    Returns ``{"loss.png": b"…", "loss.svg": …, "accuracy.png": …, "accuracy.svg": …}``.
    """
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global state, safe off the main thread

    files = {}
    for metric, (title, ylabel) in FIGURES.items():
        figure = Figure(figsize=(6.4, 4.4), dpi=100, layout="tight")
        axes = figure.subplots()
        axes.plot(epochs, history[metric], "bo", label=f"Training {metric}")
        if f"val_{metric}" in history:
            axes.plot(epochs, history[f"val_{metric}"], "b", label=f"Validation {metric}")
        axes.set_title(title)
        axes.set_xlabel("Epochs")
        axes.set_ylabel(ylabel)
        axes.legend()
        for fmt in formats:
            buffer = io.BytesIO()
            # Text stays text in the SVG (searchable, half the size), and ids are stable
            # across runs; set for this drawing only.
            with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "critic"}):
                figure.savefig(buffer, format=fmt)
            files[f"{metric}.{fmt}"] = buffer.getvalue()
    return files


def _import_matplotlib() -> None:
    pass


class FigureWorker:
    """A one-process pool that has matplotlib imported by the time figures are wanted.

    Example:
        >>> with FigureWorker() as worker:  # doctest: +SKIP
        ...     job = worker.render(history)
        ...     files = job.result()
    """

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_import_matplotlib)
        self._pool.submit(int)  # start the process now

    def render(self, history: Any) -> Future[dict[str, bytes]]:
        """Render a :class:`~critic.models.network.classifier.History` in the worker (here,
        if it died)."""
        try:
            return self._pool.submit(render_history, history.history, history.epoch)
        except BrokenProcessPool:
            done: Future[dict[str, bytes]] = Future()
            done.set_result(render_history(history.history, history.epoch))
            return done

    def __enter__(self) -> FigureWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
