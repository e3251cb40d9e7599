"""``critic train`` as a library call: options → mode → the family's fit → a checked bundle.

Models are chosen by recipe name (:func:`recipe`; the families in
:mod:`critic.models.registry` name them); every knob can change one (:func:`options_for`).
The mode is chosen, printed and recorded in ``run.json``: on a cluster when one is given;
else as asked (``mode``); else in memory when the family's estimate of the memory it needs
fits the budget (default: a quarter of the machine's), and from a stream when it does not.
Held-out reviews follow :mod:`critic.fitting.splits` in every mode.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from critic.bundle import bundle_files, write_bundle
from critic.datasets.files import Reviews
from critic.datasets.stream import ReviewStream
from critic.errors import ConfigError, DataError, ModeError
from critic.fitting.data import featurized_imdb_split, file_split, read_stream, text_bytes
from critic.fitting.memory import default_memory_budget, parse_memory
from critic.fitting.options import Mode, TrainOptions
from critic.fitting.result import Fitted
from critic.fitting.streamed import on_cluster, streamed
from critic.models.family import Family, FitContext
from critic.models.registry import check_unlabelled, family_of, options_for, recipe
from critic.runs import RUN_FILE, RunFolder, RunRecord

if TYPE_CHECKING:
    from critic.models.network.classifier import Callback, History

__all__ = ["Mode", "TrainOptions", "TrainResult", "default_memory_budget",
           "in_memory_estimate", "options_for", "parse_memory", "parse_mode", "recipe",
           "train_bundle"]

#: The IMDB training reviews' text, and its 50,000 unlabelled reviews': what the memory
#: estimate of an IMDB run starts from.
_IMDB_TEXT_BYTES = 33_000_000
_IMDB_UNLABELLED_TEXT_BYTES = 67_000_000


@dataclass
class TrainResult:
    history: History | None  # a network's; None for the others
    metrics: dict[str, Any]
    path: Path
    mode: Mode


def in_memory_estimate(options: TrainOptions, text_bytes: int, unlabelled_bytes: int = 0
                       ) -> int:
    """Peak bytes ``options``' family needs to train in memory on ``text_bytes`` of reviews
    (and ``unlabelled_bytes`` of unlabelled ones)."""
    return family_of(options.model).memory_estimate(options, text_bytes, unlabelled_bytes)


def train_bundle(options: TrainOptions, output: str | os.PathLike[str], *,
                 data: str | os.PathLike[str] | None = None, reviews: Reviews | None = None,
                 stream: ReviewStream | None = None, memory_budget: int | None = None,
                 mode: Mode | str | None = None, overwrite: bool = False,
                 callbacks: Sequence[Callback] = (),
                 progress: Callable[[str], None] = lambda message: None,
                 cluster: Any = None, unlabelled: Sequence[str] | None = None) -> TrainResult:
    """Train on IMDB (``data``), the user's ``reviews`` (in memory) or ``stream`` and write a
    bundle to ``output``.

    Args:
        mode: ``"memory"`` or ``"stream"`` to force one (default: by the memory rule, see the
            module docstring); a connected Ray ``cluster`` (``critic.cluster.connect``) trains
            there, from a ``stream``.
        unlabelled: texts to learn from too when ``options.unlabelled`` (default: IMDB's
            50,000 unlabelled reviews), for a family that can.
    """
    folder = RunFolder(output, "train", overwrite=overwrite)  # refused now, not after training
    family = family_of(options.model)
    family.check(options)
    _check_inputs(options, family, reviews, stream, cluster, unlabelled)
    if stream is not None:
        stream.check_columns()  # every file, before hours of work on the first ones
    chosen, why = _choose_mode(options, family, mode, data=data, reviews=reviews,
                               stream=stream, cluster=cluster, budget=memory_budget,
                               unlabelled=unlabelled)
    progress(f"training {options.model} ({family.name}) {chosen.where}: {why}")
    if options.unlabelled and unlabelled is None:
        unlabelled = _imdb_unlabelled(data)
    context = FitContext(progress, callbacks, unlabelled)
    if chosen is Mode.CLUSTER:
        assert stream is not None  # _choose_mode refused a cluster without one
        fitted, record = on_cluster(
            options, stream, partial(family.fit_on_cluster, options, cluster, context=context))
    elif chosen is Mode.STREAM:
        fitted, record = streamed(options, partial(family.fit_streamed, options, context=context),
                                  data=data, reviews=reviews, stream=stream)
    else:
        if stream is not None:
            reviews = read_stream(stream)
        refits = family.refits_after_choice
        split = (featurized_imdb_split(options, data, refits) if reviews is None
                 else file_split(options, reviews, refits))
        fitted, record = family.fit_in_memory(options, split, context), split.data
        fitted.classes = split.classes
    return _write(options, chosen, folder, fitted, record, overwrite)


def _check_inputs(options: TrainOptions, family: Family, reviews: Reviews | None,
                  stream: ReviewStream | None, cluster: Any,
                  unlabelled: Sequence[str] | None) -> None:
    if options.target != "sentiment" and (reviews is not None or stream is not None):
        raise ConfigError("`target` chooses what IMDB's reviews teach; your reviews' labels "
                          "are their --label-column", parameter="target")
    if options.validation_by == "movie" and (reviews is not None or stream is not None
                                              or cluster is not None):
        raise ConfigError("validation by movie is for the IMDB data, whose files name each "
                          "review's movie; a file of your own is split review by review",
                          parameter="validation_by")
    check_unlabelled(options, family)
    if unlabelled is not None and not options.unlabelled:
        raise ConfigError("unlabelled reviews were given but `unlabelled` is off",
                          parameter="unlabelled")
    if unlabelled is not None and not len(unlabelled):
        raise DataError("no unlabelled reviews were given to learn from",
                        parameter="unlabelled")


def _choose_mode(options: TrainOptions, family: Family, asked: Mode | str | None, *,
                 data: Any, reviews: Reviews | None, stream: ReviewStream | None,
                 cluster: Any, budget: int | None, unlabelled: Sequence[str] | None
                 ) -> tuple[Mode, str]:
    """The mode to train in, and why; refuses a mode the family or the options cannot."""
    if cluster is not None:
        if asked is not None and parse_mode(asked) is not Mode.CLUSTER:
            raise ConfigError("--cluster trains on the cluster; leave --mode out",
                              parameter="mode")
        chosen = _allowed(options, family, Mode.CLUSTER, "")
        if stream is None:
            raise ConfigError("on a cluster critic trains from --input (a file, folder, glob "
                              "or URI every node can read)", parameter="cluster")
        return chosen, "a cluster was given"
    if asked is not None:
        chosen = parse_mode(asked)
        if chosen is Mode.CLUSTER:
            raise ConfigError("training on a cluster needs --cluster", parameter="mode")
        if chosen is Mode.STREAM and options.validation_by == "movie":
            raise ConfigError("validation by movie holds IMDB in memory; it cannot be "
                              "trained from a stream", parameter="validation_by")
        return _allowed(options, family, chosen, ""), "as asked"
    if reviews is not None:
        return _allowed(options, family, Mode.MEMORY, ""), "the reviews are in memory"
    budget = budget or default_memory_budget()
    extra = 0 if not options.unlabelled else (
        _IMDB_UNLABELLED_TEXT_BYTES if unlabelled is None else text_bytes(unlabelled))
    needed = family.memory_estimate(
        options, _IMDB_TEXT_BYTES if stream is None else stream.data_bytes, extra)
    fits = (f"the reviews need ~{needed / 2**30:.1f} GB in memory, "
            f"{'within' if needed <= budget else 'over'} the budget of "
            f"{budget / 2**30:.1f} GB")
    if needed <= budget:
        return _allowed(options, family, Mode.MEMORY, ""), fits
    over = f"{fits}; raise --memory-budget"
    if options.validation_by == "movie":
        raise ConfigError(f"validation by movie holds IMDB in memory, and {over}",
                          parameter="validation_by")
    return _allowed(options, family, Mode.STREAM, f" ({over})"), fits


def parse_mode(asked: Mode | str) -> Mode:
    """``asked`` as a :class:`Mode`; anything else is a ConfigError naming the choices."""
    try:
        return Mode(asked)
    except ValueError:
        raise ConfigError(f"`mode` must be one of {', '.join(m.value for m in Mode)}. "
                          f"Received: mode={asked!r}", parameter="mode") from None


def _allowed(options: TrainOptions, family: Family, mode: Mode, why: str) -> Mode:
    """``mode``, unless the family cannot train in it or the options train in memory only."""
    if mode not in family.modes:
        raise family.refuse(mode)
    only = family.in_memory_only(options)
    if only and mode is not Mode.MEMORY:
        flag = "--" + only.replace("_", "-")
        raise ModeError(f"{flag} trains {family.name} in memory, not {mode.where}{why}",
                        parameter=only)
    return mode


def _write(options: TrainOptions, mode: Mode, folder: RunFolder, fitted: Fitted,
           data: dict[str, Any], overwrite: bool) -> TrainResult:
    record = RunRecord("train", dataclasses.asdict(options) | {"mode": mode.value, "data": data},
                       {k: v for k, v in fitted.metrics.items() if k != "history"})
    files = bundle_files(name=options.model, featurizer=fitted.featurizer, model=fitted.model,
                         metrics=fitted.metrics, training=fitted.training, data=data,
                         labels=fitted.classes,
                         extra=fitted.extra | {RUN_FILE: record.to_bytes()})
    return TrainResult(fitted.history, fitted.metrics,
                       write_bundle(folder.path, files, overwrite=overwrite), mode)


def _imdb_unlabelled(data: Any) -> Sequence[str]:
    """IMDB's 50,000 unlabelled training reviews (``train/unsup``)."""
    from critic.datasets.corpus import load_corpus

    texts = load_corpus(data).subset("unsup").texts
    if not len(texts):
        raise DataError("this copy of IMDB has no unlabelled reviews (train/unsup/) to learn "
                        "from; give --unlabelled a file of reviews", parameter="unlabelled")
    return texts

