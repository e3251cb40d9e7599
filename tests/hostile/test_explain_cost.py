"""Explaining a network's decision costs time linear in the review's length (issue 12.4): the
occlusion of every distinct word comes from a few feature columns each, not from scoring the
review again once per word. Checked exact against the naive occlusion, and by counting the
tokens featurised, never by timing."""

from __future__ import annotations

import random
import string
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critic.features import FeatureConfig, FeatureSpace
from critic.models.network.config import NetworkConfig
from critic.models.network.inference import NetworkModel

CORPUS = ["a good film with a great cast", "a bad film and a dull plot", "good good fun",
          "the plot was dull but the cast was great", "not good not bad just a film"]
WORDS = [*sorted({w for text in CORPUS for w in text.split()}), "unseen", "other"]
FEATURES = {
    "binary words": FeatureConfig(num_words=20),
    "tf-idf 1-3-grams": FeatureConfig(weighting="tfidf", num_words=20, ngram_range=(1, 3),
                                      max_ngrams=40, start_char=None, oov_char=None,
                                      sublinear_tf=True),
    "counts 1-2-grams": FeatureConfig(weighting="count", num_words=20, ngram_range=(1, 2),
                                      max_ngrams=30),
}


def network(featurizer: FeatureSpace, activation: str = "relu") -> NetworkModel:
    config = NetworkConfig(input_dim=featurizer.dimension, units=8, hidden_layers=2,
                           activation=activation)
    rng = np.random.default_rng(0)
    shapes = NetworkModel.expected_shapes(SimpleNamespace(network=config))  # type: ignore[arg-type]
    return NetworkModel(config, {name: rng.normal(size=shape).astype(np.float32)
                                 for name, shape in shapes.items()})


def naive_occlusion(model: NetworkModel, featurizer: FeatureSpace, tokens: list[str]
                    ) -> dict[str, float]:
    base = model.logits(featurizer.transform([" ".join(tokens)]))[0]
    return {word: base - model.logits(featurizer.transform(
        [" ".join(t for t in tokens if t != word)]))[0] for word in dict.fromkeys(tokens)}


@pytest.mark.parametrize("name", sorted(FEATURES))
@settings(max_examples=60, deadline=None)
@given(tokens=st.lists(st.sampled_from(WORDS), min_size=0, max_size=30))
def test_fast_occlusion_equals_scoring_the_review_without_each_word(
        name: str, tokens: list[str]) -> None:
    featurizer = FeatureSpace.from_config(FEATURES[name]).fit(CORPUS)
    model = network(featurizer, "tanh" if "tf-idf" in name else "relu")
    logit, words, intercept = model.explain(tokens, featurizer)
    expected = naive_occlusion(model, featurizer, tokens)
    assert intercept is None and [w.word for w in words] == list(expected)
    for word in words:
        assert word.contribution == pytest.approx(expected[word.word], abs=1e-4)
        assert word.occurrences == tokens.count(word.word)
    assert logit == pytest.approx(model.logits(featurizer.transform([" ".join(tokens)]))[0])


def test_explaining_featurises_a_bounded_multiple_of_the_review(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """40,000 characters of random words (about 5,700 distinct ones) used to mean featurising
    5,700 copies of the review; now each word's neighbourhood is featurised once."""
    featurizer = FeatureSpace.from_config(FEATURES["tf-idf 1-3-grams"]).fit(CORPUS)
    model = network(featurizer)
    rng = random.Random(0)
    tokens = ["".join(rng.choices(string.ascii_lowercase, k=6)) for _ in range(5_700)]
    featurised: list[int] = []
    counts = FeatureSpace.counts

    def counting(self: FeatureSpace, texts: list[str]) -> object:
        featurised.append(sum(len(t.split()) for t in texts))
        return counts(self, texts)

    monkeypatch.setattr(FeatureSpace, "counts", counting)
    _, words, _ = model.explain(tokens, featurizer)
    assert len(words) == len(set(tokens)) > 5_000
    # windows of 2 (n - 1) + 1 tokens, with and without the word, plus the review itself
    assert sum(featurised) <= len(tokens) * (2 * 5 + 1)
