"""Bundles and the Predictor on a tiny corpus: round trip, contract, tampering, bad input."""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

import critic
from critic._train import TrainOptions, recipe, train_bundle
from critic.bundle import BundleError, read_bundle, with_threshold
from critic.datasets.files import Reviews
from critic.errors import ConfigError, OutputExistsError
from critic.features import FeatureConfig
from critic.models.nblr.config import LinearConfig
from critic.models.network.config import NetworkConfig, TrainConfig
from critic.models.network.family import NetworkSettings
from critic.models.registry import recipes

GOOD = ["great", "wonderful", "moving", "brilliant", "loved", "superb"]
BAD = ["awful", "boring", "terrible", "worst", "dull", "waste"]
FILLER = ["the", "film", "plot", "actor", "scene", "story", "was", "and", "it", "a"]


def tiny_reviews(n: int = 400, seed: int = 0) -> Reviews:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(FILLER, size=8)) + list(rng.choice(GOOD if label else BAD,
                                                                     size=2))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(label)
    return Reviews(texts, np.array(labels, dtype=np.uint8), None, "tiny")


def tiny_options(**network: object) -> TrainOptions:
    """The book's network, small and quick, on the toy corpus's words."""
    return recipe("dense", features=FeatureConfig(num_words=40), validation_size=0.25,
                  settings=NetworkSettings(
                      network=NetworkConfig(**network),  # type: ignore[arg-type]
                      training=TrainConfig(batch_size=32, learning_rate=1e-2), epochs=8))


def with_settings(options: TrainOptions, **changes: object) -> TrainOptions:
    """``options`` with its family's settings changed (``linear=…``, ``epochs=…``)."""
    return dataclasses.replace(options, settings=dataclasses.replace(options.settings,
                                                                     **changes))


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return train_bundle(tiny_options(), tmp_path / "model", reviews=tiny_reviews()).path


def toy_recipe(name: str) -> TrainOptions:
    """A named model scaled down to the toy corpus (its 16 words and their n-grams)."""
    options = recipe(name)
    features = dataclasses.replace(options.features, num_words=40,
                                   max_ngrams=min(options.features.max_ngrams, 300))
    options = dataclasses.replace(options, features=features, validation_size=0.25)
    if isinstance(options.settings, NetworkSettings):
        options = with_settings(options, epochs=8,
                                training=TrainConfig(batch_size=32, learning_rate=1e-2))
    return options


#: Every recipe of every registered family, scaled down, and variants that store more.
MODEL_TYPES = {name: functools.partial(toy_recipe, name) for name in recipes()} | {
    "dense": tiny_options,
    "dense-3-layers-dropout": lambda: tiny_options(hidden_layers=3, dropout=0.3),
    "dense-tanh": lambda: tiny_options(activation="tanh", units=8),
    "nblr-unit-length": lambda: with_settings(toy_recipe("nblr"),
                                              linear=LinearConfig.with_unit_length())}


def test_every_named_model_is_in_the_contract() -> None:
    assert set(recipes()) <= set(MODEL_TYPES)


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_model_contract(model_type: str, tmp_path: Path) -> None:
    """Every model type: fits toy data, gives probabilities in [0, 1] of the right shape,
    gives identical predictions after a save/load round trip, and explains exactly."""
    result = train_bundle(MODEL_TYPES[model_type](), tmp_path / model_type,
                          reviews=tiny_reviews())
    model = critic.load(result.path)
    texts = tiny_reviews(50, seed=1).texts
    probabilities = model.predict_proba(texts)
    assert probabilities.shape == (50,)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert model.predict(texts).shape == (50,)
    assert result.metrics["validation"]["accuracy"] > 0.9  # the toy task is easy
    again = critic.load(result.path)
    assert np.array_equal(again.predict_proba(texts), probabilities)
    check_explanation(model, "The film was wonderful and moving but the plot was dull.")


def check_explanation(model: critic.Predictor, text: str) -> None:
    """Additive explanations add up to the logit; occlusion ones match re-scoring without
    the word. Either way, good words push up and bad words down."""
    explanation = model.explain(text)
    logit = float(model.decision_function([text])[0])
    assert explanation.logit == pytest.approx(logit, abs=1e-5)
    if explanation.method == "additive":
        total = sum(w.contribution for w in explanation.words) + explanation.intercept
        assert total == pytest.approx(logit, abs=1e-5)
        listed = {w.word for w in explanation.words}
        assert "wonderful" in listed and any(" " in w for w in listed)  # words and n-grams
    else:
        for word in explanation.words:
            without = " ".join(t for t in explanation.tokens if t != word.word)
            changed = logit - float(model.decision_function([without])[0])
            assert word.contribution == pytest.approx(changed, abs=1e-5)
    signs = explanation.contribution_of()
    assert signs["wonderful"] > 0 and signs["dull"] < 0


def test_predictor_refuses_a_bare_string(bundle: Path) -> None:
    model = critic.load(bundle)
    with pytest.raises(TypeError, match="not a single string"):
        model.predict_proba("great movie")
    with pytest.raises(TypeError, match="one review as a string"):
        model.explain(["great movie"])  # type: ignore[arg-type]


def test_a_loaded_model_answers_like_a_hugging_face_pipeline(bundle: Path) -> None:
    model = critic.load(bundle)
    texts = ["a wonderful film", "dull and boring"]
    positive = model.predict_proba(texts)
    labels = ["positive" if p >= 0.5 else "negative" for p in positive]
    confidence = [p if label == "positive" else 1 - p for p, label in zip(positive, labels,
                                                                          strict=True)]
    one = model(texts[0])
    assert len(one) == 1 and one[0]["label"] == labels[0]
    assert one[0]["score"] == pytest.approx(confidence[0], abs=1e-6)
    many = model(texts)
    assert [x["label"] for x in many] == labels
    assert [x["score"] for x in many] == pytest.approx(confidence, abs=1e-6)
    every = model(texts, top_k=None)  # per text, both labels, the more likely first
    assert [[x["label"] for x in ranked] for ranked in every] == [
        [labels[0], "negative" if labels[0] == "positive" else "positive"],
        [labels[1], "negative" if labels[1] == "positive" else "positive"]]
    assert all(ranked[0]["score"] >= ranked[1]["score"] for ranked in every)
    assert all(sum(x["score"] for x in ranked) == pytest.approx(1) for ranked in every)
    alone = model(texts[1], top_k=1)  # one text, top_k given: its list
    assert len(alone) == 1 and alone[0]["label"] == every[1][0]["label"]
    assert model(texts, top_k=5) == every
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="top_k"):
            model(texts, top_k=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        model({"text": "great"})  # type: ignore[arg-type]


def test_empty_and_very_long_reviews_are_scored(bundle: Path) -> None:
    model = critic.load(bundle)
    long_review = ("the plot was dull and boring " * 300_000) + "but the ending was superb"
    p = model.predict_proba(["", "!!!", long_review, "awful"])
    assert p.shape == (4,) and np.isfinite(p).all()
    assert p[0] == p[1]  # nothing but the start marker: the model's prior
    # Nothing is truncated: a word at the very end of a 9 MB review still counts.
    assert p[2] != model.predict_proba([long_review.rsplit(" but", 1)[0]])[0]


def test_threshold_is_stored_and_used(bundle: Path) -> None:
    texts = tiny_reviews(40, seed=2).texts
    probabilities = critic.load(bundle).predict_proba(texts)
    with_threshold(bundle, 0.9)
    model = critic.load(bundle)
    assert model.threshold == 0.9
    assert np.array_equal(model.predict(texts), (probabilities >= 0.9).astype(np.int8))
    with pytest.raises(ConfigError, match="threshold"):
        with_threshold(bundle, 1.5)


def corrupt(path: Path, offset: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda b: corrupt(b / "weights.safetensors"), "weights.safetensors does not match"),
    (lambda b: (b / "vocabulary.json").write_text("{}"), "vocabulary.json is 2 bytes, not the"),
    (lambda b: (b / "vocabulary.json").write_bytes(b" " * (b / "vocabulary.json").stat().st_size),
     "vocabulary.json does not match"),
    (lambda b: (b / "metrics.json").unlink(), "metrics.json is missing"),
    (lambda b: (b / "manifest.json").write_text("not json"), "manifest.json is not valid JSON"),
    (lambda b: (b / "manifest.json").unlink(), "is not a critic bundle"),
])
def test_damaged_bundles_are_refused(bundle: Path, damage, message: str) -> None:
    damage(bundle)
    with pytest.raises(BundleError, match=message):
        critic.load(bundle)


def rewrite_config(bundle: Path, change) -> None:
    """Edit config.json by hand and re-sign the manifest, as a careless user might."""
    from critic.bundle import _with_manifest

    config = json.loads((bundle / "config.json").read_text())
    change(config)
    listed = json.loads((bundle / "manifest.json").read_text())["files"]
    blobs = {name: (bundle / name).read_bytes() for name in listed}
    blobs["config.json"] = json.dumps(config).encode()
    for name, blob in _with_manifest(blobs).items():
        (bundle / name).write_bytes(blob)


def test_a_bundle_tokenises_with_the_tokenizer_it_was_trained_with(bundle: Path) -> None:
    text = "I don\u2019t &amp; <i>won't</i>"
    assert json.loads((bundle / "config.json").read_text())["tokenizer"]["version"] == 2
    assert critic.load(bundle).featurizer.tokenize([text]).to_lists() == [
        ["i", "don't", "won't"]]
    rewrite_config(bundle, lambda c: c["tokenizer"].update(version=1))  # as critic 0.2 wrote
    older = critic.load(bundle)
    assert older.featurizer.tokenize([text]).to_lists() == [
        ["i", "don", "t", "amp", "i", "won't", "i"]]
    assert older.explain(text).tokens == ["i", "don", "t", "amp", "i", "won't", "i"]
    assert older.predict_proba([text]).shape == (1,)


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.update(format_version=99), "bundle format 99"),
    (lambda c: c["tokenizer"].update(version=0), "tokenizer version 0.*upgrade critic"),
    (lambda c: c["tokenizer"].update(version=3), "tokenizer version 3"),
    (lambda c: c["model"]["network"].update(units=32), "do not fit a network model"),
    (lambda c: c["model"].update(type="forest"), "unknown model type 'forest'"),
    (lambda c: c["model"].update(type="linear"), "do not fit a linear model"),
    (lambda c: c.update(features={"kind": "tfidf"}), "features.weighting: field required"),
    (lambda c: c["features"].update(num_words=80, dimension=80), "do not fit together"),
    (lambda c: c["features"].update(weighting="tfidf"), "need an idf"),
    (lambda c: c["features"].update(ngram_range=[1, 4]), "ngram_range"),
    (lambda c: c["features"].update(dimension=41), "feature columns"),
    (lambda c: c.update(threshold=7), "threshold"),
])
def test_incompatible_bundles_are_refused(bundle: Path, change, message: str) -> None:
    rewrite_config(bundle, change)
    with pytest.raises(BundleError, match=message):
        read_bundle(bundle)


def test_a_hand_edited_bundle_exits_2_on_the_command_line(bundle: Path) -> None:
    rewrite_config(bundle, lambda c: c["features"].update(num_words=80, dimension=80))
    done = run_cli("predict", str(bundle), "a good film")
    assert done.returncode == 2
    assert "do not fit together" in done.stderr and "Traceback" not in done.stderr


def test_missing_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        critic.load(tmp_path / "nothing")


def test_existing_bundle_is_not_replaced_without_overwrite(bundle: Path) -> None:
    before = (bundle / "weights.safetensors").read_bytes()
    with pytest.raises(OutputExistsError, match="exists already"):
        train_bundle(tiny_options(), bundle, reviews=tiny_reviews())
    assert (bundle / "weights.safetensors").read_bytes() == before
    shutil.copytree(bundle, bundle.parent / "copy")
    train_bundle(tiny_options(), bundle, reviews=tiny_reviews(seed=5), overwrite=True)
    assert (bundle / "weights.safetensors").read_bytes() != before
    assert critic.load(bundle).predict_proba(["great"]).shape == (1,)
