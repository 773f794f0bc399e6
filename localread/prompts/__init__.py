"""Prompt templates as data: the `.txt` files of this folder, and their one loader.

Owns the template format and the version scheme; imports nothing of localread.

A template file is a few `#` comment lines, then blocks, each opened by a line
`=== name ===` and running to the next such line; blank lines around a block are
dropped. The first block is `=== version ===`: one line that names the version of
the file's prompts. It is part of every key or report made from them, so any change
to a block that changes what a model is asked needs a new version (the pins in
tests/test_templates.py fail otherwise). Placeholders are string.Template `$name`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

_BLOCK = re.compile(r"^=== (\w+) ===$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Templates:
    """One template file. version: its `version` block; blocks: every other block, by
    name, in file order."""

    name: str
    version: str
    blocks: Mapping[str, str]


def names() -> list[str]:
    """The template files of this folder, without `.txt`, sorted."""
    return sorted(
        entry.name.removesuffix(".txt")
        for entry in resources.files(__name__).iterdir()
        if entry.name.endswith(".txt")
    )


def text(name: str) -> str:
    """The whole text of `<name>.txt` (what a version pins)."""
    return resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")


@cache
def load(name: str) -> Templates:
    """The templates of `<name>.txt`, read once per process (see `parse`)."""
    return parse(name, text(name))


def parse(name: str, source: str) -> Templates:
    """The blocks of a template file's text. Raises ValueError when it does not open
    with a one-line version block (a packaging mistake, not a user's)."""
    parts = _BLOCK.split(source)
    # parts: [comments, name1, body1, name2, body2, ...]
    blocks = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts), 2)}
    version = blocks.pop("version", "")
    if len(parts) < 3 or parts[1] != "version" or not version or "\n" in version:
        raise ValueError(f"prompt template {name}.txt: the first block must be `=== version ===` with one line")
    return Templates(name, version, MappingProxyType(blocks))
