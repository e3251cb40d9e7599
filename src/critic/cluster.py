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
from collections.abc import Callable, Iterator
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
