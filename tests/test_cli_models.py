"""critic train / evaluate / predict / explain: on the real IMDB data, and on bad input."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, run_cli
from test_bundle import tiny_reviews

import critic
from critic.datasets.corpus import load_corpus

OBVIOUS = {
    "A moving, beautifully acted film. One of the best I have seen.": "positive",
    "This was a wonderful film with a brilliant cast. A masterpiece.": "positive",
    "The worst film I have ever seen. Boring, awful acting and a terrible plot.": "negative",
    "Two hours of my life I will never get back. Dull and pointless.": "negative",
}


@pytest.fixture(scope="module")
def imdb_bundle(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """The book's settings with early stopping, trained once through the CLI."""
    bundle = tmp_path_factory.mktemp("bundles") / "book"
    done = run_cli("train", "--output", str(bundle), "--epochs", "20", "--patience", "2",
                   "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), bundle


def test_train_keeps_the_epoch_of_lowest_validation_loss(imdb_bundle: tuple[dict, Path]
                                                         ) -> None:
    metrics, bundle = imdb_bundle
    history = json.loads((bundle / "metrics.json").read_text())["history"]
    assert metrics["kept_epoch"] == int(np.argmin(history["val_loss"])) + 1
    assert len(history["val_loss"]) == metrics["kept_epoch"] + 2  # patience 2, then stop
    assert (bundle / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert 0.870 <= metrics["test"]["accuracy"] <= 0.895


def test_evaluate_on_the_imdb_test_set(imdb_bundle: tuple[dict, Path], tmp_path: Path) -> None:
    metrics, bundle = imdb_bundle
    figure = tmp_path / "reliability.png"
    done = run_cli("evaluate", str(bundle), "--json", "--figure", str(figure))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert 0.870 <= report["accuracy"] <= 0.895
    assert report["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-4)
    assert 0.9 < report["roc_auc"] < 1.0 and 0 <= report["calibration"]["ece"] < 0.1
    c = report["confusion_matrix"]
    assert c["tn"] + c["fp"] + c["fn"] + c["tp"] == 25_000
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_probabilities_are_bit_identical_in_a_new_process(imdb_bundle: tuple[dict, Path],
                                                          tmp_path: Path) -> None:
    _, bundle = imdb_bundle
    texts = list(load_corpus().subset("test").texts)
    here = critic.load(bundle).predict_proba(texts)
    out = tmp_path / "p.npy"
    script = (f"import critic, numpy as np; from critic.datasets.corpus import load_corpus; "
              f"np.save({str(out)!r}, critic.load({str(bundle)!r}).predict_proba("
              f"load_corpus().subset('test').texts))")
    import subprocess

    subprocess.run([sys.executable, "-c", script], check=True)
    assert np.array_equal(np.load(out), here)


def test_predict_gives_the_obvious_labels(imdb_bundle: tuple[dict, Path]) -> None:
    _, bundle = imdb_bundle
    done = run_cli("predict", str(bundle), *OBVIOUS)
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert [label for label, _, _ in rows] == list(OBVIOUS.values())
    # label, the confidence in it, P(positive): the confidence is P(label).
    for label, score, positive in rows:
        assert 0.5 <= float(score) <= 1
        assert float(score) == pytest.approx(float(positive) if label == "positive"
                                             else 1 - float(positive), abs=2e-6)


def test_predict_a_jsonl_file_of_the_test_reviews(imdb_bundle: tuple[dict, Path],
                                                  tmp_path: Path) -> None:
    _, bundle = imdb_bundle
    test = load_corpus().subset("test")
    source = tmp_path / "test.jsonl"
    source.write_text("".join(json.dumps({"id": f"t{i}", "text": t}) + "\n"
                              for i, t in enumerate(test.texts)))
    out = tmp_path / "predictions.jsonl"
    done = run_cli("predict", str(bundle), "--input", str(source), "--output", str(out),
                   "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 25_000 and rows[7]["id"] == "t7"
    accuracy = np.mean([(r["label"] == "positive") == (y == 1)
                        for r, y in zip(rows, test.labels, strict=True)])
    assert 0.870 <= accuracy <= 0.895


def _as_on_a_web_page(review: str) -> str:
    """The review as a web page would carry it: paragraphs, curly apostrophes, entities."""
    review = review.replace("<br />", "</p><p>").replace("'", "\u2019")
    return "<p>" + review.replace("&", "&amp;").replace('"', "&quot;") + "</p>"


def test_reviews_typed_as_on_a_web_page_get_the_same_verdicts(
        imdb_bundle: tuple[dict, Path]) -> None:
    _, bundle = imdb_bundle
    model = critic.load(bundle)
    texts = list(load_corpus().subset("test").texts[:5_000])
    web = [_as_on_a_web_page(t) for t in texts]
    assert sum(t != w for t, w in zip(texts, web, strict=True)) > 4_900
    assert np.array_equal(model.predict(web), model.predict(texts))
    assert np.allclose(model.predict_proba(web), model.predict_proba(texts), atol=1e-6)


def test_explain_removing_top_positive_words_lowers_the_probability(
        imdb_bundle: tuple[dict, Path]) -> None:
    _, bundle = imdb_bundle
    text = "A moving, beautifully acted film with a wonderful cast, though the start is slow."
    done = run_cli("explain", str(bundle), text, "--json")
    assert done.returncode == 0, done.stderr
    explanation = json.loads(done.stdout)
    positive = [w["word"] for w in explanation["words"] if w["contribution"] > 0][:3]
    assert positive
    model = critic.load(bundle)
    without = " ".join(w for w in critic.text.tokenize([text])[0] if w not in positive)
    assert model.predict_proba([without])[0] < explanation["probability"]
    assert explanation["label"] == "positive"
    assert explanation["score"] == pytest.approx(explanation["probability"])
    shown = run_cli("explain", str(bundle), text)
    assert shown.returncode == 0 and positive[0] in shown.stdout


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reviews = tiny_reviews()
    path = tmp_path_factory.mktemp("csv") / "tiny.csv"
    path.write_text("review,sentiment\n" + "".join(
        f"{t},{'pos' if y else 'neg'}\n" for t, y in zip(reviews.texts, reviews.labels,
                                                           strict=True)))
    return path


@pytest.fixture(scope="module")
def trained_tiny_bundle(tiny_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = tmp_path_factory.mktemp("tiny") / "tiny-model"
    done = run_cli("train", "--input", str(tiny_csv), "--text-column", "review",
                   "--label-column", "sentiment", "--num-words", "40", "--batch-size", "32",
                   "--learning-rate", "0.01", "--epochs", "6", "--output", str(bundle))
    assert done.returncode == 0, done.stderr
    return bundle


@pytest.fixture
def tiny_bundle(trained_tiny_bundle: Path, tmp_path: Path) -> Path:
    """A fresh copy per test, so tests that change or damage it stay apart."""
    return Path(shutil.copytree(trained_tiny_bundle, tmp_path / "tiny-model"))


def test_nblr_on_a_users_csv_from_the_command_line(tiny_csv: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "nblr"
    done = run_cli("train", "--model", "nblr", "--input", str(tiny_csv), "--text-column",
                   "review", "--label-column", "sentiment", "--num-words", "40",
                   "--max-ngrams", "300", "--output", str(bundle), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["validation"]["accuracy"] > 0.9 and len(summary["selection"]) == 9
    done = run_cli("predict", str(bundle), "superb and wonderful", "dull and awful")
    assert [line.split("\t")[0] for line in done.stdout.splitlines()] == ["positive",
                                                                          "negative"]
    done = run_cli("explain", str(bundle), "the plot was superb")
    assert done.returncode == 0 and "exact share of the logit" in done.stdout


def test_train_on_a_users_csv_and_find_a_threshold(tiny_bundle: Path, tiny_csv: Path,
                                                   tmp_path: Path) -> None:
    done = run_cli("evaluate", str(tiny_bundle), "--input", str(tiny_csv), "--text-column",
                   "review", "--label-column", "sentiment", "--find-threshold", "f1",
                   "--validation-input", str(tiny_csv), "--json", "--figure",
                   str(tmp_path / "r.png"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    stored = json.loads((tiny_bundle / "config.json").read_text())["threshold"]
    assert report["threshold"] == stored and stored != 0.5
    assert critic.load(tiny_bundle).threshold == stored


def test_predict_from_stdin_text_and_jsonl(tiny_bundle: Path) -> None:
    plain = run_cli("predict", str(tiny_bundle), "-", stdin="great superb film\ndull awful\n")
    assert [line.split("\t")[0] for line in plain.stdout.splitlines()] == ["positive",
                                                                           "negative"]
    jsonl = run_cli("predict", str(tiny_bundle), "-", "--json",
                    stdin='{"id": 7, "text": "wonderful"}\n{"id": 8, "text": "boring"}\n')
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [(r["id"], r["label"]) for r in rows] == [("7", "positive"), ("8", "negative")]


def test_empty_review_is_scored_with_a_warning(tiny_bundle: Path) -> None:
    done = run_cli("predict", str(tiny_bundle), "great", "")
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 2
    assert "warning: review 2 has no words" in done.stderr


def test_output_file_is_not_damaged_by_a_failure(tiny_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.tsv"
    out.write_text("precious\n")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xff\xfe broken\n")
    done = invoke("predict", str(tiny_bundle), "--input", str(bad), "--output", str(out))
    assert done.returncode == 2 and "not valid UTF-8 (line 2)" in done.stderr
    assert out.read_text() == "precious\n"


@pytest.mark.parametrize(("args", "message"), [
    (["predict", "{missing}", "x"], "does not exist"),
    (["predict", "{bundle}"], "give reviews as arguments"),
    (["predict", "{bundle}", "--input", "{empty}"], "is empty"),
    (["predict", "{bundle}", "--input", "{csv}", "--text-column", "body"], "no column 'body'"),
    (["evaluate", "{bundle}", "--input", "{csv}", "--label-column", "stars"], "no column"),
    (["evaluate", "{bundle}", "--find-threshold", "roc"], "'accuracy' or 'f1'"),
    (["explain", "{missing}", "text"], "does not exist"),
    (["train", "--input", "{csv}", "--text-column", "review", "--label-column", "review",
      "--output", "{out}"], "has a single review"),
    (["train", "--input", "{csv}", "--units", "0", "--output", "{out}"],
     "`units` must be a positive integer"),
    (["train", "--input", "{csv}", "--model", "forest"], "unknown model 'forest'"),
    (["train", "--input", "{csv}", "--ngram-range", "1-4"], "out of bounds"),
    (["train", "--input", "{csv}", "--ngram-range", "two"], "is not LOW-HIGH"),
    (["train", "--input", "{csv}", "--ngram-range", "1-2"], "`max_ngrams` must be positive"),
    (["train", "--input", "{csv}", "--model", "nblr", "--units", "8"],
     "nblr has no units (that is network's)"),
    (["train", "--input", "{csv}", "--validation-size", "0", "--output", "{out}"],
     "validation_size"),
    # Refused before a cluster is joined, not with Ray's ValueError once it is.
    (["train", "--input", "{csv}", "--mode", "bogus", "--cluster", "local", "--output",
      "{out}"], "`mode` must be one of memory, stream, cluster"),
])
def test_bad_input_exits_2(tiny_bundle: Path, tiny_csv: Path, tmp_path: Path, args: list[str],
                           message: str) -> None:
    (tmp_path / "empty.txt").write_text("")
    names = {"bundle": tiny_bundle, "missing": tmp_path / "nope", "empty": tmp_path / "empty.txt",
             "csv": tiny_csv, "out": tmp_path / "new-model"}
    done = invoke(*[a.format(**{k: str(v) for k, v in names.items()}) for a in args])
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "new-model").exists()


def test_flipped_byte_in_weights_exits_2(tiny_bundle: Path) -> None:
    weights = tiny_bundle / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01
    weights.write_bytes(bytes(data))
    done = invoke("predict", str(tiny_bundle), "great")
    assert done.returncode == 2 and "does not match its checksum" in done.stderr
