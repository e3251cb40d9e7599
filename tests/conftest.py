"""Shared fixtures: tiny aclImdb-layout archives written per test, and the real IMDB data."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import pytest

# One worker per core (make test's -n auto): each worker and each command it starts computes
# on one thread, as one process per core should. With PyTorch's default of a thread per core
# in every worker, the threads outnumber the cores and OpenMP's waiting threads spin.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

TINY_REVIEWS: dict[str, list[tuple[int, int, str]]] = {
    "train/pos": [(0, 9, "A moving, beautifully acted film.<br /><br />Loved it."),
                  (1, 8, "Great fun; the cast is great.")],
    "train/neg": [(0, 2, "Two hours of my life I will never get back."),
                  (1, 1, "Awful. The plot is awful, the acting worse.")],
    "test/pos": [(0, 10, "Wonderful and moving.")],
    "test/neg": [(0, 3, "Dull, dull, dull.")],
    "train/unsup": [(0, 0, "I watched it on a Tuesday.")],
}
TINY_COUNTS = {folder: len(rows) for folder, rows in TINY_REVIEWS.items()}


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def write_tiny_archive(path: Path, *, drop: str | None = None,
                       extra: Callable[[tarfile.TarFile], None] | None = None,
                       raw: dict[str, bytes] | None = None) -> Path:
    """Write an aclImdb-layout .tar.gz; ``drop`` leaves out a folder, ``extra`` adds members."""
    with tarfile.open(path, "w:gz") as archive:
        _add(archive, "aclImdb/README", b"tiny copy for tests")
        for folder, rows in TINY_REVIEWS.items():
            if folder == drop:
                continue
            for review_id, rating, text in rows:
                _add(archive, f"aclImdb/{folder}/{review_id}_{rating}.txt", text.encode())
        for name, data in (raw or {}).items():
            _add(archive, name, data)
        if extra:
            extra(archive)
    return path


def write_tiny_folder(root: Path) -> Path:
    for folder, rows in TINY_REVIEWS.items():
        (root / "aclImdb" / folder).mkdir(parents=True, exist_ok=True)
        for review_id, rating, text in rows:
            (root / "aclImdb" / folder / f"{review_id}_{rating}.txt").write_text(text)
    return root / "aclImdb"


#: Test files that share a session fixture too costly to build twice, and the file whose
#: worker they run on under pytest-xdist (the streamed IMDB bundles, trained once for both).
_SHARED_WORKER = {"tests/test_streaming.py": "tests/test_cluster.py"}
#: Tests each of whose cases may run on any worker: long, and sharing only fixtures built
#: once for all workers (the docs' pages: ~30 s each, one file).
_SPREAD = ("tests/test_docs.py::test_examples_of[",)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's, there only when it is
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Every test file on one worker (``make test`` runs one worker a core): a file's module
    fixtures (the leaderboard's four models, the Ray cluster, the CLI's IMDB bundle) are
    built once, while the files share the cores. (pytest-xdist's own ``loadgroup`` marks do
    not take with pytest 9.2, which no longer reads the node ids that ``loadgroup`` edits.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if any(nodeid.startswith(test) for test in _SPREAD):
                return nodeid
            path = nodeid.split("::", 1)[0]
            return _SHARED_WORKER.get(path, path)

    return ByFile(config, log)


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                  request: pytest.FixtureRequest) -> None:
    """Unit tests get an empty CRITIC_HOME and no CRITIC_DATA; real-data tests share one cache."""
    if "real_data" in request.fixturenames:
        return
    monkeypatch.setenv("CRITIC_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("CRITIC_DATA", raising=False)


@pytest.fixture(scope="session")
def real_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real IMDB archive from CRITIC_DATA, with a cache shared by this test session."""
    value = os.environ.get("CRITIC_DATA")
    if not value or not Path(value).exists():
        if os.environ.get("CI"):
            pytest.fail("CI must set CRITIC_DATA to the IMDB archive")
        pytest.skip("set CRITIC_DATA to aclImdb_v1.tar.gz to run the real-data tests")
    os.environ.setdefault("CRITIC_HOME", str(tmp_path_factory.mktemp("real-home")))
    # Absolute, so processes started in other folders (the notebook's kernel) find it too.
    os.environ["CRITIC_DATA"] = str(Path(value).resolve())
    return Path(value).resolve()


@pytest.fixture(scope="session")
def imdb_files(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """IMDB's training reviews (in load_data's order) and test reviews, as Parquet files."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from critic.datasets.corpus import load_corpus
    from critic.datasets.imdb import training_order

    folder = tmp_path_factory.mktemp("imdb")
    corpus = load_corpus(real_data)
    train, test = corpus.subset("train"), corpus.subset("test")
    order = training_order(len(train))
    pq.write_table(pa.table({"text": train.texts.take(order).arrow,
                             "label": train.labels[order].astype(np.uint8)}),
                   folder / "train.parquet", row_group_size=2_500)
    pq.write_table(pa.table({"text": test.texts.arrow, "label": test.labels.astype(np.uint8)}),
                   folder / "test.parquet")
    return folder / "train.parquet", folder / "test.parquet"


#: The slice of real IMDB the fast tier (``make test``) trains on: the first reviews of
#: ``load_data``'s order (a shuffle, about half of them positive) and test reviews drawn at
#: random, so that the checks of full IMDB (``make verify``) have a quick counterpart.
SLICE_TRAIN, SLICE_TEST, SLICE_UNLABELLED = 4_000, 5_000, 4_000


@contextlib.contextmanager
def shared_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A folder of this test run that every pytest-xdist worker sees, held under a lock:
    what one worker builds there (the IMDB slice, the models trained on it) the others
    wait for and read rather than build again."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # popen-gwN/: its parent is this run's
        base = base.parent
    folder = base / name
    folder.mkdir(exist_ok=True)
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def imdb_slice(real_data: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, Path]:
    """Parquet files of a slice of IMDB: ``train`` (the first :data:`SLICE_TRAIN` reviews of
    ``load_data``'s order), ``test`` (:data:`SLICE_TEST` test reviews) and ``unlabelled``
    (:data:`SLICE_UNLABELLED` of the unlabelled reviews, text only)."""
    files = {"train": "train.parquet", "test": "test.parquet",
             "unlabelled": "unlabelled.parquet"}
    with shared_folder(tmp_path_factory, "imdb-slice") as folder:
        paths = {name: folder / file for name, file in files.items()}
        if not all(path.exists() for path in paths.values()):
            _write_slice(real_data, paths)
    return paths


def _write_slice(source: Path, paths: dict[str, Path]) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from critic.datasets.corpus import load_corpus
    from critic.datasets.imdb import training_order

    corpus = load_corpus(source)
    train, test, unsup = corpus.subset("train"), corpus.subset("test"), corpus.subset("unsup")
    rng = np.random.default_rng(0)
    picks = {"train": (train, training_order(len(train))[:SLICE_TRAIN]),
             "test": (test, np.sort(rng.choice(len(test), SLICE_TEST, replace=False))),
             "unlabelled": (unsup, np.sort(rng.choice(len(unsup), SLICE_UNLABELLED,
                                                      replace=False)))}
    for name, (split, rows) in picks.items():
        columns = {"text": split.texts.take(rows).arrow}
        if name != "unlabelled":
            columns["label"] = split.labels[rows].astype(np.uint8)
        pq.write_table(pa.table(columns), paths[name].with_suffix(".tmp"))
        paths[name].with_suffix(".tmp").replace(paths[name])  # whole, or not there


#: The models the fast tier trains on :func:`imdb_slice` (options of ``critic train``); the
#: book's network keeps its best epoch (patience 2), as the leaderboard's does.
SLICE_OPTIONS = {"dense": ("--model", "dense", "--epochs", "20", "--patience", "2"),
                 "tfidf-dense": ("--model", "tfidf-dense"),
                 "nblr": ("--model", "nblr"),
                 "nblr+sentences": ("--model", "nblr", "--sentence-weight", "0.1"),
                 "nblr+unit-length": ("--model", "nblr", "--unit-length"),
                 # Through the stream, as STREAMED_IMDB_OPTIONS trains all of IMDB (the
                 # networks' streamed fits are checked against their in-memory ones on toy
                 # reviews in test_streaming.py).
                 "nblr-streamed": ("--model", "nblr", "--memory-budget", "200M")}


@pytest.fixture(scope="session")
def slice_model(imdb_slice: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> Callable[[str], tuple[Path, float]]:
    """``slice_model(name)``: the model of :data:`SLICE_OPTIONS` (or ``nblr+unlabelled``:
    nblr+sentences taught by the slice's unlabelled reviews) trained by the CLI on the IMDB
    slice's training reviews (a fifth held out) and its accuracy on the slice's test
    reviews; trained once a test run, whichever worker asks first."""
    options = {**SLICE_OPTIONS, "nblr+unlabelled": (
        *SLICE_OPTIONS["nblr+sentences"], "--unlabelled", str(imdb_slice["unlabelled"]))}

    def trained(name: str) -> tuple[Path, float]:
        # A folder and a lock per model: two workers train two models at once.
        with shared_folder(tmp_path_factory, f"slice-model-{name}") as folder:
            bundle, done = folder / "bundle", folder / "accuracy.json"
            if not done.exists():
                _, accuracy = train_and_evaluate(imdb_slice["train"], imdb_slice["test"],
                                                 bundle, *options[name])
                done.write_text(json.dumps({"accuracy": accuracy}))
            return bundle, float(json.loads(done.read_text())["accuracy"])

    return trained


#: The streamed IMDB models several test files check: ``nblr`` as its recipe has it, and the
#: tf-idf network capped at 6 epochs (its best validation epoch is 6-12; the cap keeps the
#: suite short and the comparison of one machine with a cluster as strict).
STREAMED_IMDB_OPTIONS = {"nblr": ("--model", "nblr"),
                         "tfidf-dense": ("--model", "tfidf-dense", "--epochs", "6",
                                         "--patience", "2")}


def train_and_evaluate(train: Path, test: Path, output: Path, *options: str
                       ) -> tuple[Path, float]:
    """Train on the ``train`` Parquet file with ``options`` (a fifth held out) into
    ``output``; the bundle and its accuracy on the ``test`` Parquet file. Both commands run
    in this process (:func:`invoke`): the models are what is checked, not the start-up."""
    done = invoke("train", *options, "--input", str(train), "--validation-size", "0.2",
                  "--output", str(output))
    assert done.returncode == 0, done.stderr
    done = invoke("evaluate", str(output), "--input", str(test), "--json")
    assert done.returncode == 0, done.stderr
    return output, json.loads(done.stdout)["accuracy"]


@pytest.fixture(scope="session")
def streamed_imdb(imdb_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
                  ) -> Callable[[str], tuple[Path, float]]:
    """``streamed_imdb(model)``: the model of :data:`STREAMED_IMDB_OPTIONS` trained on IMDB's
    training reviews through the stream on this machine (a 200 MB budget forces it) and its
    test accuracy, trained once a session however many files ask."""
    trained: dict[str, tuple[Path, float]] = {}
    folder = tmp_path_factory.mktemp("streamed")

    def streamed(model: str) -> tuple[Path, float]:
        if model not in trained:
            trained[model] = train_and_evaluate(*imdb_files, folder / model,
                                                *STREAMED_IMDB_OPTIONS[model],
                                                "--memory-budget", "200M")
        return trained[model]

    return streamed


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``python -m critic ARGS`` in a new process, as a user would."""
    return subprocess.run([sys.executable, "-m", "critic", *args], capture_output=True,
                          text=True, input=stdin, cwd=cwd, env=os.environ.copy(),
                          timeout=timeout)


def invoke(*args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``critic ARGS`` in this process (for the many bad-input cases: no interpreter
    start-up); the answer has the shape of :func:`run_cli`'s."""
    from critic.cli import run

    raw = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            mock.patch.object(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw))):
        code = run(list(args))
    return subprocess.CompletedProcess(["critic", *args], code, out.getvalue(), err.getvalue())


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
#: Browser tests run wherever Debian's chromium + chromium-driver are installed, and always
#: in CI (.ci/run installs them), where their absence must fail rather than skip.
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


@contextlib.contextmanager
def headless_chromium(profile: Path, *, phone: bool = False) -> Iterator[object]:
    """A Selenium driver for headless Chromium (no network chatter; optional phone screen)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if phone:
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2}})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or ""), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(bundle: Path, *options: str, env: dict[str, str] | None = None
            ) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``critic serve BUNDLE OPTIONS`` in its own process on a free loopback port, ready:
    the process and its base URL. Killed on the way out if it is still running. ``env``
    adds to the environment."""
    import httpx

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "critic", "serve", str(bundle), "--port",
                                str(port), *options],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            process.kill()
            pytest.fail("critic serve did not become ready: " + (process.stdout.read() or ""))
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
