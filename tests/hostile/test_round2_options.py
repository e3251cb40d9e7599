"""The second round of careless and hostile use (issue 31), training's options and inputs:
values that used to end in a traceback, a network too large for the machine, messages that
named the wrong thing, and reviews without a word. Each case failed before its fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import invoke
from test_streaming import write_reviews

from critic import NBLogisticRegression


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("round2-options") / "data"
    write_reviews(folder)
    return folder


# 8. Tracebacks for impossible values.

@pytest.mark.parametrize(("options", "message"), [
    (["--memory-budget", "inf"], "not an amount of memory"),
    (["--memory-budget", "1e400"], "not an amount of memory"),
    (["--seed", "-1"], "`seed` must be an integer from 0 to 4,294,967,295"),
    (["--seed", str(2**64)], "`seed` must be an integer from 0"),
    (["--validation-size", "nan"], "`validation_size` must be a positive count"),
    (["--model", "nblr", "--sentence-weight", "1e308"], "`sentence_weight` must be a number"),
    (["--learning-rate", "inf"], "`learning_rate` must be positive, a number up to"),
    (["--learning-rate", "1e300"], "`learning_rate` must be positive, a number up to"),
    (["--num-words", str(2**40)], "`num_words` must be at most 16,777,216"),
    (["--units", str(2**31)], "units needs ~"),
    (["--units", "100000", "--num-words", "100000"], "100,002 inputs and 2 layers of 100,000 "
                                                      "units needs ~298.0 GB to train"),
])
def test_impossible_training_options_are_refused_up_front(reviews: Path, tmp_path: Path,
                                                          options: list[str],
                                                          message: str) -> None:
    done = invoke("train", "--input", str(reviews), "--output", str(tmp_path / "m"), *options)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "m").exists()


# 10. Messages that name the wrong thing.

def test_streamed_training_says_which_side_has_one_label(tmp_path: Path) -> None:
    source = tmp_path / "rare.csv"
    source.write_text("text,label\n" + "".join(f"good film {i},1\n" for i in range(60))
                      + "bad film,0\n")
    done = invoke("train", "--model", "nblr", "--input", str(source), "--memory-budget", "100M",
                  "--validation-size", "0.5", "--output", str(tmp_path / "m"))
    assert done.returncode == 2, done.stderr
    assert "the reviews have both labels, but the" in done.stderr
    assert "for validation are all positive" in done.stderr


def test_a_negative_sample_weight_is_named() -> None:
    x = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        NBLogisticRegression().fit(x, [0, 1, 0, 1], sample_weight=[1.0, -1.0, 1.0, 1.0])


# 11. Reviews without a word.

@pytest.mark.parametrize(("model", "budget"), [("dense", None), ("nblr", None),
                                               ("nblr", "100M"), ("dense", "100M")])
def test_training_on_reviews_without_words_is_refused(tmp_path: Path, model: str,
                                                      budget: str | None) -> None:
    source = tmp_path / "empty.csv"
    source.write_text("text,label\n" + '"",1\n" ... ",0\n' * 25)
    streamed = ["--memory-budget", budget] if budget else []
    done = invoke("train", "--model", model, "--input", str(source), "--output",
                  str(tmp_path / "m"), *streamed)
    assert done.returncode == 2 and "holds a word" in done.stderr, done.stderr
    assert not (tmp_path / "m").exists()
