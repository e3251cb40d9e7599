"""What ``critic train`` is asked for, before any family is involved: the options every model
shares, the family's own settings, and the knobs that change them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from critic.errors import ConfigError

if TYPE_CHECKING:  # listing the knobs (the command line's --help) imports no features
    from critic.features import FeatureConfig


class Mode(StrEnum):
    """Where a model is trained: in memory, from a stream in bounded memory, on a cluster."""

    MEMORY = "memory"
    STREAM = "stream"
    CLUSTER = "cluster"

    @property
    def where(self) -> str:
        """How a message says it: "in memory", "from a stream", "on a cluster"."""
        return {"memory": "in memory", "stream": "from a stream",
                "cluster": "on a cluster"}[self.value]


@dataclass(frozen=True)
class Knob:
    """One setting a user may change from ``critic train`` or :func:`critic.options_for`.

    Attributes:
        name: the keyword (``units``); the option is ``--units`` unless ``flag`` says.
        type: ``int``, ``float``, ``str`` or ``bool`` (a flag that is on or not given).
        help: one line for ``--help``; the family's default is said there.
        flag: the command-line option, when it is not ``--the-name``.
    """

    name: str
    type: type
    help: str
    flag: str | None = None

    @property
    def option(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


#: Knobs every family has: they set the features and the held-out split.
FEATURE_KNOBS = (
    Knob("ngram_range", str, "LOW-HIGH word n-grams, 1 <= LOW <= HIGH <= 3"),
    Knob("max_ngrams", int, "Most frequent training n-grams (n >= 2) kept"),
    Knob("num_words", int, "Width of the word block (dense: 10000)."),
)
SPLIT_KNOBS = (
    Knob("validation_size", float, "Reviews held out: a count, or a fraction below 1 "
         "(IMDB: 10000 for dense, else 5000; 0.2 of --input)."),
    Knob("validation_by", str, "IMDB: review (the first N in load_data order; dense's "
         "default) or movie (whole movies held out, as the test reviews are of other movies; "
         "the others' default)."),
    Knob("target", str, "IMDB: sentiment (positive or negative, the default) or rating (the "
         "eight star ratings of the file names, 1-4 and 7-10: eight labels)."),
)
#: What an IMDB model learns to predict (``target``).
TARGETS = ("sentiment", "rating")


def check_target(target: str) -> None:
    """Refuse a ``target`` that is none of :data:`TARGETS`."""
    if target not in TARGETS:
        raise ConfigError(f"`target` must be one of {', '.join(TARGETS)}. "
                          f"Received: target={target!r}", parameter="target")


@dataclass(frozen=True)
class TrainOptions:
    """Everything ``critic train`` can set: what every model shares, and ``settings``, the
    model family's own (a network's layers and epochs, nblr's grids).

    Attributes:
        model: the recipe's name (``critic train --model``); it names the family.
        features: the features (words, n-grams, weighting) the model learns from.
        settings: the family's settings dataclass (``critic.models.network.family.
            NetworkSettings``, ``critic.models.nblr.config.NblrSettings``); every one has a
            ``seed``, which seeds the split too.
        validation_size: reviews held out: a count, or a fraction in (0, 1); ``None``: the
            recipe's IMDB default, or 0.2 of the user's reviews.
        validation_by: IMDB: ``"review"`` or ``"movie"``; ``None``: the recipe's default.
        unlabelled: learn from unlabelled reviews too (a family that can: nblr self-trains).
        imdb_validation: held-out IMDB training reviews by default.
        default_validation_by: how IMDB's training reviews are held out by default.
        target: IMDB: ``"sentiment"`` (two labels) or ``"rating"`` (the eight ratings).

    Example:
        >>> from critic import recipe
        >>> recipe("nblr").features.ngram_range
        (1, 3)
    """

    model: str
    features: FeatureConfig
    settings: Any
    validation_size: int | float | None = None
    validation_by: str | None = None
    unlabelled: bool = False
    imdb_validation: int = 5_000
    default_validation_by: str = "movie"
    target: str = "sentiment"

    def __post_init__(self) -> None:
        check_target(self.target)
        if self.validation_by is not None:
            from critic.fitting.splits import check_validation_by

            check_validation_by(self.validation_by)
        size = self.validation_size
        if size is not None and (isinstance(size, bool) or not size > 0 or (
                isinstance(size, float) and size >= 1.0)):  # `not >` also refuses NaN
            raise ConfigError("`validation_size` must be a positive count or a fraction in "
                              f"(0, 1). Received: validation_size={size!r}",
                              parameter="validation_size")

    @property
    def seed(self) -> int:
        return int(self.settings.seed)

    @property
    def imdb_validation_by(self) -> str:
        """How IMDB's training reviews are split: as asked, else the recipe's default (the
        book's network as the book does, the stronger models by whole movies, as the test
        reviews are of other movies: :func:`critic.fitting.splits.movie_split`)."""
        return self.validation_by if self.validation_by is not None \
            else self.default_validation_by

    def with_shared_knobs(self, given: dict[str, Any]) -> TrainOptions:
        """These options with the knobs every family has (:data:`FEATURE_KNOBS`,
        :data:`SPLIT_KNOBS`) changed as ``given``."""
        from critic.features import parse_ngram_range

        features = {k: given[k] for k in ("ngram_range", "max_ngrams", "num_words") if k in given}
        if isinstance(features.get("ngram_range"), str):
            features["ngram_range"] = parse_ngram_range(features["ngram_range"])
        split = {k: given[k] for k in ("validation_size", "validation_by", "target")
                 if k in given}
        size = split.get("validation_size")
        if isinstance(size, float) and size >= 1 and size.is_integer():
            split["validation_size"] = int(size)  # a count given as 10000.0
        return dataclasses.replace(
            self, features=dataclasses.replace(self.features, **features), **split)
