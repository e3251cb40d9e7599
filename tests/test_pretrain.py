"""``critic pretrain``: word vectors learned from unlabelled reviews, written as safetensors +
JSON with their provenance, read back without gensim; bad input is one line and no folder."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from critic.errors import DataError
from critic.experiments.report import write_report
from critic.word_vectors import VECTORS_FILE, WORDS_FILE, read_vectors

pytest.importorskip("gensim")

#: Two families of words that share their contexts: Word2Vec should put each family together.
_GOOD = ("superb", "excellent", "wonderful")
_BAD = ("awful", "dreadful", "terrible")


def _reviews(path: Path, count: int = 600) -> Path:
    rng = random.Random(0)
    lines = []
    for index in range(count):
        praise = index % 2 == 0
        word = rng.choice(_GOOD if praise else _BAD)
        tail = "loved every minute" if praise else "hated every minute"
        lines.append(f"The film was {word} and I {tail}. The cast was {word} too.")
    path.write_text("\n".join(lines) + "\n")
    return path


def _cosine(vectors: np.ndarray, a: int, b: int) -> float:
    return float(vectors[a] @ vectors[b] / np.linalg.norm(vectors[a]) / np.linalg.norm(
        vectors[b]))


def test_vectors_learned_from_a_file_know_which_words_go_together(tmp_path: Path) -> None:
    done = invoke("pretrain", "--input", str(_reviews(tmp_path / "reviews.txt")),
                  "--output", str(tmp_path / "vectors"), "--dimension", "16",
                  "--min-count", "2", "--epochs", "20", "--window", "2", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["sentences"] == 1200 and summary["words"] >= 12
    vectors = read_vectors(tmp_path / "vectors")
    assert vectors.dimension == 16 and vectors.vectors.dtype == np.float32
    row = vectors.index()
    assert vectors.counts[row["superb"]] > 0
    # Words of one family are nearer each other than to the other family's, on average.
    within = np.mean([_cosine(vectors.vectors, row[a], row[b])
                      for family in (_GOOD, _BAD) for a in family for b in family if a < b])
    across = np.mean([_cosine(vectors.vectors, row[a], row[b]) for a in _GOOD for b in _BAD])
    assert within > across
    record = json.loads((tmp_path / "vectors" / "run.json").read_text())
    assert record["kind"] == "pretrain" and record["config"]["dimension"] == 16
    assert record["config"]["source"]["source"].endswith("reviews.txt")
    assert record["config"]["library"].startswith("gensim")
    assert "Nearest words" in write_report(tmp_path / "vectors").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (("--dimension", "0"), "`dimension` must be a positive integer"),
    (("--min-count", "100000"), "no word occurs 100000 times"),
    (("--seed", "-1"), "`seed` must be in"),
])
def test_bad_settings_are_one_line_and_write_nothing(tmp_path: Path, args: tuple[str, ...],
                                                     message: str) -> None:
    done = invoke("pretrain", "--input", str(_reviews(tmp_path / "r.txt", 20)),
                  "--output", str(tmp_path / "vectors"), *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "vectors").exists() and not list(tmp_path.glob(".vectors*"))


def test_an_existing_folder_is_kept_unless_overwrite(tmp_path: Path) -> None:
    (tmp_path / "vectors").mkdir()
    (tmp_path / "vectors" / "mine.txt").write_text("keep")
    done = invoke("pretrain", "--input", str(_reviews(tmp_path / "r.txt", 20)),
                  "--output", str(tmp_path / "vectors"))
    assert done.returncode == 2 and "exists" in done.stderr, done.stderr
    assert (tmp_path / "vectors" / "mine.txt").read_text() == "keep"


def test_what_is_not_word_vectors_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="holds no word vectors"):
        read_vectors(tmp_path)
    invoke("pretrain", "--input", str(_reviews(tmp_path / "r.txt", 40)), "--output",
           str(tmp_path / "v"), "--min-count", "1", "--dimension", "4", "--epochs", "1")
    words = json.loads((tmp_path / "v" / WORDS_FILE).read_text())
    (tmp_path / "v" / WORDS_FILE).write_text(json.dumps(words | {"format": 99}))
    with pytest.raises(DataError, match="format 1"):
        read_vectors(tmp_path / "v")
    (tmp_path / "v" / WORDS_FILE).write_text(json.dumps(words | {"words": words["words"][1:]}))
    with pytest.raises(DataError, match="words but vectors of shape"):
        read_vectors(tmp_path / "v")
    (tmp_path / "v" / VECTORS_FILE).write_bytes(b"not safetensors")
    (tmp_path / "v" / WORDS_FILE).write_text(json.dumps(words))
    with pytest.raises(DataError, match="cannot be read"):
        read_vectors(tmp_path / "v")


@pytest.mark.slow  # Word2Vec over IMDB's 75,000 reviews: about 100 s on 2 cores
def test_imdb_vectors_learn_word_knowledge_without_the_test_reviews(real_data: Path,
                                                                   tmp_path: Path) -> None:
    done = invoke("pretrain", "--data", str(real_data), "--output", str(tmp_path / "imdb"),
                  "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "imdb" / "run.json").read_text())
    assert record["config"]["source"]["splits"] == ["unsup", "train"]
    assert record["config"]["source"]["reviews"] == 75_000
    neighbours = record["metrics"]["neighbours"]
    assert {"superb", "outstanding", "exceptional", "terrific"} & set(neighbours["excellent"])
    assert {"horrible", "terrible", "atrocious", "dreadful"} & set(neighbours["awful"])
