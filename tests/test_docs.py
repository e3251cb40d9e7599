"""The documentation's examples run, its site builds with --strict and renders in a browser.

Every ```` ```console ```` and ```` ```python ```` block of the README and of ``docs/`` runs
here, page by page in one folder holding small stand-ins for what the pages name: ``model``
(the book's network) and ``nblr`` bundles trained once a session on a few hundred generated
reviews, ``reviews.csv`` (labelled), ``stars.csv`` (1–5 stars), ``reviews.jsonl`` and
``new.txt``. In a console block
each ``$ `` line is a shell command (``critic`` is this checkout's: a lone ``critic …``
runs through its entry point in the test's process, a pipeline in bash); a command that writes
``--output NAME`` replaces the stand-in of that name. ``critic serve`` starts the service on a
free port, and later commands of the page reach it where they say ``localhost:8000``. Python
blocks of one page share one namespace, as a notebook's cells do. Output lines are not
compared: the stand-ins are not IMDB models.

A fence's title says when an example needs more than that:

- ``title="with the IMDB data"``: runs where ``CRITIC_DATA`` names the archive;
- ``title="slow: REASON"``: trains on all of IMDB, so it runs in the full tier (marked slow);
- ``title="not tested: REASON"``: skipped, with that reason.

The docstrings' ``Example:`` blocks run as doctests of their modules.
"""

from __future__ import annotations

import contextlib
import csv
import doctest
import importlib
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import headless_chromium, invoke, needs_chromium, serving, shared_folder

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```(?P<lang>console|python)(?P<info>[^\n]*)\n(?P<body>.*?)^```\s*$",
                   re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="(?P<title>[^"]*)"')
IMDB_TITLE = "with the IMDB data"
#: Read before conftest's autouse fixture hides it from unit tests: the pages are the user's view.
_DATA = os.environ.get("CRITIC_DATA") or ""


@dataclass
class Example:
    page: Path
    line: int
    lang: str
    body: str
    title: str = ""

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass
class Page:
    path: Path
    examples: list[Example] = field(default_factory=list)


def _examples(page: Path) -> list[Example]:
    text = page.read_text("utf-8")
    found = []
    for match in FENCE.finditer(text):
        title = TITLE.search(match["info"])
        found.append(Example(page, text.count("\n", 0, match.start()) + 1, match["lang"],
                             match["body"], title["title"] if title else ""))
    return found


ALL = [example for page in PAGES for example in _examples(page)]


def test_the_pages_have_examples() -> None:
    """The extractor finds the README's and the tutorial's examples (a broken pattern would
    silently test nothing)."""
    pages = {example.page.name for example in ALL}
    assert {"README.md", "index.md"} <= pages
    assert sum(example.lang == "python" for example in ALL) >= 8
    assert sum(example.lang == "console" for example in ALL) >= 20


def test_every_title_is_understood() -> None:
    """A fence title is either a plain caption or one of the three markers, spelled right."""
    for example in ALL:
        title = example.title
        assert title in ("", IMDB_TITLE) or title.startswith(("slow: ", "not tested: ")), \
            f"{example.id}: unknown example title {title!r}"


# ---------------------------------------------------------------------------------------
# The stand-ins: a few hundred generated reviews and two small bundles, made once a session.

_POSITIVE = "wonderful brilliant moving beautiful great superb touching funny loved best".split()  # noqa: SIM905
_NEGATIVE = "awful boring dull terrible waste worst bad pointless stupid hated".split()  # noqa: SIM905
_FILLER = "the film movie plot cast acting story and a was it of director ending music".split()  # noqa: SIM905


def _write_reviews(folder: Path, count: int = 400) -> None:
    rng = random.Random(0)
    rows = []
    for index in range(count):
        positive = index % 2 == 1
        words = rng.choices(_FILLER, k=12) + rng.choices(_POSITIVE if positive else _NEGATIVE,
                                                         k=3) + rng.choices(_FILLER, k=2)
        rng.shuffle(words)
        rows.append((f"r{index}", " ".join(words).capitalize() + ".", "pos" if positive
                     else "neg"))
    with open(folder / "reviews.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text", "label"])
        writer.writerows(rows)
    with open(folder / "reviews.jsonl", "w", encoding="utf-8") as out:
        for review_id, text, label in rows[:100]:
            out.write(json.dumps({"id": review_id, "text": text, "label": label}) + "\n")
    (folder / "new.txt").write_text("\n".join(text for _, text, _ in rows[:50]) + "\n")
    _write_stars(folder, rng)


#: Words that say how many stars a generated review gives.
_STARS = {1: "awful worst hated", 2: "boring dull weak", 3: "fine okay average",
          4: "good enjoyable nice", 5: "superb brilliant wonderful"}


def _write_stars(folder: Path, rng: random.Random, count: int = 300) -> None:
    with open(folder / "stars.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        for index in range(count):
            stars = index % 5 + 1
            words = rng.choices(_FILLER, k=10) + rng.choices(_STARS[stars].split(), k=3)
            rng.shuffle(words)
            writer.writerow([" ".join(words).capitalize() + ".", stars])


def _critic(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "critic", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=_environment())
    assert done.returncode == 0, done.stderr


def _environment() -> dict[str, str]:
    """This checkout's critic first, as the command ``critic`` and as the package."""
    env = os.environ.copy()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                      env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="session")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files and bundles the pages' examples use, made once for every worker (the pages
    run on both, see conftest's scheduler)."""
    with shared_folder(tmp_path_factory, "docs-stand-ins") as folder:
        if not (folder / "done").exists():
            _write_reviews(folder)
            _critic("train", "--input", "reviews.csv", "--output", "model", "--epochs", "8",
                    cwd=folder)
            _critic("train", "--model", "nblr", "--input", "reviews.csv", "--output", "nblr",
                    cwd=folder)
            (folder / "done").touch()
    return folder


# ---------------------------------------------------------------------------------------
# Running a page.

def _commands(body: str) -> list[str]:
    """The ``$ `` lines of a console block, with ``\\`` continuations joined."""
    commands, current = [], None
    for line in body.splitlines():
        if current is not None:
            current = current[:-1] + " " + line.strip()
        elif line.startswith("$ "):
            current = line[2:]
        if current is not None and not current.endswith("\\"):
            commands.append(current)
            current = None
    return commands


class PageRun:
    """One page's folder, namespace and (once started) service."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.namespace: dict[str, Any] = {"__name__": "__docs__"}
        self.stack = contextlib.ExitStack()
        self.url: str | None = None

    def console(self, example: Example) -> None:
        for command in _commands(example.body):
            self.shell(command, example)

    def shell(self, command: str, example: Example) -> None:
        words = command.split("#", 1)[0].split()
        if words[:2] == ["critic", "serve"]:
            bundle = self.folder / words[2]
            _, self.url = self.stack.enter_context(serving(bundle, *words[3:]))
            return
        output = re.search(r"--output[ =](\S+)", command)
        if output:
            target = self.folder / output.group(1)
            if target.is_dir():
                shutil.rmtree(target)  # the stand-in this command makes for real
        if self.url:
            command = command.replace("localhost:8000", self.url.removeprefix("http://"))
        arguments = _critic_arguments(command)
        if arguments is not None:  # the console script's own entry point, in this process
            with contextlib.chdir(self.folder):
                done = invoke(*arguments)
        else:
            done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=self.folder,
                                  capture_output=True, text=True, timeout=600,
                                  env=_environment())
        assert done.returncode == 0, (f"{example.id}: `{command}` exited {done.returncode}:\n"
                                      f"{done.stderr[-2000:]}")
        if words[0] == "curl":
            json.loads(done.stdout)  # the service answered JSON, not an error page

    def python(self, example: Example) -> None:
        previous = Path.cwd()
        os.chdir(self.folder)
        try:
            code = compile(example.body, example.id, "exec")
            exec(code, self.namespace)
        finally:
            os.chdir(previous)


def _critic_arguments(command: str) -> list[str] | None:
    """The arguments of a lone ``critic …`` command (no pipe, redirection, variable or
    substitution), which runs in this process as :func:`conftest.invoke` runs the command
    line: the same entry point without an interpreter's start-up, a second or more a command
    (PyTorch's import alone is 1.4 s). Anything else is for bash."""
    operators = shlex.shlex(command, posix=True, punctuation_chars=True)  # unquoted |, >, …
    operators.commenters = "#"
    words = shlex.split(command, comments=True)
    if any(sign in command for sign in "$`~*") or not words or words[0] != "critic" or any(
            set(token) <= set(operators.punctuation_chars) for token in operators):
        return None
    return words[1:]


def _skip_reason(example: Example, have_imdb: bool, run_slow: bool) -> str | None:
    if example.title.startswith("not tested: "):
        return example.title
    if example.title.startswith("slow: ") and not run_slow:
        return example.title + " (the full tier runs it)"
    if (example.title == IMDB_TITLE or example.title.startswith("slow: ")) and not have_imdb:
        return "needs the IMDB data: set CRITIC_DATA"
    return None


def _run_page(page: Path, stand_ins: Path, tmp_path: Path, *, slow: bool) -> list[str]:
    """Run a page's examples in order; the skipped ones, with their reasons."""
    folder = tmp_path / "work"
    shutil.copytree(stand_ins, folder)
    have_imdb = bool(os.environ.get("CRITIC_DATA")) and Path(os.environ["CRITIC_DATA"]).exists()
    skipped = []
    run = PageRun(folder)
    with run.stack:
        for example in _examples(page):
            reason = _skip_reason(example, have_imdb, slow)
            if reason:
                skipped.append(f"{example.id}: {reason}")
                continue
            if example.lang == "console":
                run.console(example)
            else:
                run.python(example)
    return skipped


def _has_slow(page: Path) -> bool:
    return any(example.title.startswith("slow: ") for example in _examples(page))


PAGES_WITH_EXAMPLES = [page for page in PAGES if _examples(page)]


@pytest.fixture
def imdb_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
              ) -> None:
    """The real data, when there is some, with a cache shared by the session's pages."""
    if _DATA and Path(_DATA).exists():
        monkeypatch.setenv("CRITIC_DATA", str(Path(_DATA).resolve()))
        monkeypatch.setenv("CRITIC_HOME", str(_shared_home(tmp_path_factory)))


def _shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for every page on every worker (critic writes its cache atomically)."""
    with shared_folder(tmp_path_factory, "docs-home") as folder:
        return folder


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_of(page: Path, stand_ins: Path, tmp_path: Path, imdb_home: None) -> None:
    skipped = _run_page(page, stand_ins, tmp_path, slow=False)
    if skipped:
        print("\n".join(skipped))  # visible with -rA / -s: which examples waited for more


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES_WITH_EXAMPLES if _has_slow(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_including_slow_of(page: Path, stand_ins: Path, tmp_path: Path,
                                    imdb_home: None) -> None:
    """The full tier: the same pages with the examples that train on all of IMDB."""
    if not _DATA:
        pytest.skip("needs the IMDB data: set CRITIC_DATA")
    _run_page(page, stand_ins, tmp_path, slow=True)


# ---------------------------------------------------------------------------------------
# Docstrings.

def _modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "src" / "critic").rglob("*.py")):
        if "Example:" in path.read_text("utf-8"):
            relative = path.relative_to(ROOT / "src").with_suffix("")
            names.append(".".join(relative.parts))
    return names


#: Modules whose examples need what a docstring cannot hold (the IMDB archive, files on disk,
#: a trained bundle): shown, marked ``+SKIP``, and covered by the tests of those modules.
_SHOWN_ONLY = {"critic.datasets.corpus": "the IMDB archive",
               "critic.datasets.fetch": "the IMDB archive",
               "critic.datasets.imdb": "the IMDB archive",
               "critic.datasets.stream": "a folder of Parquet files",
               "critic.figures": "a trained network's History",
               "critic.predict": "a trained bundle",
               "critic.runs": "a run folder written to disk"}


@pytest.mark.parametrize("module", _modules())
def test_docstring_examples_of(module: str) -> None:
    loaded = importlib.import_module(module)
    result = doctest.testmod(loaded, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module} failed"
    if module not in _SHOWN_ONLY:  # an example that never runs is an example that can drift
        assert result.attempted > 0, f"{module}'s examples are all skipped"


# ---------------------------------------------------------------------------------------
# The site.

@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="needs the docs extra: pip install '.[docs]'")
    output = tmp_path_factory.mktemp("site")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(output)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=_environment())
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"mkdocs build --strict: {time.monotonic() - started:.1f} s")
    return output


def test_site_builds_with_generated_references(site: Path) -> None:
    cli = (site / "reference" / "cli" / "index.html").read_text("utf-8")
    for command in ("reproduce", "train", "evaluate", "predict", "explain", "serve", "data info"):
        assert f"critic {command}" in cli, f"the CLI reference lacks critic {command}"
    assert "--memory-budget" in cli  # an option, from the Typer app
    http = (site / "reference" / "http" / "index.html").read_text("utf-8")
    assert "/v1/predict" in http and "openapi" in http
    python = (site / "reference" / "python" / "index.html").read_text("utf-8")
    assert "predict_proba" in python and "NBLogisticRegression" in python


@needs_chromium
def test_site_renders_in_headless_chromium(site: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with headless_chromium(tmp_path / "profile") as driver:
        for page in ("index.html", "reference/cli/index.html"):
            driver.get((site / page).as_uri())
            nav = WebDriverWait(driver, 20).until(
                ec.presence_of_element_located((By.CSS_SELECTOR, "nav.md-nav--primary")))
            links = [link.get_attribute("textContent").strip()
                     for link in nav.find_elements(By.CSS_SELECTOR, "a.md-nav__link")]
            assert "Command line" in links and "Tutorial" in " ".join(links), links
            assert driver.find_element(By.TAG_NAME, "h1").text
