"""The ``nblr`` family: NB-weighted logistic regression over binary word n-grams.

In memory (:mod:`critic.models.nblr.fit`) C and beta are chosen on the held-out reviews and
the model is refitted on every training review; from a stream (:mod:`.stream`) and on a
cluster (:mod:`.cluster`) it learns hashed n-grams by Adagrad. Its bundles hold a
:class:`~critic.models.nblr.inference.LinearModel`: one weight per n-gram, explanations exact.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from critic.fitting.options import Knob, Mode, TrainOptions
from critic.models.family import Family, FitContext, Passes
from critic.models.nblr.config import LinearConfig, NblrSettings

if TYPE_CHECKING:
    from critic.features import FeatureConfig
    from critic.fitting.data import Split
    from critic.fitting.result import Fitted
    from critic.models.nblr.inference import LinearModel

#: Peak bytes in memory: a floor, plus bytes per byte of review text. Fitted to ``critic
#: train --input`` on 25,000 to 400,000 IMDB reviews (1.4 / 2.8 / 10.3 GB for 33 / 133 /
#: 530 MB of text).
_MEMORY_FLOOR, _MEMORY_PER_BYTE = 0.8e9, 18.0
#: With its sentences, against without: IMDB 2.14 GB peak against 1.66 GB.
_SENTENCES_MEMORY = 1.3
#: Self-training: peak bytes added per byte of unlabelled text (their features, and the
#: stacked matrix of the confident ones).
_UNLABELLED_PER_BYTE = 18.0


class NblrFamily(Family):
    name = "nblr"
    settings_type = NblrSettings
    recipe_names = ("nblr",)
    knobs = (
        Knob("sentence_weight", float, "nblr: each training review's sentences as extra "
             "examples of its label, weighing this much (0: none; 0.1 makes nblr right on "
             "short texts too). In memory only."),
        Knob("unit_length", bool, "nblr: each review's NB-scaled features scaled to length "
             "1, so that short texts are not called positive for being short (C chosen "
             "among 10, 30, 100). In memory only."),
        Knob("seed", int, "Seed for initialisation and shuffling (0)."),
    )
    modes = frozenset({Mode.MEMORY, Mode.STREAM, Mode.CLUSTER})
    refits_after_choice = True
    learns_from_unlabelled = True

    def model_type(self) -> type[LinearModel]:
        from critic.models.nblr.inference import LinearModel

        return LinearModel

    def recipes(self) -> dict[str, TrainOptions]:
        from critic.features import FeatureConfig

        # Binary words, bigrams and trigrams; 2 M n-grams measured better than 5 M.
        features = FeatureConfig(weighting="binary", num_words=100_000, ngram_range=(1, 3),
                                 max_ngrams=2_000_000, start_char=None, oov_char=None)
        return {"nblr": TrainOptions(model="nblr", features=features, settings=NblrSettings())}

    def with_knobs(self, settings: NblrSettings, given: dict[str, Any]) -> NblrSettings:
        given = dict(given)
        if given.pop("unit_length", False):
            given["linear"] = LinearConfig.with_unit_length()
        return dataclasses.replace(settings, **given)

    def memory_estimate(self, options: TrainOptions, text_bytes: int,
                        unlabelled_bytes: int = 0) -> int:
        needed = _MEMORY_FLOOR + _MEMORY_PER_BYTE * text_bytes
        if options.settings.sentence_weight:
            needed *= _SENTENCES_MEMORY
        return int(needed) + int(_UNLABELLED_PER_BYTE * unlabelled_bytes)

    def in_memory_only(self, options: TrainOptions) -> str | None:
        if options.settings.sentence_weight:
            return "sentence_weight"
        if options.settings.linear.unit_length:
            return "unit_length"
        if options.unlabelled:
            return "unlabelled"
        # A stream hashes every n-gram into STREAM_FEATURES' columns: a vocabulary size or an
        # n-gram cap asked for would be ignored there, so it keeps the model in memory.
        recipe = self.recipes().get(options.model)
        return next((name for name in ("num_words", "max_ngrams") if recipe is not None and
                     getattr(options.features, name) != getattr(recipe.features, name)), None)

    def fit_in_memory(self, options: TrainOptions, split: Split, context: FitContext
                      ) -> Fitted:
        from critic.models.nblr.fit import fit_nblr

        return fit_nblr(options, split, context.unlabelled)

    def fit_streamed(self, options: TrainOptions, passes: Passes, fraction: float,
                     context: FitContext) -> Fitted:
        from critic.models.nblr.online import OnlineConfig
        from critic.models.nblr.stream import fit_streaming_nblr

        return fit_streaming_nblr(passes(), validation_fraction=fraction,
                                  linear=options.settings.linear,
                                  online=OnlineConfig(seed=options.seed),
                                  features=_stream_features(options),
                                  progress=context.progress)

    def fit_on_cluster(self, options: TrainOptions, ray: Any, stream: Any, fraction: float,
                       context: FitContext) -> Fitted:
        from critic.models.nblr.cluster import fit_nblr_on_cluster
        from critic.models.nblr.online import OnlineConfig

        return fit_nblr_on_cluster(ray, stream, validation_fraction=fraction,
                                   linear=options.settings.linear,
                                   features=_stream_features(options),
                                   online=OnlineConfig(seed=options.seed),
                                   progress=context.progress)


def _stream_features(options: TrainOptions) -> FeatureConfig:
    """The streamed nblr's hashed features, with the recipe's n-grams."""
    from critic.models.nblr.stream import STREAM_FEATURES

    return dataclasses.replace(STREAM_FEATURES, ngram_range=options.features.ngram_range)
