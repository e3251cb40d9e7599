"""Deprecated: ``critic.train`` moved to the public API (``critic.train_bundle``,
``critic.options_for``, ``critic.recipe``, ``critic.TrainOptions``); kept for one release."""

from critic._shim import moved

_TRAIN = "critic._train"
# The names the README taught; the shape of TrainOptions itself changed (see the CHANGELOG).
__getattr__ = moved("critic.train", {name: _TRAIN for name in (
    "TrainOptions", "TrainResult", "options_for", "recipe", "train_bundle")})
