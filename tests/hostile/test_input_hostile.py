"""Careless and hostile input to the command line and the data readers (issue 12, items 9, 10,
13 and 18): every case ends with one line saying what is wrong and a non-zero exit, never a
traceback, a hang or a crash."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import TINY_COUNTS, invoke, write_tiny_archive, write_tiny_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bundle import tiny_options, tiny_reviews

import critic
from critic._train import train_bundle
from critic.datasets.archive import MAX_REVIEW_BYTES, read_reviews
from critic.errors import DataError


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bundle(tiny_options(), tmp_path_factory.mktemp("input-hostile") / "model",
                        reviews=tiny_reviews()).path


def critic_process(*args: str | bytes, close: int | None = None, stdout: object = None,
                   stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m critic ARGS`` with standard stream ``close`` (0 or 1) closed."""
    return subprocess.run([sys.executable, "-m", "critic", *args], input=stdin,
                          stdout=stdout if stdout is not None else subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120,
                          preexec_fn=(lambda: os.close(close)) if close is not None else None)


def assert_refused(done: subprocess.CompletedProcess[bytes], message: str, code: int = 2
                   ) -> None:
    err = done.stderr.decode()
    assert done.returncode == code, err
    assert message in err and "Traceback" not in err


# 13. Streams that are closed or full, and text that is not UTF-8.

def test_stdin_closed(bundle: Path) -> None:
    assert_refused(critic_process("predict", str(bundle), "-", close=0), "stdin is closed")


def test_stdout_closed(bundle: Path) -> None:
    assert_refused(critic_process("predict", str(bundle), "great", close=1),
                   "standard output is closed", code=1)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_full(bundle: Path) -> None:
    with open("/dev/full", "wb") as full:  # written to, never replaced
        assert_refused(critic_process("predict", str(bundle), "great", stdout=full),
                       "No space left on device", code=1)


def test_a_review_argument_that_is_not_utf8(bundle: Path) -> None:
    assert_refused(critic_process("predict", str(bundle), b"good \xff film"),
                   "review 0 is not valid Unicode text")


def test_json_lines_in_latin1(bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "latin.jsonl").write_bytes('{"text": "café ok"}\n'.encode("latin-1"))
    done = invoke("predict", str(bundle), "--input", str(tmp_path / "latin.jsonl"))
    assert done.returncode == 2 and "row 1 is not valid UTF-8" in done.stderr


def test_json_nested_100000_deep(bundle: Path, tmp_path: Path) -> None:
    deep = '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    assert_refused(critic_process("predict", str(bundle), "-", stdin=deep.encode()),
                   "line 1 nests JSON more than 1,000 levels deep")
    (tmp_path / "deep.jsonl").write_text('{"text": "fine"}\n' + deep)
    done = invoke("predict", str(bundle), "--input", str(tmp_path / "deep.jsonl"))
    assert done.returncode == 2 and "line 2 nests JSON" in done.stderr


def test_outputs_at_a_folder_are_refused(bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "reviews.csv").write_text("text,label\ngreat,1\nawful,0\n")
    folder = tmp_path / "out"
    folder.mkdir()
    done = invoke("predict", str(bundle), "great", "--output", str(folder))
    assert done.returncode == 2 and "is not a regular file" in done.stderr
    done = invoke("evaluate", str(bundle), "--input", str(tmp_path / "reviews.csv"),
                  "--figure", str(folder))
    assert done.returncode == 2 and "is not a regular file" in done.stderr
    assert folder.is_dir() and not any(folder.iterdir())


def test_evaluate_on_one_class(bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "pos.csv").write_text("text,label\ngreat,1\nsuperb,1\n")
    for extra in ((), ("--json",)):
        done = invoke("evaluate", str(bundle), "--input", str(tmp_path / "pos.csv"), *extra)
        assert done.returncode == 0 and "roc_auc" in done.stdout


# 10. Inputs that are not regular files.

def test_inputs_that_are_fifos_or_devices_are_refused(bundle: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.jsonl"
    zero.symlink_to("/dev/zero")
    for source, kind in ((fifo, "a FIFO"), (zero, "a character device")):
        done = invoke("predict", str(bundle), "--input", str(source))
        assert done.returncode == 2 and f"is {kind}" in done.stderr
    done = invoke("data", "info", "--data", str(fifo))
    assert done.returncode == 2 and "is a FIFO" in done.stderr


# 9. Data folders and archives.

def test_a_data_folder_with_a_linked_folder_is_refused(tmp_path: Path) -> None:
    root = write_tiny_folder(tmp_path / "data")
    elsewhere = tmp_path / "elsewhere"
    (root / "train" / "pos").rename(elsewhere)
    (root / "train" / "pos").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DataError, match="is a symbolic link"):
        read_reviews(root, expected=TINY_COUNTS)


def test_a_folder_named_like_a_review_is_refused(tmp_path: Path) -> None:
    root = write_tiny_folder(tmp_path / "data")
    (root / "train" / "pos" / "7_8.txt").mkdir()
    with pytest.raises(DataError, match="is a folder, not a regular file"):
        read_reviews(root, expected=TINY_COUNTS)


def test_an_archive_member_too_large_for_a_review_is_not_read(tmp_path: Path) -> None:
    huge = b"a" * (MAX_REVIEW_BYTES + 1)
    archive = write_tiny_archive(tmp_path / "a.tar.gz", raw={"aclImdb/train/pos/9_9.txt": huge})
    with pytest.raises(DataError, match=f"is {MAX_REVIEW_BYTES + 1:,} bytes"):
        read_reviews(archive, expected=TINY_COUNTS)


MEMBER = st.tuples(
    st.sampled_from(["aclImdb/train/pos/5_7.txt", "aclImdb/test/neg/5_2.txt", "../escape.txt",
                     "/abs/train/pos/1_9.txt", "aclImdb/train/pos/x.txt", "aclImdb/README"]),
    st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                     tarfile.FIFOTYPE, tarfile.CHRTYPE]),
    st.binary(max_size=40) | st.text(max_size=40).map(str.encode))


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=st.lists(MEMBER, max_size=4))
def test_any_archive_is_read_or_refused_cleanly(tmp_path: Path,
                                                members: list[tuple[str, bytes, bytes]]) -> None:
    def add(archive: tarfile.TarFile) -> None:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            info.linkname = "aclImdb/README" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            archive.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

    archive = write_tiny_archive(tmp_path / f"h{abs(hash(str(members)))}.tar.gz", extra=add)
    try:
        read_reviews(archive, expected=TINY_COUNTS)
    except DataError as exc:
        assert str(archive) in str(exc)


# 18. Ids and containers that do not fit.

def test_ids_with_tabs_and_newlines_keep_the_tsv_intact(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "ids.jsonl"
    source.write_text('{"id": "a\\tb\\nc\\\\d", "text": "great"}\n{"id": "e", "text": "awful"}\n')
    done = invoke("predict", str(bundle), "--input", str(source))
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 2
    assert [line.split("\t")[0] for line in lines] == ["a\\tb\\nc\\\\d", "e"]


def test_a_dict_of_reviews_is_refused(bundle: Path) -> None:
    model = critic.load(bundle)
    with pytest.raises(TypeError, match="not a dict"):
        model.predict_proba({"good film": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a set"):
        model.predict_proba({"good film"})  # type: ignore[arg-type]
