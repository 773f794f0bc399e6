"""What becomes of a model's answer: cleaned to a summary, checked for copies of what
its prompt showed, and replaced by what the code says of itself when every answer
was a copy.

A small model answers a class with its `forward`'s summary, and the module with the
class's, so that one sentence climbs the whole tree: `repeated_text` tells, and the
run asks once more with the inputs named but not summarized.
"""

from __future__ import annotations

import re
from functools import cache

from localread.grounding import find_repeat
from localread.repo.analysis import Repo
from localread.sentences import first_sentence
from localread.summarize.model import Unit, UnitKind
from localread.summarize.prompts import readme_intro, templates, unit_name

# Sentences kept of an answer: small models go on once they have said it.
MAX_SENTENCES = {"code": 2, "class": 2, "module": 2, "package": 2, "overview": 3}
# The facts fallback names at most this many of a unit's parts.
FALLBACK_NAMES = 4


def clean_answer(text: str, max_sentences: int = 2) -> str:
    """A model's answer as a summary: its first non-empty line, sentences not repeated
    (small models loop), at most max_sentences, and an unfinished last sentence dropped
    when a finished one precedes it."""
    lines = [line for line in text.split("\n") if line.strip()]
    flat = " ".join(lines[0].split()).removeprefix("Summary:").strip() if lines else ""
    kept: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", flat):
        if sentence and sentence not in kept:
            kept.append(sentence)
    kept = kept[:max_sentences]
    if len(kept) > 1 and not kept[-1].endswith((".", "!", "?", "`", ")")):
        kept.pop()
    return " ".join(kept).strip()


@cache
def example_summaries() -> tuple[str, ...]:
    """The summaries the instructions' worked examples show (after `Summary:` and in
    their input lists): an answer must not be one of them."""
    found = []
    for line in templates()["instructions"].split("\n"):
        if line.startswith("Summary: "):
            found.append(line.removeprefix("Summary: "))
        elif line.startswith("- ") and "`" in line:
            # - `name`: text / - `name` (kind): text / - module `name`: text
            found.append(line[line.rindex("`"):].split(": ", 1)[-1])
    return tuple(dict.fromkeys(found))


def repeated_text(repo: Repo, summary: str, shown: dict[str, str]) -> str | None:
    """Why summary is a copy, or None: it repeats the summary of one of its inputs that
    the prompt showed (shown: input id -> summary), or a worked example's summary.
    A small model answers a class with its `forward`'s summary, and the module with
    the class's, so that one sentence climbs the whole tree."""
    texts = list(shown.values())
    found = find_repeat(summary, texts)
    if found is not None:
        uid = next(u for u, text in shown.items() if text == found.reference)
        return f"repeated the summary of {unit_name(repo, uid)}"
    if find_repeat(summary, example_summaries()) is not None:
        return "repeated a worked example of the prompt"
    return None


def fallback_summary(repo: Repo, unit: Unit, inputs: tuple[str, ...]) -> str:
    """What the code says of itself when the model's answers were copies: the
    docstring's first sentence (the README's for the overview), else what the unit is
    made of, by name."""
    chunk = repo.chunks.get(unit.chunk) if unit.chunk is not None else None
    doc = first_sentence(readme_intro(repo) if unit.kind is UnitKind.OVERVIEW else chunk and chunk.docstring)
    if doc:
        return doc
    what = unit_name(repo, unit.id)
    if unit.kind is UnitKind.CLASS:
        methods = [repo.chunks[u] for u in inputs if u in repo.chunks and repo.chunks[u].parent == unit.chunk]
        if methods:
            return f"Class {what} with the methods {_listed([f'`{m.name}`' for m in methods])}."
    elif inputs:
        listed = _listed([unit_name(repo, u) for u in inputs])
        if unit.kind is UnitKind.CODE:
            return f"Calls {listed}."
        return f"{what[0].upper()}{what[1:]}: {listed}."
    return f"No summary: the model's answers for {what} repeated texts its prompt showed."


def _listed(names: list[str]) -> str:
    """`a`, `b` and `c`; past FALLBACK_NAMES, `a`, ..., `d` and 3 more."""
    if len(names) > FALLBACK_NAMES:
        names = [*names[:FALLBACK_NAMES], f"{len(names) - FALLBACK_NAMES} more"]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def answer_summary(unit: Unit, answer: str, answer_prefix: str = "") -> str:
    """The summary a unit gets from the model's answer to its prompt. answer_prefix:
    the words the prompt put in the model's mouth, which start the summary."""
    if answer_prefix:
        answer = answer_prefix + ("" if answer[:1].isspace() else " ") + answer
    return clean_answer(answer, MAX_SENTENCES[unit.kind.value])
