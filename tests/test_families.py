"""A model family is one folder and one registration line: a nearest-centroid family defined
here, in this file alone, trains in memory and from a stream through ``train_bundle`` and
the command line, and its bundle is loaded, predicted with, explained and served — no other
file of critic knows it. A mode it cannot train in is refused, never routed elsewhere."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import invoke
from fastapi.testclient import TestClient
from test_bundle import tiny_reviews

import critic
from critic.datasets.stream import ReviewStream
from critic.errors import BundleError, ConfigError, ModeError
from critic.features import FeatureConfig, FeatureSpace
from critic.fitting.data import Split
from critic.fitting.options import Knob, Mode, TrainOptions
from critic.fitting.result import Fitted
from critic.fitting.spill import Minibatch, spill_stream, spills
from critic.hashing import HashedFeatureSpace
from critic.metrics import evaluate_probabilities, sigmoid
from critic.models.base import ModelType, WordContribution
from critic.models.family import Family, FitContext, Passes
from critic.models.registry import FAMILIES, register, unregister
from critic.serve.app import create_app


class CentroidModel(ModelType):
    """Nearest centroid: the logit is ``‖x − c₀‖² − ‖x − c₁‖²``, linear in ``x``."""

    name = "centroid"
    explanation_method = "additive"

    def __init__(self, weights: dict[str, np.ndarray], dimension: int) -> None:
        self.dimension = dimension
        super().__init__(weights)

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"centroid.weight": (self.dimension,), "centroid.bias": (1,)}

    def to_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any], weights: dict[str, np.ndarray],
                    dimension: int) -> CentroidModel:
        return cls(weights, dimension)

    @classmethod
    def between(cls, negative: np.ndarray, positive: np.ndarray) -> CentroidModel:
        weight = (2 * (positive - negative)).astype(np.float32)
        bias = np.array([negative @ negative - positive @ positive], dtype=np.float32)
        return cls({"centroid.weight": weight, "centroid.bias": bias}, len(weight))

    def logits(self, features: sp.csr_matrix) -> np.ndarray:
        return np.asarray(features @ self.weights["centroid.weight"], np.float64).ravel() \
            + float(self.weights["centroid.bias"][0])

    def explain(self, tokens: list[str], featurizer: FeatureSpace
                ) -> tuple[float, list[WordContribution], float | None]:
        values = featurizer.transform([" ".join(tokens)])
        contributions = values.data * self.weights["centroid.weight"][values.indices]
        names = featurizer.column_names(tokens)
        bias = float(self.weights["centroid.bias"][0])
        words = [WordContribution(names.get(c) or featurizer.column_name(c), float(v), 1, True)
                 for c, v in zip(values.indices.tolist(), contributions, strict=True)]
        return float(contributions.sum()) + bias, words, bias


@dataclasses.dataclass(frozen=True)
class CentroidSettings:
    shrink: float = 0.0  # the one knob: pulls both centroids towards their mean
    seed: int = 0


class CentroidFamily(Family):
    name = "centroid"
    settings_type = CentroidSettings
    recipe_names = ("centroid",)
    knobs = (Knob("shrink", float, "centroid: pull both centroids towards their mean."),)
    modes = frozenset({Mode.MEMORY, Mode.STREAM})

    def model_type(self) -> type[CentroidModel]:
        return CentroidModel

    def recipes(self) -> dict[str, TrainOptions]:
        features = FeatureConfig(num_words=60, start_char=None, oov_char=None)
        return {"centroid": TrainOptions(model="centroid", features=features,
                                         settings=CentroidSettings(), validation_size=0.25)}

    def memory_estimate(self, options: TrainOptions, text_bytes: int,
                        unlabelled_bytes: int = 0) -> int:
        return 100_000_000 + 10 * text_bytes

    def fit_in_memory(self, options: TrainOptions, split: Split, context: FitContext
                      ) -> Fitted:
        model = self._model(options, split.x_train, split.y_train)
        validation = evaluate_probabilities(split.y_val, sigmoid(model.logits(split.x_val)))
        return Fitted(model, split.featurizer, {"validation": validation}, {"solver": "mean"})

    def fit_streamed(self, options: TrainOptions, passes: Passes, fraction: float,
                     context: FitContext) -> Fitted:
        featurizer = HashedFeatureSpace.from_config(FeatureConfig(
            num_words=1 << 12, start_char=None, oov_char=None, hashing=True)).fit([])
        sums, counts = np.zeros((2, featurizer.dimension)), np.zeros(2)

        def add(batch: Minibatch) -> None:
            for label in (0, 1):
                rows = batch.local[batch.labels == label]
                sums[label, batch.columns] += np.asarray(rows.sum(axis=0)).ravel()
                counts[label] += rows.shape[0]

        with spills() as (train, held):
            spill_stream(passes(), featurizer, fraction=fraction, seed=options.seed,
                         batch_size=64, train=train, validation=held, on_minibatch=add)
            model = self._shrunk(options, sums[0] / counts[0], sums[1] / counts[1])
            rows = [(_wide(b, featurizer.dimension), b.labels) for b in held.read()]
        x_val = sp.vstack([x for x, _ in rows], format="csr")
        y_val = np.concatenate([y for _, y in rows])
        validation = evaluate_probabilities(y_val, sigmoid(model.logits(x_val)))
        return Fitted(model, featurizer, {"validation": validation},
                      {"solver": "streamed means", "streamed": True},
                      reviews=train.reviews + held.reviews, held_out=held.reviews)

    def _model(self, options: TrainOptions, x: sp.csr_matrix, y: np.ndarray) -> CentroidModel:
        def mean(label: int) -> np.ndarray:
            return np.asarray(x[y == label].mean(axis=0)).ravel()

        return self._shrunk(options, mean(0), mean(1))

    def _shrunk(self, options: TrainOptions, negative: np.ndarray, positive: np.ndarray
                ) -> CentroidModel:
        middle, keep = (negative + positive) / 2, 1 - options.settings.shrink
        return CentroidModel.between(middle + keep * (negative - middle),
                                     middle + keep * (positive - middle))


def _wide(batch: Minibatch, width: int) -> sp.csr_matrix:
    local = batch.local
    return sp.csr_matrix((local.data, batch.columns[local.indices], local.indptr),
                         shape=(len(batch), width))


@pytest.fixture
def centroid() -> Iterator[Family]:
    family = register(CentroidFamily())  # the one registration line
    yield family
    unregister(family.name)


def _reviews_csv(path: Path) -> Path:
    reviews = tiny_reviews(400)
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label
                                              in zip(reviews.texts, reviews.labels,
                                                     strict=True)))
    return path


def _predicts_explains_and_serves(bundle: Path) -> None:
    model = critic.load(bundle)
    assert model.bundle.config["model"]["type"] == "centroid"
    assert model.predict(["wonderful brilliant film", "awful boring dull"]).tolist() == [1, 0]
    explanation = model.explain("a wonderful and brilliant film")
    assert explanation.method == "additive"
    total = sum(w.contribution for w in explanation.words) + explanation.intercept
    assert total == pytest.approx(float(model.decision_function(
        ["a wonderful and brilliant film"])[0]), abs=1e-4)
    client = TestClient(create_app(model))
    answer = client.post("/v1/predict", json={"inputs": ["superb, loved it"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] == "positive"


def test_a_family_in_a_test_module_trains_in_memory_and_streamed(
        centroid: Family, tmp_path: Path) -> None:
    options = critic.options_for("centroid", shrink=0.1)
    assert options.settings == CentroidSettings(shrink=0.1)
    in_memory = critic.train_bundle(options, tmp_path / "memory", reviews=tiny_reviews())
    assert in_memory.mode is Mode.MEMORY and in_memory.metrics["validation"]["accuracy"] > 0.9
    _predicts_explains_and_serves(in_memory.path)

    stream = ReviewStream(str(_reviews_csv(tmp_path / "reviews.csv")), label_column="label",
                          require_labels=True)
    streamed = critic.train_bundle(options, tmp_path / "stream", stream=stream, mode="stream")
    assert streamed.mode is Mode.STREAM and streamed.metrics["validation"]["accuracy"] > 0.9
    config = json.loads((streamed.path / "config.json").read_text())
    assert config["features"]["hashing"] and config["data"]["validation"]["fraction"] == 0.25
    run = json.loads((streamed.path / "run.json").read_text())
    assert run["config"]["mode"] == "stream"
    _predicts_explains_and_serves(streamed.path)


def test_its_knobs_and_recipe_reach_the_command_line(centroid: Family, tmp_path: Path) -> None:
    csv = _reviews_csv(tmp_path / "reviews.csv")
    assert "--shrink" in invoke("train", "--help").stdout
    done = invoke("train", "--model", "centroid", "--input", str(csv), "--shrink", "0.2",
                  "--output", str(tmp_path / "model"), "--json")
    assert done.returncode == 0, done.stderr
    assert "training centroid (centroid) in memory" in done.stderr
    assert json.loads(done.stdout)["mode"] == "memory"
    done = invoke("predict", str(tmp_path / "model"), "wonderful brilliant film")
    assert done.returncode == 0 and "positive" in done.stdout


def test_a_mode_it_cannot_do_is_refused_not_routed(centroid: Family, tmp_path: Path) -> None:
    stream = ReviewStream(str(_reviews_csv(tmp_path / "reviews.csv")), label_column="label",
                          require_labels=True)
    with pytest.raises(ModeError, match="centroid models cannot be trained on a cluster"):
        critic.train_bundle(critic.recipe("centroid"), tmp_path / "m", stream=stream,
                            cluster=object())
    with pytest.raises(critic.ConfigError, match="`unlabelled` is nblr's"):
        critic.options_for("centroid", unlabelled=True)
    with pytest.raises(critic.ConfigError, match=r"centroid has no units \(that is network's\)"):
        critic.options_for("centroid", units=8)
    mixed = dataclasses.replace(critic.recipe("nblr"), model="centroid")  # nblr's settings
    with pytest.raises(critic.ConfigError, match="its settings are a CentroidSettings, not a "
                       "NblrSettings"):
        critic.train_bundle(mixed, tmp_path / "m", reviews=tiny_reviews())
    assert not (tmp_path / "m").exists()


def test_unregistered_its_bundles_are_refused(tmp_path: Path) -> None:
    family = register(CentroidFamily())
    try:
        path = critic.train_bundle(critic.recipe("centroid"), tmp_path / "m",
                                   reviews=tiny_reviews()).path
    finally:
        unregister(family.name)
    assert "centroid" not in FAMILIES
    with pytest.raises(BundleError, match="unknown model type 'centroid'"):
        critic.load(path)


def test_a_family_clashing_with_a_registered_one_is_refused(centroid: Family) -> None:
    """A second family of the same name, recipe or bundle type would make bundles and
    ``--model`` ambiguous: refused, naming what clashes."""
    class Renamed(CentroidFamily):
        name = "renamed-centroid"
        recipe_names = ("renamed",)

        def recipes(self) -> dict[str, TrainOptions]:
            return {"renamed": dataclasses.replace(super().recipes()["centroid"],
                                                   model="renamed")}

    with pytest.raises(ConfigError, match="registered already"):
        register(CentroidFamily())
    with pytest.raises(ConfigError, match="model type 'centroid' is another family's"):
        register(Renamed())
    assert "renamed-centroid" not in FAMILIES
