"""Which entry of a registry a run takes: `MODELS[args.model](...)` runs the model the
command line names, the README's command or else the argparse default.

Read from the source text only (nothing is run): the flag is the attribute that
indexes the registry (`args.model` -> `--model`, `args.image_size` -> `--image-size`
or `--image_size`); its value is the one the entry's README command passes, else the
literal `default=` of its `add_argument` in the entry's file or the caller's.
"""

from __future__ import annotations

import re
import shlex

from localread.repo.graph import CallSite
from localread.repo.model import Repo
from localread.repo.scan import read_source

_INDEX = re.compile(r"\[\s*[A-Za-z_]\w*\.([A-Za-z_]\w*)\s*\]$")
_ADD_ARGUMENT = re.compile(rb"add_argument\(")
_DEFAULT = re.compile(rb"""\bdefault\s*=\s*(?:"([^"\n]*)"|'([^'\n]*)')""")


def registry_choice(repo: Repo, command: str | None, paths: list[str], site: CallSite) -> tuple[str, str] | None:
    """(key, how it was chosen) for a site with `keyed` targets, or None when no
    command or default names one of its keys. paths: the files whose argparse
    definitions count (the entry's, the caller's)."""
    found = _INDEX.search(site.text)
    if found is None or not site.keyed:
        return None
    keys = {key for key, _ in site.keyed}
    dest = found.group(1)
    flags = list(dict.fromkeys([f"--{dest.replace('_', '-')}", f"--{dest}"]))
    value = _command_value(command, flags)
    if value in keys:
        return value, f"`{flags[0]} {value}` in the README's command"  # type: ignore[return-value]
    for path in dict.fromkeys(paths):
        value = _default(read_source(repo.root, path), flags)
        if value in keys:
            return value, f"the default of `{flags[0]}`"  # type: ignore[return-value]
    return None


def _command_value(command: str | None, flags: list[str]) -> str | None:
    if not command:
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for i, word in enumerate(words):
        for flag in flags:
            if word == flag and i + 1 < len(words):
                return words[i + 1]
            if word.startswith(flag + "="):
                return word[len(flag) + 1:]
    return None


def _default(source: bytes, flags: list[str]) -> str | None:
    """The literal default of the first `add_argument` of one of the flags."""
    calls = [m.end() for m in _ADD_ARGUMENT.finditer(source)]
    for n, start in enumerate(calls):
        end = calls[n + 1] if n + 1 < len(calls) else len(source)
        text = source[start:end]
        head = text.split(b"=", 1)[0]  # the flag names come before any keyword
        if not any(f'"{f}"'.encode() in head or f"'{f}'".encode() in head for f in flags):
            continue
        found = _DEFAULT.search(text)
        if found is None:
            return None
        return (found.group(1) if found.group(1) is not None else found.group(2)).decode("utf-8", "replace")
    return None
