"""The user's own reviews: CSV, JSON lines, Parquet, plain text, or a folder of pos/ and neg/.

Files are read with pyarrow. Labels may be 0/1, true/false, pos/neg or positive/negative (any
case); anything else is refused with the row that holds it.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from critic._reading import read_regular, require_file_or_folder
from critic.errors import DataError
from critic.text import TextColumn

#: What a label may say, any case, surrounding spaces ignored.
POSITIVE_LABELS = ("1", "pos", "positive", "true")
NEGATIVE_LABELS = ("0", "neg", "negative", "false")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".txt": "txt"}
#: Compressed text files are read through Arrow's codecs, chosen by this last suffix
#: (``reviews.csv.gz``); Parquet compresses inside the file.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}


def kind_of_name(name: str) -> str | None:
    """The format a file's name says it holds (``csv``, ``jsonl``, …), a compression suffix
    after it allowed for text formats; ``None`` for any other name."""
    stem, suffix = os.path.splitext(name.lower())
    if suffix in COMPRESSIONS:
        stem, suffix = os.path.splitext(stem)
        kind = FORMATS.get(suffix)
        return kind if kind != "parquet" else None
    return FORMATS.get(suffix)


def known_suffixes() -> str:
    """The names a review file may end with, for messages."""
    return (", ".join(sorted(FORMATS)) + " (text formats also "
            + "/".join(sorted(COMPRESSIONS)) + "-compressed)")


def is_compressed(name: str) -> bool:
    return os.path.splitext(name.lower())[1] in COMPRESSIONS


@dataclass(frozen=True)
class Reviews:
    """Texts with optional labels and ids, from one file or folder.

    ``labels`` are class indices: 1 positive, 0 negative, unless ``classes`` names the labels
    (learned from the data: :func:`critic.datasets.labels.encode_labels`), ``labels[i]``
    being ``classes[labels[i]]``."""

    texts: Sequence[str]  # a list, or a TextColumn straight from an Arrow file
    labels: np.ndarray | None = None
    ids: Sequence[str | None] | None = None  # None: the row has no id
    source: str = ""
    classes: tuple[str | int | float, ...] | None = None

    def __len__(self) -> int:
        return len(self.texts)


def read_reviews_file(path: str | os.PathLike[str], *, text_column: str = "text",
                      label_column: str | None = None, id_column: str | None = None,
                      require_labels: bool = False) -> Reviews:
    """Read reviews from ``path``.

    Args:
        path: ``.csv``/``.tsv``, ``.jsonl`` (one JSON object a line), ``.parquet``, ``.txt`` (one
            review a line, no labels), or a folder with ``pos/`` and ``neg/`` text files.
        text_column, label_column, id_column: column names in tabular files. ``id_column``
            defaults to ``id`` when such a column exists.
        require_labels: refuse input without labels (training, evaluation).
    """
    source = Path(path)
    if not source.exists():
        raise DataError(f"{source} does not exist")
    require_file_or_folder(source)  # a FIFO or a device would hang or never end
    if source.is_dir():
        return _read_folder(source)
    kind = kind_of_name(source.name)
    if kind is None:
        raise DataError(f"{source}: unknown file type {source.suffix!r}; use one of "
                        f"{known_suffixes()} or a folder of pos/ and neg/")
    if kind == "txt":
        if require_labels:
            raise DataError(f"{source} is plain text (one review a line) and has no labels; "
                            "use CSV, JSON lines, Parquet or a pos/ + neg/ folder")
        return Reviews(_read_lines(source), source=str(source))
    raw: Path | pa.Buffer = source
    if is_compressed(source.name):
        raw = _decompressed(source)
    table = _read_table(raw, kind, str(source), id_column=id_column or "id",
                        text_column=text_column)
    return _from_table(table, source, text_column, label_column, id_column, require_labels)


def _decompressed(source: Path) -> pa.Buffer:
    try:
        with pa.input_stream(str(source), compression="detect") as stream:
            return stream.read_buffer()
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{source} cannot be decompressed ({exc})") from exc


def parse_labels(values: list[object], where: str, *, first_row: int = 1,
                 raw: bool = False) -> np.ndarray:
    """0/1 labels (``uint8``) from 0/1, booleans, or pos/neg/positive/negative strings; any
    other label set as written (:func:`critic.datasets.labels.raw_labels`: numbers kept
    numbers), as with ``raw``; a missing label is named by its row (``values[0]`` being row
    ``first_row``)."""
    from critic.datasets.labels import raw_labels

    out = np.empty(len(values), dtype=np.uint8)
    for row, value in enumerate(values if not raw else ()):
        coded = binary_label(value)
        if coded is None:
            return raw_labels(values, where, first_row=first_row)
        out[row] = coded
    return out if not raw else raw_labels(values, where, first_row=first_row)


def binary_label(value: object) -> int | None:
    """1 or 0 for one of critic's binary label words (1/0, pos/neg, positive/negative,
    true/false, in any case), ``None`` for any other label."""
    key = str(value).strip().lower() if value is not None else ""
    return 1 if key in POSITIVE_LABELS else 0 if key in NEGATIVE_LABELS else None


def read_labelled(path: str | os.PathLike[str] | None, *, text_column: str = "text",
                  label_column: str = "label") -> Reviews | None:
    """:func:`read_reviews_file` with labels required, or ``None`` when no ``path`` is given."""
    if path is None:
        return None
    return read_reviews_file(path, text_column=text_column, label_column=label_column,
                             require_labels=True)


def reviews_from_arguments(texts: Sequence[str] | None, path: str | os.PathLike[str] | None,
                           *, text_column: str = "text", id_column: str | None = None,
                           stdin: BinaryIO | None = None) -> Reviews:
    """The reviews a command names: ``texts`` themselves, ``["-"]`` for ``stdin``
    (:func:`read_reviews_bytes`), or a file at ``path`` (:func:`read_reviews_file`)."""
    if path is not None and texts:
        raise DataError("give reviews as arguments or in a file, not both", parameter="input")
    if path is not None:
        return read_reviews_file(path, text_column=text_column, id_column=id_column)
    if not texts:
        raise DataError("give reviews as arguments, '-' for stdin, or a file",
                        parameter="input")
    if list(texts) == ["-"] and stdin is not None:
        return read_reviews_bytes(stdin.read(), text_column=text_column, id_column=id_column)
    return Reviews(list(texts), source="arguments")


def read_reviews_bytes(raw: bytes, *, source: str = "stdin", text_column: str = "text",
                       id_column: str | None = None) -> Reviews:
    """Reviews from bytes (what ``-`` reads from stdin): JSON lines when the first line is an
    object, one review a line otherwise. Ids follow :func:`read_reviews_file`'s rules."""
    raw = raw.removeprefix(codecs.BOM_UTF8)  # Windows tools start UTF-8 with one
    stripped = raw.lstrip()
    if not stripped:
        raise DataError(f"{source} is empty: no reviews to read")
    if stripped.startswith(b"{"):
        return _from_table(_read_table(raw, "jsonl", source, id_column=id_column or "id",
                                       text_column=text_column), source,
                           text_column, None, id_column, False)
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{source} is not valid UTF-8 (line {line}); send UTF-8") from exc
    return Reviews(lines, source=source)


#: Arrow reads CSV and JSON in blocks and a row must fit in one: a file with a review longer
#: than its default block (1 MB) is read again with blocks this large. (Large blocks for every
#: file raised critic predict's peak RSS on the 25,000 test reviews from 445 to 492 MB.)
_LARGE_BLOCK_BYTES = 64 << 20


#: JSON deeper than this is refused before Arrow parses it: Arrow's parser recurses, and a
#: line nested some 20,000 deep overflows its stack (the process dies with SIGSEGV).
_MAX_JSON_DEPTH = 1_000


def check_nesting(source: bytes | pa.Buffer, where: str, *, first_line: int = 1) -> None:
    """Refuse JSON lines nested deeper than :data:`_MAX_JSON_DEPTH`. A line can only be that
    deep if it holds that many ``[`` or ``{``, so only such (rare) lines are parsed here.
    ``first_line``: the number of the source's first line, for the message."""
    raw = np.frombuffer(source, dtype=np.uint8)
    openers = np.flatnonzero((raw | 0x20) == ord("{"))  # "[" is 0x5B, "{" 0x7B: one test
    if len(openers) <= _MAX_JSON_DEPTH:
        return
    ends = np.flatnonzero(raw == ord("\n"))
    per_line = np.bincount(np.searchsorted(ends, openers))
    for line in np.flatnonzero(per_line > _MAX_JSON_DEPTH).tolist():
        start = int(ends[line - 1]) + 1 if line else 0
        stop = int(ends[line]) if line < len(ends) else len(raw)
        try:
            json.loads(raw[start:stop].tobytes())
        except RecursionError:
            raise DataError(f"{where}: line {line + first_line} nests JSON more than "
                            f"{_MAX_JSON_DEPTH:,} levels deep; a review is one flat object"
                            ) from None
        except ValueError:
            pass  # not JSON at all: Arrow says so, with its reason


def _read_table(source: Path | bytes | pa.Buffer, kind: str, where: str, *,
                id_column: str = "id", text_column: str = "text") -> pa.Table:
    try:
        if kind == "jsonl":  # checked, then parsed, from one mapping of the file
            if isinstance(source, Path):
                with pa.memory_map(str(source)) as mapped:
                    source = mapped.read_buffer()
            check_nesting(source, where)
        try:
            table = _arrow_read(source, kind, None, (id_column, text_column))
        except pa.ArrowInvalid as exc:
            if "straddling" not in str(exc):
                raise
            table = _arrow_read(source, kind, _LARGE_BLOCK_BYTES, (id_column, text_column))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        message = (str(exc).splitlines() or [type(exc).__name__])[0]
        if "utf8" in message.lower() or "utf-8" in message.lower():
            raise DataError(f"{where} is not valid UTF-8 ({message}); save it as UTF-8"
                            ) from exc
        if "Empty CSV file" in message or "Empty file" in message:
            raise DataError(f"{where} is empty: no reviews to read") from exc
        if kind == "jsonl" and not isinstance(source, Path):
            raise json_error(message, where, _buffer_lines(source)) from exc
        raise DataError(f"{where} cannot be read as {kind} ({message})") from exc
    if kind in ("csv", "tsv") and table.num_rows:
        check_last_row(table.slice(table.num_rows - 1), where, kind,
                       lambda: _open_text(source), rows_before=table.num_rows - 1)
    return table


def _open_text(source: Path | bytes | pa.Buffer) -> io.TextIOBase:
    raw = (pa.input_stream(str(source), compression="detect") if isinstance(source, Path)
           else pa.BufferReader(source))
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _buffer_lines(source: bytes | pa.Buffer) -> Iterator[bytes]:
    return iter(memoryview(source).tobytes().split(b"\n"))


def _arrow_read(source: Path | bytes | pa.Buffer, kind: str, block: int | None,
                strings: tuple[str, ...] = ()) -> pa.Table:
    import pyarrow.csv as csv
    import pyarrow.json as json
    import pyarrow.parquet as parquet

    readable = source if isinstance(source, Path) else pa.BufferReader(source)
    if kind in ("csv", "tsv"):
        return csv.read_csv(readable, parse_options=csv_parse_options(kind),
                            read_options=csv.ReadOptions(block_size=block or 1 << 20),
                            convert_options=csv_convert_options(strings))
    if kind == "jsonl":
        return json.read_json(readable,
                              read_options=json.ReadOptions(block_size=block or 1 << 20))
    return parquet.read_table(readable)


def csv_parse_options(kind: str) -> Any:
    import pyarrow.csv as csv

    return csv.ParseOptions(delimiter="\t" if kind == "tsv" else ",", newlines_in_values=True)


def csv_convert_options(strings: Iterable[str]) -> Any:
    """CSV columns read as text whatever they look like: ids such as ``000123`` keep their
    zeros, and a review that is a number stays a review."""
    import pyarrow.csv as csv

    return csv.ConvertOptions(column_types=dict.fromkeys(strings, pa.string()))


def check_last_row(last: pa.Table | pa.RecordBatch, where: str, kind: str,
                   open_text: Callable[[], io.TextIOBase], *, rows_before: int) -> None:
    """Refuse a CSV file whose last quoted field was never closed: Arrow reads it to the end
    of the file, every row after the opening quote merged into one review. Only a last row
    with a line break in a field can be that; the file is then parsed again strictly (rare)
    to tell a review of several lines from a missing quote, and to name the row."""
    for column in last.columns:
        value = column[0].as_py() if len(column) else None
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            break
    else:
        return
    import csv

    csv.field_size_limit(sys.maxsize)
    with open_text() as text:
        reader = csv.reader(text, delimiter="\t" if kind == "tsv" else ",", strict=True)
        rows = -1  # the header is not a row
        try:
            for _ in reader:
                rows += 1
        except csv.Error as exc:
            # Only the end of the file inside quotes is this fault; a stricter reader's other
            # complaints (text after a closing quote) are Arrow's to judge.
            if "unexpected end of data" in str(exc) and rows >= rows_before:
                raise DataError(f"{where}: row {rows + 1} opens a quote (\") that is never "
                                "closed, so every line after it would be read as one review; "
                                "close the quote or double it (\"\")") from None


def json_error(message: str, where: str, lines: Iterable[bytes], *, first_line: int = 1
               ) -> DataError:
    """Arrow's JSON error with the line it is about: Arrow counts rows within the block it
    was parsing, so the line is found here, by reading the lines as Arrow would (the error
    path only). ``first_line``: the number of ``lines``' first line."""
    reason = re.sub(r"^JSON parse error: |\.? in row \d+$", "", message)
    line = locate_json_error(lines)
    if line is None:
        return DataError(f"{where} cannot be read as JSON lines ({reason})")
    return DataError(f"{where}: row {line + first_line - 1}: cannot be read as JSON lines "
                     f"({reason}); each line must be one JSON object with the same fields' "
                     "types")


def locate_json_error(lines: Iterable[bytes]) -> int | None:
    """The number (from 1) of the first line that is not a JSON object, or whose field holds
    another JSON type than on the lines before (null fits any), as Arrow refuses them."""
    types: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            return number
        if not isinstance(value, dict):
            return number
        for key, item in value.items():
            if item is not None and types.setdefault(key, _json_type(item)) != _json_type(item):
                return number
    return None


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _from_table(table: pa.Table, source: Path | str, text_column: str,
                label_column: str | None, id_column: str | None, require_labels: bool
                ) -> Reviews:
    columns = table.column_names
    require_columns(str(source), columns, text_column, label_column, id_column)
    if require_labels and label_column is None:
        raise DataError(f"{source}: name the label column", parameter="label_column")
    if table.num_rows == 0:
        raise DataError(f"{source} is empty: no reviews to read")
    text = plain_strings(table.column(text_column))
    if pa.types.is_binary(text.type) or pa.types.is_large_binary(text.type):
        raise DataError(f"{source}: column {text_column!r} is not valid UTF-8 text; save the "
                        "file as UTF-8")
    check_text_column(text, str(source), text_column)
    labels, classes = None, None
    if label_column:
        from critic.datasets.labels import encode_labels

        labels, classes = encode_labels(
            [parse_labels(table.column(label_column).to_pylist(), str(source))], str(source))
    if id_column is None and "id" in columns:
        id_column = "id"
    ids = id_strings(table.column(id_column)) if id_column else None
    return Reviews(TextColumn(text), labels, ids, str(source), classes)


def id_strings(column: pa.Array | pa.ChunkedArray) -> list[str | None]:
    """Ids as strings, a missing one as ``None`` (written as null or an empty field, never
    as the word "None")."""
    return [None if value is None else str(value) for value in column.to_pylist()]


def plain_strings(column: pa.Array | pa.ChunkedArray) -> Any:
    """Text stored as a dictionary (pandas' categoricals) or as string views, as plain
    strings; any other column as it is (refused, if it is not text, by the checks)."""
    kind = column.type
    if pa.types.is_dictionary(kind) and (pa.types.is_string(kind.value_type)
                                         or pa.types.is_large_string(kind.value_type)
                                         or pa.types.is_string_view(kind.value_type)):
        return column.cast(pa.large_string())
    if pa.types.is_string_view(kind):
        return column.cast(pa.large_string())
    return column


def require_columns(where: str, present: list[str], text_column: str,
                    label_column: str | None, id_column: str | None) -> None:
    """Refuse a table without a column it is asked to read, naming the option to set."""
    for name, parameter in ((text_column, "text_column"), (label_column, "label_column"),
                            (id_column, "id_column")):
        if name is not None and name not in present:
            raise DataError(f"{where} has no column {name!r} (columns: {', '.join(present)}); "
                            "name the right one", parameter=parameter)


def check_text_column(texts: pa.Array | pa.ChunkedArray, where: str, column: str, *,
                      first_row: int = 1) -> None:
    """Refuse review texts that are not strings, hold a null or bytes that are not UTF-8
    (Arrow's JSON reader lets latin-1 through), naming the first bad row."""
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise DataError(f"{where}: column {column!r} holds {texts.type}, not text")
    if texts.null_count:
        row = int(pc.index(pc.is_null(texts), True).as_py()) + first_row
        raise DataError(f"{where}: column {column!r} is empty in row {row}")
    row = first_row
    for chunk in texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]:
        check_utf8(chunk, where, column, first_row=row)
        row += len(chunk)


def check_utf8(texts: pa.Array, where: str, column: str, *, first_row: int = 1) -> None:
    """Refuse a string array holding bytes that are not UTF-8, naming the row (``texts[0]``
    being row ``first_row``)."""
    try:
        texts.validate(full=True)
    except pa.ArrowInvalid:
        for offset, value in enumerate(texts.cast(pa.large_binary()).to_pylist()):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{where}: column {column!r} in row {first_row + offset} is "
                                "not valid UTF-8; save the file as UTF-8") from None


def _read_lines(source: Path) -> list[str]:
    try:
        text = source.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = source.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(f"{source} is not valid UTF-8 (line {line}); save it as UTF-8") from exc
    lines = text.splitlines()
    if not lines:
        raise DataError(f"{source} is empty: no reviews to read")
    return lines


def _read_folder(root: Path) -> Reviews:
    texts, labels, ids = [], [], []
    for folder, label in (("neg", 0), ("pos", 1)):
        for path in sorted((root / folder).glob("*.txt")):
            try:
                texts.append(read_regular(path).decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise DataError(f"{path} is not valid UTF-8; save it as UTF-8") from exc
            labels.append(label)
            ids.append(f"{folder}/{path.stem}")
    if not texts:
        raise DataError(f"{root} has no pos/*.txt or neg/*.txt reviews")
    return Reviews(texts, np.array(labels, dtype=np.uint8), ids, str(root))
