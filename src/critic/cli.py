"""The ``critic`` command line: each command parses its options, calls one library function and
prints the result.

Results go to stdout, progress and logs to stderr (:mod:`critic.console`). Exit codes: 0 ok, 1
failure, 2 bad usage or bad input (every :class:`~critic.errors.CriticError`), 130 interrupted.
Library imports happen inside the commands, so ``critic --help`` and ``--version`` start fast.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.exceptions import TyperException

from critic import __version__
from critic.errors import CriticError

if TYPE_CHECKING:
    from critic.datasets.files import Reviews
    from critic.predict import Explanation

_STARTED = time.perf_counter()

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,  # plain help: Rich is imported only to draw progress
                  help="critic: fast, lean sentiment classification of reviews.")
data_app = typer.Typer(no_args_is_help=True, help="The IMDB dataset: where it is, what it holds.")
app.add_typer(data_app, name="data")

#: Library parameters whose option is not simply ``--the-name``.
_FLAGS = {"hidden_layers": "--layers", "validation": "--validation-input",
          "metric": "--find-threshold"}

DataOption = Annotated[
    str | None, typer.Option("--data", help="IMDB archive or aclImdb/ folder "
                             "(default: $CRITIC_DATA, then the cache, then download).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
OverwriteOption = Annotated[bool, typer.Option(help="Replace what is there (only once the new "
                                               "output is complete).")]
BundleArgument = Annotated[Path, typer.Argument(help="A bundle folder (critic train, or "
                                                  "runs/NAME/model from critic reproduce).")]
TextColumnOption = Annotated[str, typer.Option(help="Column holding the review text.")]
LabelColumnOption = Annotated[str, typer.Option(help="Column holding the 0/1 or pos/neg label.")]


def _show_version(value: bool) -> None:
    if value:
        print(f"critic {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """critic: fast, lean sentiment classification of reviews."""


@data_app.command("info")
def data_info(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Print the data source, its checksum, reviews per split and label, and the caches."""
    from critic.datasets.imdb import describe

    info: dict[str, Any] = describe(data)
    if as_json:
        print(json.dumps(info, indent=2))
        return
    official = ("  (official archive)" if info["official_archive"] else
                "  (not the official archive; accepted after the layout check)")
    print(f"source      {info['source']}\nsha256      {info['checksum']}{official}")
    for split, per_label in info["counts"].items():
        print(f"{split:<11} " + ", ".join(f"{n:,} {label}" for label, n in per_label.items()))
    print(f"vocabulary  {info['vocabulary_size']:,} distinct words in the training reviews")
    print(f"cache       {info['cache']}")


@app.command()
def reproduce(
    data: DataOption = None,
    name: Annotated[str, typer.Option(help="Run name: the run folder is RUNS/NAME.")] = "book",
    runs: Annotated[Path, typer.Option(help="Folder that holds run folders.")] = Path("runs"),
    overwrite: OverwriteOption = False,
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
    from critic.experiments.prefetch import in_child

    _check_name(name)
    # The data loads in a child process while PyTorch is imported here (-0.4 s or more).
    book = in_child(_book_matrices, data, 10_000)

    from critic.console import EpochReporter
    from critic.experiments.reproduce import ReproduceConfig
    from critic.experiments.reproduce import reproduce as run
    from critic.models.config import NetworkConfig, TrainConfig

    _freeze_imports()
    config = ReproduceConfig(
        validation_size=validation_size, epochs=epochs,
        final_epochs=_parse_final_epochs(final_epochs), network=NetworkConfig(),
        training=TrainConfig(batch_size=batch_size, seed=seed))
    result = run(config, data=data, run_folder=runs / name, overwrite=overwrite,
                 callbacks=[EpochReporter()], book=book)
    m = result.metrics
    if as_json:
        print(json.dumps(m | {"folder": str(result.folder)}, indent=2))
        return
    decoded = result.decoded_review
    print(f"Review 0, decoded:\n  {decoded[:600]}{' …' if len(decoded) > 600 else ''}")
    v = m["validation"]
    print(f"Best validation loss at epoch {v['best_loss_epoch']}, best validation accuracy "
          f"{v['accuracy']:.4f} at epoch {v['best_accuracy_epoch']}; training accuracy at "
          f"epoch {config.epochs}: {m['train_accuracy_last_epoch']:.4f}")
    plural = "s" if result.final_epochs != 1 else ""
    print(f"Final model: {result.final_epochs} epoch{plural} on all 25,000 training reviews "
          f"({m['final_epochs_rule']})")
    print(f"Test loss {m['test']['loss']:.4f}, test accuracy {m['test']['accuracy']:.4f}")
    print(f"Wrote {result.folder}/ in {time.perf_counter() - _STARTED:.1f} s")


def _book_matrices(data: str | None, num_words: int) -> Any:
    from critic.datasets.imdb import book_matrices

    return book_matrices(data, num_words)


def _freeze_imports() -> None:
    """Move everything imported so far (PyTorch: ~half a million objects) out of the garbage
    collector's sight: later collections, and the one at exit, stop walking it (-0.2 s)."""
    import gc

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


@app.command()
def train(
    output: Annotated[Path, typer.Option(help="Bundle folder to write.")] = Path("model"),
    data: DataOption = None,
    input_file: Annotated[Path | None, typer.Option(
        "--input", help="Your labelled reviews: CSV, JSON lines, Parquet, or a folder with "
        "pos/ and neg/ (instead of IMDB).")] = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = "label",
    model: Annotated[str, typer.Option(
        help="dense (the book's network on multi-hot words), tfidf-dense (tf-idf words and "
        "bigrams into a network) or nblr (NB-weighted logistic regression on words, bigrams "
        "and trigrams). The options below default to the model's own settings.")] = "dense",
    ngram_range: Annotated[str | None, typer.Option(
        help="LOW-HIGH word n-grams, 1 <= LOW <= HIGH <= 3 (dense: 1-1, tfidf-dense: 1-2, "
        "nblr: 1-3).")] = None,
    max_ngrams: Annotated[int | None, typer.Option(
        help="Most frequent training n-grams (n >= 2) to keep.")] = None,
    num_words: Annotated[int | None, typer.Option(
        help="Width of the word block (dense: 10000).")] = None,
    layers: Annotated[int | None, typer.Option(help="Hidden layers (dense: 2).")] = None,
    units: Annotated[int | None, typer.Option(help="Units per hidden layer (16).")] = None,
    activation: Annotated[str | None, typer.Option(help="relu or tanh.")] = None,
    dropout: Annotated[float | None, typer.Option(
        help="Dropout after each hidden layer (dense: 0).")] = None,
    loss: Annotated[str | None, typer.Option(help="bce or mse.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="rmsprop, adam or sgd.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Step size (dense: 1e-3).")
                             ] = None,
    epochs: Annotated[int | None, typer.Option(help="Most epochs to train (20).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Reviews per gradient step (512).")
                          ] = None,
    validation_size: Annotated[float | None, typer.Option(
        help="Reviews held out (a count, or a fraction below 1). Default for IMDB: 10000 "
        "with dense, 5000 otherwise; 0.2 for --input.")] = None,
    patience: Annotated[int | None, typer.Option(
        help="Stop after this many epochs without a lower validation loss; the weights of "
        "the best epoch are kept (tfidf-dense: 3).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for initialisation and shuffling (0).")
                    ] = None,
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train a model (the book's network by default) and write a bundle."""
    from critic.console import EpochReporter
    from critic.train import options_for, train_bundle

    _freeze_imports()
    options = options_for(
        model, ngram_range=_parse_ngram_range(ngram_range), max_ngrams=max_ngrams,
        num_words=num_words, hidden_layers=layers, units=units, activation=activation,
        dropout=dropout, loss=loss, optimizer=optimizer, learning_rate=learning_rate,
        batch_size=batch_size, seed=seed, epochs=epochs, patience=patience,
        validation_size=(int(validation_size) if validation_size and validation_size >= 1
                         else validation_size))
    reviews = _labelled(input_file, text_column, label_column)
    result = train_bundle(options, output, data=data, reviews=reviews, overwrite=overwrite,
                          callbacks=[EpochReporter()])
    m = result.metrics
    if as_json:
        summary = {key: value for key, value in m.items() if key != "history"}
        print(json.dumps(summary | {"bundle": str(result.path)}, indent=2))
        return
    if "chosen" in m:
        print(f"Chose C={m['chosen']['C']}, beta={m['chosen']['beta']} on validation "
              f"(accuracy {m['validation']['accuracy']:.4f}); refitted on all training reviews")
    else:
        print(f"Kept the weights of epoch {m['kept_epoch']} (lowest validation loss at epoch "
              f"{m['validation']['best_loss_epoch']}); validation accuracy "
              f"{m['validation']['accuracy']:.4f}")
    if "test" in m:
        print(f"IMDB test: loss {m['test']['loss']:.4f}, accuracy {m['test']['accuracy']:.4f}")
    print(f"Wrote the bundle {result.path}/")


def _labelled(path: Path | None, text_column: str, label_column: str) -> Reviews | None:
    if path is None:
        return None
    from critic.datasets.files import read_reviews_file

    return read_reviews_file(path, text_column=text_column, label_column=label_column,
                             require_labels=True)


def _parse_ngram_range(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    low, _, high = value.partition("-")
    try:
        parsed = (int(low), int(high or low))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not LOW-HIGH, e.g. 1-3",
                                 param_hint="--ngram-range") from None
    if not 1 <= parsed[0] <= parsed[1] <= 3:
        raise typer.BadParameter(f"{value!r} is out of bounds: 1 <= LOW <= HIGH <= 3",
                                 param_hint="--ngram-range")
    return parsed


@app.command()
def evaluate(
    bundle: BundleArgument,
    data: DataOption = None,
    input_file: Annotated[Path | None, typer.Option(
        "--input", help="Labelled reviews to evaluate on instead of the IMDB test set.")] = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = "label",
    threshold: Annotated[float | None, typer.Option(
        help="Cut to evaluate at (default: the bundle's).")] = None,
    find_threshold: Annotated[str | None, typer.Option(
        help="accuracy or f1: choose the cut that maximises it on validation data (the "
        "bundle's held-out IMDB reviews, or --validation-input) and store it in the bundle.")
    ] = None,
    validation_input: Annotated[Path | None, typer.Option(
        help="Labelled validation reviews for --find-threshold.")] = None,
    figure: Annotated[Path, typer.Option(help="Where to write the reliability figure (PNG).")
                      ] = Path("reliability.png"),
    as_json: JsonOption = False,
) -> None:
    """Loss, accuracy, precision, recall, F1, ROC-AUC, confusion matrix and calibration."""
    from critic._atomic import claim_output, write_bytes
    from critic.evaluation import evaluate_model, reliability_figure, store_best_threshold
    from critic.predict import load

    claim_output(figure, overwrite=True, kind="file")
    model = load(bundle)
    if find_threshold is not None:
        model = store_best_threshold(
            bundle, find_threshold,  # type: ignore[arg-type]  # checked by the library
            validation=_labelled(validation_input, text_column, label_column), data=data)
        _say(f"threshold {model.threshold:.4f} maximises validation {find_threshold}; stored "
             f"in {bundle}")
    report = evaluate_model(model, _labelled(input_file, text_column, label_column),
                            data=data, threshold=threshold)
    write_bytes(figure, reliability_figure(report))
    if as_json:
        print(json.dumps(report | {"reliability_figure": str(figure)}, indent=2))
        return
    c = report["confusion_matrix"]
    print(f"{report['data']}: {report['reviews']:,} reviews, threshold {report['threshold']:.3f}")
    for key in ("loss", "accuracy", "precision", "recall", "f1", "roc_auc"):
        value = report[key]
        print(f"{key:<10} " + (f"{value:.4f}" if value is not None else "undefined (one class)"))
    print(f"confusion  predicted neg / pos: actual neg {c['tn']:,} / {c['fp']:,}, "
          f"actual pos {c['fn']:,} / {c['tp']:,}")
    print(f"ECE        {report['calibration']['ece']:.4f} (reliability figure: {figure})")


@app.command()
def predict(
    bundle: BundleArgument,
    texts: Annotated[list[str] | None, typer.Argument(
        help="Reviews to score; '-' reads stdin (one review a line, or JSON lines).")] = None,
    input_file: Annotated[Path | None, typer.Option(
        "--input", help="A file of reviews: .txt (one a line), .csv, .jsonl or .parquet.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write results here (default stdout).")
                      ] = None,
    text_column: TextColumnOption = "text",
    id_column: Annotated[str | None, typer.Option(
        help="Column with review ids (default: 'id' when present).")] = None,
    batch_size: Annotated[int, typer.Option(help="Reviews scored per batch.")] = 25_000,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of TSV.")] = False,
) -> None:
    """Label and probability per review: TSV (id, label, probability) or JSON lines."""
    from critic._atomic import claim_output, write_text
    from critic.console import progress_bar
    from critic.models.config import check_positive
    from critic.predict import load

    check_positive("batch_size", batch_size)
    if output is not None:
        claim_output(output, overwrite=True, kind="file")
    model = load(bundle)
    reviews = _prediction_input(texts, input_file, text_column, id_column)
    ids = reviews.ids
    lines: list[str] = []
    with progress_bar("scoring", len(reviews)) as bar:
        for start in range(0, len(reviews), batch_size):
            stop = start + batch_size
            for i, p in enumerate(model.predictions(reviews.texts[start:stop],
                                                    ids[start:stop] if ids else None)):
                if p.words == 0:
                    _say(f"warning: review {start + i + 1} has no words; it is scored from "
                         "the model's prior alone")
                lines.append(json.dumps(p.to_dict()) if as_json else "\t".join(
                    ([p.id] if p.id is not None else []) + [p.label, f"{p.probability:.6f}"]))
            bar.advance(min(batch_size, len(reviews) - start))
    text = "".join(line + "\n" for line in lines)
    if output is None:
        sys.stdout.write(text)
        return
    write_text(output, text)  # atomic: an existing file is replaced only when complete
    _say(f"wrote {len(reviews):,} predictions to {output}")


def _prediction_input(texts: list[str] | None, input_file: Path | None, text_column: str,
                      id_column: str | None) -> Reviews:
    from critic.datasets.files import Reviews, read_reviews_bytes, read_reviews_file

    if input_file is not None and texts:
        raise typer.BadParameter("give reviews as arguments or --input, not both")
    if input_file is not None:
        return read_reviews_file(input_file, text_column=text_column, id_column=id_column)
    if not texts:
        raise typer.BadParameter("give reviews as arguments, '-' for stdin, or --input FILE")
    if texts == ["-"]:
        return read_reviews_bytes(sys.stdin.buffer.read(), text_column=text_column,
                                  id_column=id_column)
    return Reviews(list(texts), source="arguments")


@app.command()
def explain(
    bundle: BundleArgument,
    text: Annotated[str, typer.Argument(help="One review.")],
    top: Annotated[int, typer.Option(help="How many words to list.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The words that pushed the decision, each with its exact effect on the logit."""
    from rich.console import Console

    from critic.models.config import check_positive
    from critic.predict import load

    check_positive("top", top)
    explanation = load(bundle).explain(text)
    if as_json:
        print(json.dumps(explanation.to_dict(), indent=2))
        return
    out = Console(highlight=False)
    out.print(f"{explanation.label} (probability positive {explanation.probability:.3f})")
    out.print(_highlighted(explanation))
    if explanation.method == "additive":
        out.print(f"each n-gram's exact share of the logit {explanation.logit:+.3f} "
                  f"(they add up to it with the intercept {explanation.intercept:+.3f}):")
    else:
        out.print("each word's effect on the logit (with the word, minus without it):")
    for word in explanation.words[:top]:
        colour = "green" if word.contribution > 0 else "red"
        note = "" if word.in_vocabulary else "  (not in the vocabulary)"
        out.print(f"  [{colour}]{word.contribution:+.3f}[/{colour}]  {word.word}{note}",
                  markup=True)


def _highlighted(explanation: Explanation) -> Any:
    from rich.text import Text

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


@app.command()
def sweep(
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", help="KNOB=V1,V2,… (repeatable). Knobs: hidden_layers, units, activation, "
        "dropout, loss, learning_rate, optimizer. Default: the book's suggestions, "
        "hidden_layers=1,2,3 units=16,32,64 loss=bce,mse activation=relu,tanh.")] = None,
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="A TOML file with a [grid] table (and seeds, epochs, …).")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per configuration (0, 1, …).")] = 3,
    epochs: Annotated[int, typer.Option(help="Epochs per run.")] = 20,
    validation_size: Annotated[int, typer.Option(help="First N training reviews held out.")
                               ] = 10_000,
    batch_size: Annotated[int, typer.Option(help="Reviews per gradient step.")] = 512,
    name: Annotated[str, typer.Option(help="Sweep folder name under --sweeps.")] = "book",
    sweeps: Annotated[Path, typer.Option(help="Folder that holds sweep folders.")
                      ] = Path("sweeps"),
    workers: Annotated[int | None, typer.Option(
        help="Worker processes (default: one per core).")] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the book's variants as a grid over several seeds; rank them by validation."""
    from critic.console import progress_bar
    from critic.experiments.sweep import markdown_table, run_sweep, sweep_spec

    _check_name(name)
    spec = sweep_spec(config_file=config_file, grid=grid, seeds=seeds, epochs=epochs,
                      validation_size=validation_size, batch_size=batch_size)
    with progress_bar("runs", None) as bar:
        def done(finished: int, total: int) -> None:
            bar.update(finished, total)
            if not sys.stderr.isatty():
                print(f"run {finished}/{total} done", file=sys.stderr, flush=True)

        result = run_sweep(spec, sweeps / name, data=data, workers=workers, on_done=done)
    if as_json:
        print(json.dumps({"folder": str(result.folder), "ran": result.ran,
                          "rows": result.rows}, indent=2))
        return
    print(markdown_table(result.rows), end="")
    print(f"\nWrote {result.folder}/ (results.md, results.csv, validation_curves.png, "
          f"run.json); {result.ran} runs computed now")


@app.command()
def cv(
    folds: Annotated[int, typer.Option(help="Number of folds (K).")] = 4,
    layers: Annotated[int, typer.Option(help="Hidden layers.")] = 2,
    units: Annotated[int, typer.Option(help="Units per hidden layer.")] = 16,
    activation: Annotated[str, typer.Option(help="relu or tanh.")] = "relu",
    loss: Annotated[str, typer.Option(help="bce or mse.")] = "bce",
    epochs: Annotated[int, typer.Option(help="Epochs per fold.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and shuffling.")] = 0,
    name: Annotated[str, typer.Option(help="Folder name under --runs.")] = "cv",
    runs: Annotated[Path, typer.Option(help="Folder that holds run folders.")] = Path("runs"),
    overwrite: OverwriteOption = False,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """K-fold cross-validation of one configuration: per-fold and mean curves, chosen epoch."""
    from critic.console import EpochReporter
    from critic.experiments.crossval import TABLE_HEADER, run_cv, table_rows
    from critic.models.config import NetworkConfig, TrainConfig

    _check_name(name)
    network = NetworkConfig(hidden_layers=layers, units=units,
                            activation=activation)  # type: ignore[arg-type]  # checked there
    training = TrainConfig(loss=loss, seed=seed)  # type: ignore[arg-type]  # checked there
    result = run_cv(network, training, runs / name, folds=folds, epochs=epochs, data=data,
                    overwrite=overwrite, callbacks=[EpochReporter()])
    if as_json:
        print(json.dumps(result.to_dict() | {"folder": str(runs / name)}, indent=2))
        return
    print("| " + " | ".join(TABLE_HEADER) + " |\n|---:|---:|---:|---:|---:|")
    for row in table_rows(result.folds, result.mean):
        print("| " + " | ".join(map(str, row)) + " |")
    print(f"\nChosen epoch (lowest mean validation loss): {result.chosen_epoch}. "
          f"Wrote {runs / name}/ (run.json, cv.png)")


@app.command()
def leaderboard(
    data: DataOption = None,
    models: Annotated[str, typer.Option(
        help="Comma-separated models to train and compare.")] = "dense,tfidf-dense,nblr",
    output: Annotated[Path, typer.Option(help="Folder for the tables and the bundles.")
                      ] = Path("leaderboard"),
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train each model on IMDB; table of regime, validation and test accuracy, training
    time, prediction throughput and bundle size, beside published figures."""
    from critic.experiments.leaderboard import markdown_table, parse_models, run_leaderboard

    _freeze_imports()
    result = run_leaderboard(parse_models(models), output, data=data, overwrite=overwrite,
                             progress=_say)
    if as_json:
        print(json.dumps({"results": result.rows, "folder": str(result.folder)}, indent=2))
        return
    print(markdown_table(result.rows), end="")
    print(f"\nWrote {result.folder}/ (results.md, results.csv, run.json, models/)")


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(
        help="A folder written by reproduce, train, sweep, cv or leaderboard.")],
    output: Annotated[Path | None, typer.Option(
        help="HTML file to write (default FOLDER/report.html).")] = None,
) -> None:
    """One self-contained HTML file: figures embedded, tables, the command and versions."""
    from critic.experiments.report import write_report

    print(f"Wrote {write_report(folder, output)}")


@app.command()
def serve(
    bundle: BundleArgument,
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback exposes "
                                      "the service to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    max_inputs: Annotated[int, typer.Option(help="Reviews per request (413 beyond).")] = 1_000,
    max_chars: Annotated[int, typer.Option(help="Characters per review (413 beyond).")
                         ] = 100_000,
    max_body_bytes: Annotated[int, typer.Option(help="Request body size (413 beyond).")
                              ] = 10_000_000,
    max_concurrent: Annotated[int, typer.Option(
        help="Requests in progress at once, per worker (503 with Retry-After beyond).")] = 64,
) -> None:
    """Serve a bundle over HTTP: POST /v1/predict, the web page at /, OpenAPI at /docs."""
    from critic.serve.app import Limits, run

    limits = Limits(max_inputs, max_chars, max_body_bytes, max_concurrent)
    if host not in ("127.0.0.1", "localhost", "::1"):
        _say(f"warning: serving on {host}, reachable from other machines")
    run(bundle, host=host, port=port, workers=workers, limits=limits)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _flag(parameter: str) -> str:
    return _FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def main() -> None:
    """Entry point: user errors become one line and exit code 2, an interrupt exit code 130."""
    try:
        code = app(standalone_mode=False)
    except CriticError as exc:
        hint = f" (see {_flag(exc.parameter)})" if exc.parameter else ""
        print(f"critic: error: {exc}{hint}", file=sys.stderr)  # one line, grep-able
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except typer.Exit as exc:
        code = exc.exit_code
    except TyperException as exc:  # usage errors: the message and their exit code (2)
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    if code == 130:  # click turns Ctrl-C into exit code 130 without a word
        print("critic: interrupted", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
