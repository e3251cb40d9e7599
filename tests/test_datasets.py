"""The data layer on tiny archives: parsing, hostile input, caching, resolution and download."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_COUNTS, TINY_REVIEWS, write_tiny_archive, write_tiny_folder

from critic.datasets import corpus as corpus_module
from critic.datasets.corpus import cache_path, load_corpus
from critic.datasets.fetch import download_archive, resolve_source
from critic.errors import DataError


def load_tiny(source: Path, **kwargs: object):
    return load_corpus(source, expected=TINY_COUNTS, **kwargs)


def test_archive_is_parsed_into_a_corpus(tmp_path: Path) -> None:
    corpus = load_tiny(write_tiny_archive(tmp_path / "tiny.tar.gz"))
    assert corpus.counts() == {"train": {"neg": 2, "pos": 2}, "test": {"neg": 1, "pos": 1},
                               "unsup": {"unlabelled": 1}}
    # Fixed order: split, then label (neg before pos), then id.
    assert corpus.splits.tolist() == ["train"] * 4 + ["test"] * 2 + ["unsup"]
    assert corpus.labels.tolist() == [0, 0, 1, 1, 0, 1, -1]
    assert corpus.ratings.tolist() == [2, 1, 9, 8, 3, 10, 0]
    assert corpus.ids.tolist() == [0, 1, 0, 1, 0, 0, 0]
    assert corpus.texts[2] == TINY_REVIEWS["train/pos"][0][2]  # raw text, <br /> kept
    assert len(corpus.checksum) == 64


def test_folder_and_archive_give_the_same_reviews(tmp_path: Path) -> None:
    from_archive = load_tiny(write_tiny_archive(tmp_path / "tiny.tar.gz"))
    folder = write_tiny_folder(tmp_path / "extracted")
    for source in (folder, folder.parent):  # the aclImdb folder or its parent
        from_folder = load_tiny(source)
        assert from_folder.texts == from_archive.texts
        assert np.array_equal(from_folder.labels, from_archive.labels)


def test_subset_keeps_one_split(tmp_path: Path) -> None:
    corpus = load_tiny(write_tiny_archive(tmp_path / "tiny.tar.gz"))
    test = corpus.subset("test")
    assert test.texts == ["Dull, dull, dull.", "Wonderful and moving."]
    with pytest.raises(ValueError, match="split"):
        corpus.subset("validation")


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize("member", [
    _member("../evil.txt"),
    _member("aclImdb/../../evil.txt"),
    _member("/etc/evil.txt"),
    _member("aclImdb/train/pos/9_9.txt", tarfile.SYMTYPE, "/etc/passwd"),
    _member("aclImdb/train/pos/9_9.txt", tarfile.LNKTYPE, "aclImdb/README"),
])
def test_hostile_members_are_refused(tmp_path: Path, member: tarfile.TarInfo) -> None:
    def add(archive: tarfile.TarFile) -> None:
        archive.addfile(member, io.BytesIO(b"") if member.isfile() else None)

    archive = write_tiny_archive(tmp_path / "hostile.tar.gz", extra=add)
    with pytest.raises(DataError, match="refusing"):
        load_tiny(archive)
    assert not cache_path_exists()


def cache_path_exists() -> bool:
    from critic.datasets.fetch import critic_home

    return any((critic_home() / "corpus").glob("*.arrow")) if (critic_home() / "corpus"
                                                                ).exists() else False


def test_missing_split_names_the_folder(tmp_path: Path) -> None:
    archive = write_tiny_archive(tmp_path / "partial.tar.gz", drop="test/neg")
    with pytest.raises(DataError, match=r"test/neg: 0 \(expected 1\)"):
        load_tiny(archive)


def test_real_counts_are_required_by_default(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train/pos: 2 \(expected 12,500\)"):
        load_corpus(write_tiny_archive(tmp_path / "tiny.tar.gz"))


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    whole = write_tiny_archive(tmp_path / "tiny.tar.gz").read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="truncated or not a gzip"):
        load_tiny(truncated)


def test_not_a_gzip_file_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_text("this is not an archive")
    with pytest.raises(DataError, match=r"bogus.tar.gz is truncated or not a gzip"):
        load_tiny(bogus)


def test_invalid_utf8_names_the_review(tmp_path: Path) -> None:
    archive = write_tiny_archive(tmp_path / "latin1.tar.gz",
                                 raw={"aclImdb/train/pos/7_7.txt": "café".encode("latin-1")})
    counts = TINY_COUNTS | {"train/pos": 3}
    with pytest.raises(DataError, match=r"train/pos/7_7.txt .* not valid UTF-8"):
        load_corpus(archive, expected=counts)


def test_second_load_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = write_tiny_archive(tmp_path / "tiny.tar.gz")
    first = load_tiny(archive)
    assert cache_path(first.checksum).exists()

    def must_not_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the source was parsed again")

    monkeypatch.setattr(corpus_module, "read_reviews", must_not_parse)
    second = load_tiny(archive)
    assert second.texts == first.texts
    assert np.array_equal(second.ratings, first.ratings)
    assert second.splits.tolist() == first.splits.tolist()


def test_a_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    archive = write_tiny_archive(tmp_path / "tiny.tar.gz")
    first = load_tiny(archive)
    cache = cache_path(first.checksum)
    cache.write_bytes(cache.read_bytes()[:100])  # as if a crash had cut it short
    again = load_tiny(archive)
    assert again.texts == first.texts
    assert cache.stat().st_size > 100


def test_a_changed_source_gets_its_own_cache(tmp_path: Path) -> None:
    archive = tmp_path / "tiny.tar.gz"
    first = load_tiny(write_tiny_archive(archive))
    write_tiny_archive(archive, raw={"aclImdb/train/unsup/1_0.txt": b"another one"})
    second = load_corpus(archive, expected=TINY_COUNTS | {"train/unsup": 2})
    assert second.checksum != first.checksum
    assert len(second) == len(first) + 1


def test_unwritable_cache_folder_is_a_clear_error(tmp_path: Path) -> None:
    archive = write_tiny_archive(tmp_path / "tiny.tar.gz")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(DataError, match=r"cannot write the corpus cache .* CRITIC_HOME"):
        load_tiny(archive, cache_dir=blocker / "corpus")


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write_tiny_archive(tmp_path / "explicit.tar.gz")
    from_env = write_tiny_archive(tmp_path / "env.tar.gz")
    home = tmp_path / "home"
    home.mkdir()
    cached = write_tiny_archive(home / "aclImdb_v1.tar.gz")
    monkeypatch.setenv("CRITIC_HOME", str(home))
    assert resolve_source(explicit) == explicit
    monkeypatch.setenv("CRITIC_DATA", str(from_env))
    assert resolve_source(None) == from_env
    assert resolve_source(explicit) == explicit
    monkeypatch.delenv("CRITIC_DATA")
    assert resolve_source(None, download=False) == cached


def test_missing_paths_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match=r"nowhere.tar.gz' does not exist"):
        resolve_source(tmp_path / "nowhere.tar.gz")
    monkeypatch.setenv("CRITIC_DATA", str(tmp_path / "gone"))
    with pytest.raises(DataError, match=r"CRITIC_DATA .* does not exist"):
        resolve_source(None)
    monkeypatch.delenv("CRITIC_DATA")
    with pytest.raises(DataError, match="no IMDB data found"):
        resolve_source(None, download=False)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over ``tmp_path/www`` (no traffic leaves the machine)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_download_verifies_the_checksum(http_server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_server
    archive = write_tiny_archive(root / "aclImdb_v1.tar.gz")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    target = tmp_path / "cache" / "aclImdb_v1.tar.gz"
    assert download_archive(f"{url}/aclImdb_v1.tar.gz", target, sha256=digest,
                            progress=False) == target
    assert target.read_bytes() == archive.read_bytes()
    assert not target.with_name(target.name + ".part").exists()


def test_download_with_a_wrong_checksum_leaves_nothing(http_server: tuple[str, Path],
                                                       tmp_path: Path) -> None:
    url, root = http_server
    write_tiny_archive(root / "aclImdb_v1.tar.gz")
    target = tmp_path / "cache" / "aclImdb_v1.tar.gz"
    with pytest.raises(DataError, match="expected 0000"):
        download_archive(f"{url}/aclImdb_v1.tar.gz", target, sha256="0" * 64, progress=False)
    assert list(target.parent.iterdir()) == []


def test_download_failure_is_a_clear_error(http_server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = http_server
    target = tmp_path / "cache" / "aclImdb_v1.tar.gz"
    with pytest.raises(DataError, match=r"could not download .*404"):
        download_archive(f"{url}/missing.tar.gz", target, sha256="0" * 64, progress=False)
    assert list(target.parent.iterdir()) == []


def test_gzip_of_garbage_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.tar.gz"
    bad.write_bytes(gzip.compress(b"\x01" * 2048))
    with pytest.raises(DataError, match="not a gzip-compressed tar"):
        load_tiny(bad)


@pytest.mark.parametrize("content", [b"", b"not a gzip archive at all"])
def test_data_info_on_a_bad_archive_exits_2(tmp_path: Path, content: bytes) -> None:
    from conftest import invoke

    bad = tmp_path / "aclImdb_v1.tar.gz"
    bad.write_bytes(content)
    done = invoke("data", "info", "--data", str(bad))
    assert done.returncode == 2
    assert "truncated or not a gzip-compressed tar archive" in done.stderr
    assert "Traceback" not in done.stderr


def test_data_info_on_a_wrong_layout_exits_2(tmp_path: Path) -> None:
    from conftest import run_cli

    done = run_cli("data", "info", "--data", str(write_tiny_archive(tmp_path / "tiny.tar.gz")))
    assert done.returncode == 2 and "does not have the aclImdb layout" in done.stderr
