"""A network trained in memory, and what a trained network leaves in its bundle (its
curves and figures), whichever mode trained it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from critic.fitting.data import Split
from critic.fitting.result import Fitted
from critic.metrics import evaluate_probabilities
from critic.models.network.config import outputs_for
from critic.models.network.inference import NetworkModel

if TYPE_CHECKING:  # PyTorch is imported only when a network is trained
    from critic.models.network.classifier import Callback, Classifier, History
    from critic.models.network.family import NetworkSettings


def fit_network(settings: NetworkSettings, split: Split, callbacks: Sequence[Callback]
                ) -> Fitted:
    """Train on ``split``'s training rows, keeping the weights of the epoch with the lowest
    validation loss (with ``patience``, stopping after that many epochs without one)."""
    from critic.models.network.classifier import Classifier

    network = dataclasses.replace(settings.network, input_dim=split.featurizer.dimension,
                                  outputs=outputs_for(split.n_classes, settings.training))
    model = Classifier(network, settings.training)
    history = model.fit(split.x_train, split.y_train, epochs=settings.epochs,
                        validation_data=(split.x_val, split.y_val), patience=settings.patience,
                        callbacks=callbacks)
    validation = evaluate_probabilities(split.y_val, model.predict_proba(split.x_val),
                                        names=split.classes)
    fitted = network_fitted(settings, model, history, validation, split.featurizer)
    fitted.metrics.update(split.test_metrics(model.predict_proba))
    return fitted


def network_fitted(settings: NetworkSettings, model: Classifier, history: History,
                   validation: dict[str, Any], featurizer: Any, **more: Any) -> Fitted:
    """A trained network as a bundle stores it, with its curves and figures."""
    from critic.figures import render_history

    kept = history.best_weights_epoch or history.epoch[-1]
    metrics: dict[str, Any] = {
        "kept_epoch": kept,
        "validation": validation | {"best_loss_epoch": history.best_epoch("val_loss")},
        "history": history.history,
    }
    training = settings.training.to_dict() | {
        "epochs": settings.epochs, "patience": settings.patience,
        "epochs_run": len(history.epoch), "kept_epoch": kept}
    figures = render_history(history.history, history.epoch, formats=("png",))
    return Fitted(NetworkModel(model.config, model.state_arrays()), featurizer, metrics,
                  training, figures, history, **more)
