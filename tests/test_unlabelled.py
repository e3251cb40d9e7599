"""Issue #16, the unlabelled regime: ``nblr`` self-trained on unlabelled reviews
(``--unlabelled``). The IMDB figures (the archive's 50,000 unlabelled reviews) are checked in
tests/test_leaderboard_real.py (the ``nblr+unlabelled`` row)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import invoke
from test_bundle import tiny_options, tiny_reviews

import critic
from critic._train import options_for, recipe, train_bundle
from critic.errors import ConfigError, DataError
from critic.features import FeatureSpace
from critic.models.nblr.estimator import NBLogisticRegression
from critic.models.nblr.fit import UNLABELLED_MARGIN, _Unlabelled

# Unlabelled reviews of praise: words of the labelled positive reviews, in other sentences.
PRAISE = [f"The film {i} was great, wonderful and brilliant: loved it." for i in range(300)]


def _nblr(**changes: object) -> critic.TrainOptions:
    return recipe("nblr", features=tiny_options().features, **changes)


def test_nblr_learns_from_the_reviews_it_is_sure_of(tmp_path: Path) -> None:
    reviews = tiny_reviews()
    plain = train_bundle(_nblr(), tmp_path / "plain", reviews=reviews)
    taught = train_bundle(_nblr(unlabelled=True), tmp_path / "taught", reviews=reviews,
                          unlabelled=PRAISE)
    training = json.loads((taught.path / "config.json").read_text())["training"]
    assert training["unlabelled"] == {"reviews": 300, "joined": 300,
                                      "margin": UNLABELLED_MARGIN, "weight": 1.0}
    assert "unlabelled" not in json.loads((plain.path / "config.json").read_text())["training"]
    # Trained on them as positive reviews, the model is surer of them than before.
    before = critic.load(plain.path).predict_proba(PRAISE).mean()
    assert critic.load(taught.path).predict_proba(PRAISE).mean() > before
    # The choice was judged again on the held-out reviews, with and without them.
    metrics = taught.metrics
    assert metrics["unlabelled"]["joined_at_validation"] == 300
    assert 0 <= metrics["unlabelled"]["validation_without"]["accuracy"] <= 1
    assert metrics["validation"]["accuracy"] >= 0.9


def test_self_training_is_a_fit_on_the_confident_reviews_under_the_models_labels() -> None:
    featurizer = FeatureSpace.from_config(tiny_options().features)
    reviews = tiny_reviews()
    x, y = featurizer.fit_transform(reviews.texts), reviews.labels
    mixed = [*PRAISE[:20], *tiny_reviews(60, seed=1).texts, "The plot and the actor."]
    x_unlabelled = featurizer.transform(mixed)
    model = NBLogisticRegression(C=0.3).fit(x, y)
    taught, joined = _Unlabelled(x_unlabelled).self_trained(model, x, y, None)
    positive = model.predict_proba(x_unlabelled)[:, 1]
    sure = np.abs(positive - 0.5) > UNLABELLED_MARGIN
    assert 20 <= joined == sure.sum() < len(mixed)  # the neutral one is not among them
    expected = NBLogisticRegression(C=0.3).fit(
        sp.vstack([x, x_unlabelled[sure]]), np.r_[y, (positive[sure] > 0.5).astype(np.uint8)])
    np.testing.assert_allclose(taught.coef_, expected.coef_, rtol=1e-6)
    assert taught.intercept_ == pytest.approx(expected.intercept_)


def test_unsure_reviews_do_not_join(tmp_path: Path) -> None:
    neither = [f"The plot {i} and the actor." for i in range(50)]
    taught = train_bundle(_nblr(unlabelled=True), tmp_path / "model", reviews=tiny_reviews(),
                          unlabelled=neither + PRAISE[:10])
    training = json.loads((taught.path / "config.json").read_text())["training"]
    assert training["unlabelled"]["reviews"] == 60 and training["unlabelled"]["joined"] == 10


def test_unlabelled_is_nblrs_and_in_memory_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nblr's"):
        options_for("dense", unlabelled=True)
    with pytest.raises(ConfigError, match="nblr's"):
        train_bundle(recipe("dense", unlabelled=True), tmp_path / "model", reviews=tiny_reviews())
    with pytest.raises(ConfigError, match="`unlabelled` is off"):
        train_bundle(_nblr(), tmp_path / "model", reviews=tiny_reviews(), unlabelled=PRAISE)
    with pytest.raises(DataError, match="no unlabelled reviews"):
        train_bundle(_nblr(unlabelled=True), tmp_path / "model", reviews=tiny_reviews(),
                     unlabelled=[])
    with pytest.raises(ConfigError, match="--unlabelled trains nblr in memory, not on a cluster"):
        train_bundle(_nblr(unlabelled=True), tmp_path / "model", cluster=object())
    assert not (tmp_path / "model").exists()


def test_the_cli_reads_unlabelled_reviews_from_a_file(tmp_path: Path) -> None:
    labelled = tmp_path / "reviews.csv"
    labelled.write_text("text,label\n" + "".join(f"Great fun number {i}. Loved it all,1\n"
                                                 f"Awful stuff {i}. Hated it all,0\n"
                                                 for i in range(40)))
    unlabelled = tmp_path / "unlabelled.txt"
    unlabelled.write_text("".join(f"Great fun, loved it {i}\n" for i in range(30)))
    model = tmp_path / "model"
    done = invoke("train", "--model", "nblr", "--input", str(labelled), "--unlabelled",
                  str(unlabelled), "--output", str(model))
    assert done.returncode == 0, done.stderr
    assert "unlabelled reviews it was sure of" in done.stdout
    assert "of 30 unlabelled reviews the refitted model is sure of" in done.stdout
    training = json.loads((model / "config.json").read_text())["training"]
    assert training["unlabelled"]["reviews"] == 30
    # Refused with a reason, nothing written: a network, a stream, a missing or empty file.
    for args, reason in (
            (("--model", "dense", "--unlabelled", str(unlabelled)), "nblr's"),
            (("--model", "nblr", "--memory-budget", "1K", "--unlabelled", str(unlabelled)),
             "in memory, not from a stream"),
            (("--model", "nblr", "--unlabelled", str(tmp_path / "nope.txt")), "does not exist"),
            (("--model", "nblr", "--unlabelled", str(tmp_path / "empty.txt")), "no reviews")):
        (tmp_path / "empty.txt").write_text("")
        done = invoke("train", "--input", str(labelled), *args, "--output",
                      str(tmp_path / "refused"))
        assert done.returncode == 2 and reason in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "refused").exists()


def test_a_copy_of_imdb_without_unlabelled_reviews_says_so(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from test_recipes import small, write_archive

    import critic.datasets.archive as archive_module
    import critic.datasets.corpus as corpus_module

    counts = write_archive(tmp_path / "bare.tar.gz", "", False, unlabelled=0)
    for module in (archive_module, corpus_module):
        monkeypatch.setattr(module, "IMDB_COUNTS", counts)
    with pytest.raises(DataError, match="no unlabelled reviews"):
        train_bundle(dataclasses.replace(small("nblr"), unlabelled=True), tmp_path / "model",
                     data=str(tmp_path / "bare.tar.gz"))
    assert not (tmp_path / "model").exists()
    done = invoke("train", "--model", "nblr", "--unlabelled", " ", "--output",
                  str(tmp_path / "model"))
    assert done.returncode == 2 and "needs imdb or a file" in done.stderr
