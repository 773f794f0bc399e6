"""`localread models`: list, info, path, pull and import model files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from localread.commands.common import JsonOpt, OfflineOpt, command_settings, guarded, print_json
from localread.llm import models


def register(app: typer.Typer) -> None:
    """Add the `models` sub-app to `app`."""
    sub = typer.Typer(
        name="models",
        help="Model files: list presets, download (pull), import a carried file, inspect.",
        no_args_is_help=True,
    )
    sub.command("list")(list_)
    sub.command("info")(info)
    sub.command("path")(path)
    sub.command("pull")(pull)
    sub.command("import")(import_)
    app.add_typer(sub)


@guarded
def list_(json: JsonOpt = False, offline: OfflineOpt = False) -> None:
    """Catalog presets and imported models, and which one runs by default."""
    rows = models.list_models(command_settings(offline=offline))
    if json:
        print_json([row.to_json() for row in rows])
        return
    width = max(len(row.name) for row in rows)
    for row in rows:
        mark = "*" if row.selected else " "
        style = row.chat_style or "-"
        print(f"{mark} {row.name:<{width}}  {style:<10}  {row.status:<22}  {row.source}")


@guarded
def info(
    name: Annotated[str, typer.Argument(help="Catalog or registered name, or a .gguf path.")],
    json: JsonOpt = False,
    offline: OfflineOpt = False,
) -> None:
    """What a model file is: architecture, context length, chat template, sha256."""
    facts = models.describe_model(command_settings(offline=offline), name)
    if json:
        print_json(facts)
        return
    for key, value in facts.items():
        print(f"{key}: {_shown(value)}")


@guarded
def path(
    name: Annotated[
        str | None, typer.Argument(help="Model name or path (default: the configured model).")
    ] = None,
    offline: OfflineOpt = False,
) -> None:
    """Print the file the model resolves to, assembling the default model if needed."""
    print(models.resolve_model(command_settings(offline=offline), name).path)


@guarded
def pull(
    name: Annotated[str, typer.Argument(help="A catalog name (see `localread models list`).")],
    offline: OfflineOpt = False,
) -> None:
    """Download a catalog model from the Hugging Face Hub and verify it."""
    entry = models.pull_model(name, command_settings(offline=offline))
    print(f"{entry.name}: {entry.path} (sha256 {entry.sha256})", file=sys.stderr)
    print(entry.path)


@guarded
def import_(
    file: Annotated[Path, typer.Argument(help="A .gguf file carried onto this machine.")],
    name: Annotated[str | None, typer.Option("--name", help="Register under this name.")] = None,
    offline: OfflineOpt = False,
) -> None:
    """Verify a GGUF file, copy it into the models dir and register it."""
    entry = models.import_model(file, command_settings(offline=offline), name=name)
    print(f"imported {entry.name}: {entry.path} (sha256 {entry.sha256})", file=sys.stderr)
    print(entry.name)


def _shown(value: object) -> object:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value
