"""The file layout is the data flow: a module imports only modules of its own stage or earlier
ones, never a later stage (lazy imports inside functions and TYPE_CHECKING imports count)."""

from __future__ import annotations

import ast
from pathlib import Path

import critic

SRC = Path(critic.__file__).parent
#: The stages in data-flow order; a module belongs to the first prefix that matches it.
STAGES = [
    ("critic.errors", "critic._atomic", "critic._reading", "critic._startup", "critic._shim",
     "critic._process"),
    ("critic.text",),
    ("critic.datasets",),
    ("critic.features", "critic.hashing", "critic.word_vectors"),
    ("critic.metrics", "critic.figures"),
    # What every family shares: the inference type's base, scikit-learn's binary face, the
    # held-out rules, options, spilling a stream, the one result; joining a Ray cluster.
    ("critic.models.base", "critic.models.binary"),
    ("critic.fitting", "critic.cluster.connect", "critic.cluster.shards",
     "critic.cluster.pools"),
    # The families (one folder each), then the registry that lists them.
    ("critic.models.family", "critic.models.network", "critic.models.nblr"),
    ("critic.models.registry", "critic.models"),
    ("critic.estimators",),
    ("critic.bundle",),
    ("critic.predict", "critic.prediction_files", "critic.compress"),
    ("critic.evaluation",),
    ("critic.runs",),
    ("critic._train", "critic.cluster"),
    # Import paths kept for one release (they forward to the modules above).
    ("critic.train", "critic.classifier", "critic.models.config", "critic.models.linear"),
    ("critic.experiments",),
    ("critic.serve",),
    ("critic.console",),
    ("critic.cli", "critic.__main__"),
]
#: The model families: each a folder of its own under ``critic.models``.
FAMILIES = ("critic.models.network", "critic.models.nblr")


def stage_of(module: str) -> int:
    for index, prefixes in enumerate(STAGES):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} belongs to no stage: add it to STAGES")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("critic"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("critic")}
    return names - {"critic"}  # the package itself: its version, nothing of a stage


def test_no_import_runs_back_up_the_data_flow() -> None:
    backwards = []
    for path in sorted(SRC.rglob("*.py")):
        name = module_name(path)
        if name == "critic":
            continue  # the facade: it names the public API lazily
        for target in imported(path):
            if stage_of(target) > stage_of(name):
                backwards.append(f"{name} imports {target}")
    assert backwards == []


def test_every_module_has_a_stage() -> None:
    for path in SRC.rglob("*.py"):
        if module_name(path) != "critic":
            stage_of(module_name(path))


def test_families_never_import_the_trainer_or_each_other() -> None:
    """A family owns its model: it asks nothing of the trainer (which asks the families) and
    borrows nothing from another family, so adding one is one folder and one line."""
    crossings = []
    for family in FAMILIES:
        folder = SRC / family.removeprefix("critic.").replace(".", "/")
        for path in sorted(folder.rglob("*.py")):
            for target in imported(path):
                other = any(target == f or target.startswith(f + ".") for f in FAMILIES
                            if f != family)
                if other or stage_of(target) >= stage_of("critic.models.registry"):
                    crossings.append(f"{module_name(path)} imports {target}")
    assert crossings == []
