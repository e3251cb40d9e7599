"""Sparse features against the book's dense code and scikit-learn's vectorizers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from critic.errors import ConfigError
from critic.features import FeatureConfig, FeatureSpace, multi_hot
from critic.text import tokenize

CORPUS = [
    "A moving, beautifully acted film. Loved it!",
    "Two hours of my life I will never get back.",
    "The film is awful; the acting is awful too.",
    "Beautifully shot, but the plot is thin.",
    "I loved the acting and I loved the plot.",
]


def vectorize_sequences(sequences, dimension=10000):  # the book's code, verbatim
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.
    return results


def test_multi_hot_equals_the_books_vectors() -> None:
    rng = np.random.default_rng(0)
    sequences = [rng.integers(0, 50, size=rng.integers(0, 30)).tolist() for _ in range(40)]
    sparse = multi_hot(sequences, 50)
    assert sparse.dtype == np.float32 and sparse.shape == (40, 50)
    assert np.array_equal(sparse.toarray(), vectorize_sequences(sequences, 50))
    assert np.array_equal(multi_hot(sequences, 50, dtype=np.uint8).toarray(),
                          vectorize_sequences(sequences, 50).astype(np.uint8))


def test_multi_hot_refuses_indices_outside_the_dimension() -> None:
    with pytest.raises(ConfigError, match=r"a word index \(12\) is not below dimension=10"):
        multi_hot([[1, 12]], 10)


def sklearn_analyzer(ngram_range=(1, 1)):
    """scikit-learn's n-gram analyzer over critic's tokens, so only the counting differs."""
    def analyze(text: str) -> list[str]:
        tokens = tokenize([text])[0]
        return [" ".join(tokens[i:i + n]) for n in range(ngram_range[0], ngram_range[1] + 1)
                for i in range(len(tokens) - n + 1)]
    return analyze


def columns_by_term(featurizer: FeatureSpace) -> dict[str, int]:
    columns = {w: rank + 3 for w, rank in featurizer.vocabulary_.word_index().items()
               if rank + 3 < featurizer.config.num_words}
    first = featurizer.config.num_words
    columns |= {g: first + j for j, g in enumerate(featurizer.ngram_strings())}
    return columns


@pytest.mark.parametrize("weighting", ["count", "tfidf"])
@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (1, 3)])
def test_featurizer_matches_scikit_learn(weighting: str, ngram_range: tuple[int, int]) -> None:
    config = FeatureConfig(weighting=weighting, num_words=1000, ngram_range=ngram_range,
                           max_ngrams=1000, start_char=None, oov_char=None)
    ours = FeatureSpace.from_config(config).fit(CORPUS)
    peer_type = TfidfVectorizer if weighting == "tfidf" else CountVectorizer
    peer = peer_type(analyzer=sklearn_analyzer(ngram_range)).fit(CORPUS)
    new = ["The plot is moving and the acting is awful.", "Never again!"]
    ours_matrix, peer_matrix = ours.transform(new), peer.transform(new)
    columns = columns_by_term(ours)
    assert set(columns) == set(peer.vocabulary_)
    order = [columns[t] for t in peer.get_feature_names_out()]
    np.testing.assert_allclose(ours_matrix[:, order].toarray(), peer_matrix.toarray(), rtol=1e-6)
    assert ours_matrix.nnz == peer_matrix.nnz  # nothing outside the vocabulary columns


def test_binary_featurizer_is_multi_hot_with_markers() -> None:
    featurizer = FeatureSpace(num_words=8).fit(CORPUS)
    x = featurizer.transform(["loved it, loved it", "zebra"])
    ids = featurizer.vocabulary_.encode(["loved it, loved it", "zebra"])
    assert np.array_equal(x.toarray(), vectorize_sequences(ids, 8))
    assert x[1, 1] == 1 and x[1, 2] == 1  # start marker, out-of-vocabulary


def test_max_ngrams_keeps_the_most_frequent() -> None:
    featurizer = FeatureSpace(ngram_range=(2, 2), max_ngrams=2).fit(CORPUS)
    # Four bigrams occur twice; ties go to the bigram of more frequent words ("the" ranks 1st).
    assert featurizer.ngram_strings() == ["the acting", "the plot"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weighting": "bm25"}, "`weighting` must be one of"),
    ({"ngram_range": (1, 4)}, "`ngram_range` must satisfy"),
    ({"ngram_range": (2, 1)}, "`ngram_range` must satisfy"),
    ({"ngram_range": (1, 2)}, "`max_ngrams` must be positive"),
])
def test_feature_config_refuses_nonsense(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FeatureConfig(**kwargs)
