"""``critic compress``: a smaller ``nblr`` bundle, keeping the n-grams that move a score most.

An ``nblr`` bundle trained in memory holds every counted n-gram (IMDB: 2.1 million bigrams and
trigrams) and one weight for each; most weights are near 0, so most n-grams barely move a
review's logit. Compressing keeps the words and the ``keep`` n-grams of largest ``|weight|``
(over the labels, for more than two), as fastText's ``quantize -cutoff`` keeps its largest
rows: the table a prediction looks n-grams up in shrinks with them, and so do the bundle and
its load time. A review's logit changes only by the dropped n-grams it holds. The compressed
bundle records what it was made from; its ``metrics.json`` is the full model's, measured
before compression (``critic evaluate`` measures the compressed one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from critic.bundle import bundle_bytes, bundle_files, read_bundle, write_bundle
from critic.errors import ConfigError
from critic.features import FeatureSpace
from critic.models.nblr.inference import LinearModel


@dataclass(frozen=True)
class Compressed:
    """What :func:`compress_bundle` made: the bundle, the n-grams kept of how many, and
    both bundles' sizes in bytes."""

    path: Path
    ngrams_kept: int
    ngrams: int
    bytes_before: int
    bytes_after: int

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": str(self.path), "ngrams_kept": self.ngrams_kept,
                "ngrams": self.ngrams, "bytes_before": self.bytes_before,
                "bytes_after": self.bytes_after}


def parse_keep(text: str) -> int | float:
    """``"250000"`` → 250,000 n-grams; ``"0.25"`` → a quarter of them."""
    try:
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise ConfigError(f"`keep_ngrams` must be a count or a fraction below 1, not {text!r}",
                          parameter="keep_ngrams") from None
    return value


def compress_bundle(path: str | os.PathLike[str], output: str | os.PathLike[str], *,
                    keep: int | float, overwrite: bool = False) -> Compressed:
    """Write to ``output`` the ``nblr`` bundle at ``path`` with its words and only the
    ``keep`` n-grams (a count, or a fraction below 1 of them) of largest ``|weight|``."""
    bundle = read_bundle(path)
    model, featurizer = bundle.model, bundle.featurizer
    ngrams = len(featurizer.ngrams_) if isinstance(featurizer, FeatureSpace) else 0
    if not isinstance(model, LinearModel) or type(featurizer) is not FeatureSpace or not ngrams:
        raise ConfigError(f"{bundle.path} is a {bundle.model_name} bundle without counted "
                          "n-grams; critic compress keeps the strongest n-grams of an nblr "
                          "bundle trained in memory (a streamed one's are hashed)",
                          parameter="bundle")
    count = _count(keep, ngrams)
    strongest = np.argsort(-model.column_weights()[featurizer.num_words:], kind="stable")
    kept = np.sort(strongest[:count])
    columns = np.concatenate([np.arange(featurizer.num_words), featurizer.num_words + kept])
    arrays = {"ngrams": featurizer.ngrams_[kept]}
    if featurizer.idf_ is not None:
        arrays["idf"] = featurizer.idf_[columns]
    smaller = FeatureSpace.from_fitted(featurizer.config, featurizer.vocabulary_, arrays,
                                       tokenizer_version=featurizer.tokenizer_version_)
    record = {"from": str(bundle.path), "ngrams_kept": count, "ngrams": ngrams,
              "by": "largest |weight|",
              "metrics": "metrics.json is the full model's, measured before compression"}
    files = bundle_files(
        name=bundle.model_name, featurizer=smaller, model=model.keeping_columns(columns),
        metrics=bundle.metrics, training=bundle.config["training"] | {"compressed": record},
        data=bundle.config["data"], threshold=bundle.threshold, labels=bundle.labels)
    before = bundle_bytes(bundle.path)
    written = write_bundle(output, files, overwrite=overwrite)
    return Compressed(written, count, ngrams, before, bundle_bytes(written))


def _count(keep: int | float, ngrams: int) -> int:
    """How many n-grams ``keep`` asks to keep, of ``ngrams``."""
    if isinstance(keep, bool) or not isinstance(keep, int | float) or not keep > 0:
        raise ConfigError(f"`keep_ngrams` must be a positive count or fraction, not {keep!r}",
                          parameter="keep_ngrams")
    if isinstance(keep, float) and keep >= 1:
        raise ConfigError(f"`keep_ngrams` ({keep}) is a fraction below 1, or a whole count",
                          parameter="keep_ngrams")
    count = round(keep * ngrams) if isinstance(keep, float) else keep
    if not 0 < count < ngrams:
        raise ConfigError(f"`keep_ngrams` ({keep}) must keep some but not all of the bundle's "
                          f"{ngrams:,} n-grams", parameter="keep_ngrams")
    return count
