"""The Keras-compatible API on the real IMDB data: the book's cells, run unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from critic.datasets.archive import fingerprint
from critic.datasets.corpus import cache_path, load_corpus
from critic.datasets.imdb import encoded_imdb, load_encoded
from critic.features import multi_hot
from critic.text import TOKENIZER_VERSION, tokenize_texts


def test_the_books_cells_run_unchanged(real_data: Path) -> None:
    from critic.datasets import imdb

    (train_data, train_labels), (test_data, test_labels) = imdb.load_data(num_words=10000)
    assert len(train_data) == len(test_data) == len(test_labels) == 25_000
    assert isinstance(train_data[0], list) and train_data[0][0] == 1
    assert train_labels[0] in (0, 1) and train_labels.mean() == 0.5
    assert train_labels.dtype == test_labels.dtype == np.int64  # as Keras: 2 * y - 1 is -1/+1
    assert set((2 * train_labels - 1).tolist()) == {-1, 1}
    assert max([max(sequence) for sequence in train_data]) == 9999
    word_index = imdb.get_word_index()
    reverse_word_index = dict([(value, key) for (key, value) in word_index.items()])
    decoded_review = " ".join([reverse_word_index.get(i - 3, "?") for i in train_data[0]])
    assert decoded_review.startswith("? ")
    assert len(decoded_review.split()) == len(train_data[0])
    assert word_index["the"] == 1


def test_shuffling_follows_the_seed(real_data: Path) -> None:
    from critic.datasets import imdb

    (a, ya), _ = imdb.load_data(num_words=100, seed=113)
    (b, yb), _ = imdb.load_data(num_words=100, seed=113)
    (c, _), _ = imdb.load_data(num_words=100, seed=7)
    assert list(a[:50]) == list(b[:50]) and np.array_equal(ya, yb)
    assert list(a[:50]) != list(c[:50])


def test_keras_options_on_real_data(real_data: Path) -> None:
    from critic.datasets import imdb

    (x, _), (xt, _) = imdb.load_data(num_words=1000, skip_top=20, maxlen=100,
                                     start_char=None, oov_char=None)
    assert 0 < len(x) < 25_000 and 0 < len(xt) < 25_000
    assert all(len(s) < 100 for s in x)
    assert all(20 <= i < 1000 for s in x[:500] for i in s)


def test_multi_hot_equals_the_books_vectors_on_real_reviews(real_data: Path) -> None:
    (train, _), _ = load_encoded(num_words=10_000)
    sample = [train[i].tolist() for i in range(200)]
    dense = np.zeros((len(sample), 10_000))
    for i, sequence in enumerate(sample):
        dense[i, sequence] = 1.0
    assert np.array_equal(multi_hot(sample, 10_000).toarray(), dense)


def test_vocabulary_is_ranked_on_training_reviews_only(real_data: Path) -> None:
    corpus = load_corpus()
    vocabulary = encoded_imdb().vocabulary
    train_tokens = tokenize_texts(corpus.subset("train").texts)
    test_tokens = tokenize_texts(corpus.subset("test").texts)
    train_words = set(train_tokens.words.filter(train_tokens.counts() > 0).to_pylist())
    test_words = set(test_tokens.words.filter(test_tokens.counts() > 0).to_pylist())
    assert set(vocabulary.words) == train_words
    only_in_test = test_words - train_words
    assert len(only_in_test) > 1000  # there are such words, and none of them got a rank
    assert not only_in_test & set(vocabulary.words)


def test_real_corpus_counts(real_data: Path) -> None:
    corpus = load_corpus()
    assert corpus.counts() == {"train": {"neg": 12_500, "pos": 12_500},
                               "test": {"neg": 12_500, "pos": 12_500},
                               "unsup": {"unlabelled": 50_000}}
    positive = corpus.labels == 1
    assert (corpus.ratings[positive] >= 7).all()
    assert (corpus.ratings[corpus.labels == 0] <= 4).all()


def test_token_cache_holds_no_pickles(real_data: Path) -> None:
    encoded_imdb()
    tokens = cache_path(fingerprint(real_data)).with_suffix(f".tokens-v{TOKENIZER_VERSION}.npz")
    with np.load(tokens, allow_pickle=False) as data:  # reading an object array would raise
        assert all(data[key].dtype != object for key in data.files)
        assert data["train_values"].dtype == np.int32


def test_test_words_never_seen_in_training_are_out_of_vocabulary(real_data: Path) -> None:
    """Keras's pre-built index ranks train and test words together, so with num_words=None a
    test-only word keeps an index of its own there; critic ranks training words only (the
    test text is not looked at), so such a word is oov_char, or dropped with oov_char=None,
    as Keras drops out-of-vocabulary words then."""
    from critic.datasets import imdb

    (train, _), (test, _) = imdb.load_data()
    assert not any(2 in review for review in train)  # every training word has its index
    unseen = sum(review.count(2) for review in test)
    assert unseen > 50_000  # 57,726 with tokenizer version 2
    (_, _), (dropped, _) = imdb.load_data(oov_char=None)
    assert sum(map(len, test)) - sum(map(len, dropped)) == unseen
    assert not any(2 in review for review in dropped)
