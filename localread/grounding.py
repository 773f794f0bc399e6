"""Check a model's narrative against the code: which identifiers it names that exist
nowhere in the repository (its files, hence its imports) or the chunk.

`unverified_names(narrative, known)` returns them sorted; `repo_identifiers(repo)`
builds the set of known names once per repository. `find_repeat(narrative, references)`
tells when a narrative repeats a text the prompt showed (a worked example, an earlier
step) instead of explaining the code: small models copy what they were shown.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from localread.repo.scan import read_source

if TYPE_CHECKING:
    from localread.repo.analysis import Repo

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What a narrative uses to name code: `backticked`, dotted.names, snake_case,
# CamelCase with an inner capital, and name( calls. Plain English words are left alone.
_CANDIDATE = re.compile(
    r"`([^`\n]{1,80})`"
    r"|\b([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\b"
    r"|\b([A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+|_[A-Za-z0-9_]+)\b"
    r"|\b([A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*|[a-z][a-z0-9]*[A-Z][A-Za-z0-9]*)\b"
    r"|\b([A-Za-z_][A-Za-z0-9_]*)\("
)
# File extensions and abbreviations that look like dotted names in prose.
_NOT_CODE = frozenset(
    {"py", "md", "txt", "json", "yaml", "yml", "toml", "cfg", "png", "jpg", "pt", "pth", "ckpt",
     "csv", "ipynb", "sh", "html", "pdf", "e", "g", "i", "etc", "vs"}
)
_COMMON = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"self", "cls"}


@cache
def _file_words(root: str, path: str, size_and_mtime: tuple[int, int]) -> frozenset[str]:
    from pathlib import Path

    return frozenset(_WORD.findall(read_source(Path(root), path).decode("utf-8", errors="replace")))


def repo_identifiers(repo: Repo) -> frozenset[str]:
    """Every identifier written anywhere in the repository's Python files (which
    includes every name they import), plus Python's builtins and keywords."""
    words: set[str] = set(_COMMON)
    for chunk in repo.chunks.values():
        words.update(chunk.module.split("."))  # module and file names are names too
    for path in sorted({c.path for c in repo.chunks.values()}):
        stat = (repo.root / path).stat()
        words |= _file_words(str(repo.root), path, (stat.st_size, stat.st_mtime_ns))
    return frozenset(words)


def unverified_names(narrative: str, known: frozenset[str]) -> list[str]:
    """Names the narrative uses as code that are not in `known`, sorted, each once.

    A dotted name is verified when each of its parts is known (`self.encoder.forward`);
    what looks like a file name or an abbreviation (`demo.py`, `e.g.`) is not code.
    """
    found: set[str] = set()
    for match in _CANDIDATE.finditer(narrative):
        backticked, dotted, snake, camel, called = match.groups()
        if backticked is not None:
            for name in _WORD.findall(backticked):
                if name not in known and name.lower() not in _NOT_CODE and not name.isdigit():
                    found.add(name)
            continue
        name = dotted or snake or camel or called
        if name is None:
            continue
        parts = [p for p in name.split(".") if p]
        if dotted is not None:
            if all(len(p) <= 1 or p.lower() in _NOT_CODE for p in parts[1:]):
                parts = parts[:1] if parts[-1].lower() in ("py", "ipynb") else []
            parts = [p for p in parts if p.lower() not in _NOT_CODE]
        missing = [p for p in parts if p not in known]
        if missing:
            found.add(name)
    return sorted(found)


# --------------------------------------------------------------------------- repeats

# A narrative repeats a reference text (a worked example of the prompt, or what an
# earlier tour step was said to do) when at least REPEAT_SHARE of its word
# REPEAT_NGRAM-grams occur in that text. Four words are a phrase, not a common pair
# like "the image"; half of them leaves room for a narrative that quotes a callee's
# summary in one clause. Measured on the demo tour with Gemma 3 270M: copies of the
# worked example score 0.8-1.0, real explanations 0.0-0.15.
REPEAT_NGRAM = 4
REPEAT_SHARE = 0.5
_TEXT_WORD = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True, slots=True)
class Repeat:
    """The reference text a narrative repeats, and the share of the narrative's word
    n-grams found in it."""

    reference: str
    share: float


def _ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    words = _TEXT_WORD.findall(text.lower())
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def find_repeat(
    narrative: str,
    references: Sequence[str],
    *,
    n: int = REPEAT_NGRAM,
    threshold: float = REPEAT_SHARE,
) -> Repeat | None:
    """The reference the narrative repeats (the first of the most repeated), or None.

    Words are lower-cased runs of letters, digits and `_`, so backticks and
    punctuation do not hide a copy; a narrative of fewer than n words repeats nothing."""
    grams = _ngrams(narrative, n)
    if not grams:
        return None
    best: Repeat | None = None
    for reference in references:
        known = set(_ngrams(reference, n))
        share = sum(g in known for g in grams) / len(grams)
        if share >= threshold and (best is None or share > best.share):
            best = Repeat(reference, share)
    return best
