"""The book's two figures: training and validation loss, training and validation accuracy.

Dots are training, a line is validation, as in the book. Rendered as PNG and SVG with the Agg
backend (no display needed), to bytes, so a caller can draw them while it trains.
"""

from __future__ import annotations

import io

from critic.training import History

FIGURES = {
    "loss": ("Training and validation loss", "Loss"),
    "accuracy": ("Training and validation accuracy", "Accuracy"),
}


def render_history(history: History, *, formats: tuple[str, ...] = ("png", "svg")
                   ) -> dict[str, bytes]:
    """Draw the two figures; returns ``{"loss.png": b"…", "loss.svg": …, "accuracy.png": …}``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # no pyplot: no global state, safe off the main thread

    files = {}
    epochs = history.epoch
    for metric, (title, ylabel) in FIGURES.items():
        figure = Figure(figsize=(6.4, 4.4), dpi=100, layout="tight")
        axes = figure.subplots()
        axes.plot(epochs, history.history[metric], "bo", label=f"Training {metric}")
        if f"val_{metric}" in history.history:
            axes.plot(epochs, history.history[f"val_{metric}"], "b", label=f"Validation {metric}")
        axes.set_title(title)
        axes.set_xlabel("Epochs")
        axes.set_ylabel(ylabel)
        axes.legend()
        for fmt in formats:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=fmt)
            files[f"{metric}.{fmt}"] = buffer.getvalue()
    return files
