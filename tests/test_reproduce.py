"""``critic reproduce`` on the real data: the book's result, the run folder, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import invoke, run_cli
from safetensors.numpy import load_file

import critic
from critic.datasets.archive import fingerprint
from critic.datasets.corpus import load_corpus
from critic.datasets.imdb import encoded_imdb
from critic.experiments.reproduce import ReproduceConfig, reproduce
from critic.models.network.config import NetworkConfig
from critic.models.network.layers import Network


@pytest.fixture(scope="module")
def book_run(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    runs = tmp_path_factory.mktemp("runs")
    done = run_cli("reproduce", "--runs", str(runs), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), runs / "book"


def test_reproduce_gives_the_books_result(book_run: tuple[dict, Path]) -> None:
    metrics, _ = book_run
    assert 0.870 <= metrics["test"]["accuracy"] <= 0.895  # Keras 3: 0.884; the book: 0.879
    assert 2 <= metrics["validation"]["best_accuracy_epoch"] <= 6  # then it overfits
    assert metrics["train_accuracy_last_epoch"] > 0.99
    assert metrics["final_epochs"] == 4


def test_run_folder_holds_everything(book_run: tuple[dict, Path]) -> None:
    metrics, folder = book_run
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert names == {"history.json", "run.json", "loss.png", "loss.svg", "accuracy.png",
                     "accuracy.svg", "predictions_sample.csv", "model/weights.safetensors",
                     "model/config.json", "model/vocabulary.json", "model/metrics.json",
                     "model/manifest.json"}
    history = json.loads((folder / "history.json").read_text())["history"]
    assert {k: len(v) for k, v in history.items()} == {
        "loss": 20, "accuracy": 20, "val_loss": 20, "val_accuracy": 20}
    record = json.loads((folder / "run.json").read_text())
    assert record["kind"] == "reproduce" and record["command"].startswith("critic reproduce")
    assert record["metrics"] == {key: value for key, value in metrics.items() if key != "folder"}
    assert record["config"]["network"] == NetworkConfig().to_dict()
    assert json.loads((folder / "model" / "metrics.json").read_text()) == {
        "test": metrics["test"]}
    assert (folder / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"Training and validation accuracy" in (folder / "accuracy.svg").read_bytes()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_saved_model_scores_raw_test_reviews_the_same(book_run: tuple[dict, Path]) -> None:
    """The run's model bundle, fed raw text, gives the accuracy reproduce reported, and its
    NumPy inference agrees with the PyTorch network it was saved from."""
    metrics, folder = book_run
    model = critic.load(folder / "model")
    test = load_corpus().subset("test")
    probabilities = model.predict_proba(test.texts)
    accuracy = float(((probabilities >= 0.5) == (test.labels == 1)).mean())
    assert accuracy == pytest.approx(metrics["test"]["accuracy"], abs=1e-9)
    config = json.loads((folder / "model" / "config.json").read_text())
    network = Network(NetworkConfig(**config["model"]["network"]))
    weights = load_file(folder / "model" / "weights.safetensors")
    network.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()})
    with torch.no_grad():
        logits = network(model.features(test.texts[:2000])).numpy()
    np.testing.assert_allclose(model.decision_function(test.texts[:2000]), logits, atol=1e-4)


def test_same_seed_gives_the_same_history(book_run: tuple[dict, Path]) -> None:
    _, folder = book_run
    again = reproduce(ReproduceConfig(final_epochs=1))
    saved = json.loads((folder / "history.json").read_text())["history"]
    assert again.history.history == saved


def test_final_epochs_auto_takes_the_lowest_validation_loss(real_data: Path) -> None:
    result = reproduce(ReproduceConfig(epochs=6, final_epochs="auto"))
    val_loss = result.history.history["val_loss"]
    assert result.final_epochs == int(np.argmin(val_loss)) + 1
    assert result.metrics["final_epochs_rule"] == "auto: the epoch of lowest validation loss"


def test_existing_run_folder_is_never_clobbered(book_run: tuple[dict, Path]) -> None:
    _, folder = book_run
    before = (folder / "run.json").read_bytes()
    done = invoke("reproduce", "--runs", str(folder.parent), "--epochs", "1")
    assert done.returncode == 2
    assert "exists already" in done.stderr and "--overwrite" in done.stderr
    assert "Traceback" not in done.stderr
    assert (folder / "run.json").read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--epochs", "0"], "`epochs` must be a positive integer"),
    (["--batch-size", "-512"], "`batch_size` must be a positive integer"),
    (["--validation-size", "25000"], "between 1 and 24999 for 25000 training reviews"),
    (["--final-epochs", "lots"], "positive integer or 'auto'"),
    (["--final-epochs", "0"], "`final_epochs` must be a positive integer"),
    (["--data", "/nowhere/aclImdb_v1.tar.gz"], "does not exist"),
    (["--name", "../escape"], "is not a folder name"),
])
def test_bad_input_exits_2_without_a_traceback(real_data: Path, tmp_path: Path,
                                               args: list[str], message: str) -> None:
    done = invoke("reproduce", "--runs", str(tmp_path / "runs"), *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs" / "book").exists()


def test_unwritable_runs_folder(real_data: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = invoke("reproduce", "--runs", str(blocker / "runs"), "--epochs", "1")
    assert done.returncode == 2, done.stderr
    assert "cannot write" in done.stderr and "Traceback" not in done.stderr


def test_piped_output_has_one_line_per_epoch(book_run: tuple[dict, Path],
                                             tmp_path: Path) -> None:
    done = run_cli("reproduce", "--runs", str(tmp_path), "--epochs", "3", "--final-epochs", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("Epoch 1/3 - loss: ") and "val_accuracy: " in lines[0]
    assert [line.split(" - ")[0] for line in lines[:-1]] == [
        "Epoch 1/3", "Epoch 2/3", "Epoch 3/3", "Epoch 1/2", "Epoch 2/2"]
    assert lines[-1].startswith(f"Wrote {tmp_path / 'book'}/ in ")  # logs on stderr too
    assert "Test loss" in done.stdout and "Review 0, decoded:" in done.stdout
    assert "Wrote" not in done.stdout  # stdout holds results only


def test_data_info(real_data: Path) -> None:
    done = run_cli("data", "info", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["source"] == str(real_data)
    assert info["checksum"] == fingerprint(real_data)
    assert info["counts"]["unsup"] == {"unlabelled": 50_000}
    assert info["vocabulary_size"] == len(encoded_imdb().vocabulary)
    human = run_cli("data", "info").stdout.splitlines()
    assert "train       12,500 neg, 12,500 pos" in human
    assert any(line.startswith("cache ") for line in human)
