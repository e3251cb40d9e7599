"""The public API stays what we mean it to be."""

import critic


def test_public_api() -> None:
    assert sorted(critic.__all__) == [
        "ConfigError", "Corpus", "CriticError", "DataError", "__version__", "load",
        "load_corpus"]
    for name in critic.__all__:
        assert hasattr(critic, name)


def test_user_errors_are_value_errors() -> None:
    assert issubclass(critic.DataError, ValueError)
    assert issubclass(critic.ConfigError, ValueError)
    assert issubclass(critic.DataError, critic.CriticError)


def test_version_and_help() -> None:
    from conftest import run_cli

    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"critic {critic.__version__}"
    commands = run_cli("--help").stdout
    for name in ("reproduce", "train", "evaluate", "predict", "explain", "sweep", "cv",
                 "report", "serve", "data"):
        assert name in commands
