"""What a run gives a command-line flag, read from source text only (nothing is run):
the value a README command passes (`--model ViT-L/16`, `--config=configs/x.yaml`), or
the literal `default=` of the flag's `add_argument` in a file.

`flag_names("image_size")` gives the spellings an attribute `args.image_size` may come
from: `--image-size`, `--image_size`.
"""

from __future__ import annotations

import re
import shlex

_ADD_ARGUMENT = re.compile(rb"add_argument\(")
_DEFAULT = re.compile(rb"""\bdefault\s*=\s*(?:"([^"\n]*)"|'([^'\n]*)')""")


def flag_names(dest: str) -> list[str]:
    """The flags argparse stores as `dest`, dashed spelling first."""
    return list(dict.fromkeys([f"--{dest.replace('_', '-')}", f"--{dest}"]))


def command_value(command: str | None, flags: list[str]) -> str | None:
    """The value a shell command passes to the first of flags it names, or None."""
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


def argparse_default(source: bytes, flags: list[str]) -> str | None:
    """The literal string default of the first `add_argument` of one of the flags."""
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
