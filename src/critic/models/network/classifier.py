"""Training the Keras way: ``fit`` → History, ``evaluate`` → [loss, accuracy], ``predict``.

Defaults are Keras's: RMSprop(learning_rate=1e-3, rho=0.9, epsilon=1e-7), batch size 512,
binary cross-entropy (computed from logits, which is stable where Keras clips probabilities).
Per-epoch ``loss``/``accuracy`` are means over that epoch's batches, as Keras reports them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional

from critic.errors import ConfigError, check_positive
from critic.metrics import probabilities_of
from critic.models.network.config import NetworkConfig, TrainConfig
from critic.models.network.layers import Network

_EVAL_BATCH = 8192
#: Features and 0/1 labels of a minibatch.
Batch = tuple[sp.csr_matrix, np.ndarray]


@dataclass
class History:
    """Per-epoch metrics as in Keras: ``history.history["val_loss"][k]`` is epoch ``k + 1``."""

    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_weights_epoch: int | None = None  # set when early stopping restored weights

    def append(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        self.epoch.append(epoch)
        self.seconds.append(seconds)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def best_epoch(self, monitor: str = "val_loss") -> int:
        """1-based epoch with the lowest ``*loss`` (or highest other metric) of ``monitor``."""
        values = self.history.get(monitor)
        if not values:
            raise ValueError(f"no {monitor!r} in this History; fit with validation_data")
        pick = np.argmin if monitor.endswith("loss") else np.argmax
        return int(pick(values)) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "seconds": self.seconds, "history": self.history,
                "best_weights_epoch": self.best_weights_epoch}


class Callback(Protocol):
    """Told about training progress; the CLI uses one to draw progress bars or epoch lines."""

    def on_train_begin(self, epochs: int, steps: int) -> None: ...
    def on_batch_end(self, epoch: int, step: int) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...
    def on_train_end(self) -> None: ...


class _EarlyStopping:
    """Remembers the weights of the lowest validation loss; says when patience runs out."""

    def __init__(self, network: Network, patience: int) -> None:
        self.network, self.patience = network, patience
        self.best_loss, self.best_epoch = float("inf"), 0
        self.best_state: dict[str, torch.Tensor] = {}

    def should_stop(self, epoch: int, val_loss: float) -> bool:
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch = val_loss, epoch
            self.best_state = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
        return epoch - self.best_epoch >= self.patience

    def restore(self) -> None:
        self.network.load_state_dict(self.best_state)


class Classifier:
    """The book's compiled Keras model: a :class:`Network` with a loss and an optimizer.

    Example (the book's network on ten-word "reviews": words 0-4 good, 5-9 bad):
        >>> import numpy as np, scipy.sparse as sp
        >>> from critic import Classifier, NetworkConfig, TrainConfig
        >>> x = sp.csr_matrix(np.tile(np.repeat(np.eye(2), 5, axis=1), (50, 1)))
        >>> y = np.tile([1.0, 0.0], 50)
        >>> model = Classifier(NetworkConfig(input_dim=10),
        ...                    TrainConfig(learning_rate=0.01, batch_size=20))
        >>> history = model.fit(x, y, epochs=30)
        >>> loss, accuracy = model.evaluate(x, y)
        >>> accuracy
        1.0
    """

    def __init__(self, network: NetworkConfig | None = None,
                 training: TrainConfig | None = None) -> None:
        self.training = training or TrainConfig()
        torch.manual_seed(self.training.seed)  # weight initialisation is part of the seed
        self.network = Network(network)
        self._optimizer = _make_optimizer(self.network, self.training)
        self._fitted_epochs = 0

    @property
    def config(self) -> NetworkConfig:
        return self.network.config

    def fit(
        self,
        x: sp.csr_matrix,
        y: np.ndarray,
        *,
        epochs: int = 20,
        validation_data: tuple[sp.csr_matrix, np.ndarray] | None = None,
        patience: int | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> History:
        """Train for ``epochs`` more epochs; returns the History of this call.

        Args:
            x: CSR features ``(n, input_dim)``; y: labels ``(n,)`` in {0, 1}.
            validation_data: ``(x_val, y_val)`` scored after every epoch.
            patience: stop once validation loss has not improved for this many epochs, and
                in every case end with the weights of the epoch of lowest validation loss
                (Keras's ``EarlyStopping(restore_best_weights=True)``).
        """
        check_positive("epochs", epochs)
        x, y = _check_xy(x, y, self.config.input_dim, self.config.outputs)
        if validation_data is not None:
            validation_data = _check_xy(*validation_data, self.config.input_dim,
                                        self.config.outputs)
        if patience is not None:
            check_positive("patience", patience)
            if validation_data is None:
                raise ConfigError("early stopping (patience) needs validation data")
        with _single_threaded():
            return self._fit(x, y, epochs, validation_data, patience, callbacks)

    def _fit(self, x: sp.csr_matrix, y: np.ndarray, epochs: int,
             validation_data: tuple[sp.csr_matrix, np.ndarray] | None, patience: int | None,
             callbacks: Sequence[Callback]) -> History:
        batch = self.training.batch_size

        def epoch_batches(rng: np.random.Generator) -> Iterator[Batch]:
            order = rng.permutation(x.shape[0])
            shuffled_x, shuffled_y = x[order], y[order]
            for start in range(0, x.shape[0], batch):
                yield row_block(shuffled_x, start, start + batch), shuffled_y[start:start + batch]

        validate = None if validation_data is None else (lambda: self.evaluate(*validation_data))
        return self._epochs(epoch_batches, -(-x.shape[0] // batch), epochs, validate, patience,
                            callbacks)

    def fit_batches(self, epoch_batches: Callable[[np.random.Generator], Iterable[Batch]], *,
                    steps: int, epochs: int = 20,
                    validation_batches: Callable[[], Iterable[Batch]] | None = None,
                    patience: int | None = None, callbacks: Sequence[Callback] = (),
                    distributed: bool = False) -> History:
        """:meth:`fit` from minibatches that need not fit in memory (read from disk, say).

        Args:
            epoch_batches: given this epoch's random generator, the ``(x, y)`` minibatches
                of one epoch, in the order to train on them.
            steps: minibatches per epoch (for progress bars).
            validation_batches: the held-out ``(x, y)`` minibatches, scored after each epoch.
            distributed: this process is one rank of an initialised ``torch.distributed``
                group that trains the same network on its own minibatches: gradients are
                averaged over the ranks at every step (``DistributedDataParallel``), and the
                History's figures are those of all ranks' reviews. Every rank must give as
                many minibatches an epoch, and ends with the same weights and History.
        """
        check_positive("epochs", epochs)
        if patience is not None:
            check_positive("patience", patience)
            if validation_batches is None:
                raise ConfigError("early stopping (patience) needs validation data")
        validate = None if validation_batches is None else (
            lambda: self.evaluate_batches(validation_batches(), distributed=distributed))
        with _single_threaded():
            return self._epochs(
                lambda rng: (_check_xy(xb, yb, self.config.input_dim, self.config.outputs)
                             for xb, yb in epoch_batches(rng)),
                steps, epochs, validate, patience, callbacks, distributed)

    def _epochs(self, epoch_batches: Callable[[np.random.Generator], Iterable[Batch]],
                steps: int, epochs: int, validate: Callable[[], list[float]] | None,
                patience: int | None, callbacks: Sequence[Callback],
                distributed: bool = False) -> History:
        rng = np.random.default_rng([self.training.seed, self._fitted_epochs])
        stopper = _EarlyStopping(self.network, patience) if patience is not None else None
        history = History()
        # DDP wraps the same parameters: the optimizer and the early stopping see them.
        trainee = (torch.nn.parallel.DistributedDataParallel(self.network) if distributed
                   else self.network)
        for cb in callbacks:
            cb.on_train_begin(epochs, steps)
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            logs = self._train_epoch(trainee, epoch_batches(rng), epoch, callbacks,
                                     distributed)
            if validate is not None:
                val_loss, val_accuracy = validate()
                logs |= {"val_loss": val_loss, "val_accuracy": val_accuracy}
            self._fitted_epochs += 1
            history.append(epoch, logs, time.perf_counter() - started)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if stopper is not None and stopper.should_stop(epoch, logs["val_loss"]):
                break
        if stopper is not None:
            stopper.restore()
            history.best_weights_epoch = stopper.best_epoch
        for cb in callbacks:
            cb.on_train_end()
        return history

    def _train_epoch(self, trainee: torch.nn.Module, batches: Iterable[Batch], epoch: int,
                     callbacks: Sequence[Callback], distributed: bool = False
                     ) -> dict[str, float]:
        self.network.train()
        loss_sum = correct = seen = 0.0
        for step, (x, y) in enumerate(batches, start=1):
            targets = torch.from_numpy(y)
            logits = trainee(x)
            loss = self._loss(logits, targets)
            hits = _hits(logits, targets)
            self._optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it bare
            self._optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += float(hits.sum())
            seen += len(y)
            for cb in callbacks:
                cb.on_batch_end(epoch, step)
        if distributed:
            loss_sum, correct, seen = _summed_over_ranks([loss_sum, correct, seen])
        return {"loss": loss_sum / seen, "accuracy": correct / seen}

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if logits.ndim == 2:  # more than two labels: the book's sparse categorical CE
            return functional.cross_entropy(logits, targets.long())
        if self.training.loss == "mse":
            return functional.mse_loss(torch.sigmoid(logits), targets)
        return functional.binary_cross_entropy_with_logits(logits, targets)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The network's tensors as NumPy arrays (what a bundle stores)."""
        return {name: tensor.detach().cpu().numpy().copy()
                for name, tensor in self.network.state_dict().items()}

    @torch.no_grad()
    def decision_function(self, x: sp.csr_matrix) -> np.ndarray:
        """Logits ``(n,)`` (before the sigmoid), computed in batches."""
        x = _check_x(x, self.config.input_dim)
        self.network.eval()
        with _single_threaded():
            parts = [self.network(row_block(x, i, i + _EVAL_BATCH)).numpy()
                     for i in range(0, x.shape[0], _EVAL_BATCH)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def predict_proba(self, x: sp.csr_matrix) -> np.ndarray:
        """Probability of the positive class, shape ``(n,)``; of each label ``(n, outputs)``
        for more than two."""
        return probabilities_of(self.decision_function(x))

    def predict(self, x: sp.csr_matrix) -> np.ndarray:
        """Probabilities shaped ``(n, 1)`` (``(n, outputs)``), as Keras's ``model.predict``."""
        probabilities = self.predict_proba(x).astype(np.float32)
        return probabilities if probabilities.ndim == 2 else probabilities[:, np.newaxis]

    @torch.no_grad()
    def evaluate(self, x: sp.csr_matrix, y: np.ndarray) -> list[float]:
        """``[loss, accuracy]`` over the whole of ``(x, y)``, as Keras's ``model.evaluate``."""
        x, y = _check_xy(x, y, self.config.input_dim, self.config.outputs)
        return self._loss_and_accuracy(self.decision_function(x), y)

    def evaluate_batches(self, batches: Iterable[Batch], *, distributed: bool = False
                         ) -> list[float]:
        """:meth:`evaluate` over ``(x, y)`` minibatches, as if they were one matrix; with
        ``distributed``, over every rank's minibatches (see :meth:`fit_batches`)."""
        logits, labels = [], []
        for x, y in batches:
            x, y = _check_xy(x, y, self.config.input_dim, self.config.outputs)
            logits.append(self.decision_function(x))
            labels.append(y)
        if not distributed:
            return self._loss_and_accuracy(np.concatenate(logits), np.concatenate(labels))
        n = sum(len(y) for y in labels)
        loss, accuracy = self._loss_and_accuracy(np.concatenate(logits), np.concatenate(
            labels)) if n else (0.0, 0.0)  # a rank may hold no held-out review
        loss_sum, correct, total = _summed_over_ranks([loss * n, accuracy * n, n])
        return [loss_sum / total, correct / total]

    @torch.no_grad()
    def _loss_and_accuracy(self, logits: np.ndarray, y: np.ndarray) -> list[float]:
        loss = float(self._loss(torch.from_numpy(logits), torch.from_numpy(y)))
        hits = (logits.argmax(axis=1) == y) if logits.ndim == 2 else ((logits > 0) == (y > 0.5))
        accuracy = float(hits.mean())
        return [loss, accuracy]


def _hits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Which predictions are right: the logit's sign, or the largest logit (more labels)."""
    if logits.ndim == 2:
        return logits.argmax(dim=1) == targets.long()
    return (logits > 0) == (targets > 0.5)


def _summed_over_ranks(values: list[float]) -> list[float]:
    """``values`` summed over the ranks of the ``torch.distributed`` group."""
    summed = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(summed)
    return [float(v) for v in summed]


@contextlib.contextmanager
def _single_threaded() -> Iterator[None]:
    """One intra-op thread while training: the layers are tiny (512 x 16), so threads do not
    speed them up, and a multi-threaded BLAS may split sums differently when the machine is
    busy, which broke "same seed, same History" in about one run in five."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class KerasRMSprop:
    """RMSprop as Keras computes it: ``w -= lr * g / sqrt(v + eps)``.

    PyTorch's RMSprop divides by ``sqrt(v) + eps`` instead. With sparse multi-hot inputs most
    first-layer rows see a gradient rarely, so ``v`` stays tiny and the two differ a lot: over
    four seeds of the book's protocol, Keras's form gave 0.879 mean test accuracy against
    0.876 for PyTorch's, and the book's figures are drawn with Keras's. It is a plain class
    because ``torch.optim.Optimizer`` imports TorchDynamo on first use (about 1 s).
    """

    def __init__(self, params: Any, lr: float = 1e-3, rho: float = 0.9,
                 eps: float = 1e-7) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.rho, self.eps = lr, rho, eps
        self.velocity = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        pairs = [(p, v) for p, v in zip(self.params, self.velocity, strict=True)
                 if p.grad is not None]
        params = [p for p, _ in pairs]
        velocity = [v for _, v in pairs]
        grads = [p.grad for p in params]
        # Multi-tensor ops: one call per step for all parameters, as torch's own optimizers.
        torch._foreach_mul_(velocity, self.rho)
        torch._foreach_addcmul_(velocity, grads, grads, value=1 - self.rho)
        denominator = torch._foreach_add(velocity, self.eps)
        torch._foreach_sqrt_(denominator)
        torch._foreach_addcdiv_(params, grads, denominator, value=-self.lr)


def row_block(x: sp.csr_matrix, start: int, stop: int) -> sp.csr_matrix:
    """Rows ``start:stop`` of ``x`` as a view of its arrays (SciPy's slicing copies them)."""
    stop = min(stop, x.shape[0])
    lo, hi = x.indptr[start], x.indptr[stop]
    return sp.csr_matrix((x.data[lo:hi], x.indices[lo:hi], x.indptr[start:stop + 1] - lo),
                         shape=(stop - start, x.shape[1]), copy=False)


def _make_optimizer(network: Network, config: TrainConfig) -> Any:
    params, lr = network.parameters(), config.learning_rate
    if config.optimizer == "rmsprop":
        return KerasRMSprop(params, lr=lr)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, eps=1e-7)
    return torch.optim.SGD(params, lr=lr)


def _check_x(x: Any, input_dim: int) -> sp.csr_matrix:
    if not sp.issparse(x):
        x = sp.csr_matrix(np.asarray(x, dtype=np.float32))
    x = sp.csr_matrix(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != input_dim:
        raise ConfigError(f"features must have shape (n, {input_dim}). Received: {x.shape}")
    return x


def _check_xy(x: Any, y: Any, input_dim: int, outputs: int = 1
              ) -> tuple[sp.csr_matrix, np.ndarray]:
    x = _check_x(x, input_dim)
    if outputs > 1:  # class indices
        y = np.asarray(y).reshape(-1)
        if y.size and not (np.issubdtype(y.dtype, np.integer) and y.min() >= 0
                           and y.max() < outputs):
            raise ConfigError(f"labels must be class indices 0 … {outputs - 1}")
        y = y.astype(np.int64)
    else:
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        if y.size and not np.isin(y, (0.0, 1.0)).all():
            raise ConfigError("labels must be 0 or 1")
    if y.shape[0] != x.shape[0]:
        raise ConfigError(f"features have {x.shape[0]} rows but labels have {y.shape[0]}")
    return x, y
