"""What a Ray job's failure looks like to the user: one line that says what failed, without
Ray's terminal colour codes, tracebacks or a line that only announces what follows. Ray's
exceptions are stood in for by ones shaped as Ray raised them (these need no cluster)."""

from __future__ import annotations

import pytest

from critic.cluster.connect import cluster_error
from critic.errors import ClusterError, DataError


class TrainingFailedError(Exception):
    """Shaped as Ray Train's: a message that ends in a colon, the causes by rank."""

    def __init__(self, failures: dict[int, BaseException]) -> None:
        super().__init__("Training failed due to worker errors:\n")
        self.worker_failures = failures


def test_a_failed_worker_is_named_with_its_own_cause() -> None:
    died = RuntimeError("ActorDiedError: The actor died unexpectedly before finishing this "
                        "task.\n\tclass_name: RayTrainWorker\n\tpid: 4242")
    error = cluster_error(TrainingFailedError({1: died}))
    assert isinstance(error, ClusterError)
    assert str(error) == ("the job failed on the cluster: worker 1: ActorDiedError: The actor "
                          "died unexpectedly before finishing this task.")


def test_a_workers_own_error_comes_back_as_it_is() -> None:
    bad_row = DataError("b.csv, row 7: the label 'maybe' is not one of 0/1, pos/neg")
    assert cluster_error(TrainingFailedError({0: RuntimeError("x"), 1: bad_row})) is bad_row


def test_colour_codes_and_tracebacks_around_critics_line_are_dropped() -> None:
    """Ray Data forwards an actor's error as coloured text: critic's own line is found in it."""
    text = ("\x1b[36mray::MapBatches(_NblrShard)\x1b[39m (pid=77, ip=10.0.0.2)\n"
            "Traceback (most recent call last):\n"
            '  File "critic/datasets/stream.py", line 300, in read_part\n'
            "\x1b[31m    critic.errors.DataError: data/b.csv, row 7: the label 'maybe' is not "
            "one of 0/1\x1b[0m\n")
    error = cluster_error(RuntimeError(text))
    assert str(error) == "data/b.csv, row 7: the label 'maybe' is not one of 0/1"
    assert "\x1b" not in str(error)


@pytest.mark.parametrize("text, line", [
    ("\x1b[31mRaySystemError: the node died\x1b[0m\nmore", "RaySystemError: the node died"),
    ("Task failed:\nOutOfMemoryError: 1.2 GB over the limit", "Task failed: OutOfMemoryError: "
     "1.2 GB over the limit"),
])
def test_ray_s_own_failures_are_one_plain_line(text: str, line: str) -> None:
    assert str(cluster_error(RuntimeError(text))) == f"the job failed on the cluster: {line}"


def test_a_workers_error_wrapped_in_its_own_class_gives_its_own_message() -> None:
    """Ray raises ``RayTaskError(DataError)``: a subclass of the worker's error class whose
    message is the whole remote traceback, with the worker's error as its ``cause``."""
    bad_row = DataError("/tmp/b.csv: label 'maybe' in row 301 is not one of 0/1")

    class RayTaskErrorOfDataError(DataError):
        def __init__(self) -> None:
            super().__init__("\x1b[36mray::_NblrShard.read()\x1b[39m (pid=760)\n  File "
                             '"critic/datasets/files.py", line 126\n    raise DataError(…)\n'
                             f"critic.errors.DataError: {bad_row}")
            self.cause = bad_row

    assert cluster_error(RayTaskErrorOfDataError()) is bad_row
