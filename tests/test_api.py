"""The public API stays what we mean it to be, and importing it stays cheap."""

import subprocess
import sys

import pytest

import critic


def test_public_api() -> None:
    assert sorted(critic.__all__) == [
        "BundleError", "Classifier", "ConfigError", "Corpus", "CriticError", "DataError",
        "Featurizer", "History", "NBLogisticRegression", "NetworkClassifier", "NetworkConfig",
        "TrainConfig", "TrainOptions", "TrainResult", "Vocabulary", "__version__", "load",
        "load_corpus", "multi_hot", "options_for", "recipe", "tokenize", "train_bundle"]
    for name in critic.__all__:
        assert hasattr(critic, name)
    with pytest.raises(AttributeError):
        critic.no_such_name  # noqa: B018


def test_user_errors_are_one_hierarchy() -> None:
    from critic import errors

    assert issubclass(critic.DataError, ValueError)
    assert issubclass(critic.ConfigError, ValueError)
    for name in ("DataError", "ConfigError", "BundleError", "ReportError", "OutputError",
                 "OutputExistsError"):
        assert issubclass(getattr(errors, name), critic.CriticError)
    assert issubclass(errors.OutputExistsError, errors.OutputError)


HEAVY = ("pyarrow", "rich", "torch", "sklearn", "matplotlib")
PROBE = """
import atexit, sys
atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))
%s
"""


@pytest.mark.parametrize("code", [
    "import critic",
    "from critic.cli import main; sys.argv = ['critic', '--version']; main()",
    "from critic.cli import main; sys.argv = ['critic', '--help']; main()",
])
def test_start_up_imports_nothing_heavy(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE % (HEAVY, code)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("code", [
    "import critic.predict, critic.bundle, critic.features",  # what predicting needs
    # what the book's run needs
    "import critic.models.network.classifier, critic.experiments.reproduce",
])
def test_predicting_and_reproducing_never_import_scikit_learn(code: str) -> None:
    """scikit-learn costs 0.7 s to import: only its estimators, training and metrics use it."""
    done = subprocess.run([sys.executable, "-c", PROBE % (("sklearn",), code)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_version_and_help() -> None:
    from conftest import run_cli

    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"critic {critic.__version__}"
    commands = run_cli("--help").stdout
    for name in ("reproduce", "train", "evaluate", "predict", "explain", "sweep", "cv",
                 "leaderboard", "report", "serve", "data"):
        assert name in commands


def test_an_interrupt_exits_130_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C must not look like success to `critic train … && deploy`."""
    from conftest import invoke

    import critic.datasets.imdb

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(critic.datasets.imdb, "describe", interrupted)
    done = invoke("data", "info")
    assert done.returncode == 130 and "critic: interrupted" in done.stderr


def test_errors_name_the_option_to_change(tmp_path) -> None:
    from conftest import invoke

    done = invoke("train", "--input", str(tmp_path / "x.csv"), "--model", "nblr", "--units", "8")
    assert done.returncode == 2
    assert "nblr has no units (that is network's) (see --units)" in done.stderr
