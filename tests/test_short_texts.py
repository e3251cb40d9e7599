"""Issue #16, short texts: the short-text check built from IMDB's test reviews, and ``nblr``
trained on its reviews' sentences too (``--sentence-weight``), which makes it right on short
texts without losing on whole reviews. The IMDB figures are checked in
tests/test_leaderboard_real.py (the ``nblr+sentences`` row)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke
from test_bundle import tiny_options, tiny_reviews, with_settings

from critic._train import options_for, recipe, train_bundle
from critic.datasets.files import Reviews
from critic.errors import ConfigError
from critic.evaluation import short_texts
from critic.text import split_sentences


def test_sentences_end_at_breaks_and_stops_and_short_ones_are_dropped() -> None:
    texts = ["Loved it. The cast is great!<br /><br />Ten out of ten... Would watch again?",
             "Dull.", "One long sentence with no stop at all"]
    sentences, owners = split_sentences(texts)
    assert sentences == ["The cast is great!", "Ten out of ten...", "Would watch again?",
                         "One long sentence with no stop at all"]
    assert owners.tolist() == [0, 0, 0, 2]
    assert split_sentences([]) == ([], pytest.approx(np.zeros(0)))


def test_the_check_takes_each_reviews_first_and_last_sentence_once() -> None:
    texts = ["Loved every minute of it. The middle is fine. Ten out of ten.",
             "A boring mess, really.", "No.", "It starts well. It ends badly."]
    checked, labels = short_texts(texts, np.array([1, 0, 1, 0]))
    assert checked == ["Loved every minute of it.", "Ten out of ten.",
                       "A boring mess, really.", "It starts well.", "It ends badly."]
    assert labels.tolist() == [1, 1, 0, 0, 0]
    assert short_texts(["No."], np.array([1]))[0] == []


def test_sentence_weight_is_checked() -> None:
    for bad in (-0.1, float("inf"), float("nan"), True):
        with pytest.raises(ConfigError, match="sentence_weight"):
            options_for("nblr", sentence_weight=bad)
    with pytest.raises(ConfigError, match="nblr's"):
        options_for("dense", sentence_weight=0.1)


def test_nblr_trains_on_its_reviews_sentences_too(tmp_path: Path) -> None:
    reviews = tiny_reviews()
    options = recipe("nblr", features=tiny_options().features)
    plain = train_bundle(options, tmp_path / "plain", reviews=reviews)
    weighed = train_bundle(with_settings(options, sentence_weight=0.1),
                           tmp_path / "weighed", reviews=reviews)
    config = json.loads((weighed.path / "config.json").read_text())["training"]
    sentences, _ = split_sentences(reviews.texts)
    assert config["sentence_weight"] == 0.1 and config["sentences"] == len(sentences) > 0
    assert json.loads((plain.path / "config.json").read_text())["training"]["sentences"] == 0
    assert (weighed.path / "weights.safetensors").read_bytes() \
        != (plain.path / "weights.safetensors").read_bytes()


def test_sentences_train_in_memory_only(tmp_path: Path) -> None:
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text,label\n" + "".join(f"Great fun number {i}. Loved it all,1\n"
                                                 f"Awful stuff {i}. Hated it all,0\n"
                                                 for i in range(30)))
    done = invoke("train", "--model", "nblr", "--input", str(reviews), "--memory-budget", "1K",
                  "--sentence-weight", "0.1", "--output", str(tmp_path / "model"))
    assert done.returncode == 2 and "in memory, not from a stream" in done.stderr
    assert not (tmp_path / "model").exists()
    done = invoke("train", "--model", "dense", "--input", str(reviews), "--sentence-weight",
                  "0.1", "--output", str(tmp_path / "model"))
    assert done.returncode == 2 and "nblr's" in done.stderr
    done = invoke("train", "--model", "nblr", "--input", str(reviews), "--sentence-weight",
                  "0.1", "--output", str(tmp_path / "model"))
    assert done.returncode == 0, done.stderr


def test_a_reviews_sentences_stay_on_its_side_of_the_split(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import critic.models.nblr.fit as train_module

    seen: list[list[str]] = []
    original = train_module.split_sentences

    def spy(texts: list[str], **kwargs: object) -> tuple[list[str], np.ndarray]:
        seen.append(list(texts))
        return original(texts, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_module, "split_sentences", spy)
    texts = [f"Review {i} is here. It was {'great' if i % 2 else 'awful'} indeed."
             for i in range(50)]
    reviews = Reviews(texts, np.arange(50) % 2, source="mine")
    options = with_settings(recipe("nblr", features=tiny_options().features,
                                   validation_size=10), sentence_weight=0.1)
    train_bundle(options, tmp_path / "model", reviews=reviews)
    # Training rows first, held-out rows last: the held-out reviews' sentences only come in
    # for the refit on every review, after the choice (checked by _Sentences.below).
    (given,) = seen
    order = np.random.RandomState(options.seed).permutation(50)
    assert given == [texts[i] for i in [*order[10:], *order[:10]]]
    # And the choice sees the training reviews' sentences only.
    import scipy.sparse as sp

    from critic.models.nblr.fit import _Sentences

    sentences = _Sentences(sp.identity(4, format="csr"), np.array([0, 1, 2, 3]), 0.1)
    x, y, weights = sentences.below(sp.csr_matrix((2, 4)), np.array([1, 0]))
    assert x.shape == (4, 4) and x[2:].nonzero()[1].tolist() == [0, 1]
    assert y.tolist() == [1, 0, 1, 0] and weights.tolist() == [1, 1, 0.1, 0.1]
