"""The second round of careless and hostile use (issue 31), the outputs: an output that would
destroy an input or the bundle being read, a threshold search that changes the bundle when it
fails or drops its other files, outputs named for a format, and the leftovers of a command
stopped by SIGTERM or SIGHUP. Each case failed before its fix."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import invoke
from test_bundle import tiny_options, tiny_reviews

from critic import train_bundle
from critic.errors import ConfigError
from critic.evaluation import find_threshold


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bundle(tiny_options(), tmp_path_factory.mktemp("round2-outputs") / "model",
                        reviews=tiny_reviews()).path


@pytest.fixture
def bundle(trained: Path, tmp_path: Path) -> Path:
    """A copy of the bundle each test may damage."""
    return Path(shutil.copytree(trained, tmp_path / "model"))


def write_labelled(path: Path, rows: int = 40, *, labels: tuple[int, ...] = (0, 1)) -> Path:
    reviews = tiny_reviews(rows)
    path.write_text("text,label\n" + "".join(
        f"{text},{label}\n" for text, label in zip(reviews.texts, reviews.labels, strict=True)
        if label in labels))
    return path


def fingerprint(folder: Path) -> dict[str, str]:
    return {item.name: hashlib.sha256(item.read_bytes()).hexdigest()
            for item in sorted(folder.iterdir()) if item.is_file()}


# 2. An output that is, holds or lies inside an input or the bundle.

def test_predict_output_onto_its_input_or_the_bundle_is_refused(bundle: Path,
                                                                 tmp_path: Path) -> None:
    reviews = tmp_path / "r.txt"
    reviews.write_text("great film\nawful film\n")
    link = tmp_path / "link.txt"
    link.symlink_to(reviews)
    before = fingerprint(bundle)
    for output, source in ((reviews, reviews), (reviews, link), (tmp_path, reviews),
                           (bundle / "config.json", reviews)):
        done = invoke("predict", str(bundle), "--input", str(source), "--output", str(output))
        assert done.returncode == 2 and "writing it would destroy" in done.stderr, done.stderr
    done = invoke("predict", str(bundle), "great", "--output", str(bundle / "config.json"))
    assert done.returncode == 2 and "lies inside the bundle" in done.stderr
    assert reviews.read_text() == "great film\nawful film\n" and fingerprint(bundle) == before


def test_evaluate_figure_inside_the_bundle_or_onto_an_input_is_refused(
        bundle: Path, tmp_path: Path) -> None:
    reviews = write_labelled(tmp_path / "a.csv")
    before = fingerprint(bundle)
    for figure in (bundle / "weights.safetensors", bundle / "new.png", reviews):
        done = invoke("evaluate", str(bundle), "--input", str(reviews), "--figure", str(figure))
        assert done.returncode == 2 and "(see --figure)" in done.stderr, done.stderr
    assert fingerprint(bundle) == before and reviews.read_text().startswith("text,label\n")


def test_train_output_onto_its_input_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "revs"
    folder.mkdir()
    write_labelled(folder / "a.csv")
    for output in (folder, folder / "model", tmp_path):
        done = invoke("train", "--model", "nblr", "--input", str(folder), "--output",
                      str(output), "--overwrite")
        assert done.returncode == 2 and "writing it would destroy" in done.stderr, done.stderr
    assert sorted(item.name for item in folder.iterdir()) == ["a.csv"]


# 7. The threshold search leaves the bundle as it was when it fails, and keeps other files.

def test_a_failed_threshold_search_leaves_the_bundle_unchanged(bundle: Path,
                                                               tmp_path: Path) -> None:
    validation = write_labelled(tmp_path / "v.csv")
    before = fingerprint(bundle)
    done = invoke("evaluate", str(bundle), "--find-threshold", "accuracy",
                  "--validation-input", str(validation), "--input", str(tmp_path / "nope.csv"),
                  "--figure", str(tmp_path / "f.png"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    bad = tmp_path / "bad.csv"  # fails only once it is being scored
    bad.write_text("text,label\ngreat,1\nawful,maybe\n")
    done = invoke("evaluate", str(bundle), "--find-threshold", "accuracy",
                  "--validation-input", str(validation), "--input", str(bad),
                  "--figure", str(tmp_path / "f.png"))
    assert done.returncode == 2 and "maybe" in done.stderr
    assert fingerprint(bundle) == before


def test_the_threshold_rewrite_keeps_files_the_manifest_does_not_list(bundle: Path,
                                                                       tmp_path: Path) -> None:
    (bundle / "report.html").write_text("<html>report</html>")
    (bundle / "notes").mkdir()
    (bundle / "notes" / "why.txt").write_text("trained for the demo")
    validation = write_labelled(tmp_path / "v.csv")
    done = invoke("evaluate", str(bundle), "--find-threshold", "f1", "--validation-input",
                  str(validation), "--input", str(validation), "--figure", str(tmp_path / "f.png"))
    assert done.returncode == 0, done.stderr
    assert json.loads((bundle / "config.json").read_text())["threshold"] != 0.5
    assert (bundle / "report.html").read_text() == "<html>report</html>"
    assert (bundle / "notes" / "why.txt").read_text() == "trained for the demo"
    manifest = json.loads((bundle / "manifest.json").read_text())["files"]
    assert "report.html" not in manifest


# 5. A threshold chosen on one label.

def test_a_threshold_is_not_chosen_on_reviews_of_one_label(bundle: Path,
                                                           tmp_path: Path) -> None:
    positive = write_labelled(tmp_path / "pos.csv", labels=(1,))
    before = fingerprint(bundle)
    done = invoke("evaluate", str(bundle), "--find-threshold", "accuracy",
                  "--validation-input", str(positive), "--input", str(positive),
                  "--figure", str(tmp_path / "f.png"))
    assert done.returncode == 2 and "hold only positive reviews" in done.stderr
    assert "(see --validation-input)" in done.stderr and fingerprint(bundle) == before
    with pytest.raises(ConfigError, match="only negative reviews"):
        find_threshold(json.loads("[0, 0]"), json.loads("[0.2, 0.6]"))


# 10. --validation-input reads what --input reads.

@pytest.mark.parametrize("form", ["folder", "glob"])
def test_validation_input_takes_a_folder_or_glob_of_json_lines(bundle: Path, tmp_path: Path,
                                                               form: str) -> None:
    folder = tmp_path / "validation"
    folder.mkdir()
    reviews = tiny_reviews(40)
    for part in range(2):
        with open(folder / f"{part}.jsonl", "w") as out:
            for text, label in list(zip(reviews.texts, reviews.labels, strict=True))[part::2]:
                out.write(json.dumps({"text": text, "label": int(label)}) + "\n")
    source = str(folder) if form == "folder" else str(folder / "*.jsonl")
    done = invoke("evaluate", str(bundle), "--find-threshold", "accuracy",
                  "--validation-input", source, "--input", str(folder),
                  "--figure", str(tmp_path / "f.png"))
    assert done.returncode == 0 and "maximises validation accuracy" in done.stderr, done.stderr


# 11. The output's name chooses JSON lines, as it chooses Parquet.

def test_an_output_named_jsonl_is_json_lines(bundle: Path, tmp_path: Path) -> None:
    for name in ("p.jsonl", "p.ndjson"):
        done = invoke("predict", str(bundle), "great", "awful", "--output",
                      str(tmp_path / name))
        assert done.returncode == 0
        lines = (tmp_path / name).read_text().splitlines()
        assert [sorted(json.loads(line)) for line in lines] == [
            ["label", "probabilities", "score"]] * 2
    invoke("predict", str(bundle), "great", "--output", str(tmp_path / "p.tsv"))
    assert (tmp_path / "p.tsv").read_text().count("\t") == 2


# 8. A batch size Arrow cannot take.

def test_a_batch_size_beyond_memory_is_refused(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "r.csv"
    source.write_text("text\ngreat\n")
    done = invoke("predict", str(bundle), "--input", str(source), "--batch-size",
                  str(2**31))
    assert done.returncode == 2 and "`batch_size` must be a whole number" in done.stderr


# 6. SIGTERM and SIGHUP as Ctrl-C: nothing left behind.

#: ``critic`` with each batch's scoring slowed down, so that a signal arrives mid-way.
_SLOW_CRITIC = """
import sys, time
import critic.predict
score = critic.predict.Predictor.score
def slow(self, texts):
    time.sleep(0.2)
    return score(self, texts)
critic.predict.Predictor.score = slow
from critic.cli import main
main()
"""


@pytest.mark.parametrize(("signal_number", "suffix"), [
    (signal.SIGTERM, "tsv"), (signal.SIGHUP, "tsv"), (signal.SIGHUP, "parquet")])
def test_a_signal_mid_prediction_leaves_no_part_file(trained: Path, tmp_path: Path,
                                                     signal_number: int, suffix: str) -> None:
    source = tmp_path / "r.csv"
    source.write_text("text\n" + "great film\n" * 200)
    output = tmp_path / f"p.{suffix}"
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CRITIC, "predict", str(trained), "--input", str(source),
         "--output", str(output), "--batch-size", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)})
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(f".p.{suffix}.*.part")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(f".p.{suffix}.*.part")), "the prediction never started"
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal_number, err
    assert f"stopped by {signal.Signals(signal_number).name}" in err and "Traceback" not in err
    assert sorted(item.name for item in tmp_path.iterdir()) == ["r.csv"]


#: ``critic`` with each batch of reviews read slowly, so that a signal arrives mid-training.
_SLOW_READING_CRITIC = """
import time
import critic.datasets.stream as stream
batch = stream.ReviewStream._batch
def slow(self, *args):
    time.sleep(0.3)
    return batch(self, *args)
stream.ReviewStream._batch = slow
from critic.cli import main
main()
"""


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_mid_streamed_training_removes_the_spill(tmp_path: Path,
                                                          signal_number: int) -> None:
    from test_streaming import write_reviews

    write_reviews(tmp_path / "data")
    spill_root = tmp_path / "tmp"
    spill_root.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_READING_CRITIC, "train", "--model", "nblr", "--input",
         str(tmp_path / "data"), "--memory-budget", "100M", "--output", str(tmp_path / "m")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path), "TMPDIR": str(spill_root)})
    deadline = time.monotonic() + 120
    while not list(spill_root.glob("critic-spill-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(spill_root.glob("critic-spill-*")), "the training never spilled"
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal_number, err
    assert not list(spill_root.iterdir()) and not (tmp_path / "m").exists()
    assert not list(tmp_path.glob(".m.*"))
