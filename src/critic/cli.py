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


def _show_version(value: bool) -> None:
    if value:
        from critic import __version__

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
    from critic.experiments.prefetch import in_child

    _check_name(name)
    # The data loads in a child process while PyTorch is imported here (-0.4 s or more).
    book = in_child(_book_matrices, data, 10_000)

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
    print("Review 0, decoded:")
    print(f"  {result.decoded_review[:600]}{' …' if len(result.decoded_review) > 600 else ''}")
    print(f"Best validation loss at epoch {m['best_val_loss_epoch']}, best validation accuracy "
          f"{m['best_val_accuracy']:.4f} at epoch {m['best_val_accuracy_epoch']}; training "
          f"accuracy at epoch {config.epochs}: {m['train_accuracy_last_epoch']:.4f}")
    plural = "s" if result.final_epochs != 1 else ""
    print(f"Final model: {result.final_epochs} epoch{plural} on all 25,000 training reviews "
          f"({m['final_epochs_rule']})")
    print(f"Test loss {m['test_loss']:.4f}, test accuracy {m['test_accuracy']:.4f}")
    print(f"Wrote {result.folder}/ in {time.perf_counter() - _CLI_STARTED:.1f} s")


def _book_matrices(data: str | None, num_words: int) -> Any:
    from critic.datasets.imdb import book_matrices

    return book_matrices(data, num_words)


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


BundleArgument = Annotated[Path, typer.Argument(help="A bundle folder (critic train, or "
                                                  "runs/NAME/model from critic reproduce).")]
TextColumn = Annotated[str, typer.Option(help="Column holding the review text.")]
LabelColumn = Annotated[str, typer.Option(help="Column holding the 0/1 or pos/neg label.")]


@app.command()
def train(
    output: Annotated[Path, typer.Option(help="Bundle folder to write.")] = Path("model"),
    data: DataOption = None,
    input_file: Annotated[Path | None, typer.Option(
        "--input", help="Your labelled reviews: CSV, JSON lines, Parquet, or a folder with "
        "pos/ and neg/ (instead of IMDB).")] = None,
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
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
    overwrite: Annotated[bool, typer.Option(help="Replace an existing bundle.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Train a model (the book's network by default) and write a bundle."""
    from critic.datasets.files import read_reviews_file
    from critic.train import train_bundle

    _freeze_imports()
    options = _train_options(model, {
        "ngram_range": _parse_ngram_range(ngram_range), "max_ngrams": max_ngrams,
        "num_words": num_words}, {
        "hidden_layers": layers, "units": units, "activation": activation, "dropout": dropout},
        {"loss": loss, "optimizer": optimizer, "learning_rate": learning_rate,
         "batch_size": batch_size, "seed": seed},
        {"epochs": epochs, "patience": patience, "validation_size": (
            int(validation_size) if validation_size and validation_size >= 1
            else validation_size)})
    reviews = (read_reviews_file(input_file, text_column=text_column, label_column=label_column,
                                 require_labels=True) if input_file is not None else None)
    result = train_bundle(options, output, data=data, reviews=reviews, overwrite=overwrite,
                          callbacks=[EpochReporter()])
    summary = {key: value for key, value in result.metrics.items() if key != "history"}
    if as_json:
        print(json.dumps(summary | {"bundle": str(result.path)}, indent=2))
        return
    m = result.metrics
    if "chosen" in m:
        print(f"Chose C={m['chosen']['C']}, beta={m['chosen']['beta']} on validation "
              f"(accuracy {m['validation']['accuracy']:.4f}); refitted on all training reviews")
    else:
        print(f"Kept the weights of epoch {m['kept_epoch']} (lowest validation loss at epoch "
              f"{m['best_val_loss_epoch']}); validation accuracy "
              f"{m['validation']['accuracy']:.4f}")
    if "test" in m:
        print(f"IMDB test: loss {m['test']['loss']:.4f}, accuracy {m['test']['accuracy']:.4f}")
    print(f"Wrote the bundle {result.path}/")


def _train_options(model: str, features: dict[str, Any], network: dict[str, Any],
                   training: dict[str, Any], run: dict[str, Any]) -> Any:
    """The named model's options with every knob the user gave (``None``: not given)."""
    import dataclasses

    from critic.train import LINEAR_MODELS, recipe

    given = {name: {k: v for k, v in group.items() if v is not None}
             for name, group in (("features", features), ("network", network),
                                 ("training", training), ("run", run))}
    base = recipe(model)
    if model in LINEAR_MODELS:
        ignored = [*given["network"], *given["training"], *(
            k for k in given["run"] if k in ("epochs", "patience"))]
        if ignored:
            raise typer.BadParameter(
                f"{model} is a linear model; it has no {', '.join(sorted(ignored))}",
                param_hint="--model")
    return dataclasses.replace(
        base, features=dataclasses.replace(base.features, **given["features"]),
        network=dataclasses.replace(base.network, **given["network"]),
        training=dataclasses.replace(base.training, **given["training"]), **given["run"])


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
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
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
    from critic._atomic import atomic_path
    from critic.evaluation import evaluate_probabilities, reliability_figure
    from critic.predict import load

    model = load(bundle)
    if find_threshold is not None:
        model = _store_best_threshold(bundle, model, find_threshold, data, validation_input,
                                      text_column, label_column)
    texts, labels, source = _evaluation_data(data, input_file, text_column, label_column)
    cut = model.threshold if threshold is None else threshold
    from critic.bundle import check_threshold

    check_threshold(cut)
    report = evaluate_probabilities(labels, model.predict_proba(texts), threshold=cut)
    report["data"] = source
    with atomic_path(figure) as tmp:
        tmp.write_bytes(reliability_figure(report))
    if as_json:
        print(json.dumps(report | {"reliability_figure": str(figure)}, indent=2))
        return
    c = report["confusion_matrix"]
    print(f"{source}: {report['reviews']:,} reviews, threshold {cut:.3f}")
    for key in ("loss", "accuracy", "precision", "recall", "f1", "roc_auc"):
        print(f"{key:<10} {report[key]:.4f}")
    print(f"confusion  predicted neg / pos: actual neg {c['tn']:,} / {c['fp']:,}, "
          f"actual pos {c['fn']:,} / {c['tp']:,}")
    print(f"ECE        {report['calibration']['ece']:.4f} (reliability figure: {figure})")


def _evaluation_data(data: str | None, input_file: Path | None, text_column: str,
                     label_column: str) -> tuple[Any, Any, str]:
    if input_file is not None:
        from critic.datasets.files import read_reviews_file

        reviews = read_reviews_file(input_file, text_column=text_column,
                                    label_column=label_column, require_labels=True)
        return reviews.texts, reviews.labels, str(input_file)
    from critic.datasets.corpus import load_corpus

    test = load_corpus(data).subset("test")
    return test.texts, test.labels.astype("uint8"), "IMDB test split"


def _store_best_threshold(bundle: Path, model: Any, metric: str, data: str | None,
                          validation_input: Path | None, text_column: str,
                          label_column: str) -> Any:
    from critic.bundle import with_threshold
    from critic.evaluation import find_threshold as search
    from critic.predict import Predictor

    if metric not in ("accuracy", "f1"):
        raise typer.BadParameter("must be 'accuracy' or 'f1'", param_hint="--find-threshold")
    if validation_input is not None:
        texts, labels, _ = _evaluation_data(None, validation_input, text_column, label_column)
    else:
        validation = model.bundle.config["data"].get("validation", {})
        if model.bundle.config["data"].get("source") != "imdb" or "reviews" not in validation:
            raise typer.BadParameter("this bundle was not trained on IMDB; give its "
                                     "validation reviews", param_hint="--validation-input")
        if validation.get("trained_on_after_choice"):
            raise typer.BadParameter(
                f"this {model.bundle.model_name} model was refitted on its held-out reviews, "
                "so they cannot choose a threshold honestly; give other labelled reviews",
                param_hint="--validation-input")
        from critic.datasets.imdb import held_out_texts

        texts, labels = held_out_texts(data, int(validation["reviews"]))
    cut = search(labels, model.predict_proba(texts), metric)  # type: ignore[arg-type]
    err.print(f"threshold {cut:.4f} maximises validation {metric}; stored in {bundle}",
              markup=False)
    return Predictor(with_threshold(bundle, cut))


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
    text_column: TextColumn = "text",
    id_column: Annotated[str | None, typer.Option(
        help="Column with review ids (default: 'id' when present).")] = None,
    batch_size: Annotated[int, typer.Option(help="Reviews scored per batch.")] = 25_000,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of TSV.")] = False,
) -> None:
    """Label and probability per review: TSV (id, label, probability) or JSON lines."""
    from critic.models.config import check_positive
    from critic.predict import load

    check_positive("batch_size", batch_size)
    model = load(bundle)
    reviews = _prediction_input(texts, input_file, text_column, id_column)
    lines = _score(model, reviews, batch_size, as_json, show_progress=input_file is not None)
    if output is None:
        sys.stdout.write(lines)
        return
    from critic._atomic import write_text

    write_text(output, lines)  # atomic: an existing file is replaced only when complete
    err.print(f"wrote {len(reviews):,} predictions to {output}", markup=False)


def _prediction_input(texts: list[str] | None, input_file: Path | None, text_column: str,
                      id_column: str | None) -> Any:
    from critic.datasets.files import Reviews, read_reviews_file
    from critic.errors import DataError

    if input_file is not None and texts:
        raise typer.BadParameter("give reviews as arguments or --input, not both")
    if input_file is not None:
        return read_reviews_file(input_file, text_column=text_column, id_column=id_column)
    if not texts:
        raise typer.BadParameter("give reviews as arguments, '-' for stdin, or --input FILE")
    if texts == ["-"]:
        raw = sys.stdin.buffer.read()
        try:
            lines = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataError(f"stdin is not valid UTF-8 (byte {exc.start})") from exc
        if not lines:
            raise DataError("stdin is empty: no reviews to score")
        return _stdin_reviews(lines, text_column, id_column)
    return Reviews(list(texts), source="arguments")


def _stdin_reviews(lines: list[str], text_column: str, id_column: str | None) -> Any:
    from critic.datasets.files import Reviews
    from critic.errors import DataError

    if not lines[0].lstrip().startswith("{"):
        return Reviews(lines, source="stdin")
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"stdin line {number} is not JSON ({exc})") from exc
        if not isinstance(row, dict) or not isinstance(row.get(text_column), str):
            raise DataError(f"stdin line {number} has no string field {text_column!r}")
        rows.append(row)
    key = id_column or ("id" if all("id" in r for r in rows) else None)
    return Reviews([r[text_column] for r in rows],
                   ids=[str(r.get(key)) for r in rows] if key else None, source="stdin")


def _score(model: Any, reviews: Any, batch_size: int, as_json: bool,
           show_progress: bool) -> str:
    import numpy as np

    out: list[str] = []
    with Progress("scoring", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not (show_progress and err.is_terminal)
                  ) as bar:
        task = bar.add_task("scoring", total=len(reviews))
        for start in range(0, len(reviews), batch_size):
            chunk = reviews.texts[start:start + batch_size]
            probabilities, words = model.score(chunk)
            for i in np.nonzero(words == 0)[0]:
                err.print(f"warning: review {start + i + 1} has no words; it is scored from "
                          "the model's prior alone", markup=False)
            labels = model.label_names(probabilities >= model.threshold)
            ids = reviews.ids[start:start + batch_size] if reviews.ids else [None] * len(chunk)
            for review_id, label, p in zip(ids, labels, probabilities, strict=True):
                out.append(_result_line(review_id, label, float(p), as_json))
            bar.advance(task, len(chunk))
    return "".join(out)


def _result_line(review_id: str | None, label: str, probability: float, as_json: bool) -> str:
    if as_json:
        row = ({"id": review_id} if review_id is not None else {}) | {
            "label": label, "probability": round(probability, 6)}
        return json.dumps(row) + "\n"
    fields = ([review_id] if review_id is not None else []) + [label, f"{probability:.6f}"]
    return "\t".join(fields) + "\n"


@app.command()
def explain(
    bundle: BundleArgument,
    text: Annotated[str, typer.Argument(help="One review.")],
    top: Annotated[int, typer.Option(help="How many words to list.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The words that pushed the decision, each with its exact effect on the logit."""
    from critic.predict import load

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
        out.print(f"  [{colour}]{word.contribution:+.3f}[/{colour}]  {word.word}{note}")


def _highlighted(explanation: Any) -> Any:
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
    from critic.experiments.sweep import (
        SweepSpec,
        load_spec_toml,
        markdown_table,
        parse_grid,
        run_sweep,
    )
    from critic.models.config import check_positive

    _check_name(name)
    check_positive("seeds", seeds)
    if workers is not None:
        check_positive("workers", workers)
    if config_file is not None:
        spec = load_spec_toml(config_file)
    else:
        kwargs = {"grid": parse_grid(grid)} if grid else {}
        spec = SweepSpec(seeds=tuple(range(seeds)), epochs=epochs,
                         validation_size=validation_size, batch_size=batch_size, **kwargs)
    with Progress("sweep", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("runs", total=None)

        def done(finished: int, total: int) -> None:
            bar.update(task, completed=finished, total=total)
            if not err.is_terminal:
                print(f"run {finished}/{total} done", file=sys.stderr, flush=True)

        result = run_sweep(spec, sweeps / name, data=data, workers=workers, on_done=done)
    if as_json:
        print(json.dumps({"folder": str(result.folder), "ran": result.ran,
                          "rows": result.rows}, indent=2))
        return
    print(markdown_table(result.rows), end="")
    print(f"\nWrote {result.folder}/ (results.md, results.csv, validation_curves.png); "
          f"{result.ran} runs computed now")


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
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """K-fold cross-validation of one configuration: per-fold and mean curves, chosen epoch."""
    from critic.experiments.crossval import cross_validate, write_cv_folder
    from critic.models.config import NetworkConfig, TrainConfig

    _check_name(name)
    network = NetworkConfig(hidden_layers=layers, units=units,
                            activation=activation)  # type: ignore[arg-type]
    training = TrainConfig(loss=loss, seed=seed)  # type: ignore[arg-type]
    if (runs / name).exists() and not overwrite:
        from critic.errors import RunFolderError

        raise RunFolderError(f"{runs / name} exists already; choose another --name or pass "
                             "--overwrite")
    result = cross_validate(network, training, folds=folds, epochs=epochs, data=data,
                            callbacks=[EpochReporter()])
    folder = write_cv_folder(result, runs / name, network=network, training=training,
                             overwrite=overwrite)
    if as_json:
        print(json.dumps(result.to_dict() | {"folder": str(folder)}, indent=2))
        return
    print("| fold | best val accuracy | at epoch | lowest val loss | at epoch |")
    print("|---:|---:|---:|---:|---:|")
    for k, h in enumerate(result.folds, start=1):
        acc, vl = h["val_accuracy"], h["val_loss"]
        print(f"| {k} | {max(acc):.4f} | {acc.index(max(acc)) + 1} | {min(vl):.4f} | "
              f"{vl.index(min(vl)) + 1} |")
    m = result.mean
    print(f"| mean | {max(m['val_accuracy']):.4f} | {result.best_accuracy_epoch} | "
          f"{min(m['val_loss']):.4f} | {result.chosen_epoch} |")
    print(f"\nChosen epoch (lowest mean validation loss): {result.chosen_epoch}. "
          f"Wrote {folder}/ (cv.json, cv.png)")


@app.command()
def leaderboard(
    data: DataOption = None,
    models: Annotated[str, typer.Option(
        help="Comma-separated models to train and compare.")] = "dense,tfidf-dense,nblr",
    output: Annotated[Path, typer.Option(help="Folder for the tables and the bundles.")
                      ] = Path("leaderboard"),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Train each model on IMDB; table of regime, validation and test accuracy, training
    time, prediction throughput and bundle size, beside published figures."""
    from critic.experiments.leaderboard import markdown_table, parse_models, run_leaderboard

    _freeze_imports()
    result = run_leaderboard(parse_models(models), output, data=data, overwrite=overwrite,
                             progress=lambda message: err.print(message, markup=False))
    if as_json:
        print(json.dumps({"results": result.rows, "folder": str(result.folder)}, indent=2))
        return
    print(markdown_table(result.rows), end="")
    print(f"\nWrote {result.folder}/ (results.md, results.csv, results.json, models/)")


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(
        help="A runs/NAME, sweeps/NAME, cv or leaderboard folder.")],
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
    import dataclasses
    import os

    import uvicorn

    from critic.models.config import check_positive
    from critic.predict import load
    from critic.serve.app import Limits, create_app

    for name, value in (("port", port), ("workers", workers), ("max_inputs", max_inputs),
                        ("max_chars", max_chars), ("max_body_bytes", max_body_bytes),
                        ("max_concurrent", max_concurrent)):
        check_positive(name, value)
    limits = Limits(max_inputs, max_chars, max_body_bytes, max_concurrent)
    predictor = load(bundle)  # refuse to start on a missing or damaged bundle
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"warning: serving on {host}, reachable from other machines", markup=False)
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "info",
                               "timeout_graceful_shutdown": 30}
    if workers == 1:
        uvicorn.run(create_app(predictor, limits), **options)
        return
    os.environ["CRITIC_SERVE_BUNDLE"] = str(bundle.resolve())
    os.environ["CRITIC_SERVE_LIMITS"] = json.dumps(dataclasses.asdict(limits))
    uvicorn.run("critic.serve.app:app_from_environment", factory=True, workers=workers, **options)


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
