"""Named models: NB-weighted logistic regression against scikit-learn, n-gram selection and
lookup, and the rule that fitting never touches the test reviews."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import critic.datasets.archive as archive_module
import critic.datasets.corpus as corpus_module
import critic.features as features_module
from critic._train import TrainOptions, recipe, train_bundle
from critic.errors import ConfigError
from critic.experiments.leaderboard import parse_models
from critic.features import FeatureSpace, most_frequent
from critic.models.nblr.config import LinearConfig
from critic.models.nblr.estimator import NBLogisticRegression, nb_ratios, select_nblr
from critic.models.registry import recipes

GOOD = ["great", "wonderful", "moving", "superb", "loved"]
BAD = ["awful", "boring", "dull", "worst", "waste"]
FILLER = ["the", "film", "plot", "was", "and", "a", "story", "cast"]


def toy_texts(n: int, seed: int, extra: str = "") -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    texts = [" ".join([*rng.choice(FILLER, 6), *rng.choice(GOOD if y else BAD, 2), extra])
             for y in labels]
    return texts, labels.astype(np.uint8)


def test_nb_ratios_by_hand() -> None:
    x = sp.csr_matrix(np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], dtype=np.float32))
    y = np.array([1, 0, 0])
    positive = 1 + np.array([1, 0, 1])  # alpha = 1
    negative = 1 + np.array([1, 2, 1])
    expected = np.log(positive / positive.sum()) - np.log(negative / negative.sum())
    assert np.allclose(nb_ratios(x, y), expected)


def test_plain_nblr_is_scikit_learns_logistic_regression_on_scaled_features() -> None:
    from sklearn.linear_model import LogisticRegression

    texts, y = toy_texts(300, seed=0)
    x = FeatureSpace(num_words=30, ngram_range=(1, 2), max_ngrams=100,
                   start_char=None, oov_char=None).fit_transform(texts)
    ours = NBLogisticRegression(C=0.5, beta=1.0).fit(x, y)
    r = nb_ratios(x, y)
    reference = LogisticRegression(C=0.5, solver="liblinear", dual=True, tol=1e-2,
                                   random_state=0).fit(
        x.multiply(r).tocsr(), y)
    assert np.allclose(ours.coef_[0], r * reference.coef_.ravel(), atol=1e-5)
    assert ours.intercept_[0] == pytest.approx(reference.intercept_[0], abs=1e-6)
    assert np.allclose(ours.decision_function(x), reference.decision_function(
        x.multiply(r).tocsr()), atol=1e-4)


def test_selection_picks_the_best_validation_accuracy() -> None:
    texts, y = toy_texts(400, seed=1)
    featurizer = FeatureSpace(num_words=30, start_char=None, oov_char=None)
    x = featurizer.fit_transform(texts)
    model, table = select_nblr(x[:300], y[:300], x[300:], y[300:],
                               LinearConfig(c_grid=(0.01, 1.0), beta_grid=(0.5, 1.0)))
    assert len(table) == 4
    best = max(row["val_accuracy"] for row in table)
    chosen = next(r for r in table if (r["C"], r["beta"]) == (model.C, model.beta))
    assert chosen["val_accuracy"] == best
    accuracy = ((model.decision_function(x[300:]) > 0) == (y[300:] == 1)).mean()
    assert accuracy == pytest.approx(chosen["val_accuracy"])
    assert ((model.predict_proba(x) >= 0) & (model.predict_proba(x) <= 1)).all()


@pytest.mark.parametrize("bad", [{"alpha": 0}, {"c_grid": ()}, {"c_grid": (-1.0,)},
                                 {"beta_grid": (0.0,)}, {"beta_grid": (1.5,)}])
def test_linear_config_refuses_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        LinearConfig(**bad)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 6), min_size=1, max_size=40), k=st.integers(1, 45))
def test_most_frequent_matches_a_full_sort(counts: list[int], k: int) -> None:
    """Top k by count, ties to the lower index: the partition equals a lexsort."""
    array = np.array(counts)
    expected = np.sort(np.lexsort((np.arange(len(array)), -array))[:k])
    assert np.array_equal(most_frequent(array, k), expected)


def test_binary_search_and_hash_lookup_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    texts, _ = toy_texts(200, seed=2)
    featurizer = FeatureSpace(num_words=30, ngram_range=(1, 3), max_ngrams=50)
    searched = featurizer.fit_transform(texts)
    monkeypatch.setattr(features_module, "_HASH_LOOKUP_FROM", 0)
    hashed = featurizer.transform(texts)
    assert (searched != hashed).nnz == 0


def test_training_texts_without_any_n_gram() -> None:
    featurizer = FeatureSpace(num_words=10, ngram_range=(1, 3), max_ngrams=5)
    assert featurizer.fit_transform(["good", "bad"]).shape == (2, 10)
    assert featurizer.transform(["good bad good"]).shape == (1, 10)


def test_a_saved_featurizer_must_fit_its_configuration() -> None:
    texts, _ = toy_texts(50, seed=3)
    fitted = FeatureSpace(weighting="tfidf", num_words=30, ngram_range=(1, 2),
                        max_ngrams=40).fit(texts)
    arrays = fitted.arrays()
    again = FeatureSpace.from_fitted(fitted.config, fitted.vocabulary_, arrays)
    assert (again.transform(texts) != fitted.transform(texts)).nnz == 0
    with pytest.raises(ConfigError, match="need an idf"):
        FeatureSpace.from_fitted(fitted.config, fitted.vocabulary_, {"ngrams": arrays["ngrams"]})
    with pytest.raises(ConfigError, match="max_ngrams"):
        FeatureSpace.from_fitted(dataclasses.replace(fitted.config, max_ngrams=3),
                               fitted.vocabulary_, arrays)
    with pytest.raises(ConfigError, match="vocabulary's settings"):
        FeatureSpace.from_fitted(dataclasses.replace(fitted.config, num_words=31),
                               fitted.vocabulary_, arrays)
    with pytest.raises(ConfigError, match="are not"):
        FeatureSpace.from_fitted(fitted.config, fitted.vocabulary_,
                               {**arrays, "ngrams": arrays["ngrams"][::-1].copy()})


def test_model_names_are_checked() -> None:
    assert parse_models("nblr, dense") == ["nblr", "dense"]
    with pytest.raises(ConfigError, match="unknown model 'forest'"):
        parse_models("dense,forest")
    with pytest.raises(ConfigError, match="named twice"):
        parse_models("nblr,nblr")
    with pytest.raises(ConfigError, match="unknown model"):
        recipe("forest")


# Fitting touches only training data: an IMDB-layout archive whose test reviews are swapped
# for entirely different ones (new words, flipped labels) must give byte-identical models.

def write_archive(path: Path, test_extra: str, flip_test: bool, unlabelled: int = 60
                  ) -> dict[str, int]:
    train_texts, train_labels = toy_texts(160, seed=4)
    test_texts, test_labels = toy_texts(40, seed=5, extra=test_extra)
    unsup_texts, _ = toy_texts(unlabelled, seed=6)
    if flip_test:
        test_labels = 1 - test_labels
    counts: dict[str, int] = {}
    with tarfile.open(path, "w:gz") as tar:
        for split, texts, labels in (("train", train_texts, train_labels),
                                     ("test", test_texts, test_labels),
                                     ("unsup", unsup_texts, None)):
            for i, text in enumerate(texts):
                folder = ("train/unsup" if labels is None
                          else f"{split}/{'pos' if labels[i] else 'neg'}")
                counts[folder] = counts.get(folder, 0) + 1
                data = text.encode()
                rating = 0 if labels is None else 8 if labels[i] else 2
                info = tarfile.TarInfo(f"aclImdb/{folder}/{i}_{rating}.txt")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return {"train/unsup": 0} | counts


def small(name: str) -> TrainOptions:
    options = recipe(name)
    features = dataclasses.replace(options.features, num_words=40,
                                   max_ngrams=min(options.features.max_ngrams, 200))
    options = dataclasses.replace(options, features=features, validation_size=40)
    if hasattr(options.settings, "epochs"):
        options = dataclasses.replace(options, settings=dataclasses.replace(options.settings,
                                                                            epochs=3))
    return options


@pytest.mark.parametrize("model", [*recipes(), "nblr+unlabelled"])
def test_fitting_touches_only_training_reviews(model: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # nblr+unlabelled self-trains on the archive's unlabelled reviews (train/unsup): those,
    # never the test reviews.
    options = (dataclasses.replace(small("nblr"), unlabelled=True)
               if model == "nblr+unlabelled" else small(model))
    learned = {}
    for variant, (extra, flip) in {"a": ("", False), "b": ("zebra quokka unseen", True)}.items():
        counts = write_archive(tmp_path / f"{variant}.tar.gz", extra, flip)
        for module in (archive_module, corpus_module):
            monkeypatch.setattr(module, "IMDB_COUNTS", counts)
        result = train_bundle(options, tmp_path / variant,
                              data=str(tmp_path / f"{variant}.tar.gz"))
        bundle = result.path
        if options.unlabelled:
            training = json.loads((bundle / "config.json").read_text())["training"]
            assert training["unlabelled"]["reviews"] == 60
        learned[variant] = {name: (bundle / name).read_bytes() for name in (
            "vocabulary.json", "weights.safetensors", "features.safetensors")
            if (bundle / name).exists()}
        assert b"quokka" not in learned[variant]["vocabulary.json"]
    assert learned["a"] == learned["b"]
