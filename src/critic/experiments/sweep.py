"""``critic sweep``: the book's "further experiments" as a grid, several seeds each, in parallel.

Every run follows the book's protocol (the first 10,000 shuffled training reviews held out, 20
epochs, batch 512) unless told otherwise, and is written atomically to the sweep folder as soon
as it finishes, so a sweep that is stopped and started again with the same arguments only runs
what is missing. Configurations are ranked by validation accuracy; each also gets the test
accuracy of one fresh model trained to its best epoch on all 25,000 training reviews, reported
for information and never used for choosing.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from critic.datasets.fetch import resolve_source
from critic.errors import ConfigError, check_positive
from critic.fitting.options import check_target
from critic.fitting.splits import book_split, shuffled_split, validation_count
from critic.models.network.config import NetworkConfig, TrainConfig
from critic.runs import RunFolder, RunRecord, write_results

#: Knobs a grid may vary, and which configuration each belongs to.
NETWORK_KNOBS = ("hidden_layers", "units", "activation", "dropout")
TRAINING_KNOBS = ("loss", "learning_rate", "optimizer")
KNOBS = NETWORK_KNOBS + TRAINING_KNOBS
_NUMERIC = {"hidden_layers": int, "units": int, "dropout": float, "learning_rate": float}
#: The book's suggestions: 1-3 hidden layers, 16/32/64 units, mse instead of bce, tanh.
DEFAULT_GRID: dict[str, list[Any]] = {"hidden_layers": [1, 2, 3], "units": [16, 32, 64],
                                      "loss": ["bce", "mse"], "activation": ["relu", "tanh"]}


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs; saved as ``spec.json`` so a folder is never mixed with another grid."""

    grid: dict[str, list[Any]] = field(default_factory=lambda: dict(DEFAULT_GRID))
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 20
    validation_size: int = 10_000
    batch_size: int = 512
    num_words: int = 10_000
    target: str = "sentiment"  # or "rating": IMDB's eight ratings, a softmax over them
    #: The user's labelled reviews instead of IMDB's (``input``: a file, folder or glob; the
    #: columns that hold their text and label): any labels, a seeded random hold-out, no test.
    input: str | None = None
    text_column: str = "text"
    label_column: str = "label"

    def __post_init__(self) -> None:
        for name in ("epochs", "validation_size", "batch_size", "num_words"):
            check_positive(name, getattr(self, name))
        check_target(self.target)
        if self.input is not None and self.target != "sentiment":
            raise ConfigError("--target is for IMDB's reviews; a file of yours is swept on its "
                              "own labels", parameter="target")
        if self.target != "sentiment" and "mse" in self.grid.get("loss", []):
            raise ConfigError("loss=mse is for two labels; the ratings are learned with "
                              "cross-entropy: leave mse out of the grid", parameter="grid")
        if not self.seeds:
            raise ConfigError("a sweep needs at least one seed")
        if not self.grid:
            raise ConfigError("the grid is empty: give at least one knob, e.g. units=16,32")
        for knob, values in self.grid.items():
            if knob not in KNOBS:
                raise ConfigError(f"unknown knob {knob!r}; a grid may vary {', '.join(KNOBS)}")
            if not values:
                raise ConfigError(f"knob {knob!r} has no values")
        for config in self.configurations():  # refuse impossible values before any work
            network_config(config, self.num_words)
            train_config(config, 0, self.batch_size)

    def configurations(self) -> list[dict[str, Any]]:
        knobs = sorted(self.grid)
        return [dict(zip(knobs, values, strict=True))
                for values in itertools.product(*(self.grid[k] for k in knobs))]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"seeds": list(self.seeds)}


def sweep_spec(*, config_file: str | os.PathLike[str] | None = None,
               grid: Sequence[str] | None = None, seeds: int = 3, epochs: int = 20,
               validation_size: int = 10_000, batch_size: int = 512,
               target: str = "sentiment", input_path: str | None = None,
               text_column: str = "text", label_column: str = "label") -> SweepSpec:
    """The sweep a TOML file describes, or else the one these arguments describe: ``grid`` as
    ``KNOB=V1,V2`` strings (default: the book's suggestions; for the ratings without mse,
    which is for two labels), seeds ``0 … seeds - 1``."""
    if config_file is not None:
        return load_spec_toml(config_file)
    check_positive("seeds", seeds)
    default = {knob: values for knob, values in DEFAULT_GRID.items()
               if target == "sentiment" or knob != "loss"}
    return SweepSpec(grid=parse_grid(grid) if grid else default,
                     seeds=tuple(range(seeds)), epochs=epochs, validation_size=validation_size,
                     batch_size=batch_size, target=target, input=input_path,
                     text_column=text_column, label_column=label_column)


def parse_grid(assignments: Sequence[str]) -> dict[str, list[Any]]:
    """``["units=16,32", "loss=bce,mse"]`` → ``{"units": [16, 32], "loss": ["bce", "mse"]}``."""
    grid: dict[str, list[Any]] = {}
    for item in assignments:
        knob, sep, values = item.partition("=")
        knob = knob.strip().replace("-", "_")
        if not sep:
            raise ConfigError(f"{item!r} is not KNOB=V1,V2,…; e.g. units=16,32,64")
        grid[knob] = [_value(knob, v.strip()) for v in values.split(",") if v.strip()]
    return grid


def load_spec_toml(path: str | os.PathLike[str]) -> SweepSpec:
    """A sweep from TOML: a ``[grid]`` table of lists, and optional ``seeds``, ``epochs``…"""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the sweep file {path}: {exc}") from exc
    grid = data.pop("grid", None)
    if not isinstance(grid, dict):
        raise ConfigError(f"{path} needs a [grid] table, e.g. units = [16, 32, 64]")
    grid = {k: [_value(k, str(v)) for v in (vs if isinstance(vs, list) else [vs])]
            for k, vs in grid.items()}
    unknown = set(data) - {"seeds", "epochs", "validation_size", "batch_size", "num_words",
                           "target", "input", "text_column", "label_column"}
    if unknown:
        raise ConfigError(f"{path}: unknown settings {', '.join(sorted(unknown))}")
    if "seeds" in data:
        data["seeds"] = tuple(data["seeds"])
    return SweepSpec(grid=grid, **data)


def _value(knob: str, text: str) -> Any:
    kind = _NUMERIC.get(knob)
    if kind is None:
        return text
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{knob}={text!r} is not {what}") from None


def network_config(config: dict[str, Any], num_words: int, outputs: int = 1
                   ) -> NetworkConfig:
    return NetworkConfig(input_dim=num_words, outputs=outputs,
                         **{k: config[k] for k in NETWORK_KNOBS if k in config})


def train_config(config: dict[str, Any], seed: int, batch_size: int) -> TrainConfig:
    return TrainConfig(seed=seed, batch_size=batch_size,
                       **{k: config[k] for k in TRAINING_KNOBS if k in config})


def config_key(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def config_label(config: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(config.items()))


# --- worker side -----------------------------------------------------------------------

_DATA: dict[str, Any] = {}


def _load_data(data: str | None, num_words: int, target: str = "sentiment",
               reviews: tuple[str, str, str] | None = None) -> None:
    """Worker start-up: one thread for torch (the workers fill the cores) and the data once:
    IMDB's labelled for ``target``, or the user's ``reviews`` (source, text and label
    columns) as multi-hot rows of their most frequent words."""
    import torch

    from critic.datasets.imdb import book_matrices
    from critic.datasets.stream import labelled_reviews
    from critic.fitting.data import book_with_target, multi_hot_reviews

    torch.set_num_threads(1)
    if reviews is None:
        book, classes = book_with_target(book_matrices(data, num_words), data, target)
        _DATA.update(x=book.x_train, y=book.y_train, x_test=book.x_test, y_test=book.y_test)
    else:
        source, text_column, label_column = reviews
        x, y, classes = multi_hot_reviews(labelled_reviews(
            source, text_column=text_column, label_column=label_column), num_words)
        _DATA.update(x=x, y=y, x_test=None, y_test=None)
    _DATA["outputs"] = 1 if classes is None or len(classes) == 2 else len(classes)


def held_out(spec: dict[str, Any], reviews: int) -> tuple[Any, Any]:
    """``(training rows, held-out rows)``: IMDB's first ``validation_size`` in ``load_data``
    order (the book's), or a seeded random ``validation_size`` of the user's reviews (a file
    is often sorted by label)."""
    if spec["input"] is None:
        return book_split(reviews, spec["validation_size"])
    validation_count(spec["validation_size"], reviews, 0)  # refuses a split that leaves none
    order, rest, held = shuffled_split(reviews, spec["validation_size"], seed=0)
    return order[rest], order[held]


def _run(spec: dict[str, Any], config: dict[str, Any], seed: int) -> dict[str, Any]:
    from critic.models.network.classifier import Classifier

    rest, held = held_out(spec, len(_DATA["y"]))
    x, y, x_val, y_val = _DATA["x"][rest], _DATA["y"][rest], _DATA["x"][held], _DATA["y"][held]
    model = Classifier(network_config(config, spec["num_words"], _DATA["outputs"]),
                       train_config(config, seed, spec["batch_size"]))
    history = model.fit(x, y, epochs=spec["epochs"], validation_data=(x_val, y_val))
    return {"config": config, "seed": seed, "history": history.history}


def _final(spec: dict[str, Any], config: dict[str, Any], epochs: int) -> dict[str, Any]:
    from critic.models.network.classifier import Classifier

    model = Classifier(network_config(config, spec["num_words"], _DATA["outputs"]),
                       train_config(config, spec["seeds"][0], spec["batch_size"]))
    model.fit(_DATA["x"], _DATA["y"], epochs=epochs)
    loss, accuracy = model.evaluate(_DATA["x_test"], _DATA["y_test"])
    return {"config": config, "epochs": epochs, "test_loss": loss, "test_accuracy": accuracy}


# --- driver ------------------------------------------------------------------------------

@dataclass
class SweepResult:
    rows: list[dict[str, Any]]
    folder: Path
    ran: int  # runs computed in this call (the rest were already on disk)


def run_sweep(spec: SweepSpec, folder: str | os.PathLike[str], *, data: str | None = None,
              workers: int | None = None,
              on_done: Callable[[int, int], None] | None = None,
              pool: Callable[..., Any] | None = None) -> SweepResult:
    """Run every (configuration, seed) not yet in ``folder``, then tabulate all of them.

    ``pool(initializer=, initargs=)`` gives the executor the runs are submitted to (the Ray
    pool of :func:`critic.cluster.pools.pool_factory` on a cluster); by default, ``workers``
    processes here.
    """
    if workers is not None:
        check_positive("workers", workers)
    # Found (or downloaded) here, once, before the folder is claimed: a worker that cannot
    # find the data would only break the pool; and workers may start in another folder (a
    # cluster's do).
    reviews = None
    if spec.input is None:
        data = str(resolve_source(data))
    else:
        reviews = (_checked_input(spec), spec.text_column, spec.label_column)
    run_folder = RunFolder(folder, "sweep", resumable=True)
    folder = run_folder.path
    _claim_folder(run_folder, spec)
    todo = [(c, s) for c in spec.configurations() for s in spec.seeds
            if not _run_path(folder, c, s).exists()]
    # A file of the user's has no test reviews: no final model is trained for it.
    finals = [] if spec.input is not None else [
        c for c in spec.configurations() if not _final_path(folder, c).exists()]
    total = len(spec.configurations()) * len(spec.seeds)
    done = total - len(todo)
    if on_done:
        on_done(done, total)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    spec_dict = spec.to_dict()
    if todo or finals:
        executor = (pool or functools.partial(
            ProcessPoolExecutor, workers, mp_context=multiprocessing.get_context("spawn")))(
            initializer=_load_data, initargs=(data, spec.num_words, spec.target, reviews))
        try:
            futures = [executor.submit(_run, spec_dict, c, s) for c, s in todo]
            for future in as_completed(futures):
                result = future.result()
                run_folder.add_json(_run_name(result["config"], result["seed"]), result)
                done += 1
                if on_done:
                    on_done(done, total)
            final_jobs = [executor.submit(_final, spec_dict, c, _best_epoch(folder, spec, c))
                          for c in finals]
            for future in as_completed(final_jobs):
                result = future.result()
                run_folder.add_json(_final_name(result["config"]), result)
        finally:  # on Ctrl-C or an error, drop what has not started; finished runs are saved
            executor.shutdown(wait=True, cancel_futures=True)
    rows = tabulate(folder, spec)
    write_results(folder, rows, markdown_table(rows))
    _write_figure(folder, spec, rows)
    best = rows[0]
    run_folder.record(RunRecord("sweep", spec.to_dict(), {
        "validation": {"accuracy": best["val_accuracy"], "loss": best["val_loss"],
                       "configuration": best["configuration"]},
        "rows": rows}))
    return SweepResult(rows, folder, len(todo))


def _checked_input(spec: SweepSpec) -> str:
    """The user's reviews read once here, so that what the workers would fail on (a missing
    file, a bad label, one label, a hold-out that leaves none) is one line before any work;
    the source as the workers should open it."""
    from critic.datasets.labels import check_classes
    from critic.datasets.stream import labelled_reviews

    assert spec.input is not None
    reviews = labelled_reviews(spec.input, text_column=spec.text_column,
                               label_column=spec.label_column)
    assert reviews.labels is not None  # labelled_reviews requires them
    check_classes(reviews.labels, reviews.classes, reviews.source)
    validation_count(spec.validation_size, len(reviews), 0)
    local = "://" not in spec.input
    return str(Path(spec.input).absolute()) if local else spec.input


def _claim_folder(folder: RunFolder, spec: SweepSpec) -> None:
    """A sweep folder holds one grid: taking one up again with another is refused."""
    spec_file = folder.path / "spec.json"
    if spec_file.exists():
        try:
            saved = json.loads(spec_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{spec_file} is unreadable ({exc}); use another folder") from exc
        # A sweep folder of critic 0.7 and before: IMDB's sentiment.
        saved = {"target": "sentiment", "input": None, "text_column": "text",
                 "label_column": "label"} | saved
        if saved != json.loads(json.dumps(spec.to_dict())):
            raise ConfigError(f"{folder.path} holds a sweep of a different grid or protocol; "
                              "refusing to mix them: use another folder", parameter="name")
        return
    folder.add_json("spec.json", spec.to_dict())


def _run_name(config: dict[str, Any], seed: int) -> str:
    return f"runs/{config_key(config)}-seed{seed}.json"


def _final_name(config: dict[str, Any]) -> str:
    return f"final/{config_key(config)}.json"


def _run_path(folder: Path, config: dict[str, Any], seed: int) -> Path:
    return folder / _run_name(config, seed)


def _final_path(folder: Path, config: dict[str, Any]) -> Path:
    return folder / _final_name(config)


def _histories(folder: Path, spec: SweepSpec, config: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(_run_path(folder, config, s).read_text())["history"] for s in spec.seeds]


def _best_epoch(folder: Path, spec: SweepSpec, config: dict[str, Any]) -> int:
    epochs = [int(max(range(len(h["val_accuracy"])), key=h["val_accuracy"].__getitem__)) + 1
              for h in _histories(folder, spec, config)]
    return round(statistics.mean(epochs))


def tabulate(folder: Path, spec: SweepSpec) -> list[dict[str, Any]]:
    """One row per configuration, ranked by mean best validation accuracy."""
    rows = []
    for config in spec.configurations():
        histories = _histories(folder, spec, config)
        best = [max(range(len(h["val_accuracy"])), key=h["val_accuracy"].__getitem__)
                for h in histories]
        accuracy = [h["val_accuracy"][b] for h, b in zip(histories, best, strict=True)]
        loss = [h["val_loss"][b] for h, b in zip(histories, best, strict=True)]
        final = json.loads(_final_path(folder, config).read_text()) if spec.input is None \
            else {"test_accuracy": None, "epochs": None}
        rows.append({"configuration": config_label(config), "book": config_matches_book(config),
                     "val_accuracy": statistics.mean(accuracy), "val_accuracy_sd": _sd(accuracy),
                     "best_epoch": statistics.mean(b + 1 for b in best),
                     "best_epoch_sd": _sd([b + 1 for b in best]),
                     "val_loss": statistics.mean(loss), "val_loss_sd": _sd(loss),
                     "test_accuracy": final["test_accuracy"], "final_epochs": final["epochs"],
                     "seeds": len(histories)})
    rows.sort(key=lambda r: -r["val_accuracy"])
    return rows


def config_matches_book(config: dict[str, Any]) -> bool:
    defaults = {"hidden_layers": 2, "units": 16, "loss": "bce", "activation": "relu",
                "dropout": 0.0, "learning_rate": 1e-3, "optimizer": "rmsprop"}
    return all(config.get(k, v) == v for k, v in defaults.items())


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| rank | configuration | best val accuracy (mean ± sd) | at epoch | val loss there "
             "| test accuracy¹ |", "|---:|---|---:|---:|---:|---:|"]
    for rank, r in enumerate(rows, start=1):
        name = r["configuration"] + (" **(the book's)**" if r["book"] else "")
        test = "—" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}"
        lines.append(f"| {rank} | {name} | {r['val_accuracy']:.4f} ± {r['val_accuracy_sd']:.4f}"
                     f" | {r['best_epoch']:.1f} ± {r['best_epoch_sd']:.1f} | "
                     f"{r['val_loss']:.4f} ± {r['val_loss_sd']:.4f} | "
                     f"{test} |")
    lines.append("")
    tested = any(r["test_accuracy"] is not None for r in rows)
    lines.append(f"Ranked by validation accuracy over {rows[0]['seeds']} seeds. ¹ " + (
        "One fresh model per configuration trained on all 25,000 training reviews to its mean "
        "best epoch, evaluated once on the test set: for information, never used to rank."
        if tested else "None: a file of yours has no test reviews; it is judged on the "
        "reviews held out of it."))
    return "\n".join(lines) + "\n"


def _write_figure(folder: Path, spec: SweepSpec, rows: list[dict[str, Any]]) -> None:
    """Validation curves: the best five, the book's and the worst in colour with their seed
    bands; every other configuration as a thin grey line, so 36 curves stay readable."""
    import numpy as np
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5), dpi=100, layout="tight")
    axes = figure.subplots()
    ranked = [r["configuration"] for r in rows]
    shown = set(ranked[:5]) | {ranked[-1]} | {r["configuration"] for r in rows if r["book"]}
    for config in sorted(spec.configurations(), key=lambda c: config_label(c) in shown):
        curves = np.array([h["val_accuracy"] for h in _histories(folder, spec, config)])
        epochs = np.arange(1, curves.shape[1] + 1)
        label = config_label(config)
        if label not in shown:
            axes.plot(epochs, curves.mean(axis=0), lw=0.6, color="0.8")
            continue
        book = config_matches_book(config)
        rank = ranked.index(label) + 1
        line, = axes.plot(epochs, curves.mean(axis=0), lw=2.5 if book else 1.4,
                          color="black" if book else None,
                          label=f"#{rank} {label}" + (" (the book's)" if book else ""))
        axes.fill_between(epochs, curves.min(axis=0), curves.max(axis=0),
                          color=line.get_color(), alpha=0.15)
    axes.set_title("Validation accuracy: mean over seeds, band = seed range "
                   "(grey: the other configurations)")
    axes.set_xlabel("Epochs")
    axes.set_ylabel("Validation accuracy")
    handles, labels = axes.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: int(labels[i].split()[0][1:]))
    axes.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8,
                loc="lower right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    from critic._atomic import atomic_path

    with atomic_path(folder / "validation_curves.png") as tmp:
        tmp.write_bytes(buffer.getvalue())
