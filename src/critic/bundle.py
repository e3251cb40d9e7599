"""Model bundles: one folder with everything that turns raw text into a prediction.

Layout::

    config.json           model (name, type, network shape), feature configuration,
                          tokenizer, labels, threshold, versions, data checksum
    vocabulary.json       the exact vocabulary the model was trained with (plain JSON)
    features.safetensors  n-gram codes and idf weights, when the features have them
    weights.safetensors   the model's tensors (no pickle, no code)
    metrics.json         what was measured at training time
    manifest.json        SHA-256 and size of every file above (and of any figures)

:func:`write_bundle` builds the folder under a temporary name and renames it; :func:`read_bundle`
checks the manifest, the versions and the tensor shapes before anything is used, so a tampered,
truncated or incompatible bundle is refused with a message instead of giving wrong answers.
Loading never executes code from the bundle and needs no PyTorch. What a model stores and how
it scores belongs to its family's inference type (:mod:`critic.models.registry`); this module
only packs, checks and unpacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from critic import __version__
from critic._atomic import write_folder
from critic._reading import read_regular
from critic.errors import BundleError, ConfigError
from critic.features import FeatureConfig, FeatureSpace
from critic.hashing import fitted_feature_space
from critic.models.base import ModelType
from critic.models.registry import model_from_config
from critic.text import TOKENIZER_VERSIONS, Vocabulary

BUNDLE_FORMAT = "critic.bundle"
# 2: any feature configuration, network or linear models; 3: network layers named dense_1 …
# output by the model type (format-2 names followed nn.Sequential's indices).
BUNDLE_VERSION = 3
LABELS = ("negative", "positive")
#: The most labels a bundle may hold (as the data: :data:`critic.datasets.labels.MAX_CLASSES`).
MAX_CLASSES = 1_000
REQUIRED = ("config.json", "vocabulary.json", "weights.safetensors", "metrics.json")


_MAX_MANIFEST_BYTES = 1 << 20


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class ManifestEntry(_Section):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class Manifest(_Section):
    format: Literal["critic.bundle.manifest"]
    files: dict[str, ManifestEntry]


class ModelSection(_Section):
    name: str
    type: str


class FeatureSection(_Section):
    weighting: str
    num_words: int
    ngram_range: list[int] = Field(min_length=2, max_length=2)
    max_ngrams: int
    start_char: int | None
    oov_char: int | None
    sublinear_tf: bool
    hashing: bool = False  # absent from bundles made before critic 0.4
    dimension: int


class TokenizerSection(_Section):
    version: int
    module: str


class BundleConfig(_Section):
    """``config.json``: the parts read back (the rest is kept for the record)."""

    format: Literal["critic.bundle"]
    format_version: int
    critic_version: str
    model: ModelSection
    features: FeatureSection
    tokenizer: TokenizerSection
    # Two labels (negative, positive: the sigmoid's) or more (the softmax's, in order).
    labels: list[str | int | float] = Field(min_length=2, max_length=MAX_CLASSES)
    threshold: float = Field(gt=0.0, lt=1.0)
    training: dict[str, Any]
    data: dict[str, Any]

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: list[str | int | float]) -> list[str | int | float]:
        names = [str(label) for label in labels]
        if len(set(names)) != len(names) or not all(name.strip() for name in names):
            raise ValueError("the labels must be distinct, non-empty names")
        return labels


class VocabularyFile(_Section):
    format: Literal["critic.vocabulary"]
    version: Literal[1]
    words: list[str]
    counts: list[int]
    settings: dict[str, int | None]


@dataclass(frozen=True)
class Bundle:
    """A bundle read from disk and checked."""

    path: Path
    config: dict[str, Any]
    featurizer: FeatureSpace
    model: ModelType
    metrics: dict[str, Any]

    @property
    def threshold(self) -> float:
        return float(self.config["threshold"])

    @property
    def labels(self) -> tuple[str | int | float, ...]:
        """The labels in the model's order: (negative, positive), or the N learned ones."""
        return tuple(self.config.get("labels", LABELS))

    @property
    def vocabulary(self) -> Vocabulary:
        return self.featurizer.vocabulary_

    @property
    def model_name(self) -> str:
        return str(self.config["model"].get("name", self.config["model"]["type"]))


def bundle_bytes(path: str | os.PathLike[str]) -> int:
    """The bytes a bundle folder's files take on disk."""
    return sum(file.stat().st_size for file in Path(path).iterdir() if file.is_file())


def bundle_files(*, name: str, featurizer: FeatureSpace, model: ModelType,
                 metrics: dict[str, Any], training: dict[str, Any], data: dict[str, Any],
                 threshold: float = 0.5, extra: dict[str, bytes] | None = None,
                 labels: Sequence[str | int | float] | None = None) -> dict[str, bytes]:
    """The files of a bundle, by name, manifest included.

    Args:
        name: the model's name (``dense``, ``tfidf-dense``, ``nblr``, …).
        featurizer: the fitted featurizer the model was trained on.
        model: the trained model (its type, configuration and weights).
        metrics: what was measured, in :func:`critic.evaluation.evaluate_probabilities`'s
            shape under ``validation`` and ``test``.
        training: how it was trained (saved for the record).
        data: where the training data came from, e.g. ``{"source": …, "checksum": …}``.
        extra: more files to carry and checksum (figures).
        labels: the labels' names in the model's order, when learned from the data
            (default: negative, positive).
    """
    check_threshold(threshold)
    labels = list(LABELS) if labels is None else list(labels)
    if len(labels) != model.n_classes:
        raise ConfigError(f"{len(labels)} labels for a model of {model.n_classes} classes")
    config = {
        "format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION,
        "critic_version": __version__,
        "model": {"name": name, "type": model.name, **model.to_config()},
        "features": featurizer.config.to_dict() | {"dimension": featurizer.dimension},
        "tokenizer": {"version": featurizer.tokenizer_version_, "module": "critic.text"},
        "labels": labels, "threshold": threshold,
        "training": training, "data": data,
    }
    # N-gram codes are built from positions in the whole vocabulary, so it is kept whole.
    vocabulary = (featurizer.vocabulary_ if len(featurizer.ngrams_)
                  else featurizer.vocabulary_.trimmed())
    files = {
        "config.json": _json(config),
        "vocabulary.json": _json(vocabulary.to_dict()),
        "weights.safetensors": _safetensors(model.weights),
        "metrics.json": _json(metrics),
        **(extra or {}),
    }
    if featurizer.arrays():
        files["features.safetensors"] = _safetensors(featurizer.arrays())
    return _with_manifest(files)


def write_bundle(path: str | os.PathLike[str], files: dict[str, bytes], *,
                 overwrite: bool = False) -> Path:
    """Write ``files`` (from :func:`bundle_files`) as a bundle folder, atomically."""
    return write_folder(Path(path), files, overwrite=overwrite)


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read and check a bundle folder; raise :class:`BundleError` if anything is off.

    Every file must be a regular file inside the folder (no links, FIFOs or devices) of the
    size and SHA-256 the manifest records, checked before it is used; every JSON file must
    fit its schema, and the tensors must be finite float32 of the shapes the model expects.
    """
    folder = Path(path)
    if not os.path.lexists(folder / "manifest.json"):
        what = "is not a critic bundle (no manifest.json)" if folder.is_dir() else "does not exist"
        raise BundleError(f"{folder} {what}; pass the folder written by critic train or "
                          "critic reproduce (runs/NAME/model)")
    blobs = _verified_files(folder, _manifest(folder))
    config = _load_json(blobs, "config.json", folder)
    _check_config(config, folder)
    try:
        featurizer = _featurizer(config, blobs, folder)
        model = model_from_config(config["model"],
                                  _load_tensors(blobs, "weights.safetensors", folder),
                                  featurizer.dimension)
    except (ConfigError, BundleError, KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{folder}: the features, vocabulary and model do not fit together "
                          f"({exc}); the bundle was edited by hand or damaged: retrain it"
                          ) from exc
    if len(config["labels"]) != model.n_classes:
        raise BundleError(f"{folder}: config.json names {len(config['labels'])} labels but "
                          f"the model has {model.n_classes} classes; retrain it")
    metrics = _load_json(blobs, "metrics.json", folder)
    if not isinstance(metrics, dict):
        raise BundleError(f"{folder}/metrics.json is not a JSON object")
    return Bundle(folder, config, featurizer, model, metrics)


def _featurizer(config: dict[str, Any], blobs: dict[str, bytes], folder: Path) -> FeatureSpace:
    settings = {k: v for k, v in config["features"].items() if k != "dimension"}
    arrays = (_load_tensors(blobs, "features.safetensors", folder)
              if "features.safetensors" in blobs else {})
    vocabulary = _load_json(blobs, "vocabulary.json", folder)
    _validate(VocabularyFile, vocabulary, "vocabulary.json", folder)
    featurizer = fitted_feature_space(FeatureConfig.from_dict(settings),
                                      Vocabulary.from_dict(vocabulary), arrays,
                                      tokenizer_version=config["tokenizer"]["version"])
    if config["features"].get("dimension") != featurizer.dimension:
        raise ConfigError(f"config.json says {config['features'].get('dimension')} feature "
                          f"columns but the features make {featurizer.dimension}")
    return featurizer


def with_threshold(path: str | os.PathLike[str], threshold: float) -> Bundle:
    """Store a new decision threshold in the bundle at ``path`` (rewritten atomically)."""
    check_threshold(threshold)
    bundle = read_bundle(path)
    if len(bundle.labels) > 2:
        raise ConfigError(f"{bundle.path} has {len(bundle.labels)} labels: a threshold cuts "
                          "between two; the most probable label is the prediction",
                          parameter="threshold")
    folder = bundle.path
    listed = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]
    blobs = {name: (folder / name).read_bytes() for name in listed}
    config = bundle.config | {"threshold": threshold}
    blobs["config.json"] = _json(config)
    write_bundle(folder, _with_manifest(blobs) | _unlisted(folder, set(listed)), overwrite=True)
    return read_bundle(folder)


def _unlisted(folder: Path, listed: set[str]) -> dict[str, bytes]:
    """The regular files in ``folder`` (and its subfolders) that the manifest does not list
    (``report.html`` from critic report, the user's notes): a rewrite keeps them, unlisted.
    Links and special files are not carried over (they are not the bundle's to copy)."""
    kept = {}
    for parent, _, names in os.walk(folder):  # linked folders are not entered
        for name in sorted(names):
            path = Path(parent) / name
            relative = path.relative_to(folder).as_posix()
            if relative in listed or relative == "manifest.json":
                continue
            if stat.S_ISREG(path.lstat().st_mode):
                kept[relative] = read_regular(path, error=BundleError, follow_links=False)
    return kept


def check_threshold(threshold: Any) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
            0.0 < threshold < 1.0):
        raise ConfigError(f"`threshold` must be a number in (0, 1). Received: {threshold!r}")


def _manifest(folder: Path) -> Manifest:
    raw = read_regular(folder / "manifest.json", error=BundleError, follow_links=False,
                       max_bytes=_MAX_MANIFEST_BYTES)
    manifest = _validate(Manifest, _parse_json(raw, "manifest.json", folder), "manifest.json",
                         folder)
    missing = [name for name in REQUIRED if name not in manifest.files]
    if missing:
        raise BundleError(f"{folder}/manifest.json does not list {', '.join(missing)}")
    return manifest


def _verified_files(folder: Path, manifest: Manifest) -> dict[str, bytes]:
    blobs = {}
    for name, entry in manifest.files.items():
        if Path(name).name != name or name in ("", ".", ".."):
            raise BundleError(f"{folder}/manifest.json names {name!r}, outside the bundle")
        if not os.path.lexists(folder / name):
            raise BundleError(f"{folder}/{name} is missing; the bundle is incomplete")
        # The size is checked before reading: a file swapped for a huge one is never read.
        blob = read_regular(folder / name, error=BundleError, follow_links=False,
                            size=entry.bytes)
        if hashlib.sha256(blob).hexdigest() != entry.sha256:
            raise BundleError(f"{folder}/{name} does not match its checksum in manifest.json: "
                              "the file was changed or damaged; retrain or restore the bundle")
        blobs[name] = blob
    return blobs


def _check_config(config: Any, folder: Path) -> None:
    """The format first (an older bundle is told so, not given a list of fields), then the
    schema, then the tokenizer the features depend on."""
    if not isinstance(config, dict) or config.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{folder}/config.json is not a critic bundle configuration")
    if config.get("format_version") != BUNDLE_VERSION:
        raise BundleError(f"{folder} is bundle format {config.get('format_version')!r}; this "
                          f"critic ({__version__}) reads format {BUNDLE_VERSION}")
    checked = _validate(BundleConfig, config, "config.json", folder)
    if checked.tokenizer.version not in TOKENIZER_VERSIONS:
        raise BundleError(f"{folder} was made with tokenizer version "
                          f"{checked.tokenizer.version!r}; this critic ({__version__}) knows "
                          f"versions {list(TOKENIZER_VERSIONS)}: upgrade critic or retrain "
                          "the model")


def _load_json(blobs: dict[str, bytes], name: str, folder: Path) -> Any:
    return _parse_json(blobs[name], name, folder)


def _parse_json(raw: bytes, name: str, folder: Path) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{folder}/{name} is not valid JSON ({exc})") from exc
    except RecursionError:
        raise BundleError(f"{folder}/{name} nests JSON too deeply to be a critic file"
                          ) from None


_Schema = TypeVar("_Schema", bound=BaseModel)


def _validate(schema: type[_Schema], data: Any, name: str, folder: Path) -> _Schema:
    """``data`` checked against ``schema``; refused with the first wrong field named."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise BundleError(f"{folder}/{name}: {where}: {first['msg'].lower()} (the file was "
                          "edited by hand or damaged; retrain or restore the bundle)") from None


def _load_tensors(blobs: dict[str, bytes], name: str, folder: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        return load(blobs[name])
    except (SafetensorError, ValueError) as exc:
        raise BundleError(f"{folder}/{name} cannot be read ({exc})") from exc


def _with_manifest(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` plus a manifest of their SHA-256 and sizes."""
    manifest = {"format": f"{BUNDLE_FORMAT}.manifest",
                "files": {name: {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
                          for name, blob in sorted(files.items())}}
    return files | {"manifest.json": _json(manifest)}


def _safetensors(weights: dict[str, np.ndarray]) -> bytes:
    from safetensors.numpy import save

    return save({name: np.ascontiguousarray(array) for name, array in weights.items()})


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
