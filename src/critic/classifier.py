"""Deprecated: ``critic.classifier`` moved to ``critic.Classifier`` and ``critic.History``
(the network family: :mod:`critic.models.network.classifier`); kept for one release."""

from critic._shim import moved

__getattr__ = moved("critic.classifier", {name: "critic.models.network.classifier" for name in (
    "Classifier", "History", "Callback", "KerasRMSprop")})
