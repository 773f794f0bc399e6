"""What becomes of a model's answer: cleaned to a summary, checked by the quality gate
(localread.quality), and replaced by the static description when every answer failed.

summarize.ask makes a unit's attempts with these: the unit's prompt, then, when no
answer passes the gate, the retry prompt (inputs named, not summarized; a function by
its signature alone), then the static description (localread.describe) of the code,
which is always true. A small model answers a class with its `forward`'s summary, and
the module with the class's, so that one sentence climbs the whole tree: the gate's
repeat rule catches it.
"""

from __future__ import annotations

import re
from functools import cache

from localread.quality import Subject, check, subject_for, subject_of_names
from localread.repo.analysis import Repo
from localread.sentences import first_sentence, said_before
from localread.summarize.model import Unit, UnitKind
from localread.summarize.prompts import (
    readme_intro,
    templates,
    unit_name,
)

# Sentences kept of an answer: small models go on once they have said it. A function's
# or class's summary is its one line of purpose: the 270M model's second sentences,
# read in benchmarks/explain_quality.py's output, were filler or invented.
MAX_SENTENCES = {"code": 1, "class": 1, "module": 2, "package": 2, "overview": 3}
# The facts fallback names at most this many of a unit's parts.
FALLBACK_NAMES = 4
# Where a docstring's summary ends: its sections (numpydoc, Google, Sphinx, doctest).
_SECTION = re.compile(r"\s(?:Parameters|Args|Arguments|Returns|Raises|Yields|Examples?|Notes?|Attributes)\s*:?\s*-{3,}|"
                      r"\s(?:Args|Arguments|Returns|Raises|Yields|Examples?|Attributes):\s|\s:(?:param|return|rtype|raises)\b|\s>>>")


def clean_answer(text: str, max_sentences: int = 2) -> str:
    """A model's answer as a summary: the first paragraph of the docstring it wrote
    (its lines joined, sections such as `Args:` cut), sentences not repeated (small
    models loop), at most max_sentences, and an unfinished last sentence dropped when
    a finished one precedes it."""
    body = text.split('"""', 1)[0]
    paragraphs = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
    flat = " ".join(paragraphs[0].split()) if paragraphs else ""
    flat = _SECTION.split(" " + flat, maxsplit=1)[0].strip()
    flat = flat.removeprefix("Summary:").strip().strip("\"'").strip()
    kept: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", flat):
        if sentence and not said_before(sentence, kept):
            kept.append(sentence)
    kept = kept[:max_sentences]
    if len(kept) > 1 and not kept[-1].endswith((".", "!", "?", "`", ")")):
        kept.pop()
    return " ".join(kept).strip()


@cache
def example_summaries() -> tuple[str, ...]:
    """The summaries the worked examples show (their docstrings, and the summaries in
    their `# contains ...: text` lines): an answer must not be one of them."""
    found = []
    for line in templates()["instructions"].split("\n"):
        stripped = line.strip()
        if stripped.startswith('"""') and stripped.endswith('"""') and len(stripped) > 6:
            found.append(stripped.strip('"'))
        elif stripped.startswith("# ") and "`: " in stripped:
            found.append(stripped.split("`: ", 1)[1])
    return tuple(dict.fromkeys(found))


def unit_subject(repo: Repo, unit: Unit, shown: dict[str, str]) -> Subject:
    """What the quality gate checks a unit's summary against."""
    said = [s for s in shown.values() if s]
    if unit.chunk is not None and unit.chunk in repo.chunks:
        from localread.facts import facts_card

        chunk = repo.chunks[unit.chunk]
        return subject_for(repo, chunk, facts_card(repo, chunk.id), shown=said)
    parts = [unit_name(repo, u) for u in shown] + said
    if unit.kind is UnitKind.OVERVIEW:
        name = repo.layout.project_name or repo.root.name
        return subject_of_names(name, "repository", parts, [readme_intro(repo) or ""])
    return subject_of_names(unit.id.split(":", 1)[-1], "package", parts)


def summary_problems(repo: Repo, unit: Unit, summary: str, shown: dict[str, str], prefix: str = "") -> tuple[str, ...]:
    """Why summary fails the quality gate (empty: it passes). shown: input id ->
    the summary its prompt showed ("" when named only)."""
    labels = {unit_name(repo, u): s for u, s in shown.items() if s}
    return check(summary, unit_subject(repo, unit, shown), examples=(templates()["instructions"],),
                 shown={**labels, **{f"the example {i + 1}": e for i, e in enumerate(example_summaries())}},
                 prefix=prefix)


def fallback_summary(repo: Repo, unit: Unit, inputs: tuple[str, ...]) -> str:
    """What the code says of itself when every answer failed the gate: the static
    description of a chunk (its docstring's first sentence first); the README's first
    sentence for the overview; else what the unit is made of, by name."""
    chunk = repo.chunks.get(unit.chunk) if unit.chunk is not None else None
    if chunk is not None:
        from localread.describe import describe
        from localread.facts import facts_card

        return describe(repo, chunk, facts_card(repo, chunk.id))
    doc = first_sentence(readme_intro(repo)) if unit.kind is UnitKind.OVERVIEW else None
    if doc:
        return doc
    what = unit_name(repo, unit.id)
    if inputs:
        return f"{what[0].upper()}{what[1:]}: {_listed([unit_name(repo, u) for u in inputs])}."
    return f"{what[0].upper()}{what[1:]}, with nothing in it that localread could read."


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
