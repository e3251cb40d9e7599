"""The network and its training loop on small random data (no IMDB needed)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from critic.errors import ConfigError
from critic.models.network.classifier import Classifier, KerasRMSprop
from critic.models.network.config import NetworkConfig, TrainConfig
from critic.models.network.layers import Network, SparseLinear


def random_csr(rows: int, cols: int, density: float, seed: int, *, binary: bool = True):
    matrix = sp.random(rows, cols, density=density, format="csr", random_state=seed,
                       dtype=np.float32)
    if binary:
        matrix.data[:] = 1.0
    return matrix


@pytest.mark.parametrize("binary", [True, False])
def test_sparse_layer_equals_a_dense_linear(binary: bool) -> None:
    x = random_csr(64, 300, 0.05, seed=1, binary=binary)
    sparse_layer = SparseLinear(300, 16)
    dense_layer = torch.nn.Linear(300, 16)
    with torch.no_grad():
        dense_layer.weight.copy_(sparse_layer.weight.T)
        dense_layer.bias.copy_(sparse_layer.bias)
    upstream = torch.randn(64, 16)
    sparse_out = sparse_layer(x)
    dense_out = dense_layer(torch.from_numpy(x.toarray()))
    torch.testing.assert_close(sparse_out, dense_out, atol=1e-5, rtol=1e-5)
    (sparse_out * upstream).sum().backward()
    (dense_out * upstream).sum().backward()
    torch.testing.assert_close(sparse_layer.weight.grad, dense_layer.weight.grad.T,
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sparse_layer.bias.grad, dense_layer.bias.grad, atol=1e-5,
                               rtol=1e-5)


def test_glorot_uniform_limits_and_zero_biases() -> None:
    network = Network(NetworkConfig(input_dim=10_000))
    limit = np.sqrt(6 / (10_000 + 16))
    largest = float(network.dense_1.weight.detach().abs().max())
    assert 0.9 * limit < largest <= limit
    assert all(float(p.detach().abs().sum()) == 0 for n, p in network.named_parameters()
               if n.endswith("bias"))


def test_keras_rmsprop_matches_the_keras_formula() -> None:
    param = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = KerasRMSprop([param], lr=0.1, rho=0.9, eps=1e-7)
    param.grad = torch.tensor([0.5, 0.0])
    optimizer.step()
    velocity = 0.1 * 0.25
    expected = torch.tensor([1.0 - 0.1 * 0.5 / np.sqrt(velocity + 1e-7), -2.0],
                            dtype=torch.float32)
    torch.testing.assert_close(param.detach(), expected)


@pytest.mark.parametrize(("layers", "units", "activation", "dropout"),
                         [(1, 8, "relu", 0.0), (3, 4, "tanh", 0.5)])
def test_configurable_shapes(layers: int, units: int, activation: str, dropout: float) -> None:
    network = Network(NetworkConfig(input_dim=50, hidden_layers=layers, units=units,
                                    activation=activation, dropout=dropout))
    linear = [m for m in network.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear) == layers  # hidden layers after the first, plus the output
    assert [n for n, _ in network.named_children() if n.startswith(('dense', 'output'))] == \
        NetworkConfig(hidden_layers=layers).layer_names()
    assert network(random_csr(7, 50, 0.2, seed=0)).shape == (7,)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"units": 0}, "`units` must be a positive integer. Received: units=0"),
    ({"hidden_layers": -1}, "`hidden_layers` must be a positive integer"),
    ({"activation": "gelu"}, "`activation` must be one of"),
    ({"dropout": 1.0}, r"`dropout` must be in \[0, 1\)"),
])
def test_network_config_refuses_nonsense(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        NetworkConfig(**kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"batch_size": -5}, "`batch_size` must be a positive integer"),
    ({"learning_rate": 0}, "`learning_rate` must be positive"),
    ({"loss": "hinge"}, "`loss` must be 'bce' or 'mse'"),
    ({"optimizer": "lbfgs"}, "`optimizer` must be"),
])
def test_train_config_refuses_nonsense(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def separable_data(n: int = 600, dim: int = 40, seed: int = 0):
    """Labels decided by which half of the columns dominates: learnable, not trivial."""
    x = random_csr(n, dim, 0.2, seed=seed)
    signal = np.asarray(x[:, : dim // 2].sum(axis=1) - x[:, dim // 2:].sum(axis=1)).ravel()
    return x, (signal > 0).astype(np.float32)


def test_fit_returns_a_keras_history_and_learns() -> None:
    x, y = separable_data()
    model = Classifier(NetworkConfig(input_dim=40), TrainConfig(batch_size=64, learning_rate=1e-2))
    history = model.fit(x[:400], y[:400], epochs=15, validation_data=(x[400:], y[400:]))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 15 for v in history.history.values())
    assert history.epoch == list(range(1, 16))
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x[400:], y[400:])
    assert loss == pytest.approx(history.history["val_loss"][-1])
    assert accuracy == pytest.approx(history.history["val_accuracy"][-1])
    assert accuracy > 0.8
    assert model.predict(x[:5]).shape == (5, 1)
    assert model.predict_proba(x[:5]).shape == (5,)


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_same_seed_same_history(loss: str) -> None:
    x, y = separable_data()
    runs = [Classifier(NetworkConfig(input_dim=40), TrainConfig(batch_size=50, seed=3, loss=loss))
            .fit(x, y, epochs=4, validation_data=(x, y)).history for _ in range(2)]
    assert runs[0] == runs[1]
    other = Classifier(NetworkConfig(input_dim=40), TrainConfig(batch_size=50, seed=4, loss=loss))
    assert other.fit(x, y, epochs=4).history["loss"] != runs[0]["loss"]


def test_fit_refuses_mismatched_inputs() -> None:
    x, y = separable_data()
    model = Classifier(NetworkConfig(input_dim=40))
    with pytest.raises(ConfigError, match=r"shape \(n, 40\)"):
        model.fit(random_csr(10, 41, 0.1, seed=0), y[:10])
    with pytest.raises(ConfigError, match="600 rows but labels have 599"):
        model.fit(x, y[:-1])
    with pytest.raises(ConfigError, match="labels must be 0 or 1"):
        model.fit(x, y * 2)
    with pytest.raises(ConfigError, match="`epochs` must be a positive integer"):
        model.fit(x, y, epochs=0)
