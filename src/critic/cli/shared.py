"""What every command shares: the options several of them take, the options made from what
the library lists (the families' knobs, a settings dataclass's fields: :mod:`critic.cli` never
repeats one by hand), and how results are printed."""

from __future__ import annotations

import functools
import inspect
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from critic.fitting.options import Knob

#: When the command line started (``reproduce`` says how long it took from there).
STARTED = time.perf_counter()

#: One option: ``(name, type, default, flag, help)``.
Option = tuple[str, Any, Any, str, str]

def option(text: str) -> Any:
    """An option option by ``text`` (the parameter's type and default say the rest)."""
    return typer.Option(help=text)


def input_option(text: str) -> Any:
    """The ``--input`` option of a command that reads reviews, described by ``text``."""
    return typer.Option("--input", help=text)


#: The options several commands share.
DataOption = Annotated[
    str | None, typer.Option("--data", help="IMDB archive or aclImdb/ folder "
                             "(default: $CRITIC_DATA, then the cache, then download).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
OverwriteOption = Annotated[bool, option("Replace what is there, once the new output is done.")]
BundleArgument = Annotated[Path, typer.Argument(help="A bundle folder (critic train, or "
                                                  "runs/NAME/model from critic reproduce).")]
TextColumnOption = Annotated[str, option("Column holding the review text.")]
EpochsOption = Annotated[int, option("Epochs per run.")]
NameOption = Annotated[str, option("Folder name under the folder of runs.")]
RunsOption = Annotated[Path, option("Folder that holds run folders.")]
BatchOption = Annotated[int, option("Reviews per gradient step.")]
HeldOutOption = Annotated[int, option("First N training reviews held out.")]
LabelColumnOption = Annotated[str, option("Column holding the label: 0/1, pos/neg or any "
                                          "set of labels.")]
ClusterOption = Annotated[str | None, option(
    "Run on a Ray cluster (pip install 'critic[ray]'): auto (RAY_ADDRESS, else the cluster "
    "started here by `ray start --head`), HOST:PORT, ray://HOST:10001, or local (start one "
    "for this command).")]


#: Library parameters whose option is not simply ``--the-name`` (and is no model knob).
_FLAGS = {"validation": "--validation-input", "metric": "--find-threshold"}


def register(app: typer.Typer, function: Callable[..., None], options: list[Option]) -> None:
    """Register ``function`` as a command of ``app``: its own parameters, then ``options``
    (one of its own of the same name is replaced)."""
    made = {name: inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                    annotation=Annotated[kind, typer.Option(flag, help=text)])
            for name, kind, default, flag, text in options}
    own = [made.pop(p.name, p.replace(kind=p.KEYWORD_ONLY)) for p in inspect.signature(
        function, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
    command = functools.wraps(function)(lambda **values: function(**values))
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        own + list(made.values()))
    app.command(function.__name__.replace("_", "-"))(command)


def knob_options(knobs: Iterable[Knob]) -> list[Option]:
    """An option for each knob; one not given is ``None`` (a flag: ``False``)."""
    return [(k.name, k.type if k.type is bool else k.type | None,
             False if k.type is bool else None, k.option, k.help) for k in knobs]


def field_options(settings: type) -> list[Option]:
    """An option for each field of the dataclass ``settings``, with its ``help`` metadata."""
    return [(f.name, type(f.default), f.default, "--" + f.name.replace("_", "-"),
             f.metadata["help"]) for f in fields(settings)]


def train_knobs() -> dict[str, Knob]:
    """Every knob of ``critic train``: the shared ones, then each family's."""
    from critic.fitting.options import FEATURE_KNOBS, SPLIT_KNOBS
    from critic.models.registry import FAMILIES

    knobs = {k.name: k for k in (*FEATURE_KNOBS, *SPLIT_KNOBS)}
    for family in FAMILIES.values():
        for knob in family.knobs:
            knobs.setdefault(knob.name, knob)  # a knob two families share is listed once
    return knobs


def flag_of(parameter: str) -> str:
    """The option that gives the library's ``parameter`` (for an error's hint)."""
    knob = train_knobs().get(parameter)
    return knob.option if knob else _FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def emit(as_json: bool, data: Any, show: Callable[[], object]) -> None:
    """``data`` as JSON for machines, or ``show()`` for people."""
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        show()


def say(message: str) -> None:
    """A line of progress or a closing remark: on stderr, so stdout holds only results."""
    print(message, file=sys.stderr, flush=True)
