"""A network on a Ray cluster: the streamed fit (:mod:`critic.models.network.stream`) on every
worker of Ray Train's ``TorchTrainer``, data-parallel (DDP over gloo)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from critic.cluster.connect import cluster_error, quiet
from critic.cluster.shards import (
    checksum_of_parts,
    job_folder,
    shard_batches,
    shards,
    spill_root,
)
from critic.models.network.stream import StreamNetworkFit, fit_streaming_network


class TorchCollective:
    """The ranks of the ``torch.distributed`` group that Ray Train set up (gloo on CPUs),
    as the :class:`critic.models.network.stream.Collective` the streamed network trains
    through."""

    distributed = True

    def __init__(self) -> None:
        import torch.distributed as dist

        self.size = dist.get_world_size()

    def gather(self, value: Any) -> list[Any]:
        import torch.distributed as dist

        values: list[Any] = [None] * self.size
        dist.all_gather_object(values, value)
        return values

    def sum(self, array: Any) -> Any:
        import numpy as np
        import torch
        import torch.distributed as dist

        summed = torch.from_numpy(np.array(array))  # a copy: all_reduce works in place
        dist.all_reduce(summed)
        return summed.numpy()


class _Collector:
    """A Ray actor beside the training: what rank 0 tells — progress lines and the training
    callbacks' events — for the driver to replay as they come, and the trained network.
    (Ray Train would keep a model as a checkpoint in storage that every node shares; this
    needs none.)"""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.result: dict[str, Any] | None = None

    def tell(self, event: str, *args: Any) -> None:
        self.events.append((event, args))

    def take_events(self) -> list[tuple[str, tuple[Any, ...]]]:
        events, self.events = self.events, []
        return events

    def put(self, result: dict[str, Any]) -> None:
        self.result = result

    def get(self) -> dict[str, Any] | None:
        return self.result


class _RelayedCallback:
    """A :class:`~critic.models.network.classifier.Callback` on rank 0 that sends its epoch
    events to the collector, for the driver's own callbacks (the same epoch lines as on one
    machine); not each step, which would cost a message a minibatch."""

    def __init__(self, collector: Any) -> None:
        self.collector = collector

    def on_train_begin(self, epochs: int, steps: int) -> None:
        self.collector.tell.remote("on_train_begin", epochs, steps)

    def on_batch_end(self, epoch: int, step: int) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.collector.tell.remote("on_epoch_end", epoch, logs)

    def on_train_end(self) -> None:
        self.collector.tell.remote("on_train_end")


def _train_network_worker(config: dict[str, Any]) -> None:
    """Ray Train's loop on each worker: :func:`critic.models.network.stream.fit_streaming_network`
    over the worker's share of the parts, the ranks sharing counts and gradients; rank 0
    hands the network to the collector."""
    import ray
    import ray.train

    rank, collective = ray.train.get_context().get_world_rank(), TorchCollective()
    collector = config["collector"]
    parts = config["parts"][rank::collective.size]
    digests: list[str] = []
    passes = 0

    def stream() -> Iterator[Any]:
        nonlocal passes
        passes += 1  # the first pass is checksummed, the others not
        return shard_batches(parts, config["files"], config["text_column"],
                              config["label_column"], digests if passes == 1 else None)

    def say(line: str) -> None:
        if rank == 0:
            collector.tell.remote("progress", line)

    fit = fit_streaming_network(
        stream, features=config["features"], network=config["network"],
        training=config["training"], epochs=config["epochs"], patience=config["patience"],
        validation_fraction=config["fraction"], progress=say, collective=collective,
        spill_root=spill_root(config["folder"]),
        callbacks=[_RelayedCallback(collector)] if rank == 0 else [])
    shares = collective.gather(digests)
    if rank == 0:
        ray.get(collector.put.remote({
            "config": fit.classifier.config, "state": fit.classifier.state_arrays(),
            "history": fit.history, "featurizer": fit.featurizer,
            "validation": fit.validation, "reviews": fit.reviews, "held_out": fit.held_out,
            "classes": fit.classes, "checksum": checksum_of_parts(shares, len(config["parts"]))}))


def fit_network_on_cluster(ray: Any, stream: Any, *, features: Any, network: Any,
                           training: Any, epochs: int, patience: int | None,
                           validation_fraction: float, callbacks: Sequence[Any] = (),
                           progress: Callable[[str], None] = lambda message: None
                           ) -> tuple[Any, str]:
    """The streamed network (:func:`critic.models.network.stream.fit_streaming_network`) on the
    connected cluster, data-parallel with Ray Train's ``TorchTrainer``: one worker per CPU,
    each reading its own parts of the stream (dealt round-robin); the vocabulary, n-gram and
    document-frequency counts summed over the workers (``all_gather``/``all_reduce``), then
    DDP over gloo — gradients averaged at every step, each worker's minibatch
    ``1 / workers`` of the batch size, so a step sees as many reviews as on one machine.
    Rank 0's progress lines and epoch events reach ``progress`` and ``callbacks`` here as
    they happen. Returns the :class:`~critic.models.network.stream.StreamNetworkFit` and the
    checksum of the parts."""
    import tempfile

    import torch
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from critic.models.network.classifier import Classifier

    parts, count, files = shards(ray, stream)
    collector = ray.remote(num_cpus=0)(_Collector).remote()
    config = {"parts": parts, "files": files,
              "text_column": stream.text_column, "label_column": stream.label_column,
              "features": features, "network": network, "training": training,
              "epochs": epochs, "patience": patience, "fraction": validation_fraction,
              "collector": collector}
    progress(f"training on {count} Ray Train workers (DDP over gloo)")
    # The workers spill in the job folder: removed even if one of them is killed. The
    # collector actor is ended however the training ends, so a failed run leaks no actor.
    try:
        with tempfile.TemporaryDirectory(prefix="critic-ray-train-") as storage, \
                job_folder() as config["folder"]:
            trainer = TorchTrainer(
                _train_network_worker, train_loop_config=config,
                scaling_config=ScalingConfig(num_workers=count, use_gpu=False),
                run_config=RunConfig(name="critic-train", storage_path=storage,
                                     failure_config=FailureConfig(max_failures=0)))
            _fit_relaying(ray, trainer, collector, progress, callbacks)
        result = ray.get(collector.get.remote())
    finally:
        ray.kill(collector)
    classifier = Classifier(result["config"], training)
    classifier.network.load_state_dict({name: torch.from_numpy(array.copy())
                                        for name, array in result["state"].items()})
    return StreamNetworkFit(classifier, result["history"], result["featurizer"],
                            result["validation"], result["reviews"], result["held_out"],
                            result["classes"]), result["checksum"]


def _fit_relaying(ray: Any, trainer: Any, collector: Any, progress: Callable[[str], None],
                  callbacks: Sequence[Any]) -> None:
    """``trainer.fit()``, replaying rank 0's events while it runs; what failed, in one
    line."""
    import threading

    failure: list[BaseException] = []

    def fit() -> None:
        try:
            quiet()
            trainer.fit()
        except Exception as exc:  # Ray Train's TrainingFailedError wraps the workers'
            failure.append(exc)

    worker = threading.Thread(target=fit, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=0.5)
        for event, args in ray.get(collector.take_events.remote()):
            if event == "progress":
                progress(*args)
            else:
                for callback in callbacks:
                    getattr(callback, event)(*args)
    if failure:
        raise cluster_error(failure[0])
