"""``nblr --unit-length``: each review's NB-scaled features scaled to length 1, so that a
short text is not called positive for having few n-grams. The IMDB figures are checked in
tests/test_leaderboard_real.py (the ``nblr+unit-length`` row); the bundle contract in
tests/test_bundle.py covers it as a model type."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import invoke
from safetensors.numpy import load_file
from test_bundle import tiny_reviews, toy_recipe

import critic
from critic._train import options_for, recipe, train_bundle
from critic.errors import ConfigError, ModeError
from critic.features import FeatureSpace
from critic.models.nblr.config import LinearConfig
from critic.models.nblr.estimator import NBLogisticRegression, nb_ratios


def _features() -> tuple[sp.csr_matrix, np.ndarray]:
    reviews = tiny_reviews()
    space = FeatureSpace(num_words=40, ngram_range=(1, 2), max_ngrams=200, start_char=None,
                         oov_char=None)
    return space.fit_transform(reviews.texts), reviews.labels


def test_it_is_logistic_regression_on_unit_length_nb_scaled_rows() -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = _features()
    ours = NBLogisticRegression(C=10.0, unit_length=True).fit(x, y)
    r = nb_ratios(x, y)
    scaled = x.multiply(r).tocsr()
    lengths = np.sqrt(np.asarray(scaled.multiply(scaled).sum(axis=1)).ravel())
    rows = sp.diags(1 / lengths) @ scaled
    reference = LogisticRegression(C=10.0, solver="liblinear", dual=True, tol=1e-2,
                                   random_state=0).fit(rows, y)
    assert np.allclose(ours.coef_[0], r * reference.coef_.ravel(), atol=1e-5)
    np.testing.assert_allclose(ours.decision_function(x), reference.decision_function(rows),
                               atol=1e-4)
    # The same review with more n-grams that say nothing no longer scores further out.
    plain = NBLogisticRegression(C=0.3).fit(x, y)
    assert np.abs(ours.decision_function(x)).max() < np.abs(plain.decision_function(x)).max() * 10


def test_an_empty_review_scores_the_intercept() -> None:
    x, y = _features()
    model = NBLogisticRegression(C=10.0, beta=0.5, unit_length=True).fit(x, y)
    empty = sp.csr_matrix((1, x.shape[1]), dtype=np.float32)
    assert model.decision_function(empty)[0] == pytest.approx(model.intercept_[0])


def test_the_bundle_scores_and_explains_as_the_estimator(tmp_path: Path) -> None:
    options = options_for("nblr", unit_length=True)
    assert options.settings.linear == LinearConfig.with_unit_length()
    options = recipe("nblr", features=toy_recipe("nblr").features, settings=options.settings,
                     validation_size=0.25)
    result = train_bundle(options, tmp_path / "model", reviews=tiny_reviews())
    config = json.loads((result.path / "config.json").read_text())
    assert config["model"]["unit_length"] is True
    assert config["training"]["unit_length"] is True and config["training"]["C"] >= 10
    weights = load_file(result.path / "weights.safetensors")
    assert set(weights) == {"linear.weight", "linear.bias", "linear.squared_ratios"}
    model = critic.load(result.path)
    texts = ["wonderful", "The film was wonderful and moving but the plot was dull."]
    explanation = model.explain(texts[1])
    total = sum(w.contribution for w in explanation.words) + explanation.intercept
    assert explanation.method == "additive"
    assert total == pytest.approx(float(model.decision_function([texts[1]])[0]), abs=1e-5)
    # One word alone weighs its whole length: its contribution is |r| times its weight / r².
    one = model.explain(texts[0])
    (word,) = [w for w in one.words if w.word == "wonderful"]
    assert word.contribution > 0


def test_unit_length_is_nblrs_and_in_memory_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nblr's"):
        options_for("dense", unit_length=True)
    with pytest.raises(ConfigError, match="unit_length"):
        LinearConfig(unit_length="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--unit-length trains nblr in memory, not on a"):
        train_bundle(options_for("nblr", unit_length=True), tmp_path / "m", cluster=object())
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text,label\n" + "".join(f"Great fun number {i}. Loved it all,1\n"
                                                 f"Awful stuff {i}. Hated it all,0\n"
                                                 for i in range(30)))
    done = invoke("train", "--model", "nblr", "--input", str(reviews), "--memory-budget", "1K",
                  "--unit-length", "--output", str(tmp_path / "model"))
    assert done.returncode == 2 and "in memory, not from a stream" in done.stderr
    done = invoke("train", "--model", "dense", "--input", str(reviews), "--unit-length",
                  "--output", str(tmp_path / "model"))
    assert done.returncode == 2 and "nblr's" in done.stderr
    assert not (tmp_path / "model").exists()
    done = invoke("train", "--model", "nblr", "--input", str(reviews), "--unit-length",
                  "--output", str(tmp_path / "model"))
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "model" / "config.json").read_text())["model"][
        "unit_length"] is True


@pytest.mark.parametrize(("knob", "flag"), [("num_words", "--num-words"),
                                            ("max_ngrams", "--max-ngrams")])
def test_a_vocabulary_asked_of_nblr_is_not_ignored_by_a_stream(tmp_path: Path, knob: str,
                                                               flag: str) -> None:
    """Streamed and cluster nblr hash every n-gram: a vocabulary size or n-gram cap would
    be silently ignored there, so asking for one trains in memory or is refused."""
    options = options_for("nblr", **{knob: 5_000})
    with pytest.raises(ModeError, match=f"{flag} trains nblr in memory, not on a"):
        train_bundle(options, tmp_path / "m", cluster=object())
    assert options_for("nblr").settings == options.settings  # the recipe itself streams
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text,label\n" + "".join(f"Great fun number {i}. Loved it all,1\n"
                                                 f"Awful stuff {i}. Hated it all,0\n"
                                                 for i in range(30)))
    done = invoke("train", "--model", "nblr", "--input", str(reviews), "--mode", "stream",
                  flag, "5000", "--output", str(tmp_path / "model"))
    assert done.returncode == 2 and f"{flag} trains nblr in memory" in done.stderr
    assert not (tmp_path / "model").exists()
