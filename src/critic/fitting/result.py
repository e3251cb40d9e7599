"""The one result every model family returns from every mode: what the bundle stores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from critic.features import FeatureSpace
from critic.models.base import ModelType


@dataclass
class Fitted:
    """A trained model as a bundle stores it, with what was measured on the way.

    Attributes:
        model: the family's inference type, with its weights.
        featurizer: the features it was trained on (vocabulary, n-grams, idf or hashing).
        metrics: ``validation``, ``test`` and whatever the family chose with (``chosen``,
            ``selection``, ``history``, …).
        training: how it was trained (solver, knobs chosen, epochs run, ``streamed``, …).
        extra: more files for the bundle (a network's figures).
        history: a network's :class:`~critic.models.network.classifier.History`.
        reviews: reviews read from a stream (``None`` in memory: the split knows).
        held_out: of those, how many were held out.
        checksum: of the reviews a cluster read (the driver never sees them).
        scorer: logits of feature rows by the trained model itself (the test reviews of a
            streamed IMDB run are scored with it); default: the inference type's.
        classes: the labels' names when learned from the data (``None``: negative, positive).
    """

    model: ModelType
    featurizer: FeatureSpace
    metrics: dict[str, Any]
    training: dict[str, Any]
    extra: dict[str, bytes] = field(default_factory=dict)
    history: Any = None
    reviews: int | None = None
    held_out: int | None = None
    checksum: str | None = None
    scorer: Callable[[sp.csr_matrix], np.ndarray] | None = None
    classes: tuple[str | int | float, ...] | None = None  # labels learned from the data

    def logits(self, features: sp.csr_matrix) -> np.ndarray:
        return (self.scorer or self.model.logits)(features)
