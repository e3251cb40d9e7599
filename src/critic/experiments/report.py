"""``critic report``: one self-contained HTML file for any run folder (reproduce, train bundle,
sweep, cv, leaderboard).

It reads the folder's ``run.json`` (:class:`critic.runs.RunRecord`): what ran (the exact
command, the versions recorded when it ran), the configuration and the metrics, and embeds the
figures as data URIs, so the file opens in any browser with no server and can be mailed or
archived alone.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any

from critic._atomic import write_text
from critic.errors import ReportError
from critic.experiments.crossval import TABLE_HEADER, table_rows
from critic.runs import RunRecord, read_record

TITLES = {"reproduce": "critic reproduce", "train": "critic train", "sweep": "critic sweep",
          "cv": "critic cv", "leaderboard": "critic leaderboard", "pretrain": "critic pretrain"}


def write_report(folder: str | os.PathLike[str], output: Path | None = None) -> Path:
    """Render the run folder ``folder`` to ``output`` (default ``FOLDER/report.html``),
    atomically."""
    source = Path(folder)
    if not source.is_dir():
        raise ReportError(f"{source} is not a folder; give a folder written by critic "
                          "reproduce, train, sweep, cv, leaderboard or pretrain")
    record = read_record(source)
    sections = _SECTIONS[record.kind](source, record)
    page = _page(f"{TITLES[record.kind]} — {source.name}", record.kind, source, sections,
                 record)
    target = output or source / "report.html"
    write_text(target, page)
    return target


def _reproduce(source: Path, record: RunRecord) -> list[str]:
    m = record.metrics
    rows = [["test accuracy", _fmt(m["test"]["accuracy"])], ["test loss", _fmt(m["test"]["loss"])],
            ["lowest validation loss at epoch", m["validation"]["best_loss_epoch"]],
            ["best validation accuracy", _fmt(m["validation"]["accuracy"])],
            ["  at epoch", m["validation"]["best_accuracy_epoch"]],
            ["training accuracy, last epoch", _fmt(m["train_accuracy_last_epoch"])],
            ["final model's epochs", f"{m['final_epochs']} ({m['final_epochs_rule']})"],
            ["seconds", _fmt(m["seconds"])], ["data checksum", m["data_checksum"]]]
    history = _json(source / "history.json")["history"]
    return [_table("Results", ["metric", "value"], rows),
            _figures("Training curves", source, ["loss.png", "accuracy.png"]),
            _history_table(history), _config_table(record.config)]


def _train(source: Path, record: RunRecord) -> list[str]:
    m = record.metrics
    rows = [[f"{split} {key}", _fmt(m[split][key])] for split in ("validation", "test")
            if split in m for key in _HEADLINE if key in m[split]]
    rows += [[key, json.dumps(value)] for key, value in m.items()
             if key not in ("validation", "test", "selection")]
    sections = [_table("Results", ["metric", "value"], rows),
                *(section for split in ("validation", "test") if "per_class" in m.get(split, {})
                  for section in _classes(split, m[split])),
                _figures("Training curves", source, ["loss.png", "accuracy.png"])]
    if "selection" in m:
        sections.append(_table("Settings tried on validation", ["C", "beta", "val accuracy",
                                                                "val loss"],
                               [[r["C"], r["beta"], _fmt(r["val_accuracy"]),
                                 _fmt(r["val_loss"])] for r in m["selection"]]))
    return [*sections, _config_table(record.config)]


#: The figures of a split's metrics the results table shows (those a split has).
_HEADLINE = ("accuracy", "loss", "roc_auc", "macro_f1", "weighted_f1", "mae", "within_one")


def _classes(split: str, metrics: dict[str, Any]) -> list[str]:
    """More than two labels: each label's precision, recall and support, and the confusion
    matrix (rows: true labels, columns: predicted)."""
    labels = [str(label) for label in metrics["classes"]]
    per_class = [[label, _fmt(c["precision"]), _fmt(c["recall"]), _fmt(c["f1"]), c["support"]]
                 for label, c in zip(labels, metrics["per_class"].values(), strict=True)]
    confusion = [[f"true {label}", *row]
                 for label, row in zip(labels, metrics["confusion_matrix"], strict=True)]
    return [_table(f"{split.capitalize()}: each label",
                   ["label", "precision", "recall", "F1", "support"], per_class),
            _table(f"{split.capitalize()}: confusion matrix",
                   ["", *(f"predicted {label}" for label in labels)], confusion)]


def _sweep(source: Path, record: RunRecord) -> list[str]:
    table = [[i, r["configuration"] + (" (the book's)" if r["book"] else ""),
              f"{r['val_accuracy']:.4f} ± {r['val_accuracy_sd']:.4f}",
              f"{r['best_epoch']:.1f}", f"{r['val_loss']:.4f}", f"{r['test_accuracy']:.4f}"]
             for i, r in enumerate(record.metrics["rows"], start=1)]
    return [_table("Configurations, ranked by validation accuracy",
                   ["rank", "configuration", "best val accuracy (mean ± sd)", "at epoch",
                    "val loss there", "test accuracy (information only)"], table),
            _figures("Validation curves", source, ["validation_curves.png"]),
            _config_table(record.config)]


def _cv(source: Path, record: RunRecord) -> list[str]:
    m = record.metrics
    return [_table(f"{len(m['folds'])}-fold cross-validation (chosen epoch "
                   f"{m['chosen_epoch']}: lowest mean validation loss)", TABLE_HEADER,
                   table_rows(m["folds"], m["mean"])),
            _figures("Validation curves per fold", source, ["cv.png"]),
            _config_table(record.config)]


def _leaderboard(source: Path, record: RunRecord) -> list[str]:
    m = record.metrics
    ours = [[r["model"], r["regime"], r["features"], f"{r['val_accuracy']:.4f}",
             f"{r['test_accuracy']:.4f}", f"{r['train_seconds']:.1f}",
             f"{r['predict_reviews_per_second']:,}", f"{r['bundle_mb']:.1f}"]
            for r in sorted(m["results"], key=lambda r: -r["test_accuracy"])]
    published = [[p["model"], p["regime"], p["reference"], f"{p['test_accuracy']:.4f}"]
                 for p in m["published"]]
    return [_table("Measured here, best test accuracy first",
                   ["model", "regime", "features", "val accuracy", "test accuracy",
                    "training s", "predictions/s", "bundle MB"], ours),
            _table("Published figures (quoted, not re-measured)",
                   ["model", "regime", "reference", "test accuracy"], published)]


def _pretrain(source: Path, record: RunRecord) -> list[str]:
    m = record.metrics
    rows = [["sentences", f"{m['sentences']:,}"], ["tokens", f"{m['tokens']:,}"],
            ["words with a vector", f"{m['words']:,}"], ["seconds", m["seconds"]]]
    near = [[word, ", ".join(neighbours)] for word, neighbours in m["neighbours"].items()]
    return [_table("Learned", ["", "value"], rows),
            _table("Nearest words", ["word", "its five nearest"], near),
            _config_table(record.config)]


_SECTIONS = {"reproduce": _reproduce, "train": _train, "sweep": _sweep, "cv": _cv,
             "leaderboard": _leaderboard, "pretrain": _pretrain}


def _history_table(history: dict[str, list[float]]) -> str:
    epochs = [[i + 1, *(f"{history[k][i]:.4f}" for k in history)]
              for i in range(len(history["loss"]))]
    return _table("History", ["epoch", *history], epochs)


def _config_table(config: dict[str, Any]) -> str:
    return _table("Configuration", ["setting", "value"],
                  [[k, json.dumps(v)] for k, v in config.items()])


def _page(title: str, kind: str, source: Path, sections: list[str],
          record: RunRecord) -> str:
    command, versions = record.command, record.environment
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 1.5rem auto;
       padding: 0 1rem; color: #1f2328; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }}
th, td {{ border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left; }}
th {{ background: #f6f8fa; }}
img {{ max-width: 100%; height: auto; }}
code {{ background: #f6f8fa; padding: 0.1rem 0.3rem; border-radius: 4px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Folder <code>{html.escape(str(source.resolve()))}</code> ({kind}).</p>
<p>Command: <code>{html.escape(command)}</code></p>
{"".join(sections)}
{_table("Versions used", ["component", "version"], [[k, v] for k, v in versions.items()])}
</body></html>
"""


def _table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _figures(title: str, source: Path, names: list[str]) -> str:
    images = []
    for name in names:
        path = source / name
        if path.exists():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            images.append(f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">')
    return f"<h2>{html.escape(title)}</h2>" + "".join(images)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path} is unreadable ({exc})") from exc


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
