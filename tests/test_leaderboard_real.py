"""Issue #6 on the real data: every named model trained on IMDB, with accuracy floors, honest
regimes, published anchors, and explanations of the n-gram model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

# All of IMDB, six models: make verify (test_imdb_slice.py checks the same on a slice).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def board(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("board") / "leaderboard"
    done = run_cli("leaderboard", "--output", str(folder), "--json", timeout=3600)
    assert done.returncode == 0, done.stderr
    rows = {row["model"]: row for row in json.loads(done.stdout)["results"]}
    return rows, folder


def test_accuracy_floors(board: tuple[dict, Path]) -> None:
    rows, _ = board
    assert set(rows) == {"dense", "tfidf-dense", "nblr", "nblr+sentences", "nblr+unlabelled",
                         "nblr+unit-length"}
    assert rows["nblr"]["test_accuracy"] >= 0.918  # NBSVM-style, uni+bi+trigrams
    assert rows["tfidf-dense"]["test_accuracy"] >= 0.900  # the book's 2nd edition: ~0.90
    assert 0.870 <= rows["dense"]["test_accuracy"] <= 0.895  # the book: ~0.88
    assert {name: row["regime"] for name, row in rows.items()} == {
        "dense": "clean", "tfidf-dense": "clean", "nblr": "clean", "nblr+sentences": "clean",
        "nblr+unlabelled": "unlabelled", "nblr+unit-length": "clean"}


def better_on_short_texts_at_no_cost(rows: dict, variant: str, gain: float) -> None:
    """``variant``'s short-text accuracy beats plain ``nblr``'s by ``gain``, at no more than
    the issue's 0.3 points on the reviews."""
    plain, better = rows["nblr"], rows[variant]
    assert better["short_text_accuracy"] >= plain["short_text_accuracy"] + gain
    assert better["test_accuracy"] >= plain["test_accuracy"] - 0.003


def test_unit_length_rows_make_nblr_right_on_short_texts_at_its_own_cost(
        board: tuple[dict, Path]) -> None:
    rows, folder = board
    # Measured: short texts 0.7099 → 0.7482, IMDB test 0.9189 → 0.9185.
    better_on_short_texts_at_no_cost(rows, "nblr+unit-length", 0.025)
    assert rows["nblr+unit-length"]["test_accuracy"] >= 0.916
    config = json.loads((folder / "models" / "nblr+unit-length" / "config.json").read_text())
    assert config["model"]["unit_length"] is True and config["training"]["C"] >= 10


def test_the_unlabelled_reviews_lift_nblr(board: tuple[dict, Path]) -> None:
    rows, folder = board
    taught, sentences = rows["nblr+unlabelled"], rows["nblr+sentences"]
    # Measured: 0.9206 against nblr+sentences' 0.9177 (short texts 0.7567 against 0.7537).
    assert taught["test_accuracy"] >= 0.920
    assert taught["test_accuracy"] >= sentences["test_accuracy"] + 0.002
    assert taught["short_text_accuracy"] >= sentences["short_text_accuracy"] - 0.005
    training = json.loads((folder / "models" / "nblr+unlabelled" / "config.json").read_text())[
        "training"]
    assert training["unlabelled"]["reviews"] == 50_000
    assert 30_000 < training["unlabelled"]["joined"] < 50_000
    metrics = json.loads((folder / "models" / "nblr+unlabelled" / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] >= metrics["unlabelled"]["validation_without"][
        "accuracy"] - 0.002


def test_sentences_make_nblr_right_on_short_texts_at_no_cost_on_reviews(
        board: tuple[dict, Path]) -> None:
    rows, folder = board
    # Measured: 0.7099 → 0.7537 on the short-text check, 0.9189 → 0.9177 on the reviews.
    better_on_short_texts_at_no_cost(rows, "nblr+sentences", 0.03)
    assert all(0.6 < row["short_text_accuracy"] < 0.85 for row in rows.values())
    training = json.loads((folder / "models" / "nblr+sentences" / "config.json").read_text())[
        "training"]
    assert training["sentence_weight"] == 0.1 and training["sentences"] > 200_000
    assert "| short texts |" in (folder / "results.md").read_text()


def test_table_reports_what_each_number_used(board: tuple[dict, Path]) -> None:
    rows, folder = board
    for name, row in rows.items():
        metrics = json.loads((folder / "models" / name / "metrics.json").read_text())
        # The loaded bundle on raw test text agrees with the evaluation made at training time.
        assert row["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=2e-4)
        assert row["train_seconds"] > 0 and row["predict_reviews_per_second"] > 0
        assert row["bundle_mb"] > 0
    table = (folder / "results.md").read_text()
    for anchor in ("Wang & Manning 2012", "Mesnil et al. 2014", "Johnson & Zhang 2015"):
        assert anchor in table
    assert table.count("*published*") == 5
    record = json.loads((folder / "run.json").read_text())
    assert record["kind"] == "leaderboard"
    assert {p["test_accuracy"] for p in record["metrics"]["published"]} >= {
        0.9122, 0.9187, 0.9233}
    assert record["metrics"]["results"] == list(rows.values())
    for name in rows:  # every bundle records how it was made
        made = json.loads((folder / "models" / name / "run.json").read_text())
        model = name.split("+")[0]  # a variant is its model with other options
        assert made["kind"] == "train" and made["config"]["model"] == model
        # Validated on whole held-out movies, every row alike (issue #16).
        assert made["config"]["data"]["validation"]["by"] == rows[name]["validation_by"] \
            == "movie"


def test_nblr_chose_on_validation_and_refitted(board: tuple[dict, Path]) -> None:
    _, folder = board
    bundle = folder / "models" / "nblr"
    metrics = json.loads((bundle / "metrics.json").read_text())
    table = metrics["selection"]
    assert len(table) == 9  # 3 C × 3 beta
    best = max(row["val_accuracy"] for row in table)
    assert next(row for row in table if (row["C"], row["beta"]) == (
        metrics["chosen"]["C"], metrics["chosen"]["beta"]))["val_accuracy"] == best
    config = json.loads((bundle / "config.json").read_text())
    assert config["model"] == {"name": "nblr", "type": "linear"}
    assert config["training"]["refit_on"] == 25_000
    assert config["features"]["ngram_range"] == [1, 3]


def test_nblr_explanations_are_exact_n_gram_contributions(board: tuple[dict, Path]) -> None:
    from test_imdb_slice import explanations_are_exact_n_gram_contributions

    explanations_are_exact_n_gram_contributions(board[1] / "models" / "nblr")


# The board's refusals (a threshold from its own validation, an existing folder) and its report
# depend on no accuracy: tests/test_leaderboard_slice.py checks them on a toy board, in make test.
