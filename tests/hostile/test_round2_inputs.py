"""The second round of careless and hostile use (issue 31), the inputs: folders that loop or
hold files of other kinds, CSV and JSON lines that Arrow reads wrongly or names wrongly, ids
and text columns as pandas and other tools write them. Each case failed before its fix."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import invoke
from test_bundle import tiny_options, tiny_reviews

from critic import train_bundle
from critic.datasets.files import read_reviews_file
from critic.datasets.stream import ReviewStream
from critic.errors import CriticWarning, DataError


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bundle(tiny_options(), tmp_path_factory.mktemp("round2-inputs") / "model",
                        reviews=tiny_reviews()).path


def write_csv(path: Path, rows: int, *, start: int = 0) -> Path:
    path.write_text("id,text\n" + "".join(f"{start + i},review number {start + i}\n"
                                          for i in range(rows)))
    return path


def predicted_ids(done: object) -> list[str]:
    return [line.split("\t")[0] for line in done.stdout.splitlines()]  # type: ignore[attr-defined]


# 3. Symbolic-link loops in an input folder.

def test_a_link_back_into_the_folder_is_not_followed(bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reviews"
    folder.mkdir()
    write_csv(folder / "a.csv", 100)
    (folder / "self").symlink_to(".", target_is_directory=True)
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..", target_is_directory=True)  # a second loop (before
    # the fix, listing this folder never ended)
    (folder / "sub" / "again.csv").symlink_to(folder / "a.csv")  # the same file, twice
    done = invoke("predict", str(bundle), "--input", str(folder))
    assert done.returncode == 0, done.stderr
    assert sorted(predicted_ids(done), key=int) == [str(i) for i in range(100)]
    assert "skipped 2 links" in done.stderr and "self" in done.stderr


def test_a_linked_folder_elsewhere_is_still_read(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_csv(elsewhere / "b.csv", 3)
    folder = tmp_path / "reviews"
    folder.mkdir()
    write_csv(folder / "a.csv", 2, start=10)
    (folder / "more").symlink_to(elsewhere, target_is_directory=True)
    assert sum(len(batch) for batch in ReviewStream(folder)) == 5


# 4. Rows dropped without a word.

def test_compressed_files_and_pq_in_a_folder_are_read(bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reviews"
    folder.mkdir()
    write_csv(folder / "a.csv", 100)
    plain = write_csv(tmp_path / "b.csv", 100, start=100)
    (folder / "b.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    (folder / "c.jsonl.gz").write_bytes(gzip.compress("".join(
        json.dumps({"id": str(i), "text": f"review {i}"}) + "\n"
        for i in range(200, 300)).encode()))
    pq.write_table(pa.table({"id": [str(i) for i in range(300, 400)],
                             "text": [f"review {i}" for i in range(300, 400)]}),
                   folder / "d.pq")
    done = invoke("predict", str(bundle), "--input", str(folder))
    assert done.returncode == 0, done.stderr
    assert sorted(predicted_ids(done), key=int) == [str(i) for i in range(400)]
    reviews = read_reviews_file(folder / "b.csv.gz")  # read whole, as --validation-input is
    assert len(reviews) == 100 and reviews.ids is not None and reviews.ids[0] == "100"


def test_files_of_other_kinds_are_named_when_skipped(bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reviews"
    folder.mkdir()
    write_csv(folder / "a.csv", 5)
    (folder / "b.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "c.csv.7z").write_bytes(b"7z")
    done = invoke("predict", str(bundle), "--input", str(folder))
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 5
    assert "critic: warning:" in done.stderr and "skipped 2 files" in done.stderr
    assert "b.xlsx" in done.stderr and "c.csv.7z" in done.stderr
    with pytest.warns(CriticWarning, match="b.xlsx"):
        ReviewStream(folder)


@pytest.mark.parametrize("whole", [False, True])
def test_a_csv_quote_never_closed_is_refused_with_its_row(bundle: Path, tmp_path: Path,
                                                          whole: bool) -> None:
    source = tmp_path / "quote.csv"
    source.write_text('text\ngood film\n"bad film\nok\nfine\nawful\n')
    if whole:  # the reader of --validation-input and --unlabelled
        with pytest.raises(DataError, match=r"row 2 opens a quote .* never closed"):
            read_reviews_file(source)
        return
    done = invoke("predict", str(bundle), "--input", str(source))
    assert done.returncode == 2 and "quote.csv: row 2 opens a quote" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_review_of_several_lines_in_quotes_is_still_read(tmp_path: Path) -> None:
    source = tmp_path / "lines.csv"
    source.write_text('text,label\nfine,1\n"two\nlines, ""quoted""",0\n')
    reviews = read_reviews_file(source)
    assert list(reviews.texts) == ["fine", 'two\nlines, "quoted"']
    assert [len(batch) for batch in ReviewStream(source)] == [2]


# 5. Silently wrong results.

def test_csv_ids_are_read_as_written(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "ids.csv"
    source.write_text("id,text\n" + "".join(f"{i:010d},review {i}\n" for i in range(10)))
    done = invoke("predict", str(bundle), "--input", str(source))
    assert predicted_ids(done) == [f"{i:010d}" for i in range(10)]
    assert read_reviews_file(source).ids == [f"{i:010d}" for i in range(10)]
    numbers = tmp_path / "numbers.csv"  # a review that is a number is still a review
    numbers.write_text("text\n10\n7\n")
    assert list(read_reviews_file(numbers).texts) == ["10", "7"]


def test_null_parquet_ids_stay_null(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"id": ["a", None], "text": ["good", "bad"]}), source)
    tsv = invoke("predict", str(bundle), "--input", str(source))
    assert predicted_ids(tsv) == ["a", ""] and "None" not in tsv.stdout
    lines = invoke("predict", str(bundle), "--input", str(source), "--json")
    assert [json.loads(line)["id"] for line in lines.stdout.splitlines()] == ["a", None]
    invoke("predict", str(bundle), "--input", str(source), "--output", str(tmp_path / "p.parquet"))
    assert pq.read_table(tmp_path / "p.parquet").column("id").to_pylist() == ["a", None]


def test_json_lines_on_stdin_after_a_bom(bundle: Path) -> None:
    raw = b"\xef\xbb\xbf" + b'{"id": "x1", "text": "great"}\n{"id": "x2", "text": "awful"}\n'
    done = invoke("predict", str(bundle), "-", stdin=raw)
    assert done.returncode == 0 and predicted_ids(done) == ["x1", "x2"]
    plain = invoke("predict", str(bundle), "-", stdin=b"\xef\xbb\xbfgreat\n")
    assert plain.stdout.count("\n") == 1 and "\ufeff" not in plain.stdout


# 10. Messages that name the wrong thing.

@pytest.mark.parametrize("bad", ['{"text": broken}', '{"text": 5}', '["text"]'])
def test_json_lines_errors_name_the_right_row(bundle: Path, tmp_path: Path, bad: str) -> None:
    source = tmp_path / "big.jsonl"
    with open(source, "w") as out:  # over Arrow's 1 MB block, which it counts rows in
        for i in range(30_000):
            out.write(json.dumps({"text": f"a fine review, number {i}"}) + "\n")
        out.write(bad + "\n")
    done = invoke("predict", str(bundle), "--input", str(source))
    assert done.returncode == 2 and "big.jsonl: row 30001:" in done.stderr, done.stderr
    with pytest.raises(DataError, match="row 30001:"):
        read_reviews_file(source)


# 11. Text columns as other tools store them.

@pytest.mark.parametrize("kind", ["dictionary", "string_view"])
def test_parquet_text_as_categorical_or_string_view(bundle: Path, tmp_path: Path,
                                                    kind: str) -> None:
    texts = pa.array(["great film", "awful film", "great film"])
    column = texts.dictionary_encode() if kind == "dictionary" else texts.cast(pa.string_view())
    source = tmp_path / "texts.parquet"
    pq.write_table(pa.table({"text": column}), source)
    done = invoke("predict", str(bundle), "--input", str(source))
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3, done.stderr
    assert list(read_reviews_file(source).texts) == texts.to_pylist()
