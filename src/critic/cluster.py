"""Beyond one machine: ``--cluster`` runs critic's work on a Ray cluster (``critic[ray]``).

Ray is imported only here, and only when ``--cluster`` is given; without it nothing changes.

- :func:`connected` joins a cluster with Ray's own conventions — ``auto`` (``RAY_ADDRESS``
  when set, else the cluster started on this machine by ``ray start --head``),
  ``HOST:PORT`` (a head node), ``ray://HOST:10001`` (Ray Client) — or starts one here
  (``local``). A head that does not answer is reported in one line within seconds, before
  Ray's own retries (which wait a minute) begin.
- :func:`predict_on_cluster` is ``critic predict`` as a Ray Data job: the input cut into
  parts (runs of Parquet row groups, or whole files of other kinds), each read, scored and
  written as its own Parquet part by a pool of actors that load the bundle once; the parts
  are named by their place in the input (Ray's own ordering of blocks was seen to mix them),
  in a temporary folder renamed onto the output, with a ``_SUCCESS`` marker, only when every
  part is written.
- :class:`RayPool` runs a sweep's runs as Ray tasks behind the interface of
  :class:`concurrent.futures.Executor` that the local sweep uses.

Paths (the bundle, the data, ``--input`` and ``--output``) must be readable by every node
where the work runs: on one machine they are; on a real cluster use shared storage or a URI
(``s3://…``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from critic.errors import ConfigError, CriticError, OutputError

#: Seconds to wait for a head node's port before calling it unreachable.
CONNECT_TIMEOUT_S = 5.0
#: The marker written last into a complete prediction folder (Spark's and Hadoop's name).
SUCCESS = "_SUCCESS"
#: Environment critic's workers need to see as the driver does.
_FORWARDED = ("CRITIC_DATA", "CRITIC_HOME")


class ClusterError(CriticError):
    """The cluster cannot be reached, or its work failed; the message says which and why."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--cluster needs Ray: pip install 'critic[ray]'",
                          parameter="cluster") from None
    return ray


@contextlib.contextmanager
def connected(address: str) -> Iterator[Any]:
    """Connect to the Ray cluster at ``address`` (see the module docstring) for the block;
    yields the ``ray`` module. ``local`` starts a cluster for the block and stops it after."""
    ray = _ray()
    target = _resolve(address)
    _quiet()
    if target not in ("local", "auto"):
        _check_reachable(target)
    # "local" starts a new cluster even beside a running one (no address would join it).
    options: dict[str, Any] = {
        "address": target, "log_to_driver": False, "logging_level": logging.ERROR,
        "runtime_env": {"env_vars": {k: os.environ[k] for k in _FORWARDED if k in os.environ}}}
    if target == "local":
        options |= {"num_cpus": os.cpu_count() or 1, "include_dashboard": False}
    try:
        ray.init(**options)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, its own errors
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: "
                           f"{_first_line(_innermost(exc))}", parameter="cluster") from None
    try:
        yield ray
    except ray.exceptions.RayError as exc:  # an actor, a node or the cluster went away mid-job
        raise _cluster_error(exc) from None
    finally:
        ray.shutdown()


def _quiet() -> None:
    """Ray's own log lines would bury critic's one-line answers: errors come back to the
    driver as exceptions, and critic reports them."""
    for name in ("ray", "ray.data", "ray.train"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _resolve(address: str) -> str:
    """``auto`` is ``RAY_ADDRESS`` when that is set, as for Ray's own tools."""
    address = address.strip()
    if not address:
        raise ConfigError("--cluster needs an address: auto, local, HOST:PORT or "
                          "ray://HOST:10001", parameter="cluster")
    if address == "auto":
        return os.environ.get("RAY_ADDRESS", "").strip() or "auto"
    return address


def _check_reachable(address: str) -> None:
    """Refuse a head node whose port does not answer within :data:`CONNECT_TIMEOUT_S`."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--cluster {address!r} is not auto, local, HOST:PORT or "
                          "ray://HOST:PORT", parameter="cluster")
    try:
        socket.create_connection((host.strip("[]"), int(port)),
                                 timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(f"cannot reach the Ray cluster at {address} ({reason}): start "
                           "one there with `ray start --head`, or use --cluster local",
                           parameter="cluster") from None


# --- predict ------------------------------------------------------------------------------

class _PartScorer:
    """A Ray Data actor: the bundle loaded once, then one part of the input after another,
    each read with critic's own reader (its errors name the file and the row, as on one
    machine), scored, and written as its own Parquet file named by the part's place."""

    def __init__(self, bundle: str, folder: str, parts: list[Any], text_column: str,
                 id_column: str | None, with_ids: bool, batch_size: int) -> None:
        from critic.predict import load

        self.predictor = load(bundle)
        self.folder, self.parts = Path(folder), parts
        self.text_column, self.id_column = text_column, id_column
        self.with_ids, self.batch_size = with_ids, batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"index": batch["index"],
                "rows": [self._score(int(index)) for index in batch["index"]]}

    def _score(self, index: int) -> int:
        """Score part ``index`` into its own file, written under a temporary name and
        renamed (:func:`write_stream`): a part retried after its worker died never leaves
        half a file."""
        import sys

        from critic.datasets.stream import ReviewStream
        from critic.prediction_files import score_stream, write_stream

        part = self.parts[index]
        stream = ReviewStream(part.path, text_column=self.text_column,
                              id_column=self.id_column, batch_reviews=self.batch_size)
        return write_stream(score_stream(self.predictor, stream.read_part(part)),
                            self.folder / f"part-{index:06d}.parquet", as_json=False,
                            stdout=sys.stdout, with_ids=self.with_ids)


def predict_on_cluster(ray: Any, bundle: str | os.PathLike[str], source: str,
                       output: Path, *, text_column: str = "text",
                       id_column: str | None = None, batch_size: int = 8_192) -> int:
    """Score every review of ``source`` on the connected cluster into the folder ``output``
    (``part-NNNNNN.parquet`` in the input's order, and ``_SUCCESS``); return how many were
    scored. The output appears only when every part is written."""
    from critic._atomic import staged_folder
    from critic.datasets.stream import ReviewStream
    from critic.predict import load

    load(bundle)  # a bad bundle is refused here, once, not by every actor
    stream = ReviewStream(source, text_column=text_column, id_column=id_column)
    stream.check_columns()
    with_ids = next(iter(stream)).ids is not None  # the columns one process would write
    parts = stream.parts()
    _claim_prediction_folder(output)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    with staged_folder(output, overwrite=True) as folder:
        try:
            _quiet()  # again: Ray Data sets its loggers up when first used
            indices = [{"index": i} for i in range(len(parts))]
            done = ray.data.from_items(indices, override_num_blocks=len(parts)).map_batches(
                _PartScorer, fn_constructor_args=(
                    str(Path(bundle).absolute()), str(folder.absolute()), parts, text_column,
                    id_column, with_ids, batch_size),
                batch_size=1, compute=ray.data.ActorPoolStrategy(min_size=1,
                                                                 max_size=workers))
            written = sum(int(row["rows"]) for row in done.take_all())
        except Exception as exc:  # Ray wraps what the actors raised
            raise _cluster_error(exc) from None
        (folder / SUCCESS).write_bytes(b"")
    return written


def _claim_prediction_folder(output: Path) -> None:
    """The output is a folder of parts; an existing one is replaced only if it is one that
    critic wrote (it holds ``_SUCCESS``), never another folder or a file."""
    from critic._atomic import claim_output

    if output.suffix.lower() in (".tsv", ".jsonl", ".json", ".csv"):
        raise OutputError(f"--output {output}: on a cluster predictions are written as a "
                          "folder of Parquet parts; name a folder", parameter="output")
    claim_output(output, overwrite=True, kind="folder")
    if output.exists() and not (output / SUCCESS).is_file():
        raise OutputError(f"{output} exists and is not a folder of predictions (no "
                          f"{SUCCESS}); refusing to replace it: choose another path",
                          parameter="output")


def _cluster_error(exc: BaseException) -> CriticError:
    """What the cluster raised, as one line: critic's own error when an actor raised one,
    else the first line of the innermost cause (Ray wraps it in several layers)."""
    innermost = _innermost(exc)
    if isinstance(innermost, CriticError):
        return innermost
    # Ray Train keeps what each worker raised by rank.
    for failure in getattr(exc, "worker_failures", {}).values():
        if isinstance(cause := _innermost(failure), CriticError):
            return cause
    # Ray Data re-raises a worker's error as text inside its own exception: critic's own
    # message is the line that names critic's error class.
    found = _CRITIC_ERROR.findall(str(exc))
    if found:
        return ClusterError(found[-1])
    return ClusterError(f"the job failed on the cluster: {_first_line(innermost)}")


_CRITIC_ERROR = re.compile(r"^critic\.errors\.\w+: (.+)$", re.MULTILINE)


def _innermost(exc: BaseException) -> BaseException:
    """The first of critic's own errors in ``exc``'s chain of causes, else the last cause
    (Ray wraps what a worker raised in several layers: ``cause``, ``__cause__``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    innermost = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CriticError):
            return current
        innermost = current
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return innermost


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# --- train --------------------------------------------------------------------------------

def _shard_batches(parts: list[Any], files: dict[str, int], text_column: str,
                   label_column: str, digests: list[str] | None) -> Iterator[Any]:
    """A shard's reviews, part after part; positions are (file number << 40) + row, so the
    held-out choice depends on where a review is, not on how the stream was sharded. Each
    part's content checksum is appended to ``digests`` when given."""
    import dataclasses

    from critic.datasets.stream import ContentChecksum, ReviewStream

    for part in parts:
        stream = ReviewStream(part.path, text_column=text_column, label_column=label_column,
                              require_labels=True)
        checksum = ContentChecksum()
        batches = stream.read_part(part)
        for batch in batches if digests is None else checksum.watch(batches):
            yield dataclasses.replace(batch, position=(files[part.path] << 40) + batch.position)
        if digests is not None:
            digests.append(checksum.hexdigest())


def _shards(ray: Any, stream: Any) -> tuple[list[Any], int, dict[str, int]]:
    """The stream's parts, cut so that every CPU of the cluster gets a share; how many
    shards to deal them to (part ``i`` goes to shard ``i % shards``); each file's number."""
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    total = stream.count()  # Parquet's; None for other kinds, cut by file then
    parts = stream.parts() if total is None else stream.parts(min(65_536, -(-total // cpus)))
    return parts, min(len(parts), cpus), {path: n for n, path in enumerate(stream.files)}


def _checksum_of_parts(shares: list[list[str]], parts: int) -> str:
    """The SHA-256 of every part's checksum in input order, from each shard's own list
    (part ``i`` was shard ``i % shards``'s ``(i // shards)``-th)."""
    import hashlib

    digests = [shares[i % len(shares)][i // len(shares)] for i in range(parts)]
    return hashlib.sha256("".join(digests).encode()).hexdigest()


class _NblrShard:
    """A Ray actor holding one shard of the training reviews: some parts of the stream,
    featurised, split and spilled to its own node's disk once, then an Adagrad epoch over
    them at a time from the weights the driver sends."""

    def __init__(self, parts: list[Any], files: dict[str, int], text_column: str,
                 label_column: str, features: Any, fraction: float, online: Any) -> None:
        from critic.hashing import HashedFeatureSpace
        from critic.train_streaming import spills

        self.parts, self.files = parts, files
        self.text_column, self.label_column = text_column, label_column
        self.featurizer = HashedFeatureSpace.from_config(features).fit([])
        self.fraction, self.online = fraction, online
        self._stack = contextlib.ExitStack()
        self.train, self.validation = self._stack.enter_context(spills())

    def read(self) -> tuple[Any, ...]:
        """Featurise and spill the shard; its class sums, counts and per-part checksums."""
        from critic.train_streaming import spill_stream

        digests: list[str] = []
        sums = spill_stream(_shard_batches(self.parts, self.files, self.text_column,
                                           self.label_column, digests),
                            self.featurizer, self.fraction, self.online, self.train,
                            self.validation)
        return (sums.positive, sums.negative, self.train.reviews, self.train.positives,
                self.validation.reviews, digests)

    def epoch(self, ratios: Any, weights: Any, squares: Any, bias: float, seed: list[int]
              ) -> tuple[Any, Any, float, float]:
        """One Adagrad pass over the shard from the given state; the state after it and
        the mean loss."""
        import numpy as np

        learner = self._learner(ratios, weights, bias)
        learner.squares = np.array(squares)
        order = np.random.default_rng(seed).permutation(len(self.train))
        losses = [learner.step(batch) for batch in self.train.read(order)]
        return learner.weights, learner.squares, learner.bias, float(np.mean(losses))

    def scores(self, ratios: Any, weights: Any, bias: float) -> tuple[Any, Any]:
        """The score parts of the shard's training and held-out reviews."""
        from critic.train_streaming import score_parts

        learner = self._learner(ratios, weights, bias)
        return score_parts(learner, self.train), score_parts(learner, self.validation)

    def _learner(self, ratios: Any, weights: Any, bias: float) -> Any:
        import numpy as np

        from critic.models.online import AdagradLogistic

        learner = AdagradLogistic(ratios, self.online.learning_rate)
        learner.weights, learner.bias = np.array(weights), bias  # a copy: refs are read-only
        return learner

    def close(self) -> None:
        self._stack.close()


def fit_nblr_on_cluster(ray: Any, stream: Any, *, validation_fraction: float,
                        linear: Any = None, online: Any = None, features: Any = None,
                        progress: Callable[[str], None] = lambda message: None) -> Any:
    """The streamed ``nblr`` (:func:`critic.train_streaming.fit_streaming_nblr`) on the
    connected cluster: the stream's parts dealt round-robin to one shard actor per CPU;
    the Naive Bayes class sums summed over the shards (a map-reduce: exact); then each
    epoch every shard runs Adagrad over its own reviews from the same weights and the
    driver averages what they return (iterative parameter mixing, McDonald et al. 2010);
    NBSVM's interpolation is chosen on the held-out reviews of all shards, as on one
    machine. Returns a :class:`critic.train_streaming.StreamFit` whose ``training`` holds
    the per-part checksums' digest."""
    import numpy as np

    from critic.hashing import HashedFeatureSpace
    from critic.models.linear import Fit, LinearConfig
    from critic.models.online import ClassSums, OnlineConfig
    from critic.train_streaming import STREAM_FEATURES, check_split, finish_nblr

    linear, online = linear or LinearConfig(), online or OnlineConfig()
    features = features or STREAM_FEATURES
    parts, count, files = _shards(ray, stream)
    shard = ray.remote(num_cpus=1)(_NblrShard)
    actors = [shard.remote(parts[k::count], files, stream.text_column, stream.label_column,
                           features, validation_fraction, online) for k in range(count)]
    try:
        _quiet()
        read = _gather(ray, [actor.read.remote() for actor in actors])
        sums = ClassSums(len(read[0][0]))
        sums.positive, sums.negative = sum(r[0] for r in read), sum(r[1] for r in read)
        trained, positives, held = (sum(r[i] for r in read) for i in (2, 3, 4))
        check_split(trained, positives, held)
        progress(f"read {trained + held:,} reviews ({held:,} held out) on {count} shards")
        ratios = ray.put(sums.ratios(linear.alpha, online.min_count))
        width = len(sums.positive)
        weights, squares, bias = np.zeros(width), np.full(width, 1e-8), 0.0
        for epoch in range(1, online.epochs + 1):
            state = ray.put(weights), ray.put(squares)
            done = _gather(ray, [a.epoch.remote(ratios, *state, bias, [online.seed, epoch, k])
                                 for k, a in enumerate(actors)])
            weights, squares = (np.mean([d[i] for d in done], axis=0) for i in (0, 1))
            bias = float(np.mean([d[2] for d in done]))
            progress(f"epoch {epoch}/{online.epochs}: loss {np.mean([d[3] for d in done]):.4f}")
        scored = _gather(ray, [a.scores.remote(ratios, ray.put(weights), bias)
                               for a in actors])
    finally:
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.get(actor.close.remote())
                ray.kill(actor)

    def joined(side: int) -> Any:
        by_ratio = np.concatenate([s[side][0][0] for s in scored])
        by_weight = np.concatenate([s[side][0][1] for s in scored])
        return (by_ratio, by_weight), np.concatenate([s[side][1] for s in scored])

    fit = finish_nblr(Fit(ray.get(ratios), weights, bias, None), joined(0), joined(1),
                      featurizer=HashedFeatureSpace.from_config(features).fit([]),
                      linear=linear, online=online,
                      solver=f"Adagrad on {count} Ray shards, weights averaged each epoch")
    fit.training["checksum_of_parts"] = _checksum_of_parts([r[5] for r in read], len(parts))
    return fit


def _gather(ray: Any, refs: list[Any]) -> list[Any]:
    """``ray.get`` with what the actors raised turned into one line."""
    try:
        return list(ray.get(refs))
    except Exception as exc:
        raise _cluster_error(exc) from None


class TorchCollective:
    """The ranks of the ``torch.distributed`` group that Ray Train set up (gloo on CPUs),
    as the :class:`critic.train_streaming.Collective` the streamed network trains through."""

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
    """A :class:`critic.classifier.Callback` on rank 0 that sends its epoch events to the
    collector, for the driver's own callbacks (the same epoch lines as on one machine);
    not each step, which would cost a message a minibatch."""

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
    """Ray Train's loop on each worker: :func:`critic.train_streaming.fit_streaming_network`
    over the worker's share of the parts, the ranks sharing counts and gradients; rank 0
    hands the network to the collector."""
    import ray
    import ray.train

    from critic.train_streaming import fit_streaming_network

    rank, collective = ray.train.get_context().get_world_rank(), TorchCollective()
    collector = config["collector"]
    parts = config["parts"][rank::collective.size]
    digests: list[str] = []
    passes = 0

    def stream() -> Iterator[Any]:
        nonlocal passes
        passes += 1  # the first pass is checksummed, the others not
        return _shard_batches(parts, config["files"], config["text_column"],
                              config["label_column"], digests if passes == 1 else None)

    def say(line: str) -> None:
        if rank == 0:
            collector.tell.remote("progress", line)

    fit = fit_streaming_network(
        stream, features=config["features"], network=config["network"],
        training=config["training"], epochs=config["epochs"], patience=config["patience"],
        validation_fraction=config["fraction"], progress=say, collective=collective,
        callbacks=[_RelayedCallback(collector)] if rank == 0 else [])
    shares = collective.gather(digests)
    if rank == 0:
        ray.get(collector.put.remote({
            "config": fit.classifier.config, "state": fit.classifier.state_arrays(),
            "history": fit.history, "featurizer": fit.featurizer,
            "validation": fit.validation, "reviews": fit.reviews, "held_out": fit.held_out,
            "checksum": _checksum_of_parts(shares, len(config["parts"]))}))


def fit_network_on_cluster(ray: Any, stream: Any, *, features: Any, network: Any,
                           training: Any, epochs: int, patience: int | None,
                           validation_fraction: float, callbacks: Sequence[Any] = (),
                           progress: Callable[[str], None] = lambda message: None
                           ) -> tuple[Any, str]:
    """The streamed network (:func:`critic.train_streaming.fit_streaming_network`) on the
    connected cluster, data-parallel with Ray Train's ``TorchTrainer``: one worker per CPU,
    each reading its own parts of the stream (dealt round-robin); the vocabulary, n-gram and
    document-frequency counts summed over the workers (``all_gather``/``all_reduce``), then
    DDP over gloo — gradients averaged at every step, each worker's minibatch
    ``1 / workers`` of the batch size, so a step sees as many reviews as on one machine.
    Rank 0's progress lines and epoch events reach ``progress`` and ``callbacks`` here as
    they happen. Returns the :class:`critic.train_streaming.StreamNetworkFit` and the
    checksum of the parts."""
    import tempfile

    import torch
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from critic.classifier import Classifier
    from critic.train_streaming import StreamNetworkFit

    parts, count, files = _shards(ray, stream)
    collector = ray.remote(num_cpus=0)(_Collector).remote()
    config = {"parts": parts, "files": files,
              "text_column": stream.text_column, "label_column": stream.label_column,
              "features": features, "network": network, "training": training,
              "epochs": epochs, "patience": patience, "fraction": validation_fraction,
              "collector": collector}
    progress(f"training on {count} Ray Train workers (DDP over gloo)")
    with tempfile.TemporaryDirectory(prefix="critic-ray-train-") as storage:
        trainer = TorchTrainer(
            _train_network_worker, train_loop_config=config,
            scaling_config=ScalingConfig(num_workers=count, use_gpu=False),
            run_config=RunConfig(name="critic-train", storage_path=storage,
                                 failure_config=FailureConfig(max_failures=0)))
        _fit_relaying(ray, trainer, collector, progress, callbacks)
    result = ray.get(collector.get.remote())
    ray.kill(collector)
    classifier = Classifier(result["config"], training)
    classifier.network.load_state_dict({name: torch.from_numpy(array.copy())
                                        for name, array in result["state"].items()})
    return StreamNetworkFit(classifier, result["history"], result["featurizer"],
                            result["validation"], result["reviews"], result["held_out"]
                            ), result["checksum"]


def _fit_relaying(ray: Any, trainer: Any, collector: Any, progress: Callable[[str], None],
                  callbacks: Sequence[Any]) -> None:
    """``trainer.fit()``, replaying rank 0's events while it runs; what failed, in one
    line."""
    import threading

    failure: list[BaseException] = []

    def fit() -> None:
        try:
            _quiet()
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
        raise _cluster_error(failure[0])


# --- sweeps -------------------------------------------------------------------------------

class RayPool:
    """Ray tasks behind the part of :class:`concurrent.futures.Executor` a sweep uses:
    ``submit`` gives a :class:`Future`; ``shutdown(cancel_futures=True)`` cancels what has
    not finished. ``initializer(*initargs)`` runs once in each worker process, before its
    first task (the sweep loads the data there, as the local pool does)."""

    def __init__(self, ray: Any, *, initializer: Callable[..., None], initargs: tuple[Any, ...]
                 ) -> None:
        self._ray = ray
        self._refs: list[Any] = []
        self._remote = ray.remote(num_cpus=1, max_retries=2)(_with_initializer)
        self._initializer, self._initargs = initializer, initargs

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        ref = self._remote.remote(self._initializer, self._initargs, fn, *args)
        self._refs.append(ref)
        future: Future[Any] = ref.future()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for ref in self._refs:
                with contextlib.suppress(Exception):
                    self._ray.cancel(ref)


_INITIALISED: set[tuple[Any, ...]] = set()


def _with_initializer(initializer: Callable[..., None], initargs: tuple[Any, ...],
                      fn: Callable[..., Any], *args: Any) -> Any:
    key = (initializer.__module__, initializer.__qualname__, *initargs)
    if key not in _INITIALISED:  # Ray reuses worker processes: once in each
        initializer(*initargs)
        _INITIALISED.add(key)
    return fn(*args)
