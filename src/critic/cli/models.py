"""The commands of a model's life: ``train`` it, ``evaluate``, ``predict`` with, ``explain``
and ``serve`` it; and ``data info``, what the IMDB data holds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from critic._process import stdin_bytes
from critic.cli.shared import (
    BundleArgument,
    ClusterOption,
    DataOption,
    JsonOption,
    LabelColumnOption,
    OverwriteOption,
    TextColumnOption,
    emit,
    input_option,
    option,
    say,
)


def data_info(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Print the data source, its checksum, reviews per split and label, and the caches."""
    from critic.console import show_data_info
    from critic.datasets.imdb import describe

    info = describe(data)
    emit(as_json, info, lambda: show_data_info(info))


def train(
    output: Annotated[Path, option("Bundle folder to write.")] = Path("model"),
    data: DataOption = None,
    input_file: Annotated[str | None, input_option(
        "Your labelled reviews: a file, folder or glob of CSV, JSON lines or Parquet (local, "
        "or s3://… and other pyarrow filesystems), or pos/ and neg/ folders.")] = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = "label",
    memory_budget: Annotated[str | None, option(
        "Memory to train in, e.g. 2.5G (default: a quarter of this machine's); a model that "
        "needs more trains from a stream.")] = None,
    mode: Annotated[str | None, option(
        "memory or stream: train so, whatever the budget says (default: the budget decides; "
        "--cluster trains on the cluster).")] = None,
    model: str = "dense",  # its option is made with the recipes' names (_generated_commands)
    unlabelled: Annotated[str | None, option(
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
                              callbacks=[EpochReporter()], progress=say, cluster=ray,
                              unlabelled=unlabelled_texts(unlabelled, text_column=text_column))
    summary = {key: value for key, value in result.metrics.items() if key != "history"}
    emit(as_json, summary | {"bundle": str(result.path), "mode": result.mode.value},
         lambda: show_training(summary))
    say(f"Wrote the bundle {result.path}/")


def evaluate(
    bundle: BundleArgument,
    data: DataOption = None,
    input_file: Annotated[str | None, input_option(
        "Labelled reviews to evaluate on instead of the IMDB test set, read as they are "
        "scored: a file, folder or glob of .csv, .jsonl or .parquet, local or s3://… .")
    ] = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = "label",
    threshold: Annotated[float | None, option("Cut to evaluate at (default: the bundle's)")] = None,
    find_threshold: Annotated[str | None, option(
        "accuracy or f1: store in the bundle the cut that maximises it on its held-out IMDB "
        "reviews or on --validation-input.")] = None,
    validation_input: Annotated[str | None, option(
        "Validation reviews for --find-threshold: a file, folder or glob, as --input.")
                                ] = None,
    figure: Annotated[Path, option("The reliability figure (PNG).")] = Path("reliability.png"),
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
        say(f"threshold {cut:.4f} maximises validation {find_threshold}; stored in {bundle}")
    emit(as_json, report | {"reliability_figure": str(figure)},
         lambda: show_evaluation(report, figure))


def predict(
    bundle: BundleArgument,
    texts: Annotated[list[str] | None, typer.Argument(help="Reviews to score; '-' reads stdin "
                     "(one review a line, or JSON lines).")] = None,
    input_file: Annotated[str | None, input_option(
        "Reviews to score, read as they are scored: a file, folder or glob of .txt (one a "
        "line), .csv, .jsonl or .parquet, local or s3://… .")] = None,
    output: Annotated[Path | None, option("Write results here, atomically (default stdout): "
                                         ".parquet, or TSV / JSON lines.")] = None,
    text_column: TextColumnOption = "text",
    id_column: Annotated[str | None, option("Column of review ids (default: 'id' if any)")] = None,
    batch_size: Annotated[int, option("Reviews scored per batch.")] = 8_192,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of TSV.")] = False,
    cluster: Annotated[str | None, option(
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

        written, seconds = predict_job(cluster, bundle, input_file, output, texts=texts,
                                       text_column=text_column, id_column=id_column,
                                       batch_size=batch_size)
        emit(as_json, {"output": str(output), "reviews": written, "seconds": seconds},
             lambda: None)  # people read the line below
        say(f"wrote {written:,} predictions to {output}/ on the cluster in {seconds:.1f} s")
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
        say(f"wrote {written:,} predictions to {output}")


def explain(
    bundle: BundleArgument,
    text: Annotated[str, typer.Argument(help="One review.")],
    top: Annotated[int, option("How many words to list.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The words that pushed the decision, each with its exact effect on the logit."""
    from critic.console import show_explanation
    from critic.errors import check_positive
    from critic.predict import load

    check_positive("top", top)
    explanation = load(bundle).explain(text)
    emit(as_json, explanation.to_dict(), lambda: show_explanation(explanation, top))


def compress(
    bundle: BundleArgument,
    output: Annotated[Path, option("Bundle folder to write the smaller bundle to.")],
    keep_ngrams: Annotated[str, option(
        "N-grams to keep, those of largest |weight|: a count (250000), or a fraction below "
        "1 (0.25). The words are all kept.")] = "0.25",
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
) -> None:
    """A smaller nblr bundle: its words and only the n-grams that move a score most."""
    from critic._atomic import claim_output, refuse_overlap
    from critic.compress import compress_bundle, parse_keep

    keep = parse_keep(keep_ngrams)
    refuse_overlap(output, bundle=bundle)
    claim_output(output, overwrite=overwrite)
    result = compress_bundle(bundle, output, keep=keep, overwrite=overwrite)
    emit(as_json, result.to_dict(), lambda: None)
    say(f"Wrote {result.path}/: {result.ngrams_kept:,} of {result.ngrams:,} n-grams, "
        f"{result.bytes_after / 1e6:.1f} MB (was {result.bytes_before / 1e6:.1f} MB)")


def serve(
    bundle: BundleArgument,
    host: Annotated[str, option("Address to bind; anything but loopback exposes the service "
                               "to the network.")] = "127.0.0.1",
    port: Annotated[int, option("TCP port.")] = 8000,
    workers: Annotated[int, option("Worker processes (at most one per core).")] = 1,
    **limits: int,
) -> None:
    """Serve a bundle over HTTP: POST /v1/predict, the web page at /, OpenAPI at /docs; the
    options after --workers are the limits of one request (critic.serve.limits)."""
    from critic.serve.limits import Limits
    from critic.serve.server import run

    run(bundle, host=host, port=port, workers=workers, limits=Limits(**limits))
