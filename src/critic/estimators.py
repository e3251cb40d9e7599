"""scikit-learn's faces of critic's pieces: :class:`Featurizer` (a :class:`FeatureSpace`) and
:class:`NetworkClassifier` (the book's network, a :class:`Classifier`), for ``Pipeline``,
``GridSearchCV``, ``cross_val_score`` and ``CalibratedClassifierCV``.

They live apart from the pieces they wrap because deriving from ``BaseEstimator`` imports
scikit-learn, which costs about 0.7 s and 60 MB: a process that only predicts, or reproduces
the book, never pays it. :class:`critic.models.nblr.estimator.NBLogisticRegression` is one too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from critic.errors import check_positive
from critic.features import FeatureSpace
from critic.models.binary import LogitClassifierMixin, encode_classes
from critic.models.network.classifier import Classifier
from critic.models.network.config import (
    Activation,
    Loss,
    NetworkConfig,
    Optimizer,
    TrainConfig,
)


class Featurizer(FeatureSpace, TransformerMixin, BaseEstimator):
    """Texts → CSR features as a scikit-learn transformer (a :class:`FeatureSpace`).

    The keyword arguments are :class:`~critic.features.FeatureConfig`'s fields, stored as
    given and checked in ``fit``, so a grid search can vary them
    (``featurizer__ngram_range``).

    Example:
        >>> from sklearn.pipeline import make_pipeline
        >>> from critic.models.nblr.estimator import NBLogisticRegression
        >>> pipeline = make_pipeline(Featurizer(num_words=20), NBLogisticRegression())
        >>> pipeline.fit(["a good film", "a bad film"], ["pos", "neg"]).predict(["good"])
        array(['pos'], dtype='<U3')
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array, tags.input_tags.string = False, True  # a list of texts
        return tags


class NetworkClassifier(LogitClassifierMixin, BaseEstimator):
    """The book's network as a scikit-learn classifier, for ``Pipeline`` and ``GridSearchCV``.

    :class:`Classifier` keeps Keras's contract (``fit`` returns a History, ``predict`` returns
    probabilities shaped ``(n, 1)``), which the book's code relies on; this class wraps it
    with scikit-learn's: ``fit`` returns ``self``, ``predict`` returns labels, any labels
    train it (more than two: an N-way softmax and categorical cross-entropy, the book's
    conventions for many classes), and the constructor's arguments are the hyper-parameters,
    checked in ``fit``.

    Example:
        >>> model = NetworkClassifier(epochs=4).fit(x_train, y_train)  # doctest: +SKIP
        >>> model.score(x_test, y_test)  # doctest: +SKIP
        0.88
    """

    def __init__(self, *, hidden_layers: int = 2, units: int = 16,
                 activation: Activation = "relu", dropout: float = 0.0, loss: Loss = "bce",
                 optimizer: Optimizer = "rmsprop",
                 learning_rate: float = 1e-3, batch_size: int = 512, epochs: int = 4,
                 seed: int = 0) -> None:
        self.hidden_layers, self.units, self.activation = hidden_layers, units, activation
        self.dropout, self.loss, self.optimizer = dropout, loss, optimizer
        self.learning_rate, self.batch_size = learning_rate, batch_size
        self.epochs, self.seed = epochs, seed

    def fit(self, X: Any, y: Any) -> NetworkClassifier:
        """Train ``epochs`` epochs on features ``X`` ``(n, d)`` (sparse or dense) and ``y``."""
        x, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float32)
        labels = encode_classes(self, y)
        check_positive("epochs", self.epochs)
        if len(self.classes_) > 2 and self.loss != "bce":
            raise ValueError(f"loss={self.loss!r} scores one sigmoid: more than two labels "
                             "train with the softmax's cross-entropy (loss='bce')")
        self.model_ = Classifier(self._network_config(x.shape[1], len(self.classes_)),
                                 TrainConfig(
            loss=self.loss, optimizer=self.optimizer, learning_rate=self.learning_rate,
            batch_size=self.batch_size, seed=self.seed))
        self.history_ = self.model_.fit(x, labels, epochs=self.epochs).history
        return self

    def _network_config(self, input_dim: int, classes: int) -> NetworkConfig:
        return NetworkConfig(input_dim=input_dim, hidden_layers=self.hidden_layers,
                             units=self.units, activation=self.activation,
                             dropout=self.dropout, outputs=1 if classes == 2 else classes)

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits ``(n,)``: > 0 leans to ``classes_[1]``; ``(n, K)`` for more labels."""
        check_is_fitted(self)
        x = validate_data(self, X, accept_sparse="csr", dtype=np.float32, reset=False)
        return self.model_.decision_function(x).astype(np.float64)

    def probabilities_of(self, logits: np.ndarray) -> np.ndarray:
        """The softmax of the logits."""
        from scipy.special import softmax

        return softmax(logits, axis=1)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = False  # the seed fixes initialisation and batch order
        return tags
