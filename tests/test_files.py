"""Reading the user's own reviews: formats, labels and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from critic.datasets.files import read_reviews_file
from critic.errors import DataError

ROWS = [("r1", "Loved it.", "pos"), ("r2", "Hated it.", "negative"), ("r3", "Fine, fun.", "1")]


def write(path: Path) -> Path:
    ids, texts, labels = zip(*ROWS, strict=True)
    if path.suffix == ".csv":
        path.write_text("id,review,sentiment\n" + "".join(
            f'{i},"{t}",{lab}\n' for i, t, lab in ROWS))
    elif path.suffix == ".jsonl":
        import json

        path.write_text("".join(json.dumps({"id": i, "review": t, "sentiment": lab}) + "\n"
                                for i, t, lab in ROWS))
    else:
        pq.write_table(pa.table({"id": ids, "review": texts, "sentiment": labels}), path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_tabular_formats(tmp_path: Path, suffix: str) -> None:
    reviews = read_reviews_file(write(tmp_path / f"r{suffix}"), text_column="review",
                                label_column="sentiment", require_labels=True)
    assert reviews.texts == ["Loved it.", "Hated it.", "Fine, fun."]
    assert reviews.labels.tolist() == [1, 0, 1]
    assert reviews.ids == ["r1", "r2", "r3"]


def test_text_file_and_folder(tmp_path: Path) -> None:
    (tmp_path / "reviews.txt").write_text("one review\nanother one\n")
    assert read_reviews_file(tmp_path / "reviews.txt").texts == ["one review", "another one"]
    for folder, text in (("pos", "good"), ("neg", "bad")):
        (tmp_path / "data" / folder).mkdir(parents=True)
        (tmp_path / "data" / folder / "1.txt").write_text(text)
    reviews = read_reviews_file(tmp_path / "data", require_labels=True)
    assert reviews.texts == ["bad", "good"] and reviews.labels.tolist() == [0, 1]


@pytest.mark.parametrize(("content", "kwargs", "message"), [
    ("id,text\n1,ok\n", {"text_column": "review"}, "no column 'review' .* name the right one"),
    # Any label set is read as written (stars, neutral): what is refused is a missing label
    # named by its row.
    ("text,label\nok,pos\nfine,\n", {"label_column": "label"}, r"row 2 has no label"),
    ("text,label\nok,\n", {"label_column": "label"}, r"row 1 has no label"),
    ("", {}, "is empty"),
    ("text\n", {}, "is empty"),
])
def test_bad_csv_files(tmp_path: Path, content: str, kwargs: dict, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_reviews_file(path, **kwargs)


def test_non_utf8_and_unknown_files(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not valid UTF-8 \\(line 2\\)"):
        read_reviews_file(tmp_path / "latin.txt")
    (tmp_path / "latin.csv").write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="UTF-8"):
        read_reviews_file(tmp_path / "latin.csv")
    (tmp_path / "reviews.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"unknown file type '\.xlsx'"):
        read_reviews_file(tmp_path / "reviews.xlsx")
    with pytest.raises(DataError, match="does not exist"):
        read_reviews_file(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="has no labels"):
        read_reviews_file(tmp_path / "latin.txt", require_labels=True)
