"""The file layout is the data flow: a module imports only modules of its own stage or earlier
ones, never a later stage (lazy imports inside functions and TYPE_CHECKING imports count)."""

from __future__ import annotations

import ast
from pathlib import Path

import critic

SRC = Path(critic.__file__).parent
#: The stages in data-flow order; a module belongs to the first prefix that matches it.
STAGES = [
    ("critic.errors", "critic._atomic", "critic._reading", "critic._startup"),
    ("critic.text",),
    ("critic.datasets",),
    ("critic.features", "critic.hashing"),
    ("critic.models",),
    ("critic.classifier",),
    ("critic.estimators",),
    ("critic.bundle",),
    ("critic.predict", "critic.prediction_files"),
    ("critic.evaluation",),
    ("critic.figures", "critic.runs"),
    ("critic.train_streaming", "critic.cluster", "critic.train"),
    ("critic.experiments",),
    ("critic.serve",),
    ("critic.console",),
    ("critic.cli", "critic.__main__"),
]


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
