"""What a model family is: one folder under ``models/`` that owns everything about a model.

A family names its recipes (the ``--model`` variants), its settings and knobs, its memory
estimate, how it fits in each mode it can (in memory, streamed, on a cluster) and its
inference type (weights, NumPy forward pass, explanation). :mod:`critic._train` asks the
family for all of it and knows none; :mod:`critic.models.registry` lists the families.

A mode the family cannot train in is refused by :meth:`Family.refuse`, never routed to
another family's code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from critic.errors import ConfigError, ModeError
from critic.fitting.options import Knob, Mode, TrainOptions

if TYPE_CHECKING:  # imported by what uses them: listing the families costs nothing
    from critic.datasets.stream import Batch, ReviewStream
    from critic.fitting.data import Split
    from critic.fitting.result import Fitted
    from critic.models.base import ModelType

#: Starts one more pass over a stream of labelled reviews.
Passes = Callable[[], Iterable["Batch"]]


@dataclass(frozen=True)
class FitContext:
    """What a fit is given besides the options and the reviews.

    Attributes:
        progress: one line at a time, for people (stderr in the CLI).
        callbacks: a network's epoch callbacks
            (:class:`~critic.models.network.classifier.Callback`).
        unlabelled: unlabelled review texts, when ``options.unlabelled``.
    """

    progress: Callable[[str], None] = lambda message: None
    callbacks: Sequence[Any] = ()
    unlabelled: Sequence[str] | None = None


class Family(ABC):
    """A model family; subclass it in ``models/<name>/`` and register one instance."""

    #: The family's name (``network``, ``nblr``).
    name: ClassVar[str]
    #: The dataclass of its settings (``TrainOptions.settings``).
    settings_type: ClassVar[type]
    #: The names of its recipes (``--model`` choices), known without building them.
    recipe_names: ClassVar[tuple[str, ...]]
    #: The knobs of its settings (the shared ones are :mod:`critic.fitting.options`').
    knobs: ClassVar[tuple[Knob, ...]] = ()
    #: The modes it can train in.
    modes: ClassVar[frozenset[Mode]] = frozenset({Mode.MEMORY})
    #: Whether, once the choice is made on the held-out reviews, they are trained on too.
    refits_after_choice: ClassVar[bool] = False
    #: Whether it can learn from unlabelled reviews (``options.unlabelled``).
    learns_from_unlabelled: ClassVar[bool] = False

    @abstractmethod
    def model_type(self) -> type[ModelType]:
        """What its bundles hold (``config.json``'s ``model.type`` is its ``name``); imported
        when asked, so listing the families costs nothing."""

    @abstractmethod
    def recipes(self) -> dict[str, TrainOptions]:
        """Its named variants, by ``--model`` name (:attr:`recipe_names`, in order), each a
        complete :class:`TrainOptions`."""

    def with_knobs(self, settings: Any, given: dict[str, Any]) -> Any:
        """``settings`` with the family's knobs in ``given`` changed (all of them known)."""
        import dataclasses

        return dataclasses.replace(settings, **given)

    def check(self, options: TrainOptions) -> None:
        """Refuse, before any review is read, options this family cannot train with: settings
        of another family's type (a family adds its own checks, such as a network too large
        for the machine); the settings checked their own values already."""
        if not isinstance(options.settings, self.settings_type):
            raise ConfigError(f"{options.model} is a {self.name} model: its settings are a "
                              f"{self.settings_type.__name__}, not a "
                              f"{type(options.settings).__name__}", parameter="model")

    @abstractmethod
    def memory_estimate(self, options: TrainOptions, text_bytes: int,
                        unlabelled_bytes: int = 0) -> int:
        """Peak bytes of training in memory on ``text_bytes`` of review text (and
        ``unlabelled_bytes`` of unlabelled reviews, for a family that learns from them)."""

    def in_memory_only(self, options: TrainOptions) -> str | None:
        """The setting asked for that this family can only train in memory, if any."""
        return None

    def fit_in_memory(self, options: TrainOptions, split: Split, context: FitContext
                      ) -> Fitted:
        """Train on featurised reviews in memory, choosing on ``split``'s held-out ones."""
        raise self.refuse(Mode.MEMORY)

    def fit_streamed(self, options: TrainOptions, passes: Passes, fraction: float,
                     context: FitContext) -> Fitted:
        """Train from a stream (``passes()`` reads it once more), holding out ``fraction``
        by :func:`critic.fitting.splits.stream_held_out`, in bounded memory."""
        raise self.refuse(Mode.STREAM)

    def fit_on_cluster(self, options: TrainOptions, ray: Any, stream: ReviewStream,
                       fraction: float, context: FitContext) -> Fitted:
        """Train on the connected Ray cluster from ``stream``'s parts, holding out
        ``fraction`` by :func:`critic.fitting.splits.shard_position`'s hash."""
        raise self.refuse(Mode.CLUSTER)

    def refuse(self, mode: Mode, why: str = "") -> ModeError:
        """The error for a mode this family cannot train in."""
        # Training on a cluster is asked for with --cluster; the others with --mode.
        return ModeError(f"{self.name} models cannot be trained {mode.where}"
                         + (f": {why}" if why else ""),
                         parameter="cluster" if mode is Mode.CLUSTER else "mode")
