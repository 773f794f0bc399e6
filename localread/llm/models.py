"""Which model file localread runs: `resolve_model` turns `--model PATH|NAME` >
LOCALREAD_MODEL > config file > the catalog's default into a file, a sha256 and a
prompt style; `ensure_default_model` assembles the embedded default once;
`list_models` and `describe_model` answer `models list` / `models info`. Nothing here
prints or touches the network (that is `acquire`); the names other modules used to
import from here are re-exported.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localread.config import Settings
from localread.errors import LocalreadError
from localread.llm.acquire import ensure_default_model, import_model, pull_model
from localread.llm.catalog import Catalog, CatalogEntry, load_catalog
from localread.llm.gguf import ChatStyle, GGUFError, GGUFInfo, check_model_file, read_gguf
from localread.llm.registry import RegistryEntry, cached_sha256, read_registry, sha256_file

__all__ = [  # what other modules import from here, re-exported from the rooms that own it
    "Catalog", "CatalogEntry", "ChatStyle", "GGUFError", "GGUFInfo", "ModelListing",
    "RegistryEntry", "ResolvedModel", "cached_sha256", "check_model_file", "describe_model",
    "ensure_default_model", "import_model", "list_models", "load_catalog", "pull_model",
    "read_gguf", "read_registry", "resolve_model", "sha256_file",
]

log = logging.getLogger("localread.models")


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """The model a run uses. source: "embedded", "catalog", "registry" or "path" (how
    the name was found). gguf is None only for test doubles."""

    name: str
    path: Path
    sha256: str
    source: str
    chat_style: ChatStyle
    context_length: int | None
    gguf: GGUFInfo | None = None


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".gguf") or "/" in spec or os.sep in spec


def resolve_model(settings: Settings, spec: str | None = None) -> ResolvedModel:
    """The model for `spec` (default: settings.model, which already holds --model >
    LOCALREAD_MODEL > config file; None means the catalog default).

    A spec that ends in .gguf or contains a path separator is a file; otherwise a
    registered name, then a catalog name, then a file in the current folder. The
    embedded default is assembled on first use; a catalog model that is not on this
    machine, or a registered file whose sha256 changed since it was registered, is an
    error that says what to do. The file's GGUF header is checked either way.
    """
    store = settings.model_store
    catalog = load_catalog()
    spec = spec if spec is not None else settings.model
    if spec is None or spec == catalog.default:
        entry = catalog.default_entry
        path = ensure_default_model(store)
        return _resolved(entry.name, path, entry.sha256 or "", "embedded")
    if _looks_like_path(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise LocalreadError(f"model file {path} does not exist")
        return _resolved(path.stem, path.resolve(), cached_sha256(path, store), "path")
    registry = read_registry(store)
    if spec in registry:
        reg = registry[spec]
        if not reg.path.is_file():
            raise LocalreadError(
                f"model {spec!r} is registered at {reg.path}, which no longer exists; "
                f"import it again with `localread models import FILE --name {spec}`"
            )
        digest = cached_sha256(reg.path, store)
        if digest != reg.sha256:
            raise LocalreadError(
                f"model {spec!r} ({reg.path}) changed since it was registered (sha256 "
                f"{digest[:16]}..., registered {reg.sha256[:16]}...); import it again"
            )
        return _resolved(spec, reg.path, digest, "registry")
    entry = catalog.get(spec)
    if entry is None and Path(spec).is_file():  # a file in the current folder
        path = Path(spec)
        return _resolved(path.stem, path.resolve(), cached_sha256(path, store), "path")
    if entry is None:
        known = sorted(set(catalog.entries) | set(registry))
        raise LocalreadError(
            f"unknown model {spec!r}: not a .gguf file, nor one of {', '.join(known)}"
        )
    path = store / entry.file
    if not path.is_file():
        raise LocalreadError(
            f"model {spec!r} is not on this machine: run `localread models pull {spec}` "
            f"on a connected machine, or download {entry.repo}/{entry.file} by hand and "
            f"run `localread models import FILE --name {spec}` (see models/README.md)"
        )
    digest = cached_sha256(path, store)
    if entry.sha256 and digest != entry.sha256:
        raise LocalreadError(
            f"{path} does not match the published sha256 of {spec!r}; delete it and pull again"
        )
    return _resolved(spec, path, digest, "catalog")


def _resolved(name: str, path: Path, sha256: str, source: str) -> ResolvedModel:
    info = check_model_file(path)
    return ResolvedModel(
        name=name,
        path=path,
        sha256=sha256,
        source=source,
        chat_style=info.chat_style,
        context_length=info.context_length,
        gguf=info,
    )


@dataclass(frozen=True, slots=True)
class ModelListing:
    """One row of `models list`. status: "ready", "not downloaded", "assembled on
    first use" or "missing file"."""

    name: str
    source: str
    chat_style: str
    context_length: int | None
    status: str
    path: str | None
    sha256: str | None
    selected: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "chat_style": self.chat_style,
            "context_length": self.context_length,
            "status": self.status,
            "path": self.path,
            "sha256": self.sha256,
            "selected": self.selected,
        }


def list_models(settings: Settings) -> list[ModelListing]:
    """Catalog presets and registered models, catalog first, each sorted by name.
    Touches no network and assembles nothing. `selected` marks the name settings.model
    refers to (the default when unset)."""
    store = settings.model_store
    catalog = load_catalog()
    registry = read_registry(store)
    chosen = settings.model or catalog.default
    rows: list[ModelListing] = []
    for name, entry in catalog.entries.items():
        reg = registry.get(name)
        path = reg.path if reg else store / entry.file
        if path.is_file():
            status = "ready"
        elif entry.embedded:
            status = "assembled on first use"
        else:
            status = "not downloaded"
        rows.append(
            ModelListing(
                name=name,
                source=entry.source,
                chat_style=entry.chat_style.value,
                context_length=entry.context_length,
                status=status,
                path=str(path) if path.is_file() else None,
                sha256=reg.sha256 if reg else entry.sha256,
                selected=name == chosen,
            )
        )
    for name, reg in registry.items():
        if name in catalog.entries:
            continue
        rows.append(
            ModelListing(
                name=name,
                source=reg.source,
                chat_style="",
                context_length=None,
                status="ready" if reg.path.is_file() else "missing file",
                path=str(reg.path),
                sha256=reg.sha256,
                selected=name == chosen,
            )
        )
    return rows


def describe_model(settings: Settings, spec: str | None = None) -> dict[str, Any]:
    """What `models info` shows: the resolved file's header facts and checksum, or
    the catalog entry (with status "not downloaded") for a preset not on this machine."""
    catalog = load_catalog()
    name = spec if spec is not None else settings.model
    entry = catalog.get(name) if name is not None else None
    if (
        entry is not None
        and not entry.embedded
        and name not in read_registry(settings.model_store)
        and not (settings.model_store / entry.file).is_file()
    ):
        return {
            "name": entry.name,
            "status": "not downloaded",
            "source": entry.source,
            "file": entry.file,
            "sha256": entry.sha256,
            "context_length": entry.context_length,
            "chat_style": entry.chat_style.value,
            "device": entry.device,
            "description": entry.description,
        }
    model = resolve_model(settings, spec)
    info = model.gguf or check_model_file(model.path)
    return {
        "name": model.name,
        "status": "ready",
        "source": model.source,
        "path": str(model.path),
        "sha256": model.sha256,
        "size": info.file_size,
        "architecture": info.architecture,
        "model_name": info.name,
        "quantization": info.quantization,
        "context_length": info.context_length,
        "chat_template": info.chat_template is not None,
        "chat_style": model.chat_style.value,
        "gguf_version": info.version,
        "tensors": info.tensor_count,
        "metadata_keys": info.kv_count,
    }
