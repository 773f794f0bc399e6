"""The first sentence of a text (a docstring, a stored summary, a model's narrative),
as the one-line summary that callers, tour steps and report rows show of it; and
whether a model's sentence says again what an earlier one said."""

from __future__ import annotations

import re

# One-line summaries handed to callers and report rows are cut at this many characters.
ONE_LINE_CHARS = 200
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
# A docstring that opens with a section ("Parameters" over a line of dashes, "Args:",
# a doctest) has no summary: its first line is a heading, not a sentence.
_SECTION_START = re.compile(r"^[^\n]*\n\s*(?:-{3,}|={3,})\s*(?:\n|$)|^(?:Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?|Attributes)\s*:|^>>>")


def first_sentence(text: str | None, limit: int | None = ONE_LINE_CHARS) -> str | None:
    """The first sentence of text's first paragraph, on one line, without a leading
    "Summary:"; None when there is none (a docstring that opens with a section such as
    "Parameters" has none). limit: at most this many characters, cut at
    a word with an ellipsis (None: never cut)."""
    if not text or _SECTION_START.match(text.strip()):
        return None
    flat = " ".join(text.strip().split("\n\n", 1)[0].split())
    flat = flat.removeprefix("Summary:").strip()
    if not flat:
        return None
    match = _SENTENCE_END.search(flat)
    sentence = flat[: match.start()] if match else flat
    if limit is not None and len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    return sentence


# A sentence's subject before its verb ("This module is ...", "It is ..."): two
# sentences that differ only there say one thing.
_SUBJECT = re.compile(
    r"^(?:it|this|that|these|they|the|a|an)(?:\s+[\w`.()]+)?\s+(?=(?:is|are|was|were|does|do|can|will|has|have)\b)"
)


def said_before(sentence: str, earlier: list[str]) -> bool:
    """Whether sentence says what one of earlier says: the same words, or the same
    but for the subject ("This module is used to X." after "It is used to X.")."""
    def said(text: str) -> str:
        return _SUBJECT.sub("", " ".join(text.lower().split()))

    return any(said(sentence) == said(other) for other in earlier)
