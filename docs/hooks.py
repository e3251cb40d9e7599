"""MkDocs hooks: the reference pages that are generated, not written by hand.

A page that holds the marker ``<!-- critic:cli -->`` gets the command-line reference rendered
from the Typer app (``critic.cli.build()``): every command and sub-command with its usage, its
help and a table of its arguments and options, defaults included. ``<!-- critic:openapi -->``
becomes the HTTP service's OpenAPI schema, dumped from ``critic.serve.app.create_app``. Both are
built from the code at every ``mkdocs build``, so they cannot drift from it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from typer import _click as click  # Typer ≥ 0.29 carries its own copy of click

#: The references describe this checkout's code, whatever critic the environment has installed.
SOURCES = str(Path(__file__).resolve().parent.parent / "src")


def on_config(config: Any) -> Any:
    # MkDocs loads hooks with its own sys.path, so the checkout's sources go first here.
    if SOURCES not in sys.path:
        sys.path.insert(0, SOURCES)
    return config

CLI_MARKER = "<!-- critic:cli -->"
OPENAPI_MARKER = "<!-- critic:openapi -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if OPENAPI_MARKER in markdown:
        markdown = markdown.replace(OPENAPI_MARKER, openapi_reference())
    return markdown


def cli_reference() -> str:
    """Markdown for every command of ``critic``, in the order ``critic --help`` lists them."""
    import typer.main

    from critic.cli import build

    root = typer.main.get_command(build())
    context = click.Context(root, info_name="critic")
    return "\n".join(_command(root, context, "critic", level=2))


def _command(command: Any, parent: Any, path: str, *, level: int
             ) -> list[str]:
    context = click.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=parent)
    lines = [f"{'#' * level} `{path}`", ""]
    if command.help:
        lines += [_clean(command.help), ""]
    usage = " ".join(command.collect_usage_pieces(context))
    lines += ["```text", f"{path} {usage}".rstrip(), "```", ""]
    lines += _parameters(command, context)
    if hasattr(command, "list_commands"):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                lines += _command(sub, context, f"{path} {name}", level=level + 1)
    return lines


def _parameters(command: Any, context: Any) -> list[str]:
    rows = []
    for param in command.get_params(context):
        if getattr(param, "hidden", False):
            continue
        names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
        if type(param).__name__.endswith("Argument"):
            names = f"`{param.name.upper()}`"
        rows_kind = _kind(param)
        help_text = _clean(getattr(param, "help", None) or "")
        default = _default(param)
        rows.append(f"| {names} | {rows_kind} | {default} | {help_text} |")
    if not rows:
        return []
    return ["| argument or option | type | default | what it does |", "|---|---|---|---|",
            *rows, ""]


def _kind(param: Any) -> str:
    """The value an option takes, from the annotation Typer read (``flag`` for a switch)."""
    if getattr(param, "is_flag", False):
        return "flag"
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    name = getattr(annotation, "__name__", None) or str(annotation or "")
    return {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "Path": "PATH",
            "bool": "BOOLEAN"}.get(name, name.upper() or "TEXT")


def _default(param: Any) -> str:
    if param.required:
        return "required"
    value = param.default
    if value is None or callable(value) or value == () or (getattr(param, "multiple", False) \
            and not value):
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"`{value}`"


def _clean(text: str) -> str:
    """One table cell or paragraph: Typer's help without line breaks or pipe characters."""
    text = " ".join(text.split())
    return text.replace("|", "\\|")


def openapi_reference() -> str:
    """The OpenAPI schema of the service, as ``GET /openapi.json`` answers it."""
    from critic.serve.app import create_app

    # The routes need only the bundle folder's name (KServe's model name) and the labels (the
    # v2 metadata's class order) to be declared.
    stub: Any = SimpleNamespace(bundle=SimpleNamespace(path=Path("model")),
                                labels=("negative", "positive"))
    schema = create_app(stub).app.openapi()  # type: ignore[attr-defined]
    return "```json\n" + json.dumps(schema, indent=2, ensure_ascii=False) + "\n```\n"
