"""The ``critic`` command line: each command parses its options, calls one library function and
prints the result.

Results go to stdout, progress and logs to stderr (:mod:`critic.console`). Exit codes: 0 ok, 1
failure, 2 bad usage or bad input (every :class:`~critic.errors.CriticError`), 130 interrupted.
Library imports happen inside the commands, so ``critic --help`` and ``--version`` start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from critic import __version__
from critic._process import exit_status
from critic.cli import experiments, models

if TYPE_CHECKING:
    from critic.cli.shared import Option

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,  # plain help: Rich is imported only to draw progress
                  help="critic: fast, lean sentiment classification of reviews.")
data_app = typer.Typer(no_args_is_help=True, help="The IMDB dataset: where it is, what it holds.")
app.add_typer(data_app, name="data")
data_app.command("info")(models.data_info)


def _show_version(value: bool) -> None:
    if value:
        print(f"critic {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """critic: fast, lean sentiment classification of reviews."""


def build() -> typer.Typer:
    """The app with every command, in the order ``--help`` lists them, each with the options
    the library lists for it: ``train`` every family's knobs, ``reproduce`` and ``cv`` the
    book network's, ``serve`` every limit, ``pretrain`` Word2Vec's settings. Built again for
    every command line, so a family registered since shows its knobs too."""
    from critic.cli.shared import field_options, knob_options, register, train_knobs
    from critic.experiments.config import PretrainConfig
    from critic.fitting.options import SPLIT_KNOBS
    from critic.models.registry import family_of, recipe_names
    from critic.serve.limits import Limits

    choices = f"{', '.join(recipe_names())}; the options below default to its own settings."
    book = knob_options(k for k in family_of("dense").knobs if k.name != "patience")
    target = knob_options(k for k in SPLIT_KNOBS if k.name == "target")
    commands: list[tuple[Callable[..., None], list[Option]]] = [
        (experiments.reproduce, book),
        (models.train, [("model", str, "dense", "--model", choices),
                        *knob_options(train_knobs().values())]),
        (models.evaluate, []), (models.predict, []), (models.explain, []),
        (models.compress, []),
        (experiments.sweep, target), (experiments.cv, [*book, *target]),
        (experiments.leaderboard, target),
        (experiments.pretrain, field_options(PretrainConfig)), (experiments.report, []),
        (models.serve, field_options(Limits))]
    app.registered_commands.clear()
    for command, options in commands:
        register(app, command, options)
    return app


def run(argv: list[str]) -> int:
    """Run one command line; return its exit code (:func:`critic._process.exit_status` says
    which) — what :func:`main` exits with; tests call this in-process."""
    from critic.cli.shared import flag_of

    build()
    return exit_status(lambda: app(argv, prog_name="critic", standalone_mode=False), argv,
                       flag_of=flag_of)


def main() -> None:
    """The ``critic`` entry point."""
    sys.exit(run(sys.argv[1:]))
