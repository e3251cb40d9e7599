"""Deprecated: ``critic.models.linear`` moved to ``critic.NBLogisticRegression`` (the nblr
family: :mod:`critic.models.nblr.estimator`); kept for one release."""

from critic._shim import moved

_ESTIMATOR = "critic.models.nblr.estimator"
__getattr__ = moved("critic.models.linear", {
    "NBLogisticRegression": _ESTIMATOR, "nb_ratios": _ESTIMATOR, "select_nblr": _ESTIMATOR,
    "LinearConfig": "critic.models.nblr.config"})
