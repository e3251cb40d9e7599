"""Bundles edited by hand or by an attacker, with the manifest re-hashed to match (issue 12,
items 8 and 14): every one is refused with a BundleError naming what is wrong; none crashes,
hangs, reads outside the folder or reads a file bigger than the manifest records."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bundle import tiny_options, tiny_reviews

from critic._train import train_bundle
from critic.bundle import read_bundle
from critic.errors import BundleError


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bundle(tiny_options(), tmp_path_factory.mktemp("bundle-hostile") / "model",
                        reviews=tiny_reviews()).path


@pytest.fixture
def bundle(original: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(original, tmp_path / "model"))


def rehash(folder: Path, manifest_files: Any = None) -> None:
    """Make manifest.json match the files as they are now (as a careful attacker would)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest_files is None:
        manifest_files = {name: {"sha256": hashlib.sha256((folder / name).read_bytes())
                                 .hexdigest(), "bytes": (folder / name).stat().st_size}
                          for name in manifest["files"]}
    manifest["files"] = manifest_files
    (folder / "manifest.json").write_text(json.dumps(manifest))


def edit_json(folder: Path, name: str, change: Callable[[Any], Any]) -> None:
    data = json.loads((folder / name).read_text())
    (folder / name).write_text(json.dumps(change(data)))
    rehash(folder)


def replace(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return data | changes


@pytest.mark.parametrize(("name", "change", "message"), [
    ("config.json", lambda c: [c], "not a critic bundle configuration"),
    ("config.json", lambda c: replace(c, tokenizer="critic.text"), "tokenizer: input should be"),
    ("config.json", lambda c: replace(c, model="dense"), "model: input should be"),
    ("config.json", lambda c: replace(c, labels=["neg", "pos", "meh"]),
     "names 3 labels but"),
    ("config.json", lambda c: replace(c, labels=["only"]), "labels: list should"),
    ("config.json", lambda c: replace(c, labels=[None, 1]), "labels.0"),
    ("config.json", lambda c: replace(c, labels=["same", "same"]), "labels: value error"),
    ("config.json", lambda c: replace(c, threshold="0.5"), "threshold: input should be"),
    ("vocabulary.json", lambda v: replace(v, words={"a": 1}), "words: input should be"),
    ("vocabulary.json", lambda v: replace(v, counts=["many"]), "counts.0: input should be"),
    ("metrics.json", lambda m: [m], "metrics.json is not a JSON object"),
])
def test_hand_edited_json_is_refused_with_the_field_named(
        bundle: Path, name: str, change: Callable[[Any], Any], message: str) -> None:
    edit_json(bundle, name, change)
    with pytest.raises(BundleError, match=message):
        read_bundle(bundle)


def test_a_unit_length_flag_that_does_not_fit_the_weights_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file
    from test_bundle import toy_recipe, with_settings

    from critic.models.nblr.config import LinearConfig

    options = with_settings(toy_recipe("nblr"), linear=LinearConfig.with_unit_length())
    path = train_bundle(options, tmp_path / "model", reviews=tiny_reviews()).path
    for flag, message in (("yes", "must be true or false"), (False, "do not fit")):
        edit_json(path, "config.json", lambda c, flag=flag: c | {"model": c["model"] | {
            "unit_length": flag}})
        with pytest.raises(BundleError, match=message):
            read_bundle(path)
    edit_json(path, "config.json", lambda c: c | {"model": c["model"] | {"unit_length": True}})
    weights = load_file(path / "weights.safetensors")
    del weights["linear.squared_ratios"]
    save_file(weights, path / "weights.safetensors")
    rehash(path)
    with pytest.raises(BundleError, match="do not fit"):
        read_bundle(path)


@pytest.mark.parametrize(("files", "message"), [
    (["config.json"], "files: input should be a valid dictionary"),
    ({"config.json": "abc"}, "files.config.json: input should be"),
])
def test_a_malformed_manifest_is_refused(bundle: Path, files: object, message: str) -> None:
    rehash(bundle, files)
    with pytest.raises(BundleError, match=message):
        read_bundle(bundle)


def test_a_manifest_nested_100000_deep_is_refused(bundle: Path) -> None:
    (bundle / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BundleError, match=r"manifest\.json nests JSON too deeply"):
        read_bundle(bundle)


def test_a_config_nested_100000_deep_is_refused(bundle: Path) -> None:
    (bundle / "config.json").write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    rehash(bundle)
    with pytest.raises(BundleError, match=r"config\.json nests JSON too deeply"):
        read_bundle(bundle)


def test_a_link_to_a_file_outside_the_bundle_is_refused(bundle: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.safetensors"
    (bundle / "weights.safetensors").rename(outside)
    (bundle / "weights.safetensors").symlink_to(outside)  # same bytes, same checksum
    with pytest.raises(BundleError, match=r"weights\.safetensors is a symbolic link"):
        read_bundle(bundle)


def test_a_link_to_a_device_is_refused(bundle: Path) -> None:
    (bundle / "vocabulary.json").unlink()
    (bundle / "vocabulary.json").symlink_to("/dev/zero")
    with pytest.raises(BundleError, match=r"vocabulary\.json is a symbolic link"):
        read_bundle(bundle)


def test_a_fifo_is_refused_without_hanging(bundle: Path) -> None:
    (bundle / "config.json").unlink()
    os.mkfifo(bundle / "config.json")
    with pytest.raises(BundleError, match=r"config\.json is a FIFO"):
        read_bundle(bundle)


def test_a_file_larger_than_the_manifest_says_is_not_read(bundle: Path) -> None:
    with open(bundle / "vocabulary.json", "r+b") as handle:
        handle.truncate(1_500_000_000)  # sparse: 1.5 GB that take no disk
    with pytest.raises(BundleError, match="is 1,500,000,000 bytes, not the"):
        read_bundle(bundle)


LEAVES = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats() | st.text(max_size=5)
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data[:3]):
            found += _paths(value, (*prefix, index))
    return found


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    data[path[0]] = _set(data[path[0]], path[1:], value)
    return data


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["config.json", "vocabulary.json", "metrics.json"]),
       choice=st.integers(0, 10**6), value=VALUES)
def test_any_edit_of_any_field_is_read_or_refused_cleanly(
        original: Path, tmp_path_factory: pytest.TempPathFactory, name: str, choice: int,
        value: Any) -> None:
    folder = Path(shutil.copytree(original, tmp_path_factory.mktemp("edit") / "model"))
    data = json.loads((folder / name).read_text())
    paths = _paths(data)
    edit_json(folder, name, lambda d: _set(d, paths[choice % len(paths)], value))
    try:
        read_bundle(folder)
    except BundleError as exc:
        assert str(folder) in str(exc)
