"""critic sweep: grids, resuming after a stop, refusing to mix grids, and the book's grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke, run_cli

from critic.errors import ConfigError
from critic.experiments.sweep import SweepSpec, load_spec_toml, parse_grid, run_sweep


def test_grid_parsing_and_validation(tmp_path: Path) -> None:
    assert parse_grid(["units=16,32", "loss=bce,mse", "learning-rate=0.001"]) == {
        "units": [16, 32], "loss": ["bce", "mse"], "learning_rate": [0.001]}
    assert len(SweepSpec().configurations()) == 36  # 3 depths x 3 widths x 2 losses x 2 acts
    with pytest.raises(ConfigError, match="unknown knob 'width'"):
        SweepSpec(grid=parse_grid(["width=16"]))
    with pytest.raises(ConfigError, match="grid is empty"):
        SweepSpec(grid={})
    with pytest.raises(ConfigError, match="knob 'units' has no values"):
        SweepSpec(grid=parse_grid(["units="]))
    with pytest.raises(ConfigError, match="`units` must be a positive integer"):
        SweepSpec(grid=parse_grid(["units=0,16"]))
    with pytest.raises(ConfigError, match="'ten' is not an integer"):
        parse_grid(["units=ten"])
    toml = tmp_path / "grid.toml"
    toml.write_text("seeds = [0, 1]\nepochs = 5\n[grid]\nunits = [8, 16]\nloss = 'mse'\n")
    spec = load_spec_toml(toml)
    assert spec.grid == {"units": [8, 16], "loss": ["mse"]} and spec.seeds == (0, 1)


SMALL = SweepSpec(grid={"units": [8, 16]}, seeds=(0, 1), epochs=3)


def test_a_stopped_sweep_resumes_with_only_the_missing_runs(real_data: Path,
                                                            tmp_path: Path) -> None:
    folder = tmp_path / "sweep"

    def stop_after_two(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        run_sweep(SMALL, folder, on_done=stop_after_two)
    saved = sorted(p.name for p in (folder / "runs").glob("*.json"))
    assert len(saved) >= 2 and not list(folder.glob("results.*"))
    resumed = run_sweep(SMALL, folder)
    assert resumed.ran == 4 - len(saved)
    assert len(list((folder / "runs").glob("*.json"))) == 4
    again = run_sweep(SMALL, folder)
    assert again.ran == 0 and again.rows == resumed.rows  # the same table, nothing recomputed
    assert (folder / "validation_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "| rank | configuration |" in (folder / "results.md").read_text()


def test_a_folder_of_another_grid_is_refused(real_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sweeps" / "mine"
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps(SMALL.to_dict()))
    before = (folder / "spec.json").read_text()
    done = run_cli("sweep", "--sweeps", str(tmp_path / "sweeps"), "--name", "mine",
                   "--grid", "units=32", "--seeds", "1", "--epochs", "2")
    assert done.returncode == 2 and "different grid" in done.stderr
    assert (folder / "spec.json").read_text() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--grid", "width=16"], "unknown knob 'width'"),
    (["--grid", "units=0"], "`units` must be a positive integer"),
    (["--grid", "units"], "is not KNOB=V1,V2"),
    (["--seeds", "0"], "`seeds` must be a positive integer"),
])
def test_bad_grids_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    done = invoke("sweep", "--sweeps", str(tmp_path), *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # 36 networks on all of IMDB: make verify
def test_the_books_default_grid(real_data: Path, tmp_path: Path) -> None:
    """All 36 configurations of the default grid on the real data, one seed and 5 epochs each
    (the best epochs are 2-5; the 3-seed, 20-epoch sweep is a README figure)."""
    done = run_cli("sweep", "--sweeps", str(tmp_path), "--name", "book", "--seeds", "1",
                   "--epochs", "5", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ran"] == 36 and len(result["rows"]) == 36
    book = [r for r in result["rows"] if r["book"]]
    assert len(book) == 1 and 0.875 <= book[0]["val_accuracy"] <= 0.895
    assert all(r["seeds"] == 1 for r in result["rows"])
    record = json.loads((tmp_path / "book" / "run.json").read_text())
    assert record["kind"] == "sweep" and record["metrics"]["rows"] == result["rows"]
    assert (tmp_path / "book" / "results.csv").read_text().count("\n") == 37
