"""The ``critic`` command line: each command parses its options, calls one library function and
prints the result.

Results go to stdout, progress and logs to stderr (:mod:`critic.console`). Exit codes: 0 ok, 1
failure, 2 bad usage or bad input (every :class:`~critic.errors.CriticError`), 130 interrupted.
Library imports happen inside the commands, so ``critic --help`` and ``--version`` start fast.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.exceptions import TyperException

from critic import __version__
from critic._process import (
    ClosedStream,
    complain,
    interrupted,
    signals_as_interrupts,
    silence_stdout,
    stdin_bytes,
    warnings_as_lines,
)
from critic.errors import CriticError, DataError

if TYPE_CHECKING:
    from critic.fitting.options import Knob

_STARTED = time.perf_counter()

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,  # plain help: Rich is imported only to draw progress
                  help="critic: fast, lean sentiment classification of reviews.")
data_app = typer.Typer(no_args_is_help=True, help="The IMDB dataset: where it is, what it holds.")
app.add_typer(data_app, name="data")

#: Library parameters whose option is not simply ``--the-name`` (and is no model knob).
_FLAGS = {"validation": "--validation-input", "metric": "--find-threshold"}


def _help(text: str) -> Any:
    """An option described by ``text`` (the parameter's type and default say the rest)."""
    return typer.Option(help=text)


DataOption = Annotated[
    str | None, typer.Option("--data", help="IMDB archive or aclImdb/ folder "
                             "(default: $CRITIC_DATA, then the cache, then download).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
OverwriteOption = Annotated[bool, _help("Replace what is there, once the new output is done.")]
BundleArgument = Annotated[Path, typer.Argument(help="A bundle folder (critic train, or "
                                                  "runs/NAME/model from critic reproduce).")]
TextColumnOption = Annotated[str, _help("Column holding the review text.")]
EpochsOption = Annotated[int, _help("Epochs per run.")]
SeedOption = Annotated[int, _help("Seed for initialisation and shuffling.")]
NameOption = Annotated[str, _help("Folder name under the folder of runs.")]
RunsOption = Annotated[Path, _help("Folder that holds run folders.")]
BatchOption = Annotated[int, _help("Reviews per gradient step.")]
HeldOutOption = Annotated[int, _help("First N training reviews held out.")]
LabelColumnOption = Annotated[str, _help("Column holding the 0/1 or pos/neg label.")]
ClusterOption = Annotated[str | None, _help(
    "Run on a Ray cluster (pip install 'critic[ray]'): auto (RAY_ADDRESS, else the cluster "
    "started here by `ray start --head`), HOST:PORT, ray://HOST:10001, or local (start one "
    "for this command).")]



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
    from critic.console import show_data_info
    from critic.datasets.imdb import describe

    info = describe(data)
    _emit(as_json, info, lambda: show_data_info(info))


@app.command()
def reproduce(
    data: DataOption = None,
    name: NameOption = "book",
    runs: RunsOption = Path("runs"),
    overwrite: OverwriteOption = False,
    epochs: EpochsOption = 20,
    final_epochs: Annotated[str, _help("Epochs of the final model: a number, or 'auto' for the "
                                       "lowest validation loss.")] = "4",
    validation_size: HeldOutOption = 10_000,
    batch_size: BatchOption = 512,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Run the book's IMDB experiment end to end and write runs/NAME/."""
    from critic._startup import freeze_heap, in_child
    from critic.datasets.imdb import book_matrices
    from critic.experiments.config import ReproduceConfig, parse_final_epochs
    from critic.models.network.config import NetworkConfig, TrainConfig
    from critic.runs import check_run_name

    check_run_name(name)
    config = ReproduceConfig(
        validation_size=validation_size, epochs=epochs,
        final_epochs=parse_final_epochs(final_epochs), network=NetworkConfig(),
        training=TrainConfig(batch_size=batch_size, seed=seed))
    # The data loads in a child process while PyTorch is imported here (-0.4 s or more).
    with in_child(book_matrices, data, config.num_words) as book:
        from critic.console import EpochReporter, show_reproduction
        from critic.experiments.reproduce import reproduce as run

        freeze_heap()
        result = run(config, data=data, run_folder=runs / name, overwrite=overwrite,
                     callbacks=[EpochReporter()], book=book)
    _emit(as_json, result.metrics | {"folder": str(result.folder)},
          lambda: show_reproduction(result, config.epochs))
    _say(f"Wrote {result.folder}/ in {time.perf_counter() - _STARTED:.1f} s")


@app.command()
def train(
    output: Annotated[Path, _help("Bundle folder to write.")] = Path("model"),
    data: DataOption = None,
    input_file: Annotated[str | None, typer.Option("--input", help=(
        "Your labelled reviews: a file, folder or glob of CSV, JSON lines or Parquet (local, "
        "or s3://… and other pyarrow filesystems), or pos/ and neg/ folders."))] = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = "label",
    memory_budget: Annotated[str | None, _help(
        "Memory to train in, e.g. 2.5G (default: a quarter of this machine's); a model that "
        "needs more trains from a stream.")] = None,
    mode: Annotated[str | None, _help(
        "memory or stream: train so, whatever the budget says (default: the budget decides; "
        "--cluster trains on the cluster).")] = None,
    model: str = "dense",  # its option is made with the recipes' names (_generated_commands)
    unlabelled: Annotated[str | None, _help(
        "Learn from unlabelled reviews too (nblr self-trains): 'imdb' for the archive's "
        "50,000, or a file of reviews: CSV, JSON lines, Parquet or text, one a line (labels, "
        "if any, unused; ./imdb for a file of that name). In memory only.")] = None,
    overwrite: OverwriteOption = False,
    cluster: ClusterOption = None,
    as_json: JsonOption = False,
    **knobs: Any,
) -> None:
    """Train a model (the book's network by default) and write a bundle; the options after
    --json are the models' knobs."""
    from critic._atomic import claim_output, refuse_overlap
    from critic._startup import freeze_heap
    from critic._train import options_for, parse_memory, parse_mode, train_bundle
    from critic.cluster.connect import connected_or_none
    from critic.console import EpochReporter, show_training
    from critic.datasets.sources import labelled_source, unlabelled_texts
    from critic.datasets.stream import ReviewStream

    freeze_heap()
    # A flag left off (False) is a knob not given, as None is for the others.
    given = {name: value for name, value in knobs.items()
             if value is not None and value is not False}
    options = options_for(model, unlabelled=True if unlabelled else None, **given)
    chosen = parse_mode(mode) if mode is not None else None  # before a cluster is joined
    budget = parse_memory(memory_budget) if memory_budget is not None else None
    refuse_overlap(output, inputs=[input_file, data,
                                    None if unlabelled == "imdb" else unlabelled])
    claim_output(output, overwrite=overwrite)  # before reading or training anything
    source = labelled_source(input_file, text_column=text_column, label_column=label_column)
    stream = source if isinstance(source, ReviewStream) else None
    reviews = None if isinstance(source, ReviewStream) else source
    with connected_or_none(cluster) as ray:
        result = train_bundle(options, output, data=data, stream=stream, reviews=reviews,
                              memory_budget=budget, mode=chosen, overwrite=overwrite,
                              callbacks=[EpochReporter()], progress=_say, cluster=ray,
                              unlabelled=unlabelled_texts(unlabelled, text_column=text_column))
    summary = {key: value for key, value in result.metrics.items() if key != "history"}
    _emit(as_json, summary | {"bundle": str(result.path), "mode": result.mode.value},
          lambda: show_training(summary))
    _say(f"Wrote the bundle {result.path}/")


@app.command()
def evaluate(
    bundle: BundleArgument,
    data: DataOption = None,
    input_file: Annotated[str | None, typer.Option("--input", help="Labelled reviews to "
                          "evaluate on instead of the IMDB test set, read as they are scored: "
                          "a file, folder or glob of .csv, .jsonl or .parquet, local or "
                          "s3://… .")] = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = "label",
    threshold: Annotated[float | None, _help("Cut to evaluate at (default: the bundle's).")] = None,
    find_threshold: Annotated[str | None, _help(
        "accuracy or f1: store in the bundle the cut that maximises it on its held-out IMDB "
        "reviews or on --validation-input.")] = None,
    validation_input: Annotated[str | None, _help(
        "Validation reviews for --find-threshold: a file, folder or glob, as --input.")
                                ] = None,
    figure: Annotated[Path, _help("The reliability figure (PNG).")] = Path("reliability.png"),
    as_json: JsonOption = False,
) -> None:
    """Loss, accuracy, precision, recall, F1, ROC-AUC, confusion matrix and calibration."""
    from critic._atomic import claim_output, refuse_overlap, write_bytes
    from critic.console import show_evaluation
    from critic.datasets.sources import labelled_source
    from critic.datasets.stream import labelled_reviews
    from critic.evaluation import evaluate_bundle, reliability_figure

    claim_output(figure, overwrite=True, kind="file")
    refuse_overlap(figure, inputs=[input_file, validation_input, data], bundle=bundle,
                   parameter="figure")
    validation = (labelled_reviews(validation_input, text_column=text_column,
                                   label_column=label_column)
                  if validation_input is not None and find_threshold is not None else None)
    report, cut = evaluate_bundle(
        bundle, labelled_source(input_file, text_column=text_column, label_column=label_column),
        data=data, threshold=threshold, find_threshold=find_threshold, validation=validation,
        before_storing=lambda report: write_bytes(figure, reliability_figure(report)))
    if cut is not None:
        _say(f"threshold {cut:.4f} maximises validation {find_threshold}; stored in {bundle}")
    _emit(as_json, report | {"reliability_figure": str(figure)},
          lambda: show_evaluation(report, figure))


@app.command()
def predict(
    bundle: BundleArgument,
    texts: Annotated[list[str] | None, typer.Argument(help="Reviews to score; '-' reads stdin "
                     "(one review a line, or JSON lines).")] = None,
    input_file: Annotated[str | None, typer.Option("--input", help="Reviews to score, read as "
                          "they are scored: a file, folder or glob of .txt (one a line), "
                          ".csv, .jsonl or .parquet, local or s3://… .")] = None,
    output: Annotated[Path | None, _help("Write results here, atomically (default stdout): "
                                         ".parquet, or TSV / JSON lines.")] = None,
    text_column: TextColumnOption = "text",
    id_column: Annotated[str | None, _help("Column of review ids (default: 'id' if any)")] = None,
    batch_size: Annotated[int, _help("Reviews scored per batch.")] = 8_192,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of TSV.")] = False,
    cluster: Annotated[str | None, _help(
        "Score --input on a Ray cluster into the folder --output (Parquet parts and "
        "_SUCCESS): auto, HOST:PORT, ray://HOST:10001 or local; pip install 'critic[ray]'.")
    ] = None,
) -> None:
    """Label and probability per review: TSV (id, label, score, P(positive)), JSON lines or
    Parquet. Any number of reviews, in constant memory."""
    from critic._atomic import claim_output, refuse_overlap
    from critic.console import scoring_progress
    from critic.datasets.sources import review_batches
    from critic.datasets.stream import check_batch_size
    from critic.predict import load
    from critic.prediction_files import score_stream, write_stream

    check_batch_size("batch_size", batch_size)
    if output is not None:
        refuse_overlap(output, inputs=[input_file], bundle=bundle)
    if cluster is not None:
        from critic.cluster.predict import predict_job

        if texts:
            raise DataError("--cluster scores --input, not reviews given as arguments",
                            parameter="cluster")
        written, seconds = predict_job(cluster, bundle, input_file, output,
                                       text_column=text_column, id_column=id_column,
                                       batch_size=batch_size)
        if as_json:
            print(json.dumps({"output": str(output), "reviews": written, "seconds": seconds}))
        _say(f"wrote {written:,} predictions to {output}/ on the cluster in {seconds:.1f} s")
        return
    if output is not None:
        claim_output(output, overwrite=True, kind="file")
    model = load(bundle)
    batches, total = review_batches(texts, input_file, text_column=text_column,
                                    id_column=id_column, batch_size=batch_size,
                                    stdin=stdin_bytes() if texts == ["-"] else None)
    with scoring_progress(total) as scored:
        written = write_stream(score_stream(model, batches), output, as_json=as_json,
                               stdout=sys.stdout, on_batch=scored)
    if output is not None:
        _say(f"wrote {written:,} predictions to {output}")


@app.command()
def explain(
    bundle: BundleArgument,
    text: Annotated[str, typer.Argument(help="One review.")],
    top: Annotated[int, _help("How many words to list.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The words that pushed the decision, each with its exact effect on the logit."""
    from critic.console import show_explanation
    from critic.errors import check_positive
    from critic.predict import load

    check_positive("top", top)
    explanation = load(bundle).explain(text)
    _emit(as_json, explanation.to_dict(), lambda: show_explanation(explanation, top))


@app.command()
def sweep(
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", help="KNOB=V1,V2,… (repeatable). Knobs: hidden_layers, units, activation, "
        "dropout, loss, learning_rate, optimizer. Default: the book's suggestions, "
        "hidden_layers=1,2,3 units=16,32,64 loss=bce,mse activation=relu,tanh.")] = None,
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="A TOML file with a [grid] table (and seeds, epochs, …).")] = None,
    seeds: Annotated[int, _help("Seeds per configuration (0, 1, …).")] = 3,
    epochs: EpochsOption = 20,
    validation_size: HeldOutOption = 10_000,
    batch_size: BatchOption = 512,
    name: NameOption = "book",
    sweeps: Annotated[Path, _help("Folder that holds sweep folders.")] = Path("sweeps"),
    workers: Annotated[int | None, _help("Worker processes (default: one per core).")] = None,
    data: DataOption = None,
    cluster: ClusterOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the book's variants as a grid over several seeds; rank them by validation."""
    from critic.cluster.connect import connected_or_none
    from critic.cluster.pools import pool_factory
    from critic.console import progress_bar
    from critic.experiments.sweep import markdown_table, run_sweep, sweep_spec
    from critic.runs import check_run_name

    check_run_name(name)
    spec = sweep_spec(config_file=config_file, grid=grid, seeds=seeds, epochs=epochs,
                      validation_size=validation_size, batch_size=batch_size)
    with connected_or_none(cluster) as ray, progress_bar("runs", None, piped_lines=True) as bar:
        result = run_sweep(spec, sweeps / name, data=data, workers=workers, on_done=bar.update,
                           pool=pool_factory(ray))
    _emit(as_json, {"folder": str(result.folder), "ran": result.ran, "rows": result.rows},
          lambda: print(markdown_table(result.rows), end=""))
    _say(f"Wrote {result.folder}/ (results.md, results.csv, validation_curves.png, run.json); "
         f"{result.ran} runs computed now")


@app.command()
def cv(
    folds: Annotated[int, _help("Number of folds (K).")] = 4,
    folds_by: Annotated[str, _help("review (contiguous runs of load_data order, the book's) "
                                   "or movie (whole movies: no movie in two folds).")
                        ] = "review",
    layers: Annotated[int, _help("Hidden layers.")] = 2,
    units: Annotated[int, _help("Units per hidden layer.")] = 16,
    activation: Annotated[str, _help("relu or tanh.")] = "relu",
    loss: Annotated[str, _help("bce or mse.")] = "bce",
    epochs: EpochsOption = 20,
    seed: SeedOption = 0,
    name: NameOption = "cv",
    runs: RunsOption = Path("runs"),
    overwrite: OverwriteOption = False,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """K-fold cross-validation of one configuration: per-fold and mean curves, chosen epoch."""
    from critic.console import EpochReporter, show_table
    from critic.experiments.crossval import TABLE_HEADER, run_cv, table_rows
    from critic.models.network.config import NetworkConfig, TrainConfig
    from critic.runs import check_run_name

    check_run_name(name)
    network = NetworkConfig(hidden_layers=layers, units=units,
                            activation=activation)  # type: ignore[arg-type]  # checked there
    training = TrainConfig(loss=loss, seed=seed)  # type: ignore[arg-type]  # checked there
    result = run_cv(network, training, runs / name, folds=folds, epochs=epochs, data=data,
                    by=folds_by, overwrite=overwrite, callbacks=[EpochReporter()])
    _emit(as_json, result.to_dict() | {"folder": str(runs / name)},
          lambda: show_table(TABLE_HEADER, table_rows(result.folds, result.mean)))
    _say(f"Chosen epoch (lowest mean validation loss): {result.chosen_epoch}. Wrote "
         f"{runs / name}/ (run.json, cv.png)")


@app.command()
def leaderboard(
    data: DataOption = None,
    models: Annotated[str, _help(
        "Models to compare, comma-separated; nblr+sentences is nblr with --sentence-weight "
        "0.1, nblr+unlabelled that with --unlabelled imdb, nblr+unit-length nblr with "
        "--unit-length.")
    ] = "dense,tfidf-dense,nblr,nblr+sentences,nblr+unlabelled,nblr+unit-length",
    output: Annotated[Path, _help("Folder for the tables and the bundles.")] = Path("leaderboard"),
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train each model on IMDB; table of regime, validation and test accuracy, training
    time, prediction throughput and bundle size, beside published figures."""
    from critic._startup import freeze_heap
    from critic.experiments.leaderboard import markdown_table, parse_models, run_leaderboard

    freeze_heap()
    result = run_leaderboard(parse_models(models), output, data=data, overwrite=overwrite,
                             progress=_say)
    _emit(as_json, {"results": result.rows, "folder": str(result.folder)},
          lambda: print(markdown_table(result.rows), end=""))
    _say(f"Wrote {result.folder}/ (results.md, results.csv, run.json, models/)")


@app.command()
def pretrain(
    output: Annotated[Path, _help("Folder to write the vectors and run.json to.")
                      ] = Path("vectors"),
    data: DataOption = None,
    input_file: Annotated[str | None, typer.Option("--input", help=(
        "Learn from these reviews instead of IMDB's unlabelled and training ones: a file, "
        "folder or glob of text (one a line), CSV, JSON lines or Parquet."))] = None,
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
                 text_column=text_column, overwrite=overwrite, progress=_say)
    _emit(as_json, result.metrics | {"folder": str(result.folder)},
          lambda: print("\n".join(f"{word}: {', '.join(near)}"
                                  for word, near in result.metrics["neighbours"].items())))
    _say(f"Wrote {result.folder}/ ({result.metrics['words']:,} words from "
         f"{result.metrics['sentences']:,} sentences in {result.metrics['seconds']} s)")


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(
        help="A folder written by reproduce, train, sweep, cv or leaderboard.")],
    output: Annotated[Path | None, _help("HTML file (default FOLDER/report.html).")] = None,
) -> None:
    """One self-contained HTML file: figures embedded, tables, the command and versions."""
    from critic.experiments.report import write_report

    _say(f"Wrote {write_report(folder, output)}")


@app.command()
def serve(
    bundle: BundleArgument,
    host: Annotated[str, _help("Address to bind; anything but loopback exposes the service "
                               "to the network.")] = "127.0.0.1",
    port: Annotated[int, _help("TCP port.")] = 8000,
    workers: Annotated[int, _help("Worker processes (at most one per core).")] = 1,
    **limits: int,
) -> None:
    """Serve a bundle over HTTP: POST /v1/predict, the web page at /, OpenAPI at /docs; the
    options after --workers are the limits of one request (critic.serve.limits)."""
    from critic.serve.limits import Limits
    from critic.serve.server import run

    run(bundle, host=host, port=port, workers=workers, limits=Limits(**limits))


def _command(function: Callable[..., None], options: list[tuple[str, Any, Any, str, str]]
             ) -> None:
    """Register ``function`` as a command: its own parameters, then one option for each
    ``(name, type, default, flag, help)`` (one of its own of that name is replaced) — what a
    library dataclass or registry lists, so the command line never repeats it. Registered
    again for every command line (a family registered since shows its knobs too)."""
    import inspect

    made = {name: inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                    annotation=Annotated[kind, typer.Option(flag, help=text)])
            for name, kind, default, flag, text in options}
    own = [made.pop(p.name, p.replace(kind=p.KEYWORD_ONLY)) for p in inspect.signature(
        function, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
    command = functools.wraps(function)(lambda **values: function(**values))
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        own + list(made.values()))
    name = function.__name__
    place = next((i for i, c in enumerate(app.registered_commands) if c.name == name), None)
    app.registered_commands[:] = [c for c in app.registered_commands if c.name != name]
    app.command(name)(command)
    if place is not None:
        app.registered_commands.insert(place, app.registered_commands.pop())


def _generated_commands() -> None:
    """``train`` with every family's knobs, ``serve`` with every limit."""
    from critic.experiments.config import PretrainConfig
    from critic.models.registry import recipe_names
    from critic.serve.limits import Limits

    knobs = _knobs()
    choices = f"{', '.join(recipe_names())}; the options below default to its own settings."
    _command(train, [("model", str, "dense", "--model", choices)] + [
        (k.name, k.type if k.type is bool else k.type | None, False if k.type is bool else None,
         k.option, k.help) for k in knobs.values()])
    _command(serve, _field_options(Limits))
    _command(pretrain, _field_options(PretrainConfig))


def _field_options(settings: type) -> list[tuple[str, Any, Any, str, str]]:
    """An option for each field of the dataclass ``settings``, with its help."""
    from dataclasses import fields

    return [(f.name, type(f.default), f.default, "--" + f.name.replace("_", "-"),
             f.metadata["help"]) for f in fields(settings)]


def _knobs() -> dict[str, Knob]:
    """Every knob of ``critic train``: the shared ones, then each family's."""
    from critic.fitting.options import FEATURE_KNOBS, SPLIT_KNOBS
    from critic.models.registry import FAMILIES

    knobs = {k.name: k for k in (*FEATURE_KNOBS, *SPLIT_KNOBS)}
    for family in FAMILIES.values():
        for knob in family.knobs:
            knobs.setdefault(knob.name, knob)  # a knob two families share is listed once
    return knobs


def _flag(parameter: str) -> str:
    """The option that gives the library's ``parameter``."""
    knob = _knobs().get(parameter)
    return knob.option if knob else _FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def _emit(as_json: bool, data: Any, show: Callable[[], object]) -> None:
    """``data`` as JSON for machines, or ``show()`` for people."""
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        show()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(argv: list[str]) -> int:
    """Run one command line; return its exit code: user errors become one line on stderr and
    code 2, a failing system (a full disk, a closed stdout) code 1, an interrupt 130 (or 128 +
    the signal that stopped it) — what :func:`main` exits with; tests call this in-process."""
    if sys.stdout is None:  # started with stdout closed (`>&-`)
        sys.stdout = ClosedStream("standard output")
    _generated_commands()
    try:
        with warnings_as_lines(), signals_as_interrupts(argv):
            code = app(argv, prog_name="critic", standalone_mode=False)
        sys.stdout.flush()  # a full disk shows here, while it can still be reported
    except CriticError as exc:
        hint = f" (see {_flag(exc.parameter)})" if exc.parameter else ""
        complain(f"critic: error: {exc}{hint}")  # one line, grep-able
        return 2
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except TyperException as exc:  # usage errors: the message and their exit code (2)
        exc.show()  # type: ignore[attr-defined]
        return int(exc.exit_code)
    except BrokenPipeError:  # the reader went away (`critic predict … | head`)
        silence_stdout()
        return 141
    except OSError as exc:
        silence_stdout()
        where = f" ({exc.filename})" if exc.filename else ""
        complain(f"critic: error: {exc.strerror or exc}{where}")
        return 1
    return interrupted() if code == 130 else code if isinstance(code, int) else 0


def main() -> None:
    """The ``critic`` entry point."""
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
