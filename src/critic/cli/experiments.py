"""The commands of the book's experiments and the studies beyond it: ``reproduce`` the
chapter, ``sweep`` its variants, ``cv`` one of them, the ``leaderboard`` of models, ``pretrain``
word vectors, and a ``report`` of any of their folders."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from critic.cli.shared import (
    STARTED,
    BatchOption,
    ClusterOption,
    DataOption,
    EpochsOption,
    HeldOutOption,
    JsonOption,
    LabelColumnOption,
    NameOption,
    OverwriteOption,
    RunsOption,
    TextColumnOption,
    emit,
    input_option,
    option,
    say,
)


def reproduce(
    data: DataOption = None,
    name: NameOption = "book",
    runs: RunsOption = Path("runs"),
    overwrite: OverwriteOption = False,
    final_epochs: Annotated[str, option("Epochs of the final model: a number, or 'auto' for the "
                                       "lowest validation loss.")] = "4",
    validation_size: HeldOutOption = 10_000,
    as_json: JsonOption = False,
    **knobs: Any,
) -> None:
    """Run the book's IMDB experiment end to end and write runs/NAME/; the options after
    --json change the book's network."""
    from critic._startup import freeze_heap, in_child
    from critic.datasets.imdb import book_matrices
    from critic.experiments.config import ReproduceConfig, parse_final_epochs
    from critic.models.registry import options_for
    from critic.runs import check_run_name

    check_run_name(name)
    network = options_for("dense", **knobs).settings
    config = ReproduceConfig(
        validation_size=validation_size, epochs=network.epochs,
        final_epochs=parse_final_epochs(final_epochs), network=network.network,
        training=network.training)
    # The data loads in a child process while PyTorch is imported here (-0.4 s or more).
    with in_child(book_matrices, data, config.num_words) as book:
        from critic.console import EpochReporter, show_reproduction
        from critic.experiments.reproduce import reproduce as run

        freeze_heap()
        result = run(config, data=data, run_folder=runs / name, overwrite=overwrite,
                     callbacks=[EpochReporter()], book=book)
    emit(as_json, result.metrics | {"folder": str(result.folder)},
         lambda: show_reproduction(result, config.epochs))
    say(f"Wrote {result.folder}/ in {time.perf_counter() - STARTED:.1f} s")


def sweep(
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", help="KNOB=V1,V2,… (repeatable). Knobs: hidden_layers, units, activation, "
        "dropout, loss, learning_rate, optimizer. Default: the book's suggestions, "
        "hidden_layers=1,2,3 units=16,32,64 loss=bce,mse (bce only for --target rating) "
        "activation=relu,tanh.")] = None,
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="A TOML file with a [grid] table (and seeds, epochs, …).")] = None,
    seeds: Annotated[int, option("Seeds per configuration (0, 1, …).")] = 3,
    epochs: EpochsOption = 20,
    validation_size: HeldOutOption = 10_000,
    batch_size: BatchOption = 512,
    name: NameOption = "book",
    sweeps: Annotated[Path, option("Folder that holds sweep folders.")] = Path("sweeps"),
    workers: Annotated[int | None, option("Worker processes (default: one per core).")] = None,
    data: DataOption = None,
    input_file: Annotated[str | None, input_option(
        "Sweep your labelled reviews instead of IMDB's (any labels; a seeded random "
        "--validation-size held out; no test set): a file, folder or glob of CSV, JSON lines "
        "or Parquet.")] = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = "label",
    cluster: ClusterOption = None,
    as_json: JsonOption = False,
    target: str | None = None,  # its option is the train knob's (critic.cli.build)
) -> None:
    """Run the book's variants as a grid over several seeds, of IMDB's sentiment or ratings,
    or of your reviews; rank them by validation."""
    from critic.cluster.connect import connected_or_none
    from critic.cluster.pools import pool_factory
    from critic.console import progress_bar
    from critic.experiments.sweep import markdown_table, run_sweep, sweep_spec
    from critic.runs import check_run_name

    check_run_name(name)
    spec = sweep_spec(config_file=config_file, grid=grid, seeds=seeds, epochs=epochs,
                      validation_size=validation_size, batch_size=batch_size,
                      target=target or "sentiment", input_path=input_file,
                      text_column=text_column, label_column=label_column)
    with connected_or_none(cluster) as ray, progress_bar("runs", None, piped_lines=True) as bar:
        result = run_sweep(spec, sweeps / name, data=data, workers=workers, on_done=bar.update,
                           pool=pool_factory(ray))
    emit(as_json, {"folder": str(result.folder), "ran": result.ran, "rows": result.rows},
         lambda: print(markdown_table(result.rows), end=""))
    say(f"Wrote {result.folder}/ (results.md, results.csv, validation_curves.png, run.json); "
        f"{result.ran} runs computed now")


def cv(
    folds: Annotated[int, option("Number of folds (K).")] = 4,
    folds_by: Annotated[str, option("review (contiguous runs of load_data order, the book's) "
                                   "or movie (whole movies: no movie in two folds).")
                        ] = "review",
    name: NameOption = "cv",
    runs: RunsOption = Path("runs"),
    overwrite: OverwriteOption = False,
    data: DataOption = None,
    input_file: Annotated[str | None, input_option(
        "Cross-validate your labelled reviews instead of IMDB's (any labels; stratified "
        "folds): a file, folder or glob of CSV, JSON lines or Parquet.")] = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = "label",
    as_json: JsonOption = False,
    **knobs: Any,
) -> None:
    """K-fold cross-validation of one configuration of the book's network (the options after
    --json), of IMDB's sentiment or ratings, or of your reviews: per-fold and mean curves,
    chosen epoch."""
    from critic.console import EpochReporter, show_table
    from critic.datasets.stream import labelled_reviews
    from critic.experiments.crossval import TABLE_HEADER, run_cv, table_rows
    from critic.models.registry import options_for
    from critic.runs import check_run_name

    check_run_name(name)
    options = options_for("dense", **knobs)
    settings = options.settings
    reviews = None if input_file is None else labelled_reviews(
        input_file, text_column=text_column, label_column=label_column)
    result = run_cv(settings.network, settings.training, runs / name, folds=folds,
                    epochs=settings.epochs, data=data, by=folds_by, overwrite=overwrite,
                    callbacks=[EpochReporter()], target=options.target, reviews=reviews)
    emit(as_json, result.to_dict() | {"folder": str(runs / name)},
         lambda: show_table(TABLE_HEADER, table_rows(result.folds, result.mean)))
    say(f"Chosen epoch (lowest mean validation loss): {result.chosen_epoch}. Wrote "
        f"{runs / name}/ (run.json, cv.png)")


def leaderboard(
    data: DataOption = None,
    models: Annotated[str | None, option(
        "Models to compare, comma-separated (default: every one); nblr+sentences is nblr "
        "with --sentence-weight 0.1, nblr+unlabelled that with --unlabelled imdb, "
        "nblr+unit-length nblr with --unit-length; the ratings board has dense, "
        "tfidf-dense and nblr.")] = None,
    output: Annotated[Path, option("Folder for the tables and the bundles.")] = Path("leaderboard"),
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
    target: str | None = None,  # its option is the train knob's (critic.cli.build)
) -> None:
    """Train each model on IMDB; table of regime, validation and test accuracy, training
    time, prediction throughput and bundle size, beside published figures (--target rating:
    the eight ratings' accuracy and mean error, beside scikit-learn's tf-idf + logistic
    regression trained in the same run)."""
    from critic._startup import freeze_heap
    from critic.experiments.leaderboard import markdown_table, parse_models, run_leaderboard
    from critic.experiments.ratings import ratings_table

    freeze_heap()
    board = target or "sentiment"
    result = run_leaderboard(parse_models(models, board), output, data=data,
                             overwrite=overwrite, progress=say, target=board)
    table = markdown_table if board == "sentiment" else ratings_table
    emit(as_json, {"results": result.rows, "folder": str(result.folder)},
         lambda: print(table(result.rows), end=""))
    say(f"Wrote {result.folder}/ (results.md, results.csv, run.json, models/)")


def pretrain(
    output: Annotated[Path, option("Folder to write the vectors and run.json to.")
                      ] = Path("vectors"),
    data: DataOption = None,
    input_file: Annotated[str | None, input_option(
        "Learn from these reviews instead of IMDB's unlabelled and training ones: a file, "
        "folder or glob of text (one a line), CSV, JSON lines or Parquet.")] = None,
    text_column: TextColumnOption = "text",
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
    **settings: Any,
) -> None:
    """Learn word vectors from unlabelled reviews (gensim's Word2Vec over critic's tokens);
    the options after --json are its settings."""
    from critic.experiments.config import PretrainConfig
    from critic.experiments.pretrain import pretrain as run

    result = run(PretrainConfig(**settings), output, data=data, input_path=input_file,
                 text_column=text_column, overwrite=overwrite, progress=say)
    emit(as_json, result.metrics | {"folder": str(result.folder)},
         lambda: print("\n".join(f"{word}: {', '.join(near)}"
                                 for word, near in result.metrics["neighbours"].items())))
    say(f"Wrote {result.folder}/ ({result.metrics['words']:,} words from "
        f"{result.metrics['sentences']:,} sentences in {result.metrics['seconds']} s)")


def report(
    folder: Annotated[Path, typer.Argument(
        help="A folder written by reproduce, train, sweep, cv or leaderboard.")],
    output: Annotated[Path | None, option("HTML file (default FOLDER/report.html).")] = None,
) -> None:
    """One self-contained HTML file: figures embedded, tables, the command and versions."""
    from critic.experiments.report import write_report

    say(f"Wrote {write_report(folder, output)}")
