"""The network family's configurations: plain dataclasses, saved as JSON beside the weights.

Kept apart from the PyTorch modules (:mod:`critic.models.network.layers`,
:mod:`critic.models.network.classifier`) so that a bundle's configuration can be read, and
checked, by a process that never imports PyTorch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from critic.errors import ConfigError, check_positive

Activation = Literal["relu", "tanh"]
ACTIVATIONS = ("relu", "tanh")
Loss = Literal["bce", "mse"]
Optimizer = Literal["rmsprop", "adam", "sgd"]


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of the network; saved as ``config.json`` beside the weights.

    Attributes:
        input_dim: width of the sparse input (the book's 10,000).
        hidden_layers: number of hidden Dense layers (the book: 2; try 1 or 3).
        units: width of each hidden layer (the book: 16; try 32 or 64).
        activation: ``relu`` (the book) or ``tanh``.
        dropout: dropout rate after each hidden layer (0 = none, as in the book).
        outputs: logits of the last layer: 1 for two labels (the sigmoid's, the book's),
            one per label for more (the softmax's, the book's Reuters network).
    """

    input_dim: int = 10_000
    hidden_layers: int = 2
    units: int = 16
    activation: Activation = "relu"
    dropout: float = 0.0
    outputs: int = 1

    def __post_init__(self) -> None:
        for name in ("input_dim", "hidden_layers", "units", "outputs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"`activation` must be one of {list(ACTIVATIONS)}. "
                              f"Received: activation={self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"`dropout` must be in [0, 1). Received: dropout={self.dropout!r}")

    def layer_names(self) -> list[str]:
        """Names of the Dense layers in order, Keras-style: ``dense_1`` … ``output``."""
        return [f"dense_{i}" for i in range(1, self.hidden_layers + 1)] + ["output"]

    def to_dict(self) -> dict[str, Any]:
        # ``outputs`` is left out for two labels: such a bundle's config is as it always was.
        return {k: v for k, v in asdict(self).items() if k != "outputs" or v != 1}


#: The largest step accepted: any network diverges long before it.
MAX_LEARNING_RATE = 1e6


@dataclass(frozen=True)
class TrainConfig:
    """How the network is trained; saved beside the weights.

    Attributes:
        loss: ``bce`` (binary cross-entropy, the book) or ``mse`` (the book's alternative).
        optimizer: ``rmsprop`` (the book), ``adam`` or ``sgd``.
        learning_rate: step size (Keras default 1e-3).
        batch_size: reviews per gradient step (the book: 512).
        seed: seeds weight initialisation and shuffling; same seed, same History.
    """

    loss: Loss = "bce"
    optimizer: Optimizer = "rmsprop"
    learning_rate: float = 1e-3
    batch_size: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in ("bce", "mse"):
            raise ConfigError(f"`loss` must be 'bce' or 'mse'. Received: loss={self.loss!r}")
        if self.optimizer not in ("rmsprop", "adam", "sgd"):
            raise ConfigError("`optimizer` must be 'rmsprop', 'adam' or 'sgd'. "
                              f"Received: optimizer={self.optimizer!r}")
        if not 0 < self.learning_rate <= MAX_LEARNING_RATE:  # PyTorch takes float32 steps
            raise ConfigError("`learning_rate` must be positive, a number up to "
                              f"{MAX_LEARNING_RATE:,.0f}. Received: "
                              f"learning_rate={self.learning_rate!r}", parameter="learning_rate")
        check_positive("batch_size", self.batch_size)
        seed = self.seed  # NumPy's and PyTorch's generators take 0 … 2**32 - 1
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
                0 <= seed < 2**32):
            raise ConfigError("`seed` must be an integer from 0 to 4,294,967,295. "
                              f"Received: seed={seed!r}", parameter="seed")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def outputs_for(labels: int, training: TrainConfig) -> int:
    """A network's outputs for ``labels`` labels: one logit for two, one per label for more
    (softmax and cross-entropy, the book's multi-class network); the mean squared error,
    which is for two, is refused for more."""
    if labels <= 2:
        return 1
    if training.loss == "mse":
        raise ConfigError("--loss mse is for two labels; more are trained with cross-entropy",
                          parameter="loss")
    return labels
