"""``critic train`` as a library call: labelled reviews in, a checked bundle out.

Models are chosen by name (:data:`MODELS`); each is a :class:`TrainOptions` preset that every
knob can change. The IMDB path follows the book's protocol (training reviews shuffled as
``load_data`` does, the first ``validation_size`` held out); the user's own file is shuffled with
the seed and split the same way. Vocabulary, n-grams and idf are fitted on the training reviews
(held-out ones included, as in the book), never on test reviews; labels of held-out reviews are
never used until the choice they serve is made.

Networks keep the weights of their epoch with the lowest validation loss. ``nblr`` chooses its
regularisation and interpolation on the held-out reviews, then is refitted on all training
reviews with that choice.

Memory: each model's in-memory path needs memory in proportion to the review text it reads
(:data:`IN_MEMORY_COST`). When that estimate exceeds the memory budget (default: a quarter of
the machine's memory), every model trains from a stream instead
(:mod:`critic.train_streaming`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from sklearn.base import clone

from critic.bundle import bundle_files, write_bundle
from critic.datasets.files import Reviews
from critic.datasets.imdb import (
    book_matrices,
    book_split,
    check_validation_by,
    movie_split,
    training_movies,
    training_order,
)
from critic.datasets.stream import Batch, ContentChecksum, ReviewStream, array_batches
from critic.errors import ConfigError, DataError
from critic.evaluation import evaluate_probabilities
from critic.features import FeatureConfig, FeatureSpace
from critic.models.config import NetworkConfig, TrainConfig, check_positive
from critic.models.linear import LinearConfig, NBLogisticRegression, select_nblr
from critic.models.online import OnlineConfig
from critic.models.registry import LinearModel, ModelType, NetworkModel
from critic.runs import RUN_FILE, RunFolder, RunRecord
from critic.text import TextColumn, Vocabulary, split_sentences
from critic.train_streaming import (
    STREAM_FEATURES,
    fit_streaming_nblr,
    fit_streaming_network,
    sigmoid,
)

if TYPE_CHECKING:  # PyTorch is imported only when a network is trained
    from critic.classifier import Callback, Classifier, History

#: Models made of a feature configuration and a network; the others are linear.
NETWORK_MODELS = ("dense", "tfidf-dense")
LINEAR_MODELS = ("nblr",)
MODELS = NETWORK_MODELS + LINEAR_MODELS


#: Beyond this a review's sentences outweigh it so far that the fit overflows to NaN.
_MAX_SENTENCE_WEIGHT = 1_000


def check_network_fits(features: FeatureConfig, network: NetworkConfig) -> None:
    """Refuse, before any review is read, a network whose weights, gradients and optimizer
    state (4 float32 per weight) need more than this machine's memory, with its size."""
    width = features.num_words + 2  # the start and out-of-vocabulary markers at most
    if features.ngram_range[1] > 1 and not features.hashing:
        width += features.max_ngrams
    units = network.units
    weights = width * units + (network.hidden_layers - 1) * units * units + units
    needed = 4 * 4 * weights
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > available:
        raise ConfigError(f"a network of {width:,} inputs and {network.hidden_layers} layers "
                          f"of {units:,} units needs ~{needed / 2**30:,.1f} GB to train "
                          f"(weights, gradients, optimizer state), more than this machine's "
                          f"{available / 2**30:,.1f} GB; choose fewer units or words",
                          parameter="units")


@dataclass(frozen=True)
class TrainOptions:
    """Everything ``critic train`` can set; the defaults are the book's ``dense`` model.

    ``network.input_dim`` is ignored: the network takes as many inputs as the features have
    columns.
    """

    model: str = "dense"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    linear: LinearConfig = field(default_factory=LinearConfig)
    epochs: int = 20
    validation_size: int | float | None = None  # reviews, or a fraction (see imdb_validation)
    patience: int | None = None
    validation_by: str | None = None  # IMDB: "review" or "movie" (see imdb_validation_by)
    # nblr, in memory: each training sentence as an example of its review's label, weighing
    # this much (0: none). Models trained on whole reviews call most short texts positive.
    sentence_weight: float = 0.0
    # nblr, in memory: self-training on unlabelled reviews (IMDB's 50,000, or the caller's):
    # those the model fitted on the labelled ones is sure of join under its own labels.
    unlabelled: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"`model` must be one of {', '.join(MODELS)}. "
                              f"Received: model={self.model!r}")
        check_positive("epochs", self.epochs)
        if self.patience is not None:
            check_positive("patience", self.patience)
        if self.validation_by is not None:
            check_validation_by(self.validation_by)
        weight = self.sentence_weight
        if isinstance(weight, bool) or not 0 <= weight <= _MAX_SENTENCE_WEIGHT:
            raise ConfigError("`sentence_weight` must be a number from 0 to "
                              f"{_MAX_SENTENCE_WEIGHT:,} (0.1 is nblr+sentences'). Received: "
                              f"sentence_weight={weight!r}", parameter="sentence_weight")
        if weight and not self.is_linear:
            raise ConfigError(f"{self.model} trains on whole reviews; `sentence_weight` is "
                              "nblr's", parameter="sentence_weight")
        if self.linear.unit_length and not self.is_linear:
            raise ConfigError(f"{self.model} has no NB-scaled rows; `unit_length` is nblr's",
                              parameter="unit_length")
        if self.unlabelled and not self.is_linear:
            raise ConfigError(f"{self.model} trains on labelled reviews only; `unlabelled` "
                              "is nblr's", parameter="unlabelled")
        size = self.validation_size
        if size is not None and (isinstance(size, bool) or not size > 0 or (
                isinstance(size, float) and size >= 1.0)):  # `not >` also refuses NaN
            raise ConfigError("`validation_size` must be a positive count or a fraction in "
                              f"(0, 1). Received: validation_size={size!r}",
                              parameter="validation_size")
        if not self.is_linear:
            check_network_fits(self.features, self.network)

    @property
    def is_linear(self) -> bool:
        return self.model in LINEAR_MODELS

    @property
    def imdb_validation(self) -> int:
        """Held-out IMDB training reviews by default: the book's 10,000 for its own model,
        5,000 for the others (more to train on; enough to choose with)."""
        return 10_000 if self.model == "dense" else 5_000

    @property
    def imdb_validation_by(self) -> str:
        """How IMDB's training reviews are split by default: the book's network as the book
        does (the first N in ``load_data`` order), the stronger models by whole movies, as
        the test reviews are of other movies (see :func:`critic.datasets.imdb.movie_split`)."""
        if self.validation_by is not None:
            return self.validation_by
        return "review" if self.model == "dense" else "movie"


RECIPES: dict[str, TrainOptions] = {
    "dense": TrainOptions(),
    # The book's second edition: tf-idf of words and bigrams, Dense(16) with dropout 0.5.
    # A wider vocabulary and sublinear tf measured better on validation. Step size 3e-3 with
    # patience 3 varied least across seeds (IMDB test 0.904-0.908 for seeds 0-2, against
    # 0.899-0.907 with 1e-2), so the floor it is tested against is not luck.
    "tfidf-dense": TrainOptions(
        model="tfidf-dense",
        features=FeatureConfig(weighting="tfidf", num_words=20_000, ngram_range=(1, 2),
                               max_ngrams=30_000, start_char=None, oov_char=None,
                               sublinear_tf=True),
        network=NetworkConfig(hidden_layers=1, units=16, dropout=0.5),
        training=TrainConfig(learning_rate=3e-3), epochs=20, patience=3),
    # Binary words, bigrams and trigrams; 2 M n-grams measured better than 5 M.
    "nblr": TrainOptions(
        model="nblr",
        features=FeatureConfig(weighting="binary", num_words=100_000, ngram_range=(1, 3),
                               max_ngrams=2_000_000, start_char=None, oov_char=None)),
}


def recipe(name: str, **changes: Any) -> TrainOptions:
    """The options of the model called ``name``, with ``changes`` applied.

    Example:
        >>> recipe("nblr").features.ngram_range
        (1, 3)
    """
    if name not in RECIPES:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return dataclasses.replace(RECIPES[name], **changes)


#: The knobs :func:`options_for` takes, by the part of :class:`TrainOptions` they set.
_KNOBS = {"features": ("ngram_range", "max_ngrams", "num_words"),
          "network": ("hidden_layers", "units", "activation", "dropout"),
          "training": ("loss", "optimizer", "learning_rate", "batch_size", "seed"),
          "linear": ("unit_length",),
          "run": ("epochs", "patience", "validation_size", "validation_by",
                  "sentence_weight", "unlabelled")}
#: Knobs a linear model has no use for.
_NETWORK_ONLY = (*_KNOBS["network"], *_KNOBS["training"], "epochs", "patience")


def options_for(model: str, **knobs: Any) -> TrainOptions:
    """The named model's options with the given knobs changed (``None`` means not given).

    Knobs: ``ngram_range``, ``max_ngrams``, ``num_words`` (features); ``hidden_layers``,
    ``units``, ``activation``, ``dropout`` (network); ``loss``, ``optimizer``,
    ``learning_rate``, ``batch_size``, ``seed`` (training); ``epochs``, ``patience``,
    ``validation_size``, ``validation_by``, ``sentence_weight``, ``unlabelled``,
    ``unit_length`` (nblr: :meth:`LinearConfig.with_unit_length`). A linear model refuses the
    network's and training's knobs.

    Example:
        >>> options_for("dense", units=32).network.units
        32
    """
    given = {key: value for key, value in knobs.items() if value is not None}
    size = given.get("validation_size")
    if isinstance(size, float) and size >= 1 and size.is_integer():
        given["validation_size"] = int(size)  # a count given as 10000.0
    unknown = set(given) - {k for group in _KNOBS.values() for k in group}
    if unknown:
        raise ConfigError(f"unknown option {', '.join(sorted(unknown))}")
    base = recipe(model)
    ignored = sorted(k for k in given if k in _NETWORK_ONLY) if base.is_linear else []
    if ignored:
        raise ConfigError(f"{model} is a linear model; it has no {', '.join(ignored)}",
                          parameter=ignored[0])
    part = {group: {k: given[k] for k in keys if k in given} for group, keys in _KNOBS.items()}
    linear = LinearConfig.with_unit_length() if given.get("unit_length") else base.linear
    return dataclasses.replace(
        base, features=dataclasses.replace(base.features, **part["features"]),
        network=dataclasses.replace(base.network, **part["network"]),
        training=dataclasses.replace(base.training, **part["training"]), linear=linear,
        **part["run"])


@dataclass
class TrainResult:
    history: History | None  # None for linear models
    metrics: dict[str, Any]
    path: Path


@dataclass(frozen=True)
class _Split:
    x_train: sp.csr_matrix
    y_train: np.ndarray
    x_val: sp.csr_matrix
    y_val: np.ndarray
    featurizer: FeatureSpace
    data: dict[str, Any]
    test: Callable[[], tuple[sp.csr_matrix, np.ndarray]] | None  # IMDB's test split, when ready
    # The texts of the training and held-out rows, in row order (for nblr's sentences).
    texts: Callable[[], tuple[Sequence[str], Sequence[str]]] = lambda: ((), ())


@dataclass(frozen=True)
class _Fitted:
    """A trained model as a bundle stores it."""

    model: ModelType
    metrics: dict[str, Any]
    training: dict[str, Any]
    extra: dict[str, bytes] = field(default_factory=dict)
    history: History | None = None


#: Peak memory of each model's in-memory path: a floor, plus bytes per byte of review text.
#: Fitted to ``critic train --input`` on corpora of 25,000 to 400,000 IMDB reviews (nblr
#: 1.4 / 2.8 / 10.3 GB, dense 0.5 / 1.1 / 3.4 GB for 33 / 133 / 530 MB of text).
IN_MEMORY_COST = {"nblr": (0.8e9, 18.0), "dense": (0.3e9, 6.0), "tfidf-dense": (0.4e9, 9.0)}
#: nblr with its sentences, against without: IMDB 2.14 GB peak against 1.66 GB.
_SENTENCES_MEMORY = 1.3
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_memory(text: str) -> int:
    """``"2.5G"``, ``"600M"``, ``"4GB"`` or a number of bytes → bytes.

    Example:
        >>> parse_memory("1.5G")
        1610612736
    """
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = cleaned[-1:] if cleaned[-1:] in _UNITS else ""
    try:
        amount = float(cleaned[: len(cleaned) - len(unit)])
    except ValueError:
        amount = -1.0
    if not 0 < amount < float("inf"):
        raise ConfigError(f"{text!r} is not an amount of memory such as 2.5G or 600M",
                          parameter="memory_budget")
    return int(amount * _UNITS[unit])


def default_memory_budget() -> int:
    """A quarter of the machine's memory: room for the rest of what runs on it."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def in_memory_estimate(model: str, text_bytes: int) -> int:
    """Peak bytes the in-memory path is expected to need for ``text_bytes`` of reviews."""
    floor, per_byte = IN_MEMORY_COST[model]
    return int(floor + per_byte * text_bytes)


def train_bundle(options: TrainOptions, output: str | os.PathLike[str], *,
                 data: str | os.PathLike[str] | None = None, reviews: Reviews | None = None,
                 stream: ReviewStream | None = None, memory_budget: int | None = None,
                 overwrite: bool = False, callbacks: Sequence[Callback] = (),
                 progress: Callable[[str], None] = lambda message: None,
                 cluster: Any = None, unlabelled: Sequence[str] | None = None) -> TrainResult:
    """Train on IMDB (``data``), the user's ``reviews`` (in memory) or ``stream`` and write a
    bundle to ``output``; within ``memory_budget`` bytes (see the module docstring), or on
    the connected Ray ``cluster`` (from a ``stream``: :func:`critic.cluster.fit_nblr_on_cluster`,
    :func:`critic.cluster.fit_network_on_cluster`). With ``options.unlabelled``, nblr
    self-trains on the ``unlabelled`` texts (default: IMDB's 50,000 unlabelled reviews)."""
    folder = RunFolder(output, "train", overwrite=overwrite)  # refused now, not after training
    if options.validation_by == "movie" and (reviews is not None or stream is not None
                                              or cluster is not None):
        raise ConfigError("validation by movie is for the IMDB data, whose files name each "
                          "review's movie; a file of your own is split review by review",
                          parameter="validation_by")
    if unlabelled is not None and not options.unlabelled:
        raise ConfigError("unlabelled reviews were given but `unlabelled` is off",
                          parameter="unlabelled")
    if unlabelled is not None and not len(unlabelled):
        raise DataError("no unlabelled reviews were given to learn from",
                        parameter="unlabelled")
    in_memory_only = _in_memory_only_option(options)
    if in_memory_only and cluster is not None:
        raise _in_memory_only(in_memory_only, "on a cluster")
    if stream is not None:
        stream.check_columns()  # every file, before hours of work on the first ones
    if cluster is not None:
        return _write(options, folder, _on_cluster(options, stream, cluster, progress, callbacks),
                      overwrite)
    if reviews is None:  # a stream, or IMDB: does it fit the budget in memory?
        budget = memory_budget or default_memory_budget()
        needed = in_memory_estimate(options.model, _IMDB_TEXT_BYTES if stream is None
                                    else stream.data_bytes)
        if options.sentence_weight:
            needed = int(needed * _SENTENCES_MEMORY)
        if options.unlabelled:
            needed += int(_UNLABELLED_COST * (_IMDB_UNLABELLED_TEXT_BYTES if unlabelled is None
                                              else text_bytes(unlabelled)))
        if needed > budget:
            over = (f"the reviews need ~{needed / 2**30:.1f} GB in memory, over the budget of "
                    f"{budget / 2**30:.1f} GB; raise --memory-budget")
            if in_memory_only:
                raise _in_memory_only(in_memory_only, f"from a stream ({over})")
            if options.validation_by == "movie":
                raise ConfigError(f"validation by movie holds IMDB in memory, and {over}",
                                  parameter="validation_by")
            progress(f"the reviews need ~{needed / 2**30:.1f} GB in memory, over the budget "
                     f"of {budget / 2**30:.1f} GB: training from the stream")
            trained = (_imdb_streamed(options, data, progress, callbacks) if stream is None
                       else _streamed(options, stream, progress, callbacks))
            return _write(options, folder, trained, overwrite)
        if stream is not None:
            reviews = read_stream(stream)
    split = _imdb_split(options, data) if reviews is None else _file_split(options, reviews)
    if options.unlabelled and unlabelled is None:
        unlabelled = _imdb_unlabelled(data)
    fitted = (_fit_linear(options, split, unlabelled) if options.is_linear
              else _fit_network(options, split, callbacks))
    return _write(options, folder, (split.featurizer, fitted, split.data), overwrite)


def _write(options: TrainOptions, folder: RunFolder,
           trained: tuple[FeatureSpace, _Fitted, dict[str, Any]], overwrite: bool
           ) -> TrainResult:
    featurizer, fitted, data = trained
    record = RunRecord("train", dataclasses.asdict(options) | {"data": data},
                       {k: v for k, v in fitted.metrics.items() if k != "history"})
    files = bundle_files(name=options.model, featurizer=featurizer, model=fitted.model,
                         metrics=fitted.metrics, training=fitted.training, data=data,
                         extra=fitted.extra | {RUN_FILE: record.to_bytes()})
    return TrainResult(fitted.history, fitted.metrics,
                       write_bundle(folder.path, files, overwrite=overwrite))


def read_stream(stream: ReviewStream) -> Reviews:
    """All of ``stream``'s reviews in memory (what the in-memory path trains on)."""
    texts, labels, ids = [], [], []
    for batch in stream:
        if batch.labels is None:
            raise ConfigError(f"{batch.source} has no labels to train on")
        texts.append(batch.texts.arrow)
        labels.append(batch.labels)
        ids.append(batch.ids)
    all_ids = None if any(part is None for part in ids) else [i for p in ids for i in p or []]
    return Reviews(TextColumn(pa.chunked_array(texts)), np.concatenate(labels), all_ids,
                   stream.source)


#: The IMDB training reviews' text: what the memory estimate of an IMDB run starts from.
_IMDB_TEXT_BYTES = 33_000_000
#: IMDB's 50,000 unlabelled reviews, and the peak bytes self-training adds per byte of
#: unlabelled text (their features, and the stacked matrix of the confident ones).
_IMDB_UNLABELLED_TEXT_BYTES = 67_000_000
_UNLABELLED_COST = 18.0


def text_bytes(texts: Sequence[str]) -> int:
    """UTF-8 bytes of ``texts`` (what the memory estimates count)."""
    if isinstance(texts, TextColumn):
        return int(texts.arrow.nbytes)
    return sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)


def _imdb_unlabelled(data: Any) -> Sequence[str]:
    """IMDB's 50,000 unlabelled training reviews (``train/unsup``)."""
    from critic.datasets.corpus import load_corpus

    texts = load_corpus(data).subset("unsup").texts
    if not len(texts):
        raise DataError("this copy of IMDB has no unlabelled reviews (train/unsup/) to learn "
                        "from; give --unlabelled a file of reviews", parameter="unlabelled")
    return texts


def _stream_fraction(options: TrainOptions, total: int | None, default: float) -> float:
    """The held-out fraction of a stream: ``validation_size`` as a fraction, or as a count
    of a stream whose size is known."""
    size = options.validation_size if options.validation_size is not None else default
    if isinstance(size, float):
        return size
    if total is None:
        raise ConfigError("a stream of CSV or JSON lines does not know its length: give "
                          "--validation-size as a fraction (e.g. 0.05)",
                          parameter="validation_size")
    return _validation_count(options, total, size) / total


@dataclass(frozen=True)
class _Streamed:
    """A model trained from a stream, as the bundle and the IMDB test need it."""

    featurizer: FeatureSpace
    fitted: _Fitted
    reviews: int
    held_out: int
    logits: Callable[[sp.csr_matrix], np.ndarray]


def _streamed(options: TrainOptions, stream: ReviewStream, progress: Callable[[str], None],
              callbacks: Sequence[Callback]) -> tuple[FeatureSpace, _Fitted, dict[str, Any]]:
    fraction = _stream_fraction(options, stream.count(), 0.2)
    checksum = ContentChecksum()
    first = [checksum.watch(stream)]  # the first pass is checksummed, the others not

    def passes() -> Iterable[Batch]:
        return first.pop() if first else iter(stream)

    trained = _train_stream(options, passes, fraction, progress, callbacks)
    return trained.featurizer, trained.fitted, {
        "source": stream.source, "reviews": trained.reviews, "checksum": checksum.hexdigest(),
        "validation": _stream_validation(trained.held_out, fraction, options)}


def _imdb_streamed(options: TrainOptions, data: Any, progress: Callable[[str], None],
                   callbacks: Sequence[Callback]
                   ) -> tuple[FeatureSpace, _Fitted, dict[str, Any]]:
    from critic.datasets.corpus import load_corpus

    corpus = load_corpus(data)
    train, test = corpus.subset("train"), corpus.subset("test")
    order = training_order(len(train))
    texts, labels = train.texts.take(order).arrow, train.labels[order].astype(np.uint8)
    fraction = _stream_fraction(options, len(train), options.imdb_validation)
    trained = _train_stream(options, lambda: array_batches(texts, labels, source="imdb"),
                            fraction, progress, callbacks)
    logits = np.concatenate([trained.logits(trained.featurizer.transform(batch.texts))
                             for batch in array_batches(test.texts.arrow, None, source="imdb")])
    trained.fitted.metrics["test"] = evaluate_probabilities(test.labels.astype(np.uint8),
                                                            sigmoid(logits))
    return trained.featurizer, trained.fitted, {
        "source": "imdb", "checksum": corpus.checksum,
        "validation": _stream_validation(trained.held_out, fraction, options) | {
            "order": "load_data seed 113, then held out by a hash of the position"}}


def _on_cluster(options: TrainOptions, stream: ReviewStream | None, ray: Any,
                progress: Callable[[str], None], callbacks: Sequence[Callback]
                ) -> tuple[FeatureSpace, _Fitted, dict[str, Any]]:
    if stream is None:
        raise ConfigError("on a cluster critic trains from --input (a file, folder, glob or "
                          "URI every node can read)", parameter="cluster")
    fraction = _stream_fraction(options, stream.count(), 0.2)
    fit = (_nblr_on_cluster(options, stream, ray, fraction, progress) if options.is_linear
           else _network_on_cluster(options, stream, ray, fraction, progress, callbacks))
    return fit.featurizer, fit.fitted, {
        "source": stream.source, "reviews": fit.reviews,
        "checksum": fit.checksum, "checksum_of": "the SHA-256 of each part's, in order",
        "validation": _stream_validation(fit.held_out, fraction, options) | {
            "order": f"(file number << 40) + row hashed with seed {options.training.seed}"}}


@dataclass(frozen=True)
class _ClusterFit:
    """A model trained on a cluster, as the bundle needs it."""

    featurizer: FeatureSpace
    fitted: _Fitted
    reviews: int
    held_out: int
    checksum: str


def _nblr_on_cluster(options: TrainOptions, stream: ReviewStream, ray: Any, fraction: float,
                     progress: Callable[[str], None]) -> _ClusterFit:
    from critic.cluster import fit_nblr_on_cluster

    fit = fit_nblr_on_cluster(ray, stream, validation_fraction=fraction,
                              linear=options.linear, features=_stream_features(options),
                              online=OnlineConfig(seed=options.training.seed),
                              progress=progress)
    checksum = fit.training.pop("checksum_of_parts")
    fitted = _Fitted(fit.model, dict(fit.metrics), fit.training | {"streamed": True})
    return _ClusterFit(fit.featurizer, fitted, fit.reviews, fit.held_out, checksum)


def _network_on_cluster(options: TrainOptions, stream: ReviewStream, ray: Any,
                        fraction: float, progress: Callable[[str], None],
                        callbacks: Sequence[Callback]) -> _ClusterFit:
    from critic.cluster import fit_network_on_cluster

    net, checksum = fit_network_on_cluster(
        ray, stream, features=options.features, network=options.network,
        training=options.training, epochs=options.epochs, patience=options.patience,
        validation_fraction=fraction, callbacks=callbacks, progress=progress)
    fitted = _network_fitted(options, net.classifier, net.history, net.validation)
    fitted.training.update(streamed=True, solver="Ray Train TorchTrainer, DDP")
    return _ClusterFit(net.featurizer, fitted, net.reviews, net.held_out, checksum)


def _stream_features(options: TrainOptions) -> FeatureConfig:
    """The streamed nblr's hashed features, with the recipe's n-grams."""
    return dataclasses.replace(STREAM_FEATURES, ngram_range=options.features.ngram_range)


def _train_stream(options: TrainOptions, passes: Callable[[], Iterable[Batch]],
                  fraction: float, progress: Callable[[str], None],
                  callbacks: Sequence[Callback]) -> _Streamed:
    """Train ``options.model`` from a stream; ``passes()`` reads it once more."""
    if options.is_linear:
        fit = fit_streaming_nblr(passes(), validation_fraction=fraction, linear=options.linear,
                                 online=OnlineConfig(seed=options.training.seed),
                                 features=_stream_features(options), progress=progress)
        fitted = _Fitted(fit.model, dict(fit.metrics), fit.training | {"streamed": True})
        return _Streamed(fit.featurizer, fitted, fit.reviews, fit.held_out, fit.model.logits)
    net = fit_streaming_network(passes, features=options.features, network=options.network,
                                training=options.training, epochs=options.epochs,
                                patience=options.patience, validation_fraction=fraction,
                                callbacks=callbacks, progress=progress)
    fitted = _network_fitted(options, net.classifier, net.history, net.validation)
    fitted.training["streamed"] = True
    return _Streamed(net.featurizer, fitted, net.reviews, net.held_out,
                     net.classifier.decision_function)


def _stream_validation(held_out: int, fraction: float, options: TrainOptions
                       ) -> dict[str, Any]:
    return {"reviews": held_out, "fraction": fraction,
            "order": f"stream position hashed with seed {options.training.seed}",
            "trained_on_after_choice": False}


def _fit_network(options: TrainOptions, split: _Split, callbacks: Sequence[Callback]
                 ) -> _Fitted:
    from critic.classifier import Classifier

    network = dataclasses.replace(options.network, input_dim=split.featurizer.dimension)
    model = Classifier(network, options.training)
    history = model.fit(split.x_train, split.y_train, epochs=options.epochs,
                        validation_data=(split.x_val, split.y_val), patience=options.patience,
                        callbacks=callbacks)
    fitted = _network_fitted(options, model, history,
                             evaluate_probabilities(split.y_val, model.predict_proba(split.x_val)))
    fitted.metrics.update(_test_metrics(model.predict_proba, split))
    return fitted


def _network_fitted(options: TrainOptions, model: Classifier, history: History,
                    validation: dict[str, Any]) -> _Fitted:
    """A trained network as a bundle stores it, with its curves and figures."""
    from critic.figures import render_history

    kept = history.best_weights_epoch or history.epoch[-1]
    metrics: dict[str, Any] = {
        "kept_epoch": kept,
        "validation": validation | {"best_loss_epoch": history.best_epoch("val_loss")},
        "history": history.history,
    }
    training = options.training.to_dict() | {
        "epochs": options.epochs, "patience": options.patience,
        "epochs_run": len(history.epoch), "kept_epoch": kept}
    figures = render_history(history.history, history.epoch, formats=("png",))
    return _Fitted(NetworkModel(model.config, model.state_arrays()), metrics, training,
                   figures, history)


def _in_memory_only_option(options: TrainOptions) -> str | None:
    """The option asked for that trains nblr in memory only, if any."""
    if options.sentence_weight:
        return "sentence_weight"
    if options.linear.unit_length:
        return "unit_length"
    return "unlabelled" if options.unlabelled else None


def _in_memory_only(option: str, where: str) -> ConfigError:
    flag = "--" + option.replace("_", "-")
    return ConfigError(f"{flag} trains nblr in memory, not {where}", parameter=option)


@dataclass(frozen=True)
class _Sentences:
    """The sentences of the training and held-out reviews, featurised once: each an example
    of its review's label weighing ``weight``."""

    x: sp.csr_matrix
    owners: np.ndarray  # row of the review each came from (training rows, then held-out)
    weight: float

    @classmethod
    def of(cls, split: _Split, weight: float) -> _Sentences | None:
        if not weight:
            return None
        train_texts, val_texts = split.texts()
        sentences, owners = split_sentences([*train_texts, *val_texts])
        return cls(split.featurizer.transform(sentences), owners, weight)

    def below(self, x: sp.csr_matrix, y: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray,
                                                             np.ndarray]:
        """The reviews ``x`` (the first ``len(y)`` rows) with their sentences below them:
        features, labels and row weights."""
        mine = self.owners < len(y)
        weights = np.concatenate([np.ones(len(y)), np.full(int(mine.sum()), self.weight)])
        return (sp.vstack([x, self.x[mine]], format="csr"),
                np.concatenate([y, y[self.owners[mine]]]), weights)


#: Self-training: an unlabelled review joins when the model is this sure of it (probability
#: above 0.95 or below 0.05), weighing as much as a labelled one. Chosen on the held-out
#: movies' validation accuracy among 0.3, 0.4 and 0.45 (README, "The unlabelled regime").
UNLABELLED_MARGIN = 0.45
UNLABELLED_WEIGHT = 1.0


@dataclass(frozen=True)
class _Unlabelled:
    """Unlabelled reviews, featurised once, for self-training."""

    x: sp.csr_matrix

    def confident(self, model: NBLogisticRegression) -> tuple[sp.csr_matrix, np.ndarray]:
        """The reviews ``model`` is sure of, and the labels it gives them."""
        positive = model.predict_proba(self.x)[:, 1]
        sure = np.abs(positive - 0.5) > UNLABELLED_MARGIN
        return self.x[sure], (positive[sure] > 0.5).astype(np.uint8)

    def self_trained(self, model: NBLogisticRegression, x: sp.csr_matrix, y: np.ndarray,
                     weights: np.ndarray | None) -> tuple[NBLogisticRegression, int]:
        """``model``'s settings fitted again on ``x`` with the confident unlabelled reviews
        below it under ``model``'s labels; and how many joined."""
        x_sure, y_sure = self.confident(model)
        weights = np.ones(len(y)) if weights is None else weights
        refit = clone(model).fit(
            sp.vstack([x, x_sure], format="csr"), np.concatenate([y, y_sure]),
            sample_weight=np.concatenate([weights, np.full(len(y_sure), UNLABELLED_WEIGHT)]))
        return refit, len(y_sure)


def _fit_linear(options: TrainOptions, split: _Split,
                unlabelled_texts: Sequence[str] | None = None) -> _Fitted:
    # The unlabelled reviews are featurised on the second core while the choice is made.
    unlabelled_x = (None if unlabelled_texts is None
                    else _in_background(split.featurizer.transform, unlabelled_texts))
    sentences = _Sentences.of(split, options.sentence_weight)
    x, y, weights = ((split.x_train, split.y_train, None) if sentences is None
                     else sentences.below(split.x_train, split.y_train))
    chosen, table = select_nblr(x, y, split.x_val, split.y_val, options.linear, weights)
    validation = evaluate_probabilities(split.y_val, chosen.predict_proba(split.x_val)[:, 1])
    metrics: dict[str, Any] = {"chosen": {"C": chosen.C, "beta": chosen.beta},
                               "selection": table}
    unlabelled = None if unlabelled_x is None else _Unlabelled(unlabelled_x.result())
    if unlabelled is not None:  # the self-trained model, judged on the same held-out reviews
        chosen, joined = unlabelled.self_trained(chosen, x, y, weights)
        metrics["unlabelled"] = {"validation_without": validation,
                                 "joined_at_validation": joined}
        validation = evaluate_probabilities(split.y_val,
                                            chosen.predict_proba(split.x_val)[:, 1])
    metrics["validation"] = validation
    # The choice is made; now every training review, held-out ones included, trains the model.
    x = sp.vstack([split.x_train, split.x_val], format="csr")
    y = np.concatenate([split.y_train, split.y_val])
    x, y, weights = (x, y, None) if sentences is None else sentences.below(x, y)
    final = clone(chosen).fit(x, y, sample_weight=weights)
    reviews = len(split.y_train) + len(split.y_val)
    training = options.linear.to_dict() | {
        "C": chosen.C, "beta": chosen.beta, "solver": "scikit-learn liblinear (dual)",
        "refit_on": reviews, "sentence_weight": options.sentence_weight,
        "sentences": len(y) - reviews}
    if unlabelled is not None:  # labelled again by the refitted model, then fitted once more
        final, joined = unlabelled.self_trained(final, x, y, weights)
        training["unlabelled"] = {"reviews": unlabelled.x.shape[0], "joined": joined,
                                  "margin": UNLABELLED_MARGIN, "weight": UNLABELLED_WEIGHT}
        metrics["unlabelled"] |= {"reviews": unlabelled.x.shape[0], "joined": joined}
    metrics |= _test_metrics(lambda x: final.predict_proba(x)[:, 1], split)
    model = LinearModel.from_coefficients(final.coef_, final.intercept_[0],
                                          getattr(final, "squared_ratios_", None))
    return _Fitted(model, metrics, training)


def _in_background(work: Callable[[Sequence[str]], sp.csr_matrix], texts: Sequence[str]
                   ) -> Future[sp.csr_matrix]:
    """``work(texts)`` started on a thread of its own (featurising is mostly outside the
    GIL, so it runs on the second core while the first one trains)."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(work, texts)
    pool.shutdown(wait=False)  # the thread finishes its one task, then ends
    return future


def _test_metrics(predict_proba: Any, split: _Split) -> dict[str, Any]:
    if split.test is None:
        return {}
    x_test, y_test = split.test()
    return {"test": evaluate_probabilities(y_test, predict_proba(x_test))}


def _validation_count(options: TrainOptions, total: int, default: int | float) -> int:
    size = options.validation_size if options.validation_size is not None else default
    count = round(size * total) if isinstance(size, float) else int(size)
    if not 0 < count < total:
        raise ConfigError(f"`validation_size` ({size}) must leave reviews on both sides of the "
                          f"split; there are {total} training reviews")
    return count


def _imdb_split(options: TrainOptions, data: Any) -> _Split:
    if options.features == FeatureConfig(num_words=options.features.num_words):
        return _imdb_book_split(options, data)
    from critic.datasets.corpus import load_corpus

    corpus = load_corpus(data)
    train, test = corpus.subset("train"), corpus.subset("test")
    order = training_order(len(train))
    featurizer = FeatureSpace.from_config(options.features)
    x = featurizer.fit_transform(train.texts)[order]  # fitted on training reviews only
    y = train.labels[order].astype(np.uint8)
    n_val = _validation_count(options, len(y), options.imdb_validation)
    by, kept, held_out = _imdb_held_out(options, lambda: train.movies[order], len(y), n_val)
    # The test reviews are featurised on the second core while the model trains on the first
    # (training is single-threaded; the featurizer's work is mostly outside the GIL): the
    # 2 s it takes for nblr then costs nothing.
    test_features = _in_background(featurizer.transform, test.texts)
    test_labels = test.labels.astype(np.uint8)

    def texts() -> tuple[Sequence[str], Sequence[str]]:
        ordered = train.texts.take(order)  # a copy of the texts, made only for sentences
        return _rows(ordered, kept), _rows(ordered, held_out)

    return _Split(x[kept], y[kept], x[held_out], y[held_out], featurizer,
                  _imdb_data(corpus.checksum, len(y[held_out]), options, by),
                  lambda: (test_features.result(), test_labels), texts)


def _imdb_book_split(options: TrainOptions, data: Any) -> _Split:
    """The book's multi-hot vectors, from the cached token ids (no tokenising)."""
    num_words = options.features.num_words
    book = book_matrices(data, num_words)
    n_val = _validation_count(options, len(book.y_train), options.imdb_validation)
    featurizer = FeatureSpace.from_fitted(options.features,
                                        Vocabulary(book.words, num_words=num_words))
    by, kept, held_out = _imdb_held_out(options, lambda: training_movies(data),
                                        len(book.y_train), n_val)
    parts = book.rows(kept, held_out)

    def texts() -> tuple[Sequence[str], Sequence[str]]:
        from critic.datasets.corpus import load_corpus

        train = load_corpus(data).subset("train")
        ordered = train.texts.take(training_order(len(train)))
        return _rows(ordered, kept), _rows(ordered, held_out)

    return _Split(*parts, featurizer, _imdb_data(book.checksum, len(parts[3]), options, by),
                  lambda: (book.x_test, book.y_test), texts)


def _rows(texts: Sequence[str], rows: slice | np.ndarray) -> Sequence[str]:
    """The texts at ``rows`` (a slice, or positions), in that order."""
    if isinstance(rows, slice):
        return texts[rows]
    if isinstance(texts, TextColumn):
        return texts.take(rows)
    return [texts[int(i)] for i in rows]


def _imdb_held_out(options: TrainOptions, movies_of: Callable[[], np.ndarray], reviews: int,
                   n_val: int) -> tuple[str, slice | np.ndarray, slice | np.ndarray]:
    """How IMDB's training reviews are held out, and the training and held-out rows: as
    asked, else the model's default, but by review where the copy of IMDB names no movies
    (a folder without ``urls_*.txt``). ``movies_of`` gives the training reviews' movies in
    ``load_data`` order (asked only for a split by movie)."""
    if options.imdb_validation_by == "movie":
        movies = movies_of()
        if options.validation_by is not None or (movies >= 0).all():
            return "movie", *movie_split(movies, n_val)
    return "review", *book_split(reviews, n_val)


def _imdb_data(checksum: str, n_val: int, options: TrainOptions, by: str) -> dict[str, Any]:
    return {"source": "imdb", "checksum": checksum,
            "validation": {"reviews": n_val, "by": by,
                           "order": ("whole movies in seed-113 order until N" if by == "movie"
                                     else "load_data seed 113, first N"),
                           "trained_on_after_choice": options.is_linear}}


def _file_split(options: TrainOptions, reviews: Reviews) -> _Split:
    if reviews.labels is None:
        raise ConfigError(f"{reviews.source} has no labels to train on")
    if len(np.unique(reviews.labels)) < 2:
        raise ConfigError(f"{reviews.source} has only one label; training needs both")
    order = np.random.RandomState(options.training.seed).permutation(len(reviews))
    n_val = _validation_count(options, len(reviews), 0.2)
    featurizer = FeatureSpace.from_config(options.features)
    x = featurizer.fit_transform(reviews.texts)[order]
    y = reviews.labels[order]
    return _Split(x[n_val:], y[n_val:], x[:n_val], y[:n_val], featurizer,
                  {"source": reviews.source, "reviews": len(reviews),
                   "checksum": _content_checksum(reviews),
                   "validation": {"reviews": n_val, "order": f"seed {options.training.seed}",
                                  "trained_on_after_choice": options.is_linear}},
                  None, lambda: (_rows(reviews.texts, order[n_val:]),
                                 _rows(reviews.texts, order[:n_val])))


def _content_checksum(reviews: Reviews) -> str:
    """SHA-256 of the texts and labels trained on (whatever file or folder held them)."""
    checksum = ContentChecksum()
    checksum.add(reviews.texts, reviews.labels)
    return checksum.hexdigest()
