"""Deprecated: ``critic.models.config`` moved to ``critic.NetworkConfig`` and
``critic.TrainConfig`` (:mod:`critic.models.network.config`); kept for one release."""

from critic._shim import moved

__getattr__ = moved("critic.models.config", {
    "NetworkConfig": "critic.models.network.config", "TrainConfig": "critic.models.network.config",
    "check_positive": "critic.errors"})
