"""Any size in bounded memory: reviews read as a stream, predictions written as they come,
``nblr`` trained from a stream, each checked against the in-memory path on the same data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from conftest import invoke
from test_bundle import tiny_reviews

from critic._train import in_memory_estimate, options_for, parse_memory, recipe, train_bundle
from critic.datasets.stream import ReviewStream, array_batches
from critic.errors import DataError
from critic.features import CodeTable, FeatureConfig, FeatureSpace
from critic.fitting.spill import Minibatch
from critic.fitting.splits import stream_held_out as held_out
from critic.hashing import HashedFeatureSpace, hash_words
from critic.models.nblr.estimator import nb_ratios
from critic.models.nblr.online import ClassSums
from critic.models.nblr.stream import fit_streaming_nblr
from critic.models.network.config import NetworkConfig, TrainConfig
from critic.models.network.stream import _NgramCounter, _streamed_vocabulary, fit_streaming_network
from critic.predict import load
from critic.text import Ragged, Vocabulary

HASHED = FeatureConfig(num_words=1 << 16, ngram_range=(1, 3), start_char=None,
                       oov_char=None, hashing=True)


def write_reviews(folder: Path, n: int = 1_200, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """The same reviews as Parquet (first half), CSV and JSON lines (the rest)."""
    reviews = tiny_reviews(n, seed)
    texts, labels = list(reviews.texts), reviews.labels
    half, three_quarters = n // 2, 3 * n // 4
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts[:half], "label": labels[:half],
                             "id": [f"r{i}" for i in range(half)]}),
                   folder / "a.parquet", row_group_size=200)
    (folder / "b.csv").write_text("text,label\n" + "".join(
        f'"{t}",{"pos" if y else "neg"}\n' for t, y in zip(texts[half:three_quarters],
                                                           labels[half:three_quarters],
                                                           strict=True)))
    (folder / "c.jsonl").write_text("".join(
        json.dumps({"text": t, "label": bool(y)}) + "\n"
        for t, y in zip(texts[three_quarters:], labels[three_quarters:], strict=True)))
    return texts, labels


# Reading.

def test_a_folder_of_mixed_files_streams_in_order_with_positions(tmp_path: Path) -> None:
    texts, labels = write_reviews(tmp_path / "data")
    (tmp_path / "data" / ".hidden.csv").write_text("not,reviews\n")  # a write in progress
    stream = ReviewStream(tmp_path / "data", label_column="label", batch_reviews=128)
    batches = list(stream)
    assert [b.position for b in batches] == list(np.cumsum([0] + [len(b) for b in batches])[:-1])
    assert [t for b in batches for t in b.texts] == texts
    assert np.array_equal(np.concatenate([b.labels for b in batches]), labels)
    first_csv = next(b for b in batches if b.source.endswith("b.csv"))
    assert first_csv.first_row == 1 and first_csv.ids is None
    assert batches[0].ids[:2] == ["r0", "r1"]
    assert stream.count() is None  # CSV and JSON lines do not say
    assert ReviewStream(tmp_path / "data" / "*.parquet").count() == 600
    # A URI goes through pyarrow's filesystems (s3://, gs://, … where installed).
    by_uri = ReviewStream((tmp_path / "data").as_uri(), label_column="label")
    assert [t for b in by_uri for t in b.texts] == texts


def test_bad_input_mid_stream_names_the_file_and_the_row(tmp_path: Path) -> None:
    write_reviews(tmp_path / "data")
    with open(tmp_path / "data" / "b.csv", "a") as out:
        out.write('"a fine review",pos\n"a broken row",pos,extra\n')
    with pytest.raises(DataError, match=r"b\.csv: row 302: .*Expected 2 columns, got 3"):
        list(ReviewStream(tmp_path / "data", label_column="label"))
    (tmp_path / "latin").mkdir()
    (tmp_path / "latin" / "x.jsonl").write_bytes(
        b'{"text": "fine", "label": 1}\n{"text": "caf\xe9", "label": 1}\n')
    with pytest.raises(DataError, match=r"x\.jsonl: column 'text' in row 2 is not valid UTF-8"):
        list(ReviewStream(tmp_path / "latin", label_column="label"))
    (tmp_path / "cols").mkdir()
    pq.write_table(pa.table({"text": ["good"], "label": [1]}), tmp_path / "cols" / "a.parquet")
    pq.write_table(pa.table({"review": ["bad"], "label": [0]}), tmp_path / "cols" / "b.parquet")
    with pytest.raises(DataError, match=r"b\.parquet has no column 'text'"):
        list(ReviewStream(tmp_path / "cols", label_column="label"))
    (tmp_path / "labels.csv").write_text("text,label\nfine,1\nodd,maybe\n")
    # Any label set is read as written (issue #30); a missing label is named by its row.
    batches = list(ReviewStream(tmp_path / "labels.csv", label_column="label"))
    assert batches[0].labels is not None and batches[0].labels.tolist() == ["1", "maybe"]
    (tmp_path / "missing.csv").write_text("text,label\nfine,a\nodd,\n")
    with pytest.raises(DataError, match="row 2 has no label"):
        list(ReviewStream(tmp_path / "missing.csv", label_column="label"))


def test_a_file_without_a_column_is_refused_before_any_review_is_read(
        tmp_path: Path) -> None:
    """The last file of a folder lacks the label column: training stops before it reads
    (or trains on) the first, from Parquet's footer or CSV's header line."""
    write_reviews(tmp_path / "data", n=400)
    (tmp_path / "data" / "z.tsv").write_text("text\tstars\nfine\t1\n")
    stream = ReviewStream(tmp_path / "data", label_column="label")
    read: list[str] = []
    real = stream._file_batches
    stream._file_batches = lambda path, *rest: read.append(path) or real(path, *rest)
    with pytest.raises(DataError, match=r"z\.tsv has no column 'label' \(columns: text, "
                                        r"stars\)"):
        stream.check_columns()
    assert read == []
    done = invoke("train", "--model", "nblr", "--input", str(tmp_path / "data"), "--output",
                  str(tmp_path / "m"))
    assert done.returncode == 2 and "z.tsv has no column 'label'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "m").exists()
    (tmp_path / "data" / "z.tsv").write_text("\ufefftext\tlabel\nfine\t1\n")
    ReviewStream(tmp_path / "data", label_column="label").check_columns()  # BOM and all
    done = invoke("predict", str(small_nblr(tmp_path / "p")), "--input",
                  str(tmp_path / "data"), "--text-column", "review", "--output",
                  str(tmp_path / "out.tsv"))
    assert done.returncode == 2 and "has no column 'review'" in done.stderr, done.stderr
    assert not (tmp_path / "out.tsv").exists()


def test_what_is_not_a_stream_of_reviews_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        ReviewStream(tmp_path / "nothing.parquet")
    with pytest.raises(DataError, match="holds no review files"):
        ReviewStream(str(tmp_path / "*.parquet"))
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(DataError, match="unknown file type"):
        ReviewStream(tmp_path / "notes.md")
    (tmp_path / "lines.txt").write_text("good\n")
    with pytest.raises(DataError, match="plain text"):
        ReviewStream(tmp_path / "lines.txt", label_column="label", require_labels=True)
    with pytest.raises(DataError, match="cannot open this location"):
        ReviewStream("nosuchscheme://bucket/reviews")


# Hashed features.

def test_the_hash_is_pinned_because_bundles_depend_on_it() -> None:
    assert hash_words(pa.array(["a", "good", "film", "é"])).tolist() == [
        12447961245826247199, 13553833466956562116, 9170420921598535232,
        7527637465875813819]


def test_hashed_features_of_a_batch_are_those_of_each_review() -> None:
    texts = [*tiny_reviews(50).texts, "", "!!!", "good good good"]
    space = HashedFeatureSpace.from_config(HASHED).fit([])
    together = space.transform(texts)
    apart = sp.vstack([space.transform([t]) for t in texts], format="csr")
    assert together.shape == (53, 1 << 16) and (together != apart).nnz == 0
    assert together[51].nnz == 0 and together[52].nnz == 3  # good; good good; good good good
    tokens = space.tokenize([texts[0]]).to_lists()[0]
    names = space.column_names(tokens)
    assert set(names) == set(together[0].indices.tolist())
    assert " ".join(tokens[:3]) in " | ".join(names.values())


def test_the_code_table_finds_what_binary_search_finds() -> None:
    rng = np.random.default_rng(0)
    kept = np.unique(rng.integers(1, 2**60, 5_000))
    # Hits and misses mixed, in no order, enough for long probe runs.
    asked = rng.permutation(np.concatenate([kept[rng.integers(0, len(kept), 100_000)],
                                            rng.integers(1, 2**60, 100_000)]))
    at = np.minimum(np.searchsorted(kept, asked), len(kept) - 1)
    assert np.array_equal(CodeTable(kept).lookup(asked), np.where(kept[at] == asked, at, -1))


# Training from a stream.

def test_class_sums_give_the_ratios_of_all_rows_at_once() -> None:
    rng = np.random.default_rng(1)
    x = sp.random(300, 50, density=0.2, format="csr", random_state=1)
    x.data[:] = 1
    y = rng.integers(0, 2, 300).astype(np.uint8)
    sums = ClassSums(50)
    for start in range(0, 300, 64):
        rows = x[start:start + 64]
        sums.add(Minibatch.from_ragged(Ragged(rows.indices, rows.indptr.astype(np.int64)),
                                       y[start:start + 64]))
    assert np.allclose(sums.ratios(1.0, 1), nb_ratios(x, y))


def test_held_out_reviews_depend_on_their_position_only() -> None:
    positions = np.arange(100_000)
    chosen = held_out(positions, 0.2, seed=0)
    assert abs(chosen.mean() - 0.2) < 0.005
    assert np.array_equal(held_out(positions[5_000:7_000], 0.2, seed=0), chosen[5_000:7_000])
    assert not np.array_equal(held_out(positions, 0.2, seed=1), chosen)


def test_the_stream_fit_does_not_depend_on_batch_sizes() -> None:
    reviews = tiny_reviews(600)
    texts = pa.array(list(reviews.texts), pa.large_string())
    fits = [fit_streaming_nblr(array_batches(texts, reviews.labels, source="tiny",
                                             batch_reviews=size),
                               validation_fraction=0.25, features=HASHED)
            for size in (64, 1_000)]
    assert np.array_equal(fits[0].model.coef, fits[1].model.coef)
    assert fits[0].held_out == fits[1].held_out and 100 < fits[0].held_out < 200


def test_streaming_and_in_memory_nblr_agree_on_the_same_file(tmp_path: Path) -> None:
    write_reviews(tmp_path / "data", n=2_000)
    summaries = {}
    for path, budget in (("memory", "64G"), ("stream", "100M")):
        done = invoke("train", "--model", "nblr", "--input", str(tmp_path / "data"),
                      "--memory-budget", budget, "--output", str(tmp_path / path), "--json")
        assert done.returncode == 0, done.stderr
        assert ("from a stream:" in done.stderr) == (path == "stream")
        summaries[path] = json.loads(done.stdout)
    assert summaries["stream"]["chosen"]["C"] is None
    test = tiny_reviews(400, seed=7)
    predictions = {path: load(tmp_path / path).predict(test.texts) for path in summaries}
    accuracy = {path: float((p == test.labels).mean()) for path, p in predictions.items()}
    assert accuracy["memory"] > 0.95 and accuracy["stream"] > 0.95
    assert (predictions["memory"] == predictions["stream"]).mean() > 0.95
    bundle = load(tmp_path / "stream")
    assert bundle.featurizer.config.hashing
    words = [w.word for w in bundle.explain(test.texts[0]).words]
    assert not any(word.startswith("#") for word in words)  # named from the review itself


def test_training_from_a_stream_leaves_nothing_on_bad_input(tmp_path: Path) -> None:
    write_reviews(tmp_path / "data")
    with open(tmp_path / "data" / "c.jsonl", "a") as out:
        out.write('{"text": "fine", "label": true}\n{"text": "fine", "label": 2}\n')
    done = invoke("train", "--model", "nblr", "--input", str(tmp_path / "data"),
                  "--memory-budget", "100M", "--output", str(tmp_path / "model"))
    assert done.returncode == 2 and "c.jsonl" in done.stderr and "row 302" in done.stderr
    assert not (tmp_path / "model").exists()
    assert not list(tmp_path.glob(".model*"))


def test_the_memory_budget_is_an_amount_and_one_label_is_refused(tmp_path: Path) -> None:
    assert parse_memory("2.5G") == int(2.5 * 2**30) and parse_memory("600MB") == 600 << 20
    nblr = recipe("nblr")
    assert in_memory_estimate(nblr, 33_000_000) < in_memory_estimate(nblr, 530_000_000)
    write_reviews(tmp_path / "data")
    for budget, message in (("lots", "not an amount of memory"),
                            ("-1G", "not an amount of memory")):
        done = invoke("train", "--input", str(tmp_path / "data"), "--memory-budget", budget,
                      "--output", str(tmp_path / "m"))
        assert done.returncode == 2 and message in done.stderr
    (tmp_path / "one.csv").write_text("text,label\n" + "good film,1\n" * 50)
    for model in ("nblr", "dense", "tfidf-dense"):
        done = invoke("train", "--model", model, "--input", str(tmp_path / "one.csv"),
                      "--memory-budget", "100M", "--output", str(tmp_path / "m"))
        assert done.returncode == 2 and "only one label" in done.stderr
    assert not (tmp_path / "m").exists()


def test_the_streamed_vocabulary_is_the_one_counted_at_once() -> None:
    reviews = tiny_reviews(300)
    texts = pa.array(list(reviews.texts), pa.large_string())
    features = FeatureConfig(num_words=30)
    streamed = _streamed_vocabulary(array_batches(texts, None, source="t", batch_reviews=7),
                                    features)
    whole = Vocabulary.fit(list(reviews.texts), num_words=30)
    assert streamed.words == whole.words and streamed.counts == whole.counts


def test_the_books_network_trains_from_a_stream_like_in_memory(tmp_path: Path) -> None:
    write_reviews(tmp_path / "data", n=1_200)
    verdicts = {}
    for path, budget in (("memory", "64G"), ("stream", "100M")):
        done = invoke("train", "--input", str(tmp_path / "data"), "--num-words", "40",
                      "--batch-size", "32", "--learning-rate", "0.01", "--epochs", "6",
                      "--memory-budget", budget, "--output", str(tmp_path / path), "--json")
        assert done.returncode == 0, done.stderr
        assert ("from a stream:" in done.stderr) == (path == "stream")
        summary = json.loads(done.stdout)
        assert summary["validation"]["accuracy"] > 0.95
        verdicts[path] = load(tmp_path / path).predict(tiny_reviews(400, seed=7).texts)
    assert (verdicts["memory"] == verdicts["stream"]).mean() > 0.95


@pytest.mark.parametrize("features", [
    FeatureConfig(weighting="tfidf", num_words=60, ngram_range=(1, 2), max_ngrams=80,
                  start_char=None, oov_char=None, sublinear_tf=True),
    FeatureConfig(weighting="count", num_words=50, ngram_range=(1, 3), max_ngrams=120),
    FeatureConfig(num_words=40)])
def test_a_streamed_network_learns_from_the_features_fitted_in_memory(
        features: FeatureConfig) -> None:
    """Vocabulary, n-grams and idf counted pass by pass are those fitted on all the reviews
    at once, so each review's features are the same, whatever the batch size."""
    texts = list(tiny_reviews(500).texts)
    labels = tiny_reviews(500).labels.astype(np.uint8)
    column = pa.array(texts, pa.large_string())
    fit = fit_streaming_network(
        lambda: array_batches(column, labels, source="t", batch_reviews=37),
        features=features, network=NetworkConfig(), training=TrainConfig(batch_size=64),
        epochs=1, patience=None, validation_fraction=0.2)
    whole = FeatureSpace.from_config(features).fit(texts)
    assert fit.featurizer.vocabulary_.words == whole.vocabulary_.words
    assert np.array_equal(fit.featurizer.ngrams_, whole.ngrams_)
    if features.weighting == "tfidf":
        assert np.allclose(fit.featurizer.idf_, whole.idf_)
    difference = fit.featurizer.transform(texts) - whole.transform(texts)
    assert abs(difference).max() < 1e-6 and fit.reviews == 500


def test_the_ngram_count_is_exact_below_its_cap_and_keeps_the_frequent_above_it() -> None:
    rng = np.random.default_rng(0)
    codes = rng.zipf(1.5, 200_000).astype(np.int64) % 50_000
    exact, dropping = _NgramCounter(1 << 20), _NgramCounter(2_000)
    for part in np.array_split(codes, 40):
        exact.add(part)
        dropping.add(part)
    unique, counts = np.unique(codes, return_counts=True)
    got_codes, got_counts = exact.totals()
    assert np.array_equal(got_codes, unique) and np.array_equal(got_counts, counts)
    kept, _ = dropping.totals()
    assert len(kept) <= 2_000
    top = unique[np.argsort(-counts, kind="stable")[:100]]
    assert set(top.tolist()) <= set(kept.tolist())


def test_the_tfidf_network_trains_from_a_stream_like_in_memory(tmp_path: Path) -> None:
    write_reviews(tmp_path / "data", n=1_200)
    verdicts = {}
    for path, budget in (("memory", "64G"), ("stream", "100M")):
        done = invoke("train", "--model", "tfidf-dense", "--input", str(tmp_path / "data"),
                      "--num-words", "60", "--max-ngrams", "200", "--batch-size", "32",
                      "--epochs", "6", "--memory-budget", budget,
                      "--output", str(tmp_path / path), "--json")
        assert done.returncode == 0, done.stderr
        assert ("from a stream:" in done.stderr) == (path == "stream")
        assert json.loads(done.stdout)["validation"]["accuracy"] > 0.9
        verdicts[path] = load(tmp_path / path).predict(tiny_reviews(400, seed=7).texts)
    assert (verdicts["memory"] == verdicts["stream"]).mean() > 0.95


@pytest.mark.slow  # all of IMDB: make verify (test_imdb_slice.py streams a slice)
def test_imdb_through_the_streaming_path(
        real_data: Path, streamed_imdb: Callable[[str], tuple[Path, float]],
        tmp_path: Path) -> None:
    """The 25,000 training reviews, forced through the stream by a small budget: nblr at the
    floor the issue set (in memory: 0.9196)."""
    bundle, accuracy = streamed_imdb("nblr")  # from Parquet, by the CLI (conftest)
    assert json.loads((bundle / "config.json").read_text())["features"]["hashing"]
    assert json.loads((bundle / "metrics.json").read_text())["chosen"]["C"] is None
    assert accuracy >= 0.915
    # tf-idf of words and bigrams into a network (in memory: 0.9078; streamed, 6 epochs at
    # most: 0.9002).
    assert streamed_imdb("tfidf-dense")[1] >= 0.895
    # The book's network, with early stopping (in memory: 0.8810), streamed from the IMDB
    # archive itself.
    result = train_bundle(options_for("dense", patience=2), tmp_path / "dense", data=real_data,
                          memory_budget=200 << 20)
    assert result.metrics["validation"]["best_loss_epoch"] in range(2, 7)
    assert result.metrics["test"]["accuracy"] >= 0.87


# Predicting as a stream.

def small_nblr(tmp_path: Path) -> Path:
    """A bundle trained in memory on 400 reviews written to ``tmp_path / "data"``."""
    write_reviews(tmp_path / "data", n=400)
    bundle = tmp_path / "model"
    assert invoke("train", "--model", "nblr", "--input", str(tmp_path / "data"),
                  "--num-words", "40", "--max-ngrams", "100", "--output",
                  str(bundle)).returncode == 0
    return bundle


def test_predictions_stream_to_parquet_tsv_and_json_alike(tmp_path: Path) -> None:
    bundle = small_nblr(tmp_path)
    outputs = {}
    for name, extra in (("out.parquet", []), ("out.tsv", []), ("out.jsonl", ["--json"])):
        done = invoke("predict", str(bundle), "--input", str(tmp_path / "data"), "--output",
                      str(tmp_path / name), "--batch-size", "64", *extra)
        assert done.returncode == 0, done.stderr
        outputs[name] = tmp_path / name
    table = pq.read_table(outputs["out.parquet"])
    assert table.column_names == ["id", "label", "score", "positive_probability", "words"]
    assert table.num_rows == 400 and table.column("id")[0].as_py() == "r0"
    assert table.column("id")[399].as_py() is None  # the JSON-lines file has no ids
    model = load(bundle)
    texts = [t for b in ReviewStream(tmp_path / "data") for t in b.texts]
    ids = [f"r{i}" for i in range(200)] + [None] * 200
    expected = [p.to_line() for p in model.predictions(texts, ids)]
    assert outputs["out.tsv"].read_text().splitlines(keepends=True) == expected
    expected_json = [p.to_line(as_json=True) for p in model.predictions(texts, ids)]
    assert outputs["out.jsonl"].read_text().splitlines(keepends=True) == expected_json
    assert np.allclose(table.column("positive_probability").to_numpy(),
                       model.predict_proba(texts))


def test_evaluate_reads_a_folder_or_glob_as_a_stream(tmp_path: Path) -> None:
    """A folder of Parquet, CSV and JSON lines is evaluated batch by batch, with the same
    report as the same reviews in one file read whole."""
    bundle = small_nblr(tmp_path)
    texts, labels = write_reviews(tmp_path / "data", n=400)
    pq.write_table(pa.table({"text": texts, "label": labels}), tmp_path / "all.parquet")
    reports = []
    for source in (tmp_path / "data", tmp_path / "data" / "*", tmp_path / "all.parquet"):
        done = invoke("evaluate", str(bundle), "--input", str(source), "--json",
                      "--figure", str(tmp_path / "r.png"))
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        reports.append({k: v for k, v in report.items() if k != "data"})
        assert report["data"] == str(source)
    assert reports[0] == reports[1] == reports[2]
    assert sum(reports[0]["confusion_matrix"].values()) == 400
    (tmp_path / "data" / "d.csv").write_text("text\nno label here\n")
    done = invoke("evaluate", str(bundle), "--input", str(tmp_path / "data"))
    assert done.returncode == 2 and "d.csv" in done.stderr and "Traceback" not in done.stderr


def test_a_failed_prediction_stream_leaves_no_output(tmp_path: Path) -> None:
    bundle = small_nblr(tmp_path)
    (tmp_path / "data" / "d.csv").write_text('text\n"fine"\n"broken",1\n')
    for name in ("new.parquet", "old.tsv"):
        if name == "old.tsv":
            (tmp_path / name).write_text("precious\n")
        done = invoke("predict", str(bundle), "--input", str(tmp_path / "data"), "--output",
                      str(tmp_path / name))
        assert done.returncode == 2 and "d.csv: row 2" in done.stderr
    assert not (tmp_path / "new.parquet").exists()
    assert (tmp_path / "old.tsv").read_text() == "precious\n"
    assert not list(tmp_path.glob(".*.part"))
