"""The second round of careless and hostile use (issue 31), the Python API: tables and bytes
where reviews are expected. Each case failed before its fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_bundle import tiny_options, tiny_reviews

import critic
from critic import train_bundle
from critic.estimators import Featurizer


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> critic.Predictor:
    path = train_bundle(tiny_options(), tmp_path_factory.mktemp("round2-library") / "model",
                        reviews=tiny_reviews()).path
    return critic.load(path)


REVIEWS = ["a great film, brilliant", "boring and dull"]


def test_a_one_column_frame_is_read_as_its_column(model: critic.Predictor) -> None:
    frame = pd.DataFrame({"review": REVIEWS})
    expected = model.predict_proba(REVIEWS)
    assert np.array_equal(model.predict_proba(frame), expected)
    assert np.array_equal(model.predict_proba(frame["review"]), expected)
    assert [p["label"] for p in model(frame)] == [p["label"] for p in model(REVIEWS)]
    featurizer = Featurizer(num_words=20).fit(REVIEWS)
    assert (featurizer.transform(frame) != featurizer.transform(REVIEWS)).nnz == 0


def test_a_frame_of_several_columns_is_refused(model: critic.Predictor) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "text": REVIEWS})
    for call in (model.predict_proba, model, Featurizer(num_words=20).fit(REVIEWS).transform):
        with pytest.raises(TypeError, match=r"table of 2 columns \('id', 'text'\)"):
            call(frame)


def test_bytes_are_told_to_be_decoded_not_wrapped(model: critic.Predictor) -> None:
    with pytest.raises(TypeError, match=r"not bytes: decode it first"):
        model(b"great film")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`inputs\[0\]` must be a string.*decode it first"):
        model([b"great film"])  # type: ignore[list-item]
