"""``critic predict --cluster``: a Ray Data job that scores the input into a folder of parts.

The input is cut into parts (runs of Parquet row groups, or whole files of other kinds), each
read, scored and written as its own Parquet part by a pool of actors that load the bundle once;
the parts are named by their place in the input (Ray's own ordering of blocks was seen to mix
them), in a temporary folder renamed onto the output, with a ``_SUCCESS`` marker, only when
every part is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from critic.cluster.connect import cluster_error, quiet
from critic.errors import DataError, OutputError

#: The marker written last into a complete prediction folder (Spark's and Hadoop's name).
SUCCESS = "_SUCCESS"


class _PartScorer:
    """A Ray Data actor: the bundle loaded once, then one part of the input after another,
    each read with critic's own reader (its errors name the file and the row, as on one
    machine), scored, and written as its own Parquet file named by the part's place."""

    def __init__(self, bundle: str, folder: str, parts: list[Any], text_column: str,
                 id_column: str | None, with_ids: bool, batch_size: int) -> None:
        from critic.predict import load

        self.predictor = load(bundle)
        self.folder, self.parts = Path(folder), parts
        self.text_column, self.id_column = text_column, id_column
        self.with_ids, self.batch_size = with_ids, batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"index": batch["index"],
                "rows": [self._score(int(index)) for index in batch["index"]]}

    def _score(self, index: int) -> int:
        """Score part ``index`` into its own file, written under a temporary name and
        renamed (:func:`write_stream`): a part retried after its worker died never leaves
        half a file."""
        import sys

        from critic.datasets.stream import ReviewStream
        from critic.prediction_files import score_stream, write_stream

        part = self.parts[index]
        stream = ReviewStream(part.path, text_column=self.text_column,
                              id_column=self.id_column, batch_reviews=self.batch_size)
        return write_stream(score_stream(self.predictor, stream.read_part(part)),
                            self.folder / f"part-{index:06d}.parquet", as_json=False,
                            stdout=sys.stdout, with_ids=self.with_ids)


def predict_job(address: str, bundle: str | os.PathLike[str], source: str | None,
                output: Path | None, *, texts: list[str] | None = None, text_column: str = "text",
                id_column: str | None = None, batch_size: int = 8_192) -> tuple[int, float]:
    """``critic predict --cluster``: connect to ``address``, score ``source`` into the folder
    ``output`` (:func:`predict_on_cluster`); how many were scored, and in how many seconds.
    ``texts`` (reviews given as arguments) are refused: a cluster scores files."""
    import time

    from critic.cluster.connect import connected

    if texts:
        raise DataError("--cluster scores --input, not reviews given as arguments",
                        parameter="cluster")
    if source is None or output is None:
        raise DataError("--cluster scores --input into the folder --output; give both",
                        parameter="cluster")
    started = time.perf_counter()
    with connected(address) as ray:
        written = predict_on_cluster(ray, bundle, source, output, text_column=text_column,
                                     id_column=id_column, batch_size=batch_size)
    return written, time.perf_counter() - started


def predict_on_cluster(ray: Any, bundle: str | os.PathLike[str], source: str,
                       output: Path, *, text_column: str = "text",
                       id_column: str | None = None, batch_size: int = 8_192) -> int:
    """Score every review of ``source`` on the connected cluster into the folder ``output``
    (``part-NNNNNN.parquet`` in the input's order, and ``_SUCCESS``); return how many were
    scored. The output appears only when every part is written."""
    from critic._atomic import staged_folder
    from critic.datasets.stream import ReviewStream
    from critic.predict import load

    load(bundle)  # a bad bundle is refused here, once, not by every actor
    stream = ReviewStream(source, text_column=text_column, id_column=id_column)
    stream.check_columns()
    with_ids = next(iter(stream)).ids is not None  # the columns one process would write
    parts = stream.parts()
    _claim_prediction_folder(output)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    with staged_folder(output, overwrite=True) as folder:
        try:
            quiet()  # again: Ray Data sets its loggers up when first used
            indices = [{"index": i} for i in range(len(parts))]
            done = ray.data.from_items(indices, override_num_blocks=len(parts)).map_batches(
                _PartScorer, fn_constructor_args=(
                    str(Path(bundle).absolute()), str(folder.absolute()), parts, text_column,
                    id_column, with_ids, batch_size),
                batch_size=1, compute=ray.data.ActorPoolStrategy(min_size=1,
                                                                 max_size=workers))
            written = sum(int(row["rows"]) for row in done.take_all())
        except Exception as exc:  # Ray wraps what the actors raised
            raise cluster_error(exc) from None
        (folder / SUCCESS).write_bytes(b"")
    return written


def _claim_prediction_folder(output: Path) -> None:
    """The output is a folder of parts; an existing one is replaced only if it is one that
    critic wrote (it holds ``_SUCCESS``), never another folder or a file."""
    from critic._atomic import claim_output

    if output.suffix.lower() in (".tsv", ".jsonl", ".json", ".csv"):
        raise OutputError(f"--output {output}: on a cluster predictions are written as a "
                          "folder of Parquet parts; name a folder", parameter="output")
    claim_output(output, overwrite=True, kind="folder")
    if output.exists() and not (output / SUCCESS).is_file():
        raise OutputError(f"{output} exists and is not a folder of predictions (no "
                          f"{SUCCESS}); refusing to replace it: choose another path",
                          parameter="output")
