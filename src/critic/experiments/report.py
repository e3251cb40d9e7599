"""``critic report``: one self-contained HTML file for a run, sweep, cross-validation or
leaderboard folder.

Figures are embedded as data URIs, so the file opens in any browser with no server and can be
mailed or archived alone. It shows what was run (the exact command and the versions recorded
when it ran), the headline numbers, the tables and the figures.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
from pathlib import Path
from typing import Any

from critic._atomic import write_text
from critic.errors import CriticError


class ReportError(CriticError):
    """The folder is not one critic knows how to report on."""


def write_report(folder: str | os.PathLike[str], output: Path | None = None) -> Path:
    """Render ``folder`` (made by reproduce, sweep or cv) to ``output`` (default
    ``FOLDER/report.html``), atomically."""
    source = Path(folder)
    if not source.is_dir():
        raise ReportError(f"{source} is not a folder; pass a runs/NAME, sweeps/NAME or cv "
                          "folder")
    kind, title, sections, provenance = _describe(source)
    page = _page(title, kind, source, sections, provenance)
    target = output or source / "report.html"
    write_text(target, page)
    return target


def _describe(source: Path) -> tuple[str, str, list[str], dict[str, Any]]:
    if (source / "spec.json").exists() and (source / "results.csv").exists():
        return _sweep(source)
    if (source / "cv.json").exists():
        return _cv(source)
    if (source / "metrics.json").exists() and (source / "history.json").exists():
        return _run(source)
    if (source / "results.json").exists():
        return _leaderboard(source)
    raise ReportError(f"{source} holds no critic results (expected metrics.json and "
                      "history.json, spec.json and results.csv, cv.json, or results.json)")


def _run(source: Path) -> tuple[str, str, list[str], dict[str, Any]]:
    metrics = _json(source / "metrics.json")
    keys = ("test_accuracy", "test_loss", "best_val_loss_epoch", "best_val_accuracy",
            "best_val_accuracy_epoch", "train_accuracy_last_epoch", "final_epochs",
            "final_epochs_rule", "seconds", "data_checksum")
    history = _json(source / "history.json")["history"]
    epochs = [[i + 1, *(f"{history[k][i]:.4f}" for k in history)]
              for i in range(len(history["loss"]))]
    sections = [
        _table("Results", ["metric", "value"], [[k, _fmt(metrics.get(k))] for k in keys]),
        _figures("Training curves", source, ["loss.png", "accuracy.png"]),
        _table("History", ["epoch", *history], epochs),
        _table("Configuration", ["setting", "value"],
               [[k, json.dumps(v)] for k, v in metrics.get("config", {}).items()]),
    ]
    return "run", f"critic reproduce — {source.name}", sections, metrics


def _sweep(source: Path) -> tuple[str, str, list[str], dict[str, Any]]:
    with (source / "results.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    table = [[i, r["configuration"] + (" (the book's)" if r["book"] == "True" else ""),
              f"{float(r['val_accuracy']):.4f} ± {float(r['val_accuracy_sd']):.4f}",
              f"{float(r['best_epoch']):.1f}", f"{float(r['val_loss']):.4f}",
              f"{float(r['test_accuracy']):.4f}"] for i, r in enumerate(rows, start=1)]
    spec = _json(source / "spec.json")
    sections = [
        _table("Configurations, ranked by validation accuracy",
               ["rank", "configuration", "best val accuracy (mean ± sd)", "at epoch",
                "val loss there", "test accuracy (information only)"], table),
        _figures("Validation curves", source, ["validation_curves.png"]),
        _table("Protocol", ["setting", "value"],
               [[k, json.dumps(v)] for k, v in spec.items()]),
    ]
    provenance = _json(source / "provenance.json") if (source / "provenance.json").exists() \
        else {}
    return "sweep", f"critic sweep — {source.name}", sections, provenance


def _cv(source: Path) -> tuple[str, str, list[str], dict[str, Any]]:
    record = _json(source / "cv.json")
    rows = []
    for k, h in enumerate([*record["folds"], record["mean"]], start=1):
        acc, loss = h["val_accuracy"], h["val_loss"]
        rows.append(["mean" if k > len(record["folds"]) else k, f"{max(acc):.4f}",
                     acc.index(max(acc)) + 1, f"{min(loss):.4f}", loss.index(min(loss)) + 1])
    sections = [
        _table(f"{len(record['folds'])}-fold cross-validation (chosen epoch "
               f"{record['chosen_epoch']}: lowest mean validation loss)",
               ["fold", "best val accuracy", "at epoch", "lowest val loss", "at epoch"], rows),
        _figures("Validation curves per fold", source, ["cv.png"]),
        _table("Configuration", ["setting", "value"],
               [["network", json.dumps(record["network"])],
                ["training", json.dumps(record["training"])]]),
    ]
    return "cv", f"critic cv — {source.name}", sections, record


def _leaderboard(source: Path) -> tuple[str, str, list[str], dict[str, Any]]:
    record = _json(source / "results.json")
    ours = [[r["model"], r["regime"], r["features"], f"{r['val_accuracy']:.4f}",
             f"{r['test_accuracy']:.4f}", f"{r['train_seconds']:.1f}",
             f"{r['predict_reviews_per_second']:,}", f"{r['bundle_mb']:.1f}"]
            for r in sorted(record["results"], key=lambda r: -r["test_accuracy"])]
    published = [[p["model"], p["regime"], p["reference"], f"{p['test_accuracy']:.4f}"]
                 for p in record["published"]]
    sections = [
        _table("Measured here, best test accuracy first",
               ["model", "regime", "features", "val accuracy", "test accuracy", "training s",
                "predictions/s", "bundle MB"], ours),
        _table("Published figures (quoted, not re-measured)",
               ["model", "regime", "reference", "test accuracy"], published),
    ]
    return "leaderboard", f"critic leaderboard — {source.name}", sections, record


def _page(title: str, kind: str, source: Path, sections: list[str],
          provenance: dict[str, Any]) -> str:
    command = provenance.get("command", "(not recorded)")
    versions = provenance.get("environment", {})
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
