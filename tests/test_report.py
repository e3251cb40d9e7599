"""critic cv and critic report: folds on the real data, and reports that open in Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import headless_chromium, invoke, needs_chromium, run_cli
from test_bundle import tiny_options, tiny_reviews

from critic._train import train_bundle
from critic.experiments.sweep import SweepSpec, run_sweep


@pytest.fixture(scope="module")
def folders(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report")
    runs = root / "runs"
    for args in (["reproduce", "--epochs", "3", "--final-epochs", "2"],
                 ["cv", "--folds", "3", "--epochs", "3"]):
        done = run_cli(*args, "--runs", str(runs))
        assert done.returncode == 0, done.stderr
    run_sweep(SweepSpec(grid={"units": [8, 16]}, seeds=(0,), epochs=2), root / "sweep")
    model = train_bundle(tiny_options(), root / "model", reviews=tiny_reviews()).path
    return {"run": runs / "book", "cv": runs / "cv", "sweep": root / "sweep", "train": model}


def test_cv_chooses_the_epoch_on_the_mean_curve(folders: dict[str, Path]) -> None:
    saved = json.loads((folders["cv"] / "run.json").read_text())
    record = saved["metrics"]
    assert len(record["folds"]) == 3
    mean_loss = record["mean"]["val_loss"]
    assert record["chosen_epoch"] == mean_loss.index(min(mean_loss)) + 1
    first_epoch = [fold["val_loss"][0] for fold in record["folds"]]
    assert mean_loss[0] == pytest.approx(sum(first_epoch) / 3)
    assert saved["kind"] == "cv" and saved["command"].startswith("critic cv")
    assert saved["metrics"]["validation"]["best_loss_epoch"] == record["chosen_epoch"]


def test_cv_bad_input(tmp_path: Path) -> None:
    done = invoke("cv", "--folds", "1", "--runs", str(tmp_path))
    assert done.returncode == 2 and "`folds` must be at least 2" in done.stderr
    assert not (tmp_path / "cv").exists()


def test_cv_refuses_more_folds_than_reviews_allow(real_data: Path, tmp_path: Path) -> None:
    done = invoke("cv", "--folds", "30000", "--runs", str(tmp_path))
    assert done.returncode == 2 and "`folds` must leave at least 2 reviews" in done.stderr
    assert not (tmp_path / "cv").exists()


@pytest.mark.parametrize("kind", ["run", "cv", "sweep", "train"])
def test_report_is_one_self_contained_file(folders: dict[str, Path], kind: str) -> None:
    done = run_cli("report", str(folders[kind]))
    assert done.returncode == 0, done.stderr
    page = (folders[kind] / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 1
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    assert "Versions used" in page and "torch" in page and "critic " in page


def test_report_refuses_a_folder_without_results(tmp_path: Path) -> None:
    done = invoke("report", str(tmp_path))
    assert done.returncode == 2 and "holds no run.json" in done.stderr


@needs_chromium
def test_report_figures_load_in_headless_chromium(folders: dict[str, Path],
                                                  tmp_path: Path) -> None:
    with headless_chromium(tmp_path / "profile") as driver:
        for kind in ("run", "sweep"):
            run_cli("report", str(folders[kind]))
            driver.get((folders[kind] / "report.html").resolve().as_uri())
            widths = driver.execute_script(
                "return [...document.images].map(i => i.complete ? i.naturalWidth : 0)")
            assert widths and all(w > 0 for w in widths), (kind, widths)
            assert driver.find_elements("css selector", "table")
