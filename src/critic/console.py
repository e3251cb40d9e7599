"""What the command line shows: results for people on stdout, and on stderr progress bars on a
terminal (one line per epoch when piped). The library returns results and reports progress
through callbacks; this module draws them (Rich), so nothing else imports a terminal library.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeElapsedColumn,
)
from rich.text import Text

if TYPE_CHECKING:
    from critic.experiments.reproduce import ReproduceResult
    from critic.predict import Explanation

err = Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """One line on stderr, as it is (no markup)."""
    err.print(message, markup=False)


@contextmanager
def progress_bar(description: str, total: int | None, *, piped_lines: bool = False
                 ) -> Iterator[Any]:
    """A bar on a terminal; ``advance(n)`` and ``update(done, total)`` on what it yields.
    Piped, it draws nothing, or with ``piped_lines`` one line per ``update``."""
    with Progress(description, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(description, total=total)

        class _Handle:
            def advance(self, n: int) -> None:
                bar.advance(task, n)

            def update(self, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)
                if piped_lines and not err.is_terminal:
                    print(f"{description} {done}/{total} done", file=sys.stderr, flush=True)

        yield _Handle()


@contextmanager
def rate_bar(description: str, total: int | None) -> Iterator[Any]:
    """A bar with items per second and time left, on a terminal only; ``advance(n)`` on what
    it yields. Without a ``total`` it shows the count and the rate."""
    from rich.progress import TaskProgressColumn, TimeRemainingColumn

    columns: list[str | ProgressColumn] = [
        description, BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), _RateColumn(),
        TimeElapsedColumn(), "elapsed,", TimeRemainingColumn(), "left"]
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(description, total=total)

        class _Handle:
            def advance(self, n: int) -> None:
                bar.advance(task, n)

        yield _Handle()


@contextmanager
def scoring_progress(total: int | None) -> Iterator[Callable[[Any], None]]:
    """What ``critic predict`` shows while it scores: a :func:`rate_bar`, and a warning for
    each review without words (scored from the prior) — the first ten, then a count, so a
    corpus full of them does not flood stderr. Yields the callback each scored batch's
    verdicts go to."""
    warnings, seen, empty = 10, [0], [0]

    with rate_bar("scoring", total) as bar:
        def scored(verdicts: Any) -> None:
            for offset in (verdicts.words == 0).nonzero()[0].tolist():
                empty[0] += 1
                if empty[0] <= warnings:
                    print(f"warning: review {seen[0] + offset + 1} has no words; it is scored "
                          "from the model's prior", file=sys.stderr, flush=True)
            seen[0] += len(verdicts.words)
            bar.advance(len(verdicts.words))

        yield scored
    if empty[0] > warnings:
        print(f"warning: {empty[0]:,} reviews in all had no words", file=sys.stderr,
              flush=True)


class _RateColumn(ProgressColumn):
    """Items per second, as ``21,500/s``."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "?/s")


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


def show_table(header: list[str], rows: list[list[Any]]) -> None:
    """A Markdown table."""
    print("| " + " | ".join(header) + " |\n|" + "---:|" * len(header))
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")


def show_data_info(info: dict[str, Any]) -> None:
    official = ("  (official archive)" if info["official_archive"] else
                "  (not the official archive; accepted after the layout check)")
    print(f"source      {info['source']}\nsha256      {info['checksum']}{official}")
    for split, per_label in info["counts"].items():
        print(f"{split:<11} " + ", ".join(f"{n:,} {label}" for label, n in per_label.items()))
    print(f"vocabulary  {info['vocabulary_size']:,} distinct words in the training reviews")
    print(f"cache       {info['cache']}")


def show_reproduction(result: ReproduceResult, epochs: int) -> None:
    m, v = result.metrics, result.metrics["validation"]
    decoded = result.decoded_review
    print(f"Review 0, decoded:\n  {decoded[:600]}{' …' if len(decoded) > 600 else ''}")
    print(f"Best validation loss at epoch {v['best_loss_epoch']}, best validation accuracy "
          f"{v['accuracy']:.4f} at epoch {v['best_accuracy_epoch']}; training accuracy at "
          f"epoch {epochs}: {m['train_accuracy_last_epoch']:.4f}")
    plural = "s" if result.final_epochs != 1 else ""
    print(f"Final model: {result.final_epochs} epoch{plural} on all 25,000 training reviews "
          f"({m['final_epochs_rule']})")
    print(f"Test loss {m['test']['loss']:.4f}, test accuracy {m['test']['accuracy']:.4f}")


def show_training(m: dict[str, Any]) -> None:
    if "chosen" in m and m["chosen"]["C"] is None:  # trained from a stream
        print(f"Chose beta={m['chosen']['beta']} on validation (accuracy "
              f"{m['validation']['accuracy']:.4f}); trained on the other reviews")
    elif "unlabelled" in m:  # self-trained: the choice, then the unlabelled reviews
        u = m["unlabelled"]
        print(f"Chose C={m['chosen']['C']}, beta={m['chosen']['beta']} on validation "
              f"(accuracy {u['validation_without']['accuracy']:.4f}); with the "
              f"{u['joined_at_validation']:,} unlabelled reviews it was sure of "
              f"{m['validation']['accuracy']:.4f}")
        print(f"Refitted on all training reviews and the {u['joined']:,} of {u['reviews']:,} "
              "unlabelled reviews the refitted model is sure of")
    elif "chosen" in m:
        print(f"Chose C={m['chosen']['C']}, beta={m['chosen']['beta']} on validation "
              f"(accuracy {m['validation']['accuracy']:.4f}); refitted on all training reviews")
    else:
        print(f"Kept the weights of epoch {m['kept_epoch']} (lowest validation loss at epoch "
              f"{m['validation']['best_loss_epoch']}); validation accuracy "
              f"{m['validation']['accuracy']:.4f}")
    if "test" in m:
        print(f"IMDB test: loss {m['test']['loss']:.4f}, accuracy {m['test']['accuracy']:.4f}")


def show_evaluation(report: dict[str, Any], figure: Path) -> None:
    if "classes" in report:
        _show_classes(report, figure)
        return
    c = report["confusion_matrix"]
    print(f"{report['data']}: {report['reviews']:,} reviews, threshold {report['threshold']:.3f}")
    for key in ("loss", "accuracy", "precision", "recall", "f1", "roc_auc"):
        value = report[key]
        print(f"{key:<10} " + (f"{value:.4f}" if value is not None else "undefined (one class)"))
    print(f"confusion  predicted neg / pos: actual neg {c['tn']:,} / {c['fp']:,}, "
          f"actual pos {c['fn']:,} / {c['tp']:,}")
    print(f"ECE        {report['calibration']['ece']:.4f} (reliability figure: {figure})")


def _show_classes(report: dict[str, Any], figure: Path) -> None:
    """More than two labels: the overall figures, each label's, the confusion matrix."""
    labels = [str(label) for label in report["classes"]]
    print(f"{report['data']}: {report['reviews']:,} reviews, {len(labels)} labels")
    for key in ("loss", "accuracy", "macro_f1", "weighted_f1", "mae", "within_one",
                "expected_rating_mae"):
        if report.get(key) is not None:
            print(f"{key:<20} {report[key]:.4f}")
    show_table(["label", "precision", "recall", "F1", "support"],
               [[label, f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}",
                 f"{c['support']:,}"]
                for label, c in zip(labels, report["per_class"].values(), strict=True)])
    show_table(["true \\ predicted", *labels],
               [[label, *(f"{n:,}" for n in row)]
                for label, row in zip(labels, report["confusion_matrix"], strict=True)])
    print(f"ECE of the predicted label {report['calibration']['ece']:.4f} (reliability and "
          f"confusion figure: {figure})")


def show_explanation(explanation: Explanation, top: int) -> None:
    """The verdict, the review with its strongest words coloured, and the top words."""
    out = Console(highlight=False)
    if explanation.class_probabilities is None:
        out.print(f"{explanation.label} (probability positive {explanation.probability:.3f})",
                  markup=False)
    else:
        out.print(f"{explanation.label}; explaining {explanation.explained} (probability "
                  f"{explanation.probability:.3f})", markup=False)
    out.print(_highlighted(explanation))
    if explanation.method == "additive":
        out.print(f"each n-gram's exact share of the logit {explanation.logit:+.3f} "
                  f"(they add up to it with the intercept {explanation.intercept:+.3f}):")
    else:
        out.print("each word's effect on the logit (with the word, minus without it):")
    for word in explanation.words[:top]:
        colour = "green" if word.contribution > 0 else "red"
        note = "" if word.in_vocabulary else "  (not in the vocabulary)"
        line = Text(f"  {word.contribution:+.3f}", style=colour)
        line.append(f"  {word.word}{note}")
        out.print(line)


def _highlighted(explanation: Explanation) -> Text:
    scores = explanation.contribution_of()
    strongest = max((abs(v) for v in scores.values()), default=0.0) or 1.0
    line = Text()
    for token in explanation.tokens:
        value = scores.get(token, 0.0)
        strength = min(1.0, abs(value) / strongest)
        style = (f"bold {'green' if value > 0 else 'red'}" if strength > 0.3 else
                 ("green" if value > 0 else "red") if strength > 0.1 else "")
        line.append(token + " ", style=style)
    return line
