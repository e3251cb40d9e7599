"""Careless and hostile input that the reshaped code answers cleanly (a first part of the
hardening issue): outputs that are not regular files, weights that are not numbers, impossible
options. Each case fails without its fix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke
from safetensors.numpy import load_file, save_file
from test_bundle import tiny_options, tiny_reviews

from critic._train import train_bundle
from critic.bundle import read_bundle
from critic.errors import BundleError, ConfigError
from critic.serve.server import run as serve


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bundle(tiny_options(), tmp_path_factory.mktemp("hostile") / "model",
                        reviews=tiny_reviews()).path


def test_output_that_is_a_fifo_or_a_link_is_refused_not_replaced(bundle: Path,
                                                                  tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    for output in (fifo, link):
        done = invoke("predict", str(bundle), "great", "--output", str(output))
        assert done.returncode == 2 and "is not a regular file" in done.stderr
    assert fifo.exists() and not fifo.is_file() and link.is_symlink()
    assert target.read_text() == "keep me\n"


def test_output_under_a_regular_file_is_refused_before_work(bundle: Path,
                                                            tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = invoke("predict", str(bundle), "great", "--output", str(blocker / "out.tsv"))
    assert done.returncode == 2 and "is not a writable folder" in done.stderr
    done = invoke("train", "--input", str(tmp_path / "missing.csv"), "--output",
                  str(blocker / "model"))
    assert done.returncode == 2 and "is not a writable folder" in done.stderr  # before reading


@pytest.mark.parametrize("poison", ["nan", "int32"])
def test_weights_that_are_not_finite_float32_are_refused(bundle: Path, tmp_path: Path,
                                                         poison: str) -> None:
    copy = tmp_path / "model"
    copy.mkdir()
    for item in bundle.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    weights = load_file(copy / "weights.safetensors")
    name = "output.bias"
    weights[name] = (np.array([np.nan], dtype=np.float32) if poison == "nan"
                     else weights[name].astype(np.int32))
    save_file(weights, copy / "weights.safetensors")
    manifest = json.loads((copy / "manifest.json").read_text())
    import hashlib

    blob = (copy / "weights.safetensors").read_bytes()
    manifest["files"]["weights.safetensors"] = {"sha256": hashlib.sha256(blob).hexdigest(),
                                                "bytes": len(blob)}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    message = "NaN or infinite" if poison == "nan" else "int32, not float32"
    with pytest.raises(BundleError, match=message):
        read_bundle(copy)


def test_impossible_options_are_refused(bundle: Path) -> None:
    with pytest.raises(ConfigError, match="`port` must be between 1 and 65535"):
        serve(bundle, port=70_000)
    done = invoke("explain", str(bundle), "great film", "--top", "-1")
    assert done.returncode == 2 and "`top` must be a positive integer" in done.stderr


def test_a_sweep_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "grid.toml"
    spec.write_bytes(b"[grid]\nunits = [16]\n# caf\xe9\n")
    done = invoke("sweep", "--config", str(spec), "--sweeps", str(tmp_path / "sweeps"))
    assert done.returncode == 2 and "cannot read the sweep file" in done.stderr


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_review_of_3_mb_in_a_table_file_is_read_whole(tmp_path: Path, kind: str) -> None:
    """Arrow reads in 1 MB blocks; a longer row used to be refused ("straddling object")."""
    from critic.datasets.files import read_reviews_file

    long_review = "great " * 500_000  # 3 MB
    path = tmp_path / f"long.{kind}"
    if kind == "csv":
        path.write_text(f"text\nshort one\n{long_review}\n")
    else:
        path.write_text(json.dumps({"text": "short one"}) + "\n"
                        + json.dumps({"text": long_review}) + "\n")
    reviews = read_reviews_file(path)
    assert len(reviews) == 2 and reviews.texts[1] == long_review
