"""The ``critic`` command line: thin wrappers that parse, call the library, and print.

Results go to stdout, progress and logs to stderr. Exit codes: 0 ok, 1 failure, 2 bad usage or
bad input (every :class:`~critic.errors.CriticError`).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from typer.exceptions import TyperException

from critic.errors import CriticError

# Heavy imports (PyTorch, matplotlib) happen inside commands, so this is close to the start.
_CLI_STARTED = time.perf_counter()

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="critic: fast, lean sentiment classification of reviews.")
data_app = typer.Typer(no_args_is_help=True, help="The IMDB dataset: where it is, what it holds.")
app.add_typer(data_app, name="data")
err = Console(stderr=True, highlight=False)

DataOption = Annotated[
    str | None, typer.Option("--data", help="IMDB archive or aclImdb/ folder "
                             "(default: $CRITIC_DATA, then the cache, then download).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@data_app.command("info")
def data_info(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Print the data source, its checksum, reviews per split and label, and the caches."""
    from critic.datasets.corpus import cache_path, load_corpus
    from critic.datasets.imdb import training_vocabulary

    corpus = load_corpus(data)
    info = {
        "source": corpus.source,
        "checksum": corpus.checksum,
        "official_archive": corpus.checksum == _canonical_sha256(),
        "counts": corpus.counts(),
        "vocabulary_size": len(training_vocabulary(data)),
        "cache": str(cache_path(corpus.checksum)),
    }
    if as_json:
        print(json.dumps(info, indent=2))
        return
    print(f"source      {info['source']}")
    print(f"sha256      {info['checksum']}"
          + ("  (official archive)" if info["official_archive"] else "  (not the official "
             "archive; accepted after the layout check)"))
    for split, per_label in info["counts"].items():
        print(f"{split:<11} " + ", ".join(f"{n:,} {label}" for label, n in per_label.items()))
    print(f"vocabulary  {info['vocabulary_size']:,} distinct words in the training reviews")
    print(f"cache       {info['cache']}")


def _canonical_sha256() -> str:
    from critic.datasets.fetch import CANONICAL_SHA256

    return CANONICAL_SHA256


@app.command()
def reproduce(
    data: DataOption = None,
    name: Annotated[str, typer.Option(help="Run name: the run folder is RUNS/NAME.")] = "book",
    runs: Annotated[Path, typer.Option(help="Folder that holds run folders.")] = Path("runs"),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    epochs: Annotated[int, typer.Option(help="Epochs of the validation run.")] = 20,
    final_epochs: Annotated[str, typer.Option(
        help="Epochs of the final model: a number, or 'auto' for the lowest validation loss."
    )] = "4",
    validation_size: Annotated[int, typer.Option(help="First N training reviews held out.")
                               ] = 10_000,
    batch_size: Annotated[int, typer.Option(help="Reviews per gradient step.")] = 512,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and shuffling.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Run the book's IMDB experiment end to end and write runs/NAME/."""
    from critic.config import NetworkConfig, TrainConfig
    from critic.reproduce import ReproduceConfig
    from critic.reproduce import reproduce as run

    _freeze_imports()

    config = ReproduceConfig(
        validation_size=validation_size, epochs=epochs,
        final_epochs=_parse_final_epochs(final_epochs), network=NetworkConfig(),
        training=TrainConfig(batch_size=batch_size, seed=seed))
    _check_name(name)
    result = run(config, data=data, run_folder=runs / name, overwrite=overwrite,
                 callbacks=[EpochReporter()])
    m = result.metrics
    if as_json:
        print(json.dumps(m | {"folder": str(result.folder)}, indent=2))
        return
    print("Review 0, decoded:")
    print(f"  {result.decoded_review[:600]}{' …' if len(result.decoded_review) > 600 else ''}")
    print(f"Best validation loss at epoch {m['best_val_loss_epoch']}, best validation accuracy "
          f"{m['best_val_accuracy']:.4f} at epoch {m['best_val_accuracy_epoch']}; training "
          f"accuracy at epoch {config.epochs}: {m['train_accuracy_last_epoch']:.4f}")
    print(f"Final model: {result.final_epochs} epochs on all 25,000 training reviews "
          f"({m['final_epochs_rule']})")
    print(f"Test loss {m['test_loss']:.4f}, test accuracy {m['test_accuracy']:.4f}")
    print(f"Wrote {result.folder}/ in {time.perf_counter() - _CLI_STARTED:.1f} s")


def _freeze_imports() -> None:
    """Move everything imported so far (PyTorch: ~half a million objects) out of the garbage
    collector's sight: later collections, and the one at exit, stop walking it (-0.2 s)."""
    gc.collect()
    gc.freeze()


def _parse_final_epochs(value: str) -> int | str:
    if value == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"must be a positive integer or 'auto', not {value!r}",
                                 param_hint="--final-epochs") from None


def _check_name(name: str) -> None:
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise typer.BadParameter(f"{name!r} is not a folder name", param_hint="--name")


class EpochReporter:
    """Keras-style epoch lines on stderr, with a progress bar when stderr is a terminal."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: Any = None
        self._epochs = 0
        self._steps = 0

    def on_train_begin(self, epochs: int, steps: int) -> None:
        self._epochs, self._steps = epochs, steps
        if err.is_terminal:
            self._progress = Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=err, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(f"Epoch 1/{epochs}", total=steps)

    def on_batch_end(self, epoch: int, step: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step, description=f"Epoch {epoch}/"
                                  f"{self._epochs}")

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


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    try:
        app(standalone_mode=False)
    except CriticError as exc:
        print(f"critic: error: {exc}", file=sys.stderr)  # unwrapped: one line, grep-able
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("critic: interrupted", file=sys.stderr)
        sys.exit(130)
    except TyperException as exc:  # usage errors: the message and their exit code (2)
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
