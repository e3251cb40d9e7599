"""Issue #16, validation that predicts the test set: IMDB's test reviews are of other movies
than its training reviews, so the stronger models are validated on whole held-out movies
(``--validation-by movie``), and ``critic cv --folds-by movie`` folds by movie."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import TINY_COUNTS, invoke, run_cli, write_tiny_archive, write_tiny_folder
from hypothesis import given, settings
from hypothesis import strategies as st

from critic._train import recipe
from critic.datasets.corpus import load_corpus
from critic.datasets.imdb import training_movies
from critic.errors import ConfigError
from critic.experiments.crossval import _folds
from critic.fitting.splits import held_out_texts, imdb_split, movie_split

_PAGE = "http://www.imdb.com/title/tt{:07d}/usercomments\n"
#: The tiny archive's reviews (ids 0 and 1 per labelled folder, 0 in unsup) and their movies.
_MOVIE_LISTS = {"train/urls_pos.txt": (11, 12), "train/urls_neg.txt": (12, 13),
                "test/urls_pos.txt": (21,), "test/urls_neg.txt": (22,),
                "train/urls_unsup.txt": (31,)}


def _movie_lists() -> dict[str, bytes]:
    return {f"aclImdb/{name}": "".join(_PAGE.format(m) for m in movies).encode()
            for name, movies in _MOVIE_LISTS.items()}


@given(movies=st.lists(st.integers(0, 30), min_size=2, max_size=200), data=st.data())
@settings(max_examples=200, deadline=None)
def test_movie_split_keeps_every_movie_on_one_side(movies: list[int], data: st.DataObject
                                                   ) -> None:
    movies_array = np.array(movies)
    size = data.draw(st.integers(1, len(movies) - 1))
    try:
        kept, held_out = movie_split(movies_array, size, seed=3)
    except ConfigError as exc:  # only when the movies cannot leave any review to train on
        assert "every movie" in str(exc)
        # All movies but the last taken held fewer than `size`: the last is the largest at most.
        assert size > len(movies) - max(np.unique(movies_array, return_counts=True)[1])
        return
    assert len(held_out) >= size and len(kept) > 0
    assert np.array_equal(np.sort(np.concatenate([kept, held_out])), np.arange(len(movies)))
    assert not set(movies_array[kept]) & set(movies_array[held_out])
    # The last movie taken is the only one that can overshoot the size asked for.
    assert len(held_out) - size < max(np.unique(movies_array, return_counts=True)[1])
    again = movie_split(movies_array, size, seed=3)
    assert np.array_equal(again[1], held_out)


def test_movie_split_refuses_reviews_without_a_movie() -> None:
    with pytest.raises(ConfigError, match="does not name them"):
        movie_split(np.array([4, -1, 5, 6]), 1)
    with pytest.raises(ConfigError, match="every movie"):
        movie_split(np.array([4, 4, 4]), 1)


def test_archive_and_folder_name_each_reviews_movie(tmp_path: Path) -> None:
    archive = write_tiny_archive(tmp_path / "tiny.tar.gz", raw=_movie_lists())
    corpus = load_corpus(archive, use_cache=False, expected=TINY_COUNTS)
    by_review = {(str(s), int(label), int(i)): int(m) for s, label, i, m in zip(
        corpus.splits, corpus.labels, corpus.ids, corpus.movies, strict=True)}
    assert by_review == {("train", 1, 0): 11, ("train", 1, 1): 12, ("train", 0, 0): 12,
                         ("train", 0, 1): 13, ("test", 1, 0): 21, ("test", 0, 0): 22,
                         ("unsup", -1, 0): 31}
    folder = write_tiny_folder(tmp_path / "extracted")
    for name, raw in _movie_lists().items():
        (folder.parent / name).write_bytes(raw)
    from_folder = load_corpus(folder, use_cache=False, expected=TINY_COUNTS)
    assert from_folder.movies.tolist() == corpus.movies.tolist()
    # A copy without the lists still loads; its reviews' movies are unknown.
    bare = load_corpus(write_tiny_archive(tmp_path / "bare.tar.gz"), use_cache=False,
                       expected=TINY_COUNTS)
    assert (bare.movies == -1).all()


def test_a_cache_written_before_the_movies_is_not_read(tmp_path: Path) -> None:
    import pyarrow.feather as feather

    from critic.datasets.corpus import cache_path

    archive = write_tiny_archive(tmp_path / "tiny.tar.gz", raw=_movie_lists())
    corpus = load_corpus(archive, expected=TINY_COUNTS, cache_dir=tmp_path / "cache")
    cache = cache_path(corpus.checksum, tmp_path / "cache")
    # What critic 0.6 cached: no movie column, format v2.
    old = feather.read_table(cache).drop_columns(["movie"])
    feather.write_feather(old.replace_schema_metadata(
        {**old.schema.metadata, b"format": b"critic.corpus.v2"}), cache)
    again = load_corpus(archive, expected=TINY_COUNTS, cache_dir=tmp_path / "cache")
    assert again.movies.tolist() == corpus.movies.tolist()
    assert "movie" in feather.read_table(cache).schema.names  # the cache was written anew


def test_the_stronger_models_validate_by_movie_and_the_books_by_review() -> None:
    assert recipe("dense").imdb_validation_by == "review"
    assert recipe("nblr").imdb_validation_by == "movie"
    assert recipe("tfidf-dense").imdb_validation_by == "movie"
    assert recipe("nblr", validation_by="review").imdb_validation_by == "review"
    with pytest.raises(ConfigError, match="validation_by"):
        recipe("nblr", validation_by="genre")


def test_own_files_cannot_be_split_by_movie(tmp_path: Path) -> None:
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text,label\n" + "".join(f"great fun {i},1\nawful {i},0\n"
                                                 for i in range(20)))
    done = invoke("train", "--model", "nblr", "--input", str(reviews), "--validation-by",
                  "movie", "--output", str(tmp_path / "model"))
    assert done.returncode == 2 and "is for the IMDB data" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "model").exists()
    done = invoke("train", "--validation-by", "genre", "--output", str(tmp_path / "model"))
    assert done.returncode == 2 and "validation_by" in done.stderr
    # IMDB over the memory budget streams, and a stream is split by position, not by movie.
    done = invoke("train", "--model", "nblr", "--validation-by", "movie", "--memory-budget",
                  "100M", "--output", str(tmp_path / "model"))
    assert done.returncode == 2 and "holds IMDB in memory" in done.stderr
    assert not (tmp_path / "model").exists()


def test_imdb_movie_split_holds_out_movies_unseen_in_training(real_data: Path) -> None:
    corpus = load_corpus(real_data)
    train, test = corpus.subset("train"), corpus.subset("test")
    assert (train.movies > 0).all() and (test.movies > 0).all()
    # IMDB's own split: the test reviews are of other movies (one title is in both).
    assert len(np.intersect1d(train.movies, test.movies)) <= 1
    movies = training_movies(real_data)
    kept, held_out = imdb_split(real_data, 25_000, 5_000, "movie")
    assert 5_000 <= len(held_out) < 5_100 and len(kept) + len(held_out) == 25_000
    assert not set(movies[kept]) & set(movies[held_out])
    # The book's split shares most of its movies with the reviews it trains on.
    book_kept, book_held_out = imdb_split(real_data, 25_000, 5_000, "review")
    shared = np.isin(movies[book_held_out], movies[book_kept]).mean()
    assert shared > 0.9
    texts, labels = held_out_texts(real_data, len(held_out), "movie")
    assert len(texts) == len(held_out) and 0.4 < labels.mean() < 0.6


def test_cv_folds_by_movie_share_no_movie(real_data: Path, tmp_path: Path) -> None:
    movies = training_movies(real_data)
    folds = _folds(np.zeros(25_000, dtype=np.uint8), 4, "movie", real_data)
    assert sorted(np.concatenate([val for _, val in folds]).tolist()) == list(range(25_000))
    for rest, val in folds:
        assert not set(movies[rest]) & set(movies[val])
        assert 6_000 <= len(val) <= 6_500
    done = run_cli("cv", "--folds", "2", "--epochs", "1", "--folds-by", "movie", "--runs",
                   str(tmp_path), "--name", "cv-movie", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "cv-movie" / "run.json").read_text())
    assert record["config"]["folds_by"] == "movie"
    assert 0.8 < record["metrics"]["validation"]["accuracy"] < 0.9


def test_a_network_validated_by_movie_records_it_and_finds_its_threshold_there(
        real_data: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "dense"
    done = run_cli("train", "--validation-by", "movie", "--validation-size", "5000",
                   "--epochs", "2", "--output", str(bundle), "--json")
    assert done.returncode == 0, done.stderr
    validation = json.loads((bundle / "config.json").read_text())["data"]["validation"]
    assert validation["by"] == "movie" and 5_000 <= validation["reviews"] < 5_100
    done = run_cli("evaluate", str(bundle), "--find-threshold", "accuracy", "--json",
                   "--figure", str(tmp_path / "reliability.png"))
    assert done.returncode == 0, done.stderr
    assert 0.0 < json.loads((bundle / "config.json").read_text())["threshold"] < 1.0


def test_a_copy_without_movie_lists_is_split_by_review_unless_movies_are_asked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from test_recipes import small, write_archive

    import critic.datasets.archive as archive_module
    import critic.datasets.corpus as corpus_module
    from critic._train import train_bundle

    counts = write_archive(tmp_path / "bare.tar.gz", "", False)
    for module in (archive_module, corpus_module):
        monkeypatch.setattr(module, "IMDB_COUNTS", counts)
    data = str(tmp_path / "bare.tar.gz")
    bundle = train_bundle(small("nblr"), tmp_path / "nblr", data=data).path
    assert json.loads((bundle / "config.json").read_text())["data"]["validation"]["by"] \
        == "review"
    with pytest.raises(ConfigError, match="does not name them"):
        train_bundle(dataclasses.replace(small("nblr"), validation_by="movie"),
                     tmp_path / "asked", data=data)
    assert not (tmp_path / "asked").exists()


def test_a_threshold_is_not_chosen_on_a_streamed_models_held_out_reviews() -> None:
    """A model trained from a stream held IMDB's reviews out by a hash of their position, not
    the first N of load_data's order (on which it trained): choosing on those would flatter
    it. Refused, asking for validation reviews."""
    from types import SimpleNamespace

    from critic.evaluation import choose_threshold
    from critic.fitting.splits import STREAMED_IMDB_ORDER

    config = {"data": {"source": "imdb", "validation": {
        "reviews": 4922, "fraction": 0.2, "order": STREAMED_IMDB_ORDER,
        "trained_on_after_choice": False}}}
    streamed: Any = SimpleNamespace(bundle=SimpleNamespace(config=config, model_name="nblr"),
                                    n_classes=2)
    with pytest.raises(ConfigError, match="trained from a stream"):
        choose_threshold(streamed, "accuracy")
