"""Reviews as a stream of record batches: any number of them in bounded memory.

A source is a file, a folder, or a glob of Parquet, CSV/TSV, JSON lines or plain-text files
(one review a line), local or on any filesystem pyarrow knows (``s3://…``, ``gs://…``, where
the user has installed it). Files are read one after the other in sorted order, in record
batches (Parquet page by page, CSV and JSON lines through ``pyarrow.dataset``), so memory
does not grow with the number of reviews.

Every batch knows the file it came from and the row its first review sits in, so bad input
met after hours (a broken CSV row, bytes that are not UTF-8, a file of a folder without the
text column) is a :class:`~critic.errors.DataError` naming the file and the row.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from critic._reading import require_file_or_folder
from critic.datasets.files import (
    NEGATIVE_LABELS,
    POSITIVE_LABELS,
    Reviews,
    check_last_row,
    check_nesting,
    check_text_column,
    csv_convert_options,
    csv_parse_options,
    id_strings,
    is_compressed,
    json_error,
    kind_of_name,
    known_suffixes,
    parse_labels,
    plain_strings,
    require_columns,
)
from critic.errors import ConfigError, CriticWarning, DataError
from critic.text import TextColumn, arrow_strings

#: Reviews per record batch: large enough that per-batch costs vanish, small enough that a
#: batch of long reviews stays a few tens of MB.
BATCH_REVIEWS = 8_192
#: The most reviews one batch may hold: a batch is held in memory (and Arrow counts in int32).
MAX_BATCH_REVIEWS = 1_000_000
_CSV_BLOCK = 16 << 20  # a CSV row must fit in one block: 16 MB holds any review a person wrote
_GLOB = re.compile(r"[*?\[]")
#: What a compressed review file is taken to grow to when read, for memory estimates only
#: (gzip shrinks English review text about 3 times; more is the safe side).
_COMPRESSION_RATIO = 4


@dataclass(frozen=True)
class Batch:
    """Consecutive reviews of one file.

    Attributes:
        texts: the review texts (valid UTF-8, no nulls), held in Arrow.
        labels: 0/1 per review, when the stream reads labels.
        ids: the id column as strings, when there is one.
        source: the file the reviews come from.
        first_row: 1-based row (data row, header not counted) of ``texts[0]`` in ``source``.
        position: 0-based index of ``texts[0]`` in the whole stream.
    """

    texts: TextColumn
    labels: np.ndarray | None
    ids: list[str | None] | None
    source: str
    first_row: int
    position: int

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Part:
    """A piece of a stream that can be read on its own (:meth:`ReviewStream.parts`): a run
    of ``row_groups`` row groups of a Parquet file from ``first_group`` (``None``: the whole
    file), whose first review is row ``first_row`` (0-based) of the file."""

    path: str
    first_group: int
    row_groups: int | None
    first_row: int


class ReviewStream:
    """The reviews of ``source`` (a file, folder or glob), batch by batch; iterate it as often
    as needed (each pass reads the files again).

    Args:
        source: a path, a glob (``reviews/*.parquet``) or a URI (``s3://bucket/reviews/``).
        text_column, label_column, id_column: column names; ``id_column`` defaults to ``id``
            when a file has one. Plain-text files have no labels and no ids.
        require_labels: refuse sources without labels (training, evaluation).
        batch_reviews: reviews per batch.

    Example:
        >>> stream = ReviewStream("reviews/*.parquet", label_column="label")  # doctest: +SKIP
        >>> sum(len(batch) for batch in stream)  # doctest: +SKIP
        2000000
    """

    def __init__(self, source: str | os.PathLike[str], *, text_column: str = "text",
                 label_column: str | None = None, id_column: str | None = None,
                 require_labels: bool = False, batch_reviews: int = BATCH_REVIEWS) -> None:
        if require_labels and label_column is None:
            raise DataError(f"{source}: name the label column", parameter="label_column")
        check_batch_size("batch_reviews", batch_reviews)
        self.source = str(source)
        self.text_column, self.label_column, self.id_column = text_column, label_column, id_column
        self.batch_reviews = batch_reviews
        # Labels as written, never read as critic's 0/1 words: set when some files or
        # batches hold other labels (stars, neutral), so that all are read alike.
        self.raw_labels = False
        self.filesystem, self.files = _resolve(self.source)
        self._footers: dict[str, Any] = {}
        self._columns_checked = False  # the files' columns do not change between passes
        if require_labels and any(_kind(f) == "txt" for f in self.files):
            raise DataError(f"{self.source}: plain text (one review a line) has no labels; "
                            "use CSV, JSON lines or Parquet")

    def __iter__(self) -> Iterator[Batch]:
        position = 0
        for path in self.files:
            for batch in self._file_batches(path, position):
                position += len(batch)
                yield batch
        if position == 0:
            raise DataError(f"{self.source} is empty: no reviews to read")

    @property
    def data_bytes(self) -> int:
        """The data's size once read: the files' sizes, Parquet's uncompressed (what a
        memory estimate starts from)."""
        total = 0
        for path, info in zip(self.files, self.filesystem.get_file_info(self.files),
                              strict=True):
            size = self._parquet_bytes(path) if _kind(path) == "parquet" else info.size or 0
            total += size * _COMPRESSION_RATIO if is_compressed(path) else size
        return total

    def _parquet_bytes(self, path: str) -> int:
        metadata = self._parquet_metadata(path)
        return sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))

    def _parquet_metadata(self, path: str) -> Any:
        """A Parquet file's footer, read once (sizes and counts both come from it)."""
        import pyarrow.parquet as parquet

        if path not in self._footers:
            try:
                with self.filesystem.open_input_file(path) as handle:
                    self._footers[path] = parquet.ParquetFile(handle).metadata
            except (pa.ArrowInvalid, OSError) as exc:
                raise DataError(f"{path} cannot be read as parquet ({exc})") from exc
        return self._footers[path]

    def count(self) -> int | None:
        """How many reviews the stream holds, when the files say so without being read
        (Parquet footers); ``None`` otherwise."""
        if any(_kind(path) != "parquet" for path in self.files):
            return None
        return sum(self._parquet_metadata(path).num_rows for path in self.files)

    def check_columns(self) -> None:
        """Refuse, before any review is read, a Parquet or CSV file without a column this
        stream reads: the tenth file of a folder fails when the work starts, not hours into
        it. Cheap: Parquet's footer, CSV's header line. (JSON lines name their fields row
        by row, so they are checked as they are read.) Once a stream: the command line and
        the library each ask, and files are not read twice for it."""
        if self._columns_checked:
            return
        for path in self.files:
            kind = file_kind(path)
            if kind == "parquet":
                names = self._parquet_metadata(path).schema.to_arrow_schema().names
            elif kind in ("csv", "tsv"):
                names = self._header(path, kind)
            else:
                continue
            if names is not None:
                self._columns(path, names)
        self._columns_checked = True

    def _header(self, path: str, kind: str) -> list[str] | None:
        """A CSV file's column names, from its first line (what Arrow's reader takes);
        ``None`` when that line is longer than a block, which the reader refuses itself."""
        import csv

        try:
            with self.filesystem.open_input_stream(path) as raw:
                head = raw.read(_CSV_BLOCK)
        except OSError as exc:
            raise DataError(f"{path} cannot be read ({exc})") from exc
        line, newline, _ = head.partition(b"\n")
        if not head or (not newline and len(head) == _CSV_BLOCK):
            return None
        try:
            text = line.decode("utf-8-sig").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise _read_error(exc, path, kind, 0) from exc
        return next(csv.reader([text], delimiter="\t" if kind == "tsv" else ","), [])

    def parts(self, rows: int = 65_536) -> list[Part]:
        """The stream cut into parts that can be read apart (on other machines), in order:
        runs of a Parquet file's row groups of at least ``rows`` reviews, or a whole file of
        another kind."""
        parts = []
        for path in self.files:
            if _kind(path) != "parquet":
                parts.append(Part(path, 0, None, 0))
                continue
            metadata = self._parquet_metadata(path)
            start = first_row = count = 0
            for group in range(metadata.num_row_groups):
                count += metadata.row_group(group).num_rows
                if count >= rows or group == metadata.num_row_groups - 1:
                    parts.append(Part(path, start, group + 1 - start, first_row))
                    start, first_row, count = group + 1, first_row + count, 0
        return parts

    def read_part(self, part: Part) -> Iterator[Batch]:
        """The reviews of one of :meth:`parts`, batch by batch; positions count from the
        part's first row in its file."""
        return self._file_batches(part.path, part.first_row, part)

    def _file_batches(self, path: str, position: int, part: Part | None = None
                      ) -> Iterator[Batch]:
        kind = file_kind(path)
        rows = part.first_row if part is not None else 0  # rows of the file before the part
        position -= rows
        try:
            if kind == "jsonl":
                _check_json_nesting(self.filesystem, path)  # before Arrow's parser sees it
            batches = (_text_lines(self.filesystem, path, self.batch_reviews, self.text_column)
                       if kind == "txt"
                       else self._table_batches(path, kind, part))
            pending: tuple[pa.RecordBatch, str | None] | None = None
            for record, id_column in batches:
                if not record.num_rows:
                    continue
                if pending is not None:  # one behind: the last batch is checked first
                    yield self._batch(*pending, path, rows + 1, position + rows)
                    rows += pending[0].num_rows
                pending = record, id_column
            if pending is not None:
                if kind in ("csv", "tsv"):
                    last = pending[0].slice(pending[0].num_rows - 1)
                    check_last_row(last, path, kind, lambda: self._open_text(path),
                                   rows_before=rows + pending[0].num_rows - 1)
                yield self._batch(*pending, path, rows + 1, position + rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError,
                UnicodeDecodeError) as exc:
            if kind == "jsonl" and "JSON parse error" in str(exc):
                raise self._json_error(exc, path) from exc
            raise _read_error(exc, path, kind, rows) from exc

    def _open_text(self, path: str) -> Any:
        import io

        raw = self.filesystem.open_input_stream(path)  # decompressed by its suffix
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")

    def _json_error(self, exc: BaseException, path: str) -> DataError:
        """Arrow's JSON error, with the line it is about (Arrow counts within a block)."""
        message = (str(exc).splitlines() or [type(exc).__name__])[0]
        with self.filesystem.open_input_stream(path) as raw:
            return json_error(message, path, _binary_lines(raw))

    def _table_batches(self, path: str, kind: str, part: Part | None = None
                       ) -> Iterator[tuple[pa.RecordBatch, str | None]]:
        import pyarrow.dataset as ds

        if kind == "parquet":
            yield from self._parquet_batches(path, part)
            return
        dataset = ds.dataset(path, format=self._format(kind), filesystem=self.filesystem)
        id_column, columns = self._columns(path, dataset.schema.names)
        # Little read-ahead: Arrow's default (16 batches, 4 files) held ~700 MB of reviews.
        for record in dataset.to_batches(columns=columns, batch_size=self.batch_reviews,
                                         batch_readahead=1, fragment_readahead=1,
                                         use_threads=False):
            yield record, id_column

    def _parquet_batches(self, path: str, part: Part | None = None
                         ) -> Iterator[tuple[pa.RecordBatch, str | None]]:
        """Parquet through a buffered stream, a page at a time: 14 MB of Arrow memory for
        a 400,000-review file, against 390 MB through pyarrow.dataset's pre-buffering."""
        import pyarrow.parquet as parquet

        with self.filesystem.open_input_file(path) as handle:
            reader = parquet.ParquetFile(handle, pre_buffer=False, buffer_size=1 << 20)
            id_column, columns = self._columns(path, reader.schema_arrow.names)
            groups = (None if part is None or part.row_groups is None else
                      list(range(part.first_group, part.first_group + part.row_groups)))
            for record in reader.iter_batches(batch_size=self.batch_reviews, columns=columns,
                                              row_groups=groups, use_threads=False):
                yield record, id_column

    def _format(self, kind: str) -> Any:
        import pyarrow.csv as csv
        import pyarrow.dataset as ds

        if kind == "jsonl":
            return ds.JsonFileFormat()
        return ds.CsvFileFormat(
            parse_options=csv_parse_options(kind),
            read_options=csv.ReadOptions(block_size=_CSV_BLOCK),
            convert_options=csv_convert_options([self.text_column, self.id_column or "id"]))

    def _columns(self, path: str, names: list[str]) -> tuple[str | None, list[str]]:
        """The id column (``id`` when there is one) and the columns to read, checked."""
        id_column = self.id_column or ("id" if "id" in names else None)
        require_columns(path, names, self.text_column, self.label_column, id_column)
        wanted = [self.text_column, self.label_column, id_column]
        return id_column, [name for name in dict.fromkeys(wanted) if name is not None]

    def _batch(self, record: pa.RecordBatch, id_column: str | None, path: str,
               first_row: int, position: int) -> Batch:
        texts = _checked_texts(record.column(self.text_column), path, first_row,
                               self.text_column)
        labels = None
        if self.label_column is not None:
            labels = _labels(record.column(self.label_column), path, first_row,
                             self.raw_labels)
        ids = id_strings(record.column(id_column)) if id_column is not None else None
        return Batch(TextColumn(texts), labels, ids, path, first_row, position)


def check_batch_size(name: str, value: object) -> None:
    """Refuse a batch size that is not a whole number from 1 to :data:`MAX_BATCH_REVIEWS`."""
    if isinstance(value, bool) or not isinstance(value, int) or not (
            0 < value <= MAX_BATCH_REVIEWS):
        raise ConfigError(f"`{name}` must be a whole number from 1 to "
                          f"{MAX_BATCH_REVIEWS:,} (a batch is held in memory). Received: "
                          f"{name}={value!r}", parameter=name)


def labelled_reviews(source: str, *, text_column: str = "text", label_column: str = "label"
                     ) -> Reviews:
    """Labelled reviews read whole from a file, a pos/ + neg/ folder, or, like ``--input``,
    a folder or glob of files (read as a stream and gathered)."""
    from critic.datasets.files import read_labelled

    path = Path(source)
    if "://" not in source and (path.is_file() or (path / "pos").is_dir()
                                or (path / "neg").is_dir()):
        reviews = read_labelled(path, text_column=text_column, label_column=label_column)
        assert reviews is not None  # a path was given
        return reviews
    stream = ReviewStream(source, text_column=text_column, label_column=label_column,
                          require_labels=True)
    stream.check_columns()
    from critic.datasets.labels import encode_labels, is_coded

    texts, labels = [], []
    for batch in stream:
        texts.append(batch.texts.arrow)
        labels.append(batch.labels if batch.labels is not None else np.zeros(0, np.uint8))
    if len({is_coded(part) for part in labels}) > 1 and any(p.dtype == object for p in labels):
        stream.raw_labels = True  # 0/1 words in some batches, other labels in others
        labels = [batch.labels for batch in stream if batch.labels is not None]
    encoded, classes = encode_labels(labels, source)
    return Reviews(TextColumn(pa.chunked_array(texts)), encoded, None,
                   stream.source, classes)


def _resolve(source: str) -> tuple[Any, list[str]]:
    """The filesystem and the sorted data files that ``source`` names. Files of a folder or
    glob that are not review files are skipped with a :class:`CriticWarning` naming them."""
    from pyarrow import fs

    try:
        filesystem, path = fs.FileSystem.from_uri(source) if "://" in source else (
            fs.LocalFileSystem(), str(Path(source).absolute()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise DataError(f"{source}: cannot open this location ({exc})") from exc
    local = "://" not in source
    glob = _GLOB.search(path)
    if local and not glob and os.path.exists(path):
        require_file_or_folder(Path(path))  # a FIFO or a device would hang or never end
    if glob:
        base = path[: glob.start()].rpartition("/")[0] or "/"
        candidates = (_local_listing(base, source) if local
                      else _listing(filesystem, base, source))
        files = [f for f in candidates if fnmatch.fnmatchcase(f, path)]
    else:
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.NotFound:
            raise DataError(f"{source} does not exist")
        if info.type == fs.FileType.Directory:
            files = (_local_listing(path, source) if local
                     else _listing(filesystem, path, source))
        elif info.type == fs.FileType.File:
            file_kind(path)
            return filesystem, [path]
        else:
            raise DataError(f"{source} is not a regular file or folder")
    skipped = sorted(f for f in files if _kind(f) is None)
    files = sorted(f for f in files if _kind(f) is not None)
    if not files:
        raise DataError(f"{source} holds no review files ({known_suffixes()})")
    if skipped:
        _warn_skipped(source, skipped, "not review files by their names; critic reads "
                      + known_suffixes())
    return filesystem, files


def _warn_skipped(source: str, paths: list[str], why: str, what: str = "file") -> None:
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5:,} more" if len(paths) > 5 else "")
    warnings.warn(f"{source}: skipped {len(paths):,} {what}{'s' if len(paths) != 1 else ''} "
                  f"({shown}): {why}", CriticWarning, stacklevel=4)


def _hidden(name: str) -> bool:
    # Hidden files and folders (.part files of a write in progress, _SUCCESS markers) are
    # not data, as Spark and pyarrow.dataset treat them.
    return name.startswith((".", "_"))


def _listing(filesystem: Any, base: str, source: str) -> list[str]:
    from pyarrow import fs

    try:
        infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True))
    except (FileNotFoundError, pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{source}: cannot list {base} ({exc})") from exc
    return [info.path for info in infos if info.type == fs.FileType.File
            and not any(_hidden(part) for part in info.path[len(base):].split("/") if part)]


def _local_listing(base: str, source: str) -> list[str]:
    """The regular files under the local folder ``base``, each once: a linked folder is
    followed unless it leads back to a folder already listed or to one that holds ``base``
    (a loop: ``self -> .``), and a file reached by two paths is listed once, by the first path
    met (folders are walked in sorted order). The links not followed are named in a warning."""
    files: dict[tuple[int, int], str] = {}
    folders: set[tuple[int, int]] = set()
    loops: list[str] = []
    root = os.path.realpath(base)

    def walk(folder: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            raise DataError(f"{source}: cannot list {folder} ({exc.strerror})") from None
        for entry in entries:
            if _hidden(entry.name):
                continue
            try:
                if entry.is_dir():
                    found = entry.stat()
                    key = (found.st_dev, found.st_ino)
                    target = os.path.realpath(entry.path)
                    if key in folders or root == target or root.startswith(target + "/"):
                        loops.append(entry.path)
                        continue
                    folders.add(key)
                    walk(entry.path)
                elif entry.is_file():
                    found = entry.stat()
                    files.setdefault((found.st_dev, found.st_ino), entry.path)
            except OSError:  # a dangling link, a file gone since the listing
                continue

    top = os.stat(base)
    folders.add((top.st_dev, top.st_ino))
    walk(base)
    if loops:
        _warn_skipped(source, sorted(loops), "it leads to a folder already read (a loop, or "
                      "a second way to the same reviews); each file is read once", "link")
    return list(files.values())


def _kind(path: str) -> str | None:
    return kind_of_name(path.rpartition("/")[2])


def file_kind(path: str) -> str:
    kind = _kind(path)
    if kind is None:
        raise DataError(f"{path}: unknown file type; use one of {known_suffixes()}")
    return kind


def _text_lines(filesystem: Any, path: str, batch_reviews: int, text_column: str
                ) -> Iterator[tuple[pa.RecordBatch, None]]:
    """A plain-text file, one review a line, in batches (the line is the row)."""
    with filesystem.open_input_stream(path) as raw:
        lines: list[str] = []
        for number, line in enumerate(_binary_lines(raw), 1):
            try:
                lines.append(line.decode("utf-8").rstrip("\r\n"))
            except UnicodeDecodeError:
                raise DataError(f"{path} is not valid UTF-8 (line {number}); save it as "
                                "UTF-8") from None
            if len(lines) == batch_reviews:
                yield _lines_record(lines, text_column), None
                lines = []
        if lines:
            yield _lines_record(lines, text_column), None


def _lines_record(lines: list[str], text_column: str) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({text_column: pa.array(lines, pa.large_string())})


def _check_json_nesting(filesystem: Any, path: str) -> None:
    """Refuse a JSON line nested too deep for Arrow's parser, a chunk of whole lines at a
    time (see :func:`critic.datasets.files.check_nesting`)."""
    with filesystem.open_input_stream(path) as raw:
        rest, line = b"", 1
        while chunk := raw.read(16 << 20):
            complete, _, rest = (rest + chunk).rpartition(b"\n")
            check_nesting(complete, path, first_line=line)
            line += complete.count(b"\n") + 1 if complete else 0
        check_nesting(rest, path, first_line=line)


def _binary_lines(raw: Any) -> Iterator[bytes]:
    rest = b""
    while chunk := raw.read(1 << 20):
        *complete, rest = (rest + chunk).split(b"\n")
        yield from complete
    if rest:
        yield rest


def _checked_texts(column: pa.Array, path: str, first_row: int, name: str) -> pa.Array:
    column = plain_strings(column)
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        column = column.cast(pa.large_string())  # validated below, with the row named
    check_text_column(column, path, name, first_row=first_row)
    return column if column.type == pa.large_string() else column.cast(pa.large_string())


def _labels(column: pa.Array, path: str, first_row: int, raw: bool = False) -> np.ndarray:
    """0/1 labels, vectorised for the usual columns (integers, booleans, words); any other
    label set as written (:func:`critic.datasets.files.parse_labels`), as with ``raw``."""
    if raw:
        return parse_labels(column.to_pylist(), path, first_row=first_row, raw=True)
    if pa.types.is_boolean(column.type) and not column.null_count:
        return column.to_numpy(zero_copy_only=False).astype(np.uint8)
    if pa.types.is_integer(column.type) and not column.null_count:
        values = column.to_numpy()
        if np.isin(values, (0, 1)).all():
            return values.astype(np.uint8)
        return values.astype(np.int64)  # stars, ratings: numbers, kept as numbers
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        words = pc.utf8_lower(pc.utf8_trim_whitespace(column))
        positive = pc.is_in(words, pa.array(POSITIVE_LABELS))
        negative = pc.is_in(words, pa.array(NEGATIVE_LABELS))
        known = pc.or_(positive, negative).fill_null(False)
        if pc.all(known).as_py():
            return positive.to_numpy(zero_copy_only=False).astype(np.uint8)
    # The slow path: the same rules, and it names the first bad row.
    return parse_labels(column.to_pylist(), path, first_row=first_row)


def _read_error(exc: BaseException, path: str, kind: str, rows_before: int) -> DataError:
    """A reader's failure as one line naming the file and, where known, the row."""
    message = (str(exc).splitlines() or [type(exc).__name__])[0]
    if "CSV parse error" in message:
        message = message[message.index("CSV parse error"):]
    csv_row = re.search(r"Row #(\d+)", message)
    json_row = re.search(r"JSON parse error: .* in row (\d+)", message)
    if csv_row:  # Arrow counts the header as row 1
        where = f"row {int(csv_row.group(1)) - 1}"
    elif json_row:  # counted from 0
        where = f"row {int(json_row.group(1)) + 1}"
    else:
        where = f"after row {rows_before}" if rows_before else "at its start"
    if "utf8" in message.lower() or "utf-8" in message.lower():
        return DataError(f"{path}: {where}: not valid UTF-8 ({message}); save it as UTF-8")
    if "No match for FieldRef" in message:
        return DataError(f"{path} lacks a column the other files have ({message})")
    return DataError(f"{path}: {where}: cannot be read as {kind} ({message})")


def array_batches(texts: pa.Array, labels: np.ndarray | None, *, source: str,
                  ids: Sequence[str | None] | None = None, batch_reviews: int = BATCH_REVIEWS
                  ) -> Iterator[Batch]:
    """Reviews already in memory (IMDB's, or a command's arguments) as a stream of batches."""
    for start in range(0, len(texts), batch_reviews):
        stop = min(start + batch_reviews, len(texts))
        yield Batch(TextColumn(texts.slice(start, stop - start)),
                    None if labels is None else labels[start:stop],
                    None if ids is None else list(ids[start:stop]), source, start + 1, start)


def reviews_batches(reviews: Reviews, batch_reviews: int = BATCH_REVIEWS) -> Iterator[Batch]:
    """:class:`~critic.datasets.files.Reviews` read whole, as a stream of batches; labels
    learned from the data are given as written (their names), as a file's stream gives
    them."""
    texts = (reviews.texts.arrow if isinstance(reviews.texts, TextColumn)
             else arrow_strings(reviews.texts))
    labels = reviews.labels
    if labels is not None and reviews.classes is not None:
        numbers = all(isinstance(name, int | float) for name in reviews.classes)
        labels = np.asarray(reviews.classes, dtype=None if numbers else object)[labels]
    return array_batches(texts, labels, source=reviews.source, ids=reviews.ids,
                         batch_reviews=batch_reviews)


def _label_bytes(labels: np.ndarray) -> bytes:
    """Labels as bytes: their array's (critic's 0/1, class indices, numbers as written), or
    words as written, each in UTF-8 and a NUL."""
    if labels.dtype.kind in "OU":
        return b"".join(str(label).encode("utf-8") + b"\0" for label in labels.tolist())
    return labels.tobytes()


class ContentChecksum:
    """SHA-256 of the texts and labels trained on, whatever file, folder or stream held
    them: each text's UTF-8 and a NUL, then all labels as bytes (a stream's labels as it
    holds them: words as written, where critic's 0/1 or a file's class indices are not)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._labels: list[bytes] = []

    def add(self, texts: Iterable[str], labels: np.ndarray | None) -> None:
        for text in texts:  # one at a time: no copy of all the texts at once
            self._digest.update(text.encode("utf-8") + b"\0")
        self._labels.append(b"" if labels is None else _label_bytes(labels))

    def watch(self, stream: Iterable[Batch]) -> Iterator[Batch]:
        """``stream``'s batches, each added on its way through."""
        for batch in stream:
            self.add(batch.texts, batch.labels)
            yield batch

    def hexdigest(self) -> str:
        self._digest.update(b"".join(self._labels))
        return self._digest.hexdigest()
