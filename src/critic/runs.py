"""Run folders: what every command that trains or measures writes, and how it records it.

A :class:`RunFolder` claims its target before the work starts (an existing one is refused the
same way by every command, unless replacing it was asked for), and is written atomically: a
failed or interrupted run leaves what was there before. Each holds one ``run.json``, a
:class:`RunRecord`: the kind of run, the command, the versions of the libraries that computed
it, the configuration, and the metrics, always in one schema: ``validation`` and ``test`` hold
:func:`critic.evaluation.evaluate_probabilities`-style figures (at least ``accuracy`` and
``loss``), anything else is the kind's own. ``critic report`` reads that record instead of
guessing from file names.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, get_args

from critic import __version__
from critic._atomic import (
    claim_output,
    staged_folder,
    write_csv,
    write_folder,
    write_json,
    write_text,
)
from critic.errors import ConfigError, OutputError, ReportError

RUN_FILE = "run.json"
RUN_FORMAT = "critic.run"
Kind = Literal["reproduce", "train", "sweep", "cv", "leaderboard", "pretrain"]
KINDS: tuple[str, ...] = get_args(Kind)


def command_line() -> str:
    """The command as the user typed it (``critic …``), for the record."""
    return shlex.join(["critic", *sys.argv[1:]])


def environment() -> dict[str, str]:
    """Python, platform and the versions of the packages that do the work."""
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("critic", "numpy", "scipy", "torch", "pyarrow", "scikit-learn",
                    "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


@dataclass(frozen=True)
class RunRecord:
    """What produced a result, and the result: the content of ``run.json``."""

    kind: Kind
    config: dict[str, Any]
    metrics: dict[str, Any]
    command: str = field(default_factory=command_line)
    environment: dict[str, str] = field(default_factory=environment)
    critic_version: str = __version__
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def to_dict(self) -> dict[str, Any]:
        return {"format": RUN_FORMAT, **asdict(self)}

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_dict(cls, data: Any, where: str) -> RunRecord:
        if not isinstance(data, dict) or data.get("format") != RUN_FORMAT or \
                data.get("kind") not in KINDS:
            raise ReportError(f"{where} is not a critic run record")
        try:
            return cls(**{key: value for key, value in data.items() if key != "format"})
        except TypeError as exc:
            raise ReportError(f"{where} is not a critic run record ({exc})") from exc


def check_run_name(name: str) -> str:
    """A run's name becomes a folder name: refuse one that is empty or would leave the
    folder that holds runs."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise ConfigError(f"{name!r} is not a folder name", parameter="name")
    return name


class RunFolder:
    """A folder of results, claimed now and written atomically with its ``run.json``.

    Args:
        path: the folder to write.
        kind: what writes it (``reproduce``, ``train``, ``sweep``, ``cv``, ``leaderboard``).
        overwrite: replace an existing folder (only once the new one is complete).
        resumable: an existing folder is taken up again (a sweep adds the runs it lacks);
            files go in one at a time, each atomically.

    Example:
        >>> folder = RunFolder("runs/book", "reproduce")  # doctest: +SKIP
        >>> folder.write({"history.json": b"{}"}, RunRecord("reproduce", {}, {}))  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str], kind: Kind, *, overwrite: bool = False,
                 resumable: bool = False) -> None:
        self.path, self.kind, self.overwrite = Path(path), kind, overwrite
        if resumable and self.path.is_dir() and not self.path.is_symlink():
            return
        claim_output(self.path, overwrite=overwrite)

    def write(self, files: dict[str, bytes], record: RunRecord) -> Path:
        """Write ``files`` (relative path → content) and ``run.json`` as the whole folder."""
        return write_folder(self.path, files | {RUN_FILE: record.to_bytes()},
                            overwrite=self.overwrite)

    def staging(self) -> contextlib.AbstractContextManager[Path]:
        """A temporary folder to fill (write ``run.json`` into it too); it becomes the run
        folder when the block ends without an error, and is removed otherwise."""
        return staged_folder(self.path, overwrite=self.overwrite)

    def add_json(self, name: str, content: Any) -> None:
        """Write one JSON file into a resumable folder, atomically."""
        try:
            write_json(self.path / name, content)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path / name}: {exc.strerror or exc}"
                              ) from exc

    def record(self, record: RunRecord) -> None:
        """Write ``run.json`` into a resumable folder (last, so it marks a finished run)."""
        self.add_json(RUN_FILE, record.to_dict())


def write_results(folder: Path, rows: list[dict[str, Any]], markdown: str) -> None:
    """A run's result table as ``results.csv`` (one row each) and ``results.md``."""
    write_csv(folder / "results.csv", rows)
    write_text(folder / "results.md", markdown)


def read_record(folder: str | Path) -> RunRecord:
    """The :class:`RunRecord` of a run folder (or of a bundle written by ``train``)."""
    path = Path(folder) / RUN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{folder} holds no {RUN_FILE}: it is not a folder written by "
                          "critic reproduce, train, sweep, cv or leaderboard") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ReportError(f"{path} is unreadable ({exc})") from exc
    return RunRecord.from_dict(data, str(path))
