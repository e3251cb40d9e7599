"""The leaderboard's variants of nblr on the IMDB slice (see test_imdb_slice.py), and the
leaderboard's table, run folder and report on a toy archive: the fast tier's counterpart of
test_leaderboard_real.py (``make verify``). A file of its own so that its models train on
the other test worker while test_imdb_slice.py's train on the first."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import SLICE_TRAIN, SLICE_UNLABELLED, invoke, run_cli
from test_imdb_slice import SliceModel, short_text_accuracy


@pytest.mark.parametrize(("variant", "gain"), [("nblr+sentences", 0.03),
                                               ("nblr+unit-length", 0.025)])
def test_variants_right_on_short_texts_at_no_cost_on_reviews(
        slice_model: SliceModel, imdb_slice: dict[str, Path], variant: str, gain: float) -> None:
    """Measured on the slice: short texts 0.6671 (nblr) → 0.7216 (sentences), 0.7131 (unit
    length); reviews 0.8900 → 0.8910, 0.8918."""
    plain, plain_accuracy = slice_model("nblr")
    bundle, accuracy = slice_model(variant)
    assert short_text_accuracy(bundle, imdb_slice) >= \
        short_text_accuracy(plain, imdb_slice) + gain
    assert accuracy >= plain_accuracy - 0.005
    training = json.loads((bundle / "config.json").read_text())["training"]
    if variant == "nblr+sentences":
        assert training["sentence_weight"] == 0.1 and training["sentences"] > 10 * SLICE_TRAIN
    else:
        assert training["unit_length"] is True and training["C"] >= 10


def test_the_unlabelled_reviews_teach_nblr(slice_model: SliceModel,
                                           imdb_slice: dict[str, Path]) -> None:
    """Measured on the slice: 0.8926 against nblr+sentences' 0.8910 (short texts 0.7294
    against 0.7216); 2,660 of the 4,000 unlabelled reviews joined."""
    bundle, accuracy = slice_model("nblr+unlabelled")
    sentences, sentences_accuracy = slice_model("nblr+sentences")
    assert accuracy >= sentences_accuracy - 0.005
    assert short_text_accuracy(bundle, imdb_slice) >= \
        short_text_accuracy(sentences, imdb_slice) - 0.01
    training = json.loads((bundle / "config.json").read_text())["training"]
    assert training["unlabelled"]["reviews"] == SLICE_UNLABELLED
    assert SLICE_UNLABELLED // 2 < training["unlabelled"]["joined"] < SLICE_UNLABELLED
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] >= metrics["unlabelled"]["validation_without"][
        "accuracy"] - 0.01


# The leaderboard's table, run folder and report, on test_recipes' toy IMDB-layout archive
# with every model scaled down to it (make verify runs the real one).

@pytest.fixture(scope="module")
def toy_board(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    from test_recipes import write_archive

    import critic.datasets.archive as archive_module
    import critic.datasets.corpus as corpus_module
    import critic.experiments.leaderboard as leaderboard_module

    folder = tmp_path_factory.mktemp("toy-board")
    original = leaderboard_module.leaderboard_options

    def scaled_down(name: str) -> object:
        options = original(name)
        features = dataclasses.replace(options.features, num_words=40,
                                       max_ngrams=min(options.features.max_ngrams, 200))
        settings = options.settings
        if hasattr(settings, "epochs"):  # a network's
            settings = dataclasses.replace(settings, epochs=3)
        # The toy archive names no movies: its reviews are held out one by one.
        return dataclasses.replace(options, features=features, validation_size=40,
                                   settings=settings, validation_by="review")

    with pytest.MonkeyPatch.context() as patch:
        counts = write_archive(folder / "toy.tar.gz", "", False)
        for module in (archive_module, corpus_module):
            patch.setattr(module, "IMDB_COUNTS", counts)
        patch.setattr(leaderboard_module, "leaderboard_options", scaled_down)
        patch.setenv("CRITIC_HOME", str(folder / "home"))
        done = invoke("leaderboard", "--data", str(folder / "toy.tar.gz"), "--output",
                      str(folder / "leaderboard"), "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["model"]: row for row in json.loads(done.stdout)["results"]}
    return rows, folder / "leaderboard"


def test_the_table_reports_what_each_number_used(toy_board: tuple[dict, Path]) -> None:
    rows, folder = toy_board
    assert set(rows) == {"dense", "tfidf-dense", "nblr", "nblr+sentences", "nblr+unlabelled",
                         "nblr+unit-length"}
    assert {name: row["regime"] for name, row in rows.items()} == {
        "dense": "clean", "tfidf-dense": "clean", "nblr": "clean", "nblr+sentences": "clean",
        "nblr+unlabelled": "unlabelled", "nblr+unit-length": "clean"}
    for name, row in rows.items():
        metrics = json.loads((folder / "models" / name / "metrics.json").read_text())
        assert row["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=2e-4)
        # Toy models train in under 0.05 s: the table rounds that to 0.0.
        assert row["train_seconds"] >= 0 and row["predict_reviews_per_second"] > 0
        files = (folder / "models" / name).iterdir()
        assert row["bundle_mb"] == round(sum(f.stat().st_size for f in files) / 1e6, 1)
        assert 0 <= row["short_text_accuracy"] <= 1
    table = (folder / "results.md").read_text()
    for anchor in ("Wang & Manning 2012", "Mesnil et al. 2014", "Johnson & Zhang 2015"):
        assert anchor in table
    assert table.count("*published*") == 5 and "| short texts |" in table
    record = json.loads((folder / "run.json").read_text())
    assert record["kind"] == "leaderboard"
    assert {p["test_accuracy"] for p in record["metrics"]["published"]} >= {
        0.9122, 0.9187, 0.9233}
    assert record["metrics"]["results"] == list(rows.values())
    for name in rows:  # every bundle records how it was made
        made = json.loads((folder / "models" / name / "run.json").read_text())
        assert made["kind"] == "train" and made["config"]["model"] == name.split("+")[0]
        assert made["config"]["data"]["validation"]["by"] == rows[name]["validation_by"]
    unlabelled = json.loads((folder / "models" / "nblr+unlabelled" / "config.json")
                            .read_text())["training"]["unlabelled"]
    assert unlabelled["reviews"] == 60  # the toy archive's train/unsup


def test_an_existing_leaderboard_is_not_replaced(toy_board: tuple[dict, Path]) -> None:
    _, folder = toy_board
    before = (folder / "results.md").read_bytes()
    done = invoke("leaderboard", "--output", str(folder), "--models", "dense")
    assert done.returncode == 2 and "exists already" in done.stderr
    assert (folder / "results.md").read_bytes() == before
    done = invoke("leaderboard", "--output", str(folder.parent / "x"), "--models", "svm")
    assert done.returncode == 2 and "unknown model 'svm'" in done.stderr


def test_refitted_bundles_refuse_a_threshold_from_their_own_validation(
        toy_board: tuple[dict, Path]) -> None:
    _, folder = toy_board
    done = run_cli("evaluate", str(folder / "models" / "nblr"), "--find-threshold", "accuracy")
    assert done.returncode == 2
    assert "refitted on its held-out reviews" in done.stderr


def test_the_report_renders_the_leaderboard(toy_board: tuple[dict, Path]) -> None:
    _, folder = toy_board
    done = run_cli("report", str(folder))
    assert done.returncode == 0, done.stderr
    page = (folder / "report.html").read_text()
    assert "critic leaderboard" in page and "Published figures" in page
    for text in ("nblr", "tfidf-dense", "Johnson &amp; Zhang 2015", "0.9233"):
        assert text in page


# The ratings board (--target rating) on a toy archive of the eight ratings.

#: Words that say a toy review's rating.
_RATING_WORDS = {1: "abysmal", 2: "awful", 3: "poor", 4: "weak", 7: "decent", 8: "good",
                 9: "great", 10: "masterpiece"}


def _ratings_archive(path: Path, per_rating: int = 30) -> dict[str, int]:
    import io
    import random
    import tarfile

    rng = random.Random(0)
    counts: dict[str, int] = {"train/unsup": 0}
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for i in range(per_rating * len(_RATING_WORDS)):
                rating = list(_RATING_WORDS)[i % len(_RATING_WORDS)]
                folder = f"{split}/{'pos' if rating >= 7 else 'neg'}"
                counts[folder] = counts.get(folder, 0) + 1
                words = rng.choices(["the", "film", "plot", "was", "a"], k=8)
                data = " ".join([*words, _RATING_WORDS[rating]] * 2).encode()
                info = tarfile.TarInfo(f"aclImdb/{folder}/{i}_{rating}.txt")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return counts


def test_the_ratings_board_stands_each_model_beside_scikit_learn(tmp_path: Path) -> None:
    import critic.datasets.archive as archive_module
    import critic.datasets.corpus as corpus_module
    import critic.experiments.leaderboard as leaderboard_module

    original = leaderboard_module.leaderboard_options

    def scaled_down(name: str, target: str = "sentiment") -> object:
        options = original(name, target)
        settings = options.settings
        if hasattr(settings, "epochs"):  # a network's: enough steps for the toy words
            settings = dataclasses.replace(settings, epochs=20, patience=None,
                                           training=dataclasses.replace(settings.training,
                                                                        batch_size=16))
        # The toy archive names no movies: its reviews are held out one by one.
        return dataclasses.replace(options, validation_size=80, settings=settings,
                                   validation_by="review")

    with pytest.MonkeyPatch.context() as patch:
        counts = _ratings_archive(tmp_path / "toy.tar.gz")
        for module in (archive_module, corpus_module):
            patch.setattr(module, "IMDB_COUNTS", counts)
        patch.setattr(leaderboard_module, "leaderboard_options", scaled_down)
        patch.setenv("CRITIC_HOME", str(tmp_path / "home"))
        done = invoke("leaderboard", "--target", "rating", "--data",
                      str(tmp_path / "toy.tar.gz"), "--output", str(tmp_path / "board"),
                      "--json")
        assert done.returncode == 0, done.stderr
        refused = invoke("leaderboard", "--target", "rating", "--models", "nblr+sentences",
                         "--output", str(tmp_path / "no"))
    rows = json.loads(done.stdout)["results"]
    assert [row["kind"] for row in rows] == ["critic"] * 3 + ["peer"]
    assert [row["model"] for row in rows[:3]] == ["dense", "tfidf-dense", "nblr"]
    assert rows[3]["model"].startswith("scikit-learn tf-idf")
    for row in rows:  # each toy rating has its own word: every model learns them
        assert row["test_accuracy"] > 0.8 and row["mae"] < 1.0, row
        assert row["within_one"] >= row["test_accuracy"]
    labels = json.loads((tmp_path / "board" / "models" / "nblr" / "config.json").read_text())
    assert labels["labels"] == [1, 2, 3, 4, 7, 8, 9, 10]
    table = (tmp_path / "board" / "results.md").read_text()
    assert "| MAE (stars) |" in table and "*published*" not in table
    record = json.loads((tmp_path / "board" / "run.json").read_text())
    assert record["config"]["target"] == "rating" and record["metrics"]["results"] == rows
    assert refused.returncode == 2 and "for --target rating" in refused.stderr
    assert not (tmp_path / "no").exists()
