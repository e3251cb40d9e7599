"""critic's models as scikit-learn estimators: the library's own checks, any two labels,
pipelines, grid search and calibration — on toy data and on IMDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from critic.errors import ConfigError
from critic.estimators import Featurizer, NetworkClassifier
from critic.features import FeatureConfig
from critic.models.nblr.estimator import NBLogisticRegression

GOOD, BAD = ["great", "superb", "moving", "loved"], ["awful", "dull", "boring", "hated"]
FILLER = ["the", "film", "plot", "cast", "a", "was", "and", "it"]

# What each check asks that these models do not do, and why.
_LIBLINEAR_TOLERANCE = (
    "liblinear stops at tol 1e-2 and visits coordinates in a random order, so weights and "
    "repeated rows stop at other points near the optimum: probabilities differ by ~7e-4 where "
    "the check allows 1e-7 (test_sample_weight_is_repeating_a_row checks it at 5e-3)")
EXPECTED_FAILURES = {
    "NBLogisticRegression": {
        "check_decision_proba_consistency":
            "the check feeds negative features although the tags say positive_only; the NB "
            "ratios count features, so negative ones are refused",
        "check_sample_weight_equivalence_on_dense_data": _LIBLINEAR_TOLERANCE,
        "check_sample_weight_equivalence_on_sparse_data": _LIBLINEAR_TOLERANCE,
    },
    "NetworkClassifier": {
        "check_methods_subset_invariance":
            "float32 sparse products sum in a different order for a batch of one row, so "
            "logits differ in the 7th digit; the check allows 1e-7",
    },
}


def _expected_failures(estimator: object) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [NBLogisticRegression(),
     # The book's learning rate and batch need more data than the checks' 100-odd rows.
     NetworkClassifier(epochs=30, learning_rate=1e-2, batch_size=32)],
    expected_failed_checks=_expected_failures)
def test_scikit_learn_checks(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def toy_reviews(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    return [" ".join([*rng.choice(FILLER, 6), *rng.choice(GOOD if y else BAD, 2)])
            for y in labels], labels


@pytest.mark.parametrize("make", [NBLogisticRegression,
                                  lambda: NetworkClassifier(epochs=5, batch_size=32,
                                                            learning_rate=1e-2)])
@pytest.mark.parametrize("names", [(-1, 1), (1, 2), ("neg", "pos"), (False, True)])
def test_any_two_labels_train_the_same_model(make: object, names: tuple[object, object]
                                             ) -> None:
    texts, y = toy_reviews(200, seed=0)
    x = Featurizer(num_words=20).fit_transform(texts)
    reference = make().fit(x, y)  # type: ignore[operator]
    relabelled = np.array(names, dtype=object if isinstance(names[0], str) else None)[y]
    model = make().fit(x, relabelled)  # type: ignore[operator]
    assert list(model.classes_) == sorted(names)
    assert np.array_equal(model.decision_function(x), reference.decision_function(x))
    assert np.array_equal(model.predict(x), np.array(names, dtype=object)[reference.predict(x)])
    assert model.score(x, relabelled) == reference.score(x, y) > 0.9


def test_one_label_is_refused_with_a_clear_message() -> None:
    x = sp.csr_matrix(np.eye(3, dtype=np.float32))
    for model in (NBLogisticRegression(), NetworkClassifier()):
        with pytest.raises(ValueError, match=r"only one class.*1 class"):
            model.fit(x, ["pos"] * 3)


def five_star_reviews(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Reviews whose words say their stars (1–5): a word of their own star, one of a star
    next to it."""
    rng = np.random.default_rng(seed)
    words = {1: "awful worst", 2: "dull weak", 3: "fine okay", 4: "good nice",
             5: "superb brilliant"}
    stars = np.arange(n) % 5 + 1
    return [" ".join([*rng.choice(FILLER, 5), *rng.choice(words[int(k)].split(), 2),
                      rng.choice(words[int(np.clip(k + rng.choice([-1, 1]), 1, 5))].split())])
            for k in stars], stars


@pytest.mark.parametrize("make", [NBLogisticRegression,
                                  lambda: NetworkClassifier(epochs=40, batch_size=32,
                                                            learning_rate=1e-2)])
def test_five_stars_follow_scikit_learns_multi_class_conventions(make: object) -> None:
    """``classes_`` the labels, ``decision_function`` ``(n, K)``, ``predict_proba``
    ``(n, K)`` summing to 1 with its best column ``predict``'s label; in a pipeline with
    cross-validation (stratified folds, scikit-learn's default for classifiers)."""
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline

    texts, stars = five_star_reviews(500, seed=0)
    test_texts, test_stars = five_star_reviews(200, seed=1)
    pipeline = make_pipeline(Featurizer(num_words=30), make())  # type: ignore[operator]
    pipeline.fit(texts, stars)
    assert pipeline.classes_.tolist() == [1, 2, 3, 4, 5]
    probabilities = pipeline.predict_proba(test_texts)
    assert probabilities.shape == (200, 5)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert pipeline.decision_function(test_texts).shape == (200, 5)
    predicted = pipeline.predict(test_texts)
    assert np.array_equal(predicted, pipeline.classes_[probabilities.argmax(axis=1)])
    assert (predicted == test_stars).mean() > 0.6  # chance is 0.2
    scores = cross_val_score(pipeline, texts, stars, cv=3)
    assert scores.min() > 0.6


def test_what_more_labels_cannot_use_is_refused() -> None:
    texts, stars = five_star_reviews(100, seed=0)
    x = Featurizer(num_words=30).fit_transform(texts)
    with pytest.raises(ValueError, match=r"unit_length .* trains two labels, not 5"):
        NBLogisticRegression(unit_length=True).fit(x, stars)
    with pytest.raises(ValueError, match="loss='mse' scores one sigmoid"):
        NetworkClassifier(loss="mse").fit(x, stars)


def test_probabilities_have_a_column_per_class_and_match_the_logits() -> None:
    texts, y = toy_reviews(100, seed=1)
    x = Featurizer(num_words=20).fit_transform(texts)
    for model in (NBLogisticRegression().fit(x, y), NetworkClassifier(epochs=2).fit(x, y)):
        p = model.predict_proba(x)
        assert p.shape == (100, 2) and np.allclose(p.sum(axis=1), 1.0)
        assert np.allclose(p[:, 1], 1 / (1 + np.exp(-model.decision_function(x))))
        assert np.array_equal(model.predict(x), model.classes_[p.argmax(axis=1)])


def test_settings_are_stored_as_given_and_checked_in_fit() -> None:
    texts, y = toy_reviews(20, seed=2)
    for unfit in (Featurizer(num_words=0), NBLogisticRegression(C=-1.0),
                  NetworkClassifier(units=0)):
        assert clone(unfit).get_params() == unfit.get_params()  # no error, nothing changed
        with pytest.raises(ConfigError):
            if isinstance(unfit, Featurizer):
                unfit.fit(texts)
            else:
                unfit.fit(np.ones((20, 3)), y)


def test_unfitted_models_raise_not_fitted_error() -> None:
    with pytest.raises(NotFittedError):
        Featurizer().transform(["a film"])
    with pytest.raises(NotFittedError):
        Featurizer().get_feature_names_out()
    with pytest.raises(NotFittedError):
        NBLogisticRegression().predict_proba(np.ones((1, 3)))


def test_sample_weight_is_repeating_a_row() -> None:
    from critic.models.nblr.estimator import nb_ratios

    texts, labels = toy_reviews(200, seed=4)
    x = Featurizer(num_words=40).fit_transform(texts)
    weights = np.where(np.arange(200) % 3 == 0, 2.0, 1.0)
    repeated = np.repeat(np.arange(200), weights.astype(int))
    # The NB counts are exact; the fits agree to liblinear's tolerance.
    assert np.allclose(nb_ratios(x, labels, sample_weight=weights),
                       nb_ratios(x[repeated], labels[repeated]))
    for beta in (1.0, 0.5):
        weighed = NBLogisticRegression(beta=beta).fit(x, labels, sample_weight=weights)
        copied = NBLogisticRegression(beta=beta).fit(x[repeated], labels[repeated])
        assert np.abs(weighed.predict_proba(x) - copied.predict_proba(x)).max() < 5e-3
        plain = NBLogisticRegression(beta=beta).fit(x, labels)
        assert np.abs(weighed.predict_proba(x) - plain.predict_proba(x)).max() > 5e-3


def test_featurizer_in_a_pipeline_names_its_columns() -> None:
    texts, y = toy_reviews(200, seed=3)
    pipeline = make_pipeline(Featurizer(num_words=20, ngram_range=(1, 2), max_ngrams=5),
                             NBLogisticRegression())
    pipeline.fit(texts, y)
    featurizer = pipeline.named_steps["featurizer"]
    names = featurizer.get_feature_names_out()
    assert len(names) == featurizer.dimension == 25
    assert list(names[:3]) == ["<unused>", "<start>", "<unknown>"]  # the book's marker columns
    assert all(" " in name for name in names[20:])  # the bigrams follow the words
    column = list(names).index("the")
    assert featurizer.transform(["the"])[0, column] == 1.0
    assert pipeline.score(texts, y) > 0.9
    assert Featurizer.from_config(FeatureConfig(num_words=12)).get_params()["num_words"] == 12


def test_nblr_behind_scikit_learns_own_vectorizer() -> None:
    texts, y = toy_reviews(200, seed=4)
    pipeline = make_pipeline(CountVectorizer(binary=True), NBLogisticRegression())
    assert cross_val_score(pipeline, texts, y, cv=3).mean() > 0.9


def test_pipeline_grid_search_and_calibration_on_imdb(real_data: Path) -> None:
    from critic.datasets.corpus import load_corpus

    corpus = load_corpus(real_data)
    train, test = corpus.subset("train"), corpus.subset("test")
    rng = np.random.default_rng(0)
    pick_train = rng.choice(len(train), 4_000, replace=False)
    pick_test = rng.choice(len(test), 4_000, replace=False)
    names = np.array(["neg", "pos"], dtype=object)
    x_train = [train.texts[int(i)] for i in pick_train]
    y_train = names[train.labels[pick_train]]
    x_test = [test.texts[int(i)] for i in pick_test]
    y_test = names[test.labels[pick_test]]

    pipeline = make_pipeline(Featurizer(num_words=20_000), NBLogisticRegression())
    search = GridSearchCV(pipeline, {"featurizer__ngram_range": [(1, 1), (1, 2)],
                                     "featurizer__max_ngrams": [100_000],
                                     "nblogisticregression__C": [0.1, 1.0]}, cv=3)
    search.fit(x_train, y_train)
    assert set(search.cv_results_["mean_test_score"]) and search.best_score_ > 0.83
    accuracy = search.score(x_test, y_test)
    assert accuracy > 0.84

    calibrated = CalibratedClassifierCV(search.best_estimator_, cv=3).fit(x_train, y_train)
    assert list(calibrated.classes_) == ["neg", "pos"]
    probabilities = calibrated.predict_proba(x_test)[:, 1]
    # Calibration keeps the ranking close to the searched model's and the accuracy with it.
    assert calibrated.score(x_test, y_test) > accuracy - 0.02
    assert abs(probabilities.mean() - (y_test == "pos").mean()) < 0.05
