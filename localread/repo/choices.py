"""Which entry of a registry a run takes: `MODELS[args.model](...)` runs the model the
command line names, the README's command or else the argparse default.

Read from the source text only (nothing is run, see `flags`): the flag is the
attribute that indexes the registry (`args.model` -> `--model`, `args.image_size` ->
`--image-size` or `--image_size`); its value is the one the entry's README command
passes, else the literal `default=` of its `add_argument` in the entry's file or the
caller's.
"""

from __future__ import annotations

import re

from localread.repo.flags import argparse_default, command_value, flag_names
from localread.repo.graph import CallSite
from localread.repo.model import Repo
from localread.repo.scan import read_source

_INDEX = re.compile(r"\[\s*[A-Za-z_]\w*\.([A-Za-z_]\w*)\s*\]$")


def registry_choice(repo: Repo, command: str | None, paths: list[str], site: CallSite) -> tuple[str, str] | None:
    """(key, how it was chosen) for a site with `keyed` targets, or None when no
    command or default names one of its keys. paths: the files whose argparse
    definitions count (the entry's, the caller's)."""
    found = _INDEX.search(site.text)
    if found is None or not site.keyed:
        return None
    keys = {key for key, _ in site.keyed}
    dest = found.group(1)
    flags = flag_names(dest)
    value = command_value(command, flags)
    if value in keys:
        return value, f"`{flags[0]} {value}` in the README's command"  # type: ignore[return-value]
    for path in dict.fromkeys(paths):
        value = argparse_default(read_source(repo.root, path), flags)
        if value in keys:
            return value, f"the default of `{flags[0]}`"  # type: ignore[return-value]
    return None

