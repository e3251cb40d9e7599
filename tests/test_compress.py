"""``critic compress``: an nblr bundle with only its strongest n-grams (issue #32), on the
labels of a small file; what it cannot compress is refused and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke
from test_bundle import tiny_reviews
from test_labels import STARS, _write

import critic
from critic.datasets.files import read_reviews_file


@pytest.fixture(scope="module")
def nblr_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compress")
    return critic.train_bundle(critic.options_for("nblr", validation_size=0.25),
                               folder / "nblr", reviews=tiny_reviews(600)).path


def test_a_compressed_bundle_keeps_its_strongest_ngrams(nblr_bundle: Path,
                                                        tmp_path: Path) -> None:
    full = critic.load(nblr_bundle)
    done = invoke("compress", str(nblr_bundle), "--output", str(tmp_path / "small"),
                  "--keep-ngrams", "0.5", "--json")
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    ngrams = len(full.featurizer.ngrams_)
    assert made["ngrams"] == ngrams and made["ngrams_kept"] == round(0.5 * ngrams)
    assert made["bytes_after"] < made["bytes_before"]
    small = critic.load(tmp_path / "small")
    assert len(small.featurizer.ngrams_) == made["ngrams_kept"]
    assert set(small.featurizer.ngrams_.tolist()) <= set(full.featurizer.ngrams_.tolist())
    # What was kept is what weighs most: every kept n-gram outweighs every dropped one.
    words = full.featurizer.num_words
    weight = dict(zip(full.featurizer.ngrams_.tolist(),
                      np.abs(full.bundle.model.coef[words:]).tolist(), strict=True))
    kept = set(small.featurizer.ngrams_.tolist())
    assert min(weight[c] for c in kept) >= max(w for c, w in weight.items() if c not in kept)
    # A review's logit changes by the dropped n-grams it holds, no more: the kept ones and
    # the words score as before.
    texts = [text for text in tiny_reviews(50, seed=1).texts]
    x_full, x_small = full.featurizer.transform(texts), small.featurizer.transform(texts)
    np.testing.assert_allclose(x_small[:, :words].toarray(), x_full[:, :words].toarray())
    dropped = full.bundle.model.logits(x_full) - small.bundle.model.logits(x_small)
    columns = np.searchsorted(full.featurizer.ngrams_, sorted(set(weight) - kept)) + words
    only_dropped = x_full[:, columns] @ full.bundle.model.coef[columns]
    np.testing.assert_allclose(dropped, only_dropped, atol=1e-5)
    training = json.loads((tmp_path / "small" / "config.json").read_text())["training"]
    assert training["compressed"]["from"] == str(nblr_bundle)
    assert training["compressed"]["ngrams_kept"] == made["ngrams_kept"]
    assert invoke("explain", str(tmp_path / "small"), texts[0]).returncode == 0


def test_more_labels_compress_on_the_strongest_label(tmp_path: Path) -> None:
    data = _write(tmp_path / "stars.csv", STARS, 600)
    reviews = read_reviews_file(data, label_column="label")
    bundle = critic.train_bundle(critic.options_for("nblr"), tmp_path / "m",
                                 reviews=reviews).path
    done = invoke("compress", str(bundle), "--output", str(tmp_path / "s"),
                  "--keep-ngrams", "100")
    assert done.returncode == 0, done.stderr
    small = critic.load(tmp_path / "s")
    assert [str(label) for label in small.labels] == ["1", "2", "3", "4", "5"]
    assert len(small.featurizer.ngrams_) == 100
    assert small.predict(["superb brilliant masterpiece"]).tolist() == [4]


@pytest.mark.parametrize(("keep", "message"), [
    ("0", "positive count or fraction"), ("1.0", "a fraction below 1"),
    ("99999999", "some but not all"), ("half", "a count or a fraction")])
def test_what_cannot_be_kept_is_refused(nblr_bundle: Path, tmp_path: Path, keep: str,
                                        message: str) -> None:
    done = invoke("compress", str(nblr_bundle), "--output", str(tmp_path / "s"),
                  "--keep-ngrams", keep)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "s").exists()


def test_bundles_without_counted_ngrams_are_refused(tmp_path: Path) -> None:
    reviews = tiny_reviews(300)
    for model, mode in (("dense", "memory"), ("nblr", "stream")):
        bundle = critic.train_bundle(critic.options_for(model, epochs=2) if model == "dense"
                                     else critic.options_for(model), tmp_path / model,
                                     reviews=reviews, mode=mode).path
        done = invoke("compress", str(bundle), "--output", str(tmp_path / f"{model}-s"))
        assert done.returncode == 2 and "without counted n-grams" in done.stderr, done.stderr
        assert not (tmp_path / f"{model}-s").exists()


def test_an_existing_output_is_kept_unless_overwritten(nblr_bundle: Path,
                                                       tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "mine.txt").write_text("keep me")
    done = invoke("compress", str(nblr_bundle), "--output", str(tmp_path / "s"))
    assert done.returncode == 2 and (tmp_path / "s" / "mine.txt").exists()


def test_the_bundle_read_is_never_the_output(nblr_bundle: Path) -> None:
    before = {f.name: f.read_bytes() for f in nblr_bundle.iterdir()}
    for output in (nblr_bundle, nblr_bundle / "inner"):
        done = invoke("compress", str(nblr_bundle), "--output", str(output), "--overwrite")
        assert done.returncode == 2 and "the bundle" in done.stderr, done.stderr
    assert {f.name: f.read_bytes() for f in nblr_bundle.iterdir()} == before
