"""The model's part of `localread paper`: re-rank each section's candidates and say
in one sentence why each one matches.

`explain_matches(alignment, paper, view, complete)` takes any completion function
(shared prompt part, per-call part) -> answer text (an engine's `complete` at
temperature 0 in practice; the shared part is the same for every call, so an engine
can keep it cached), so the step is independent of how the model is run. For every candidate of a section
found in the code, the model rates the pair strong / partial / weak after a
completion-style prompt of worked examples (`localread/prompts/paper.txt`) and writes a
sentence after "Why:". The model's order and the static order are fused by
reciprocal rank, so a small model can promote a candidate but not throw the static
evidence away. Each sentence passes the quality gate (localread.quality) like
`explain`'s narratives: one that fails is asked again once without the worked
examples, then dropped for the static reason (the shared words, the graph step), and
the match says so (`why_source`, `rejected`). Given a sampling function as well
(`sample`: the engine's Engine.sample), a sentence that passes the gate is checked
against sentences sampled from the same prompt, as summaries and narratives are: one
the model's own samples do not bear out is a guess and fails (localread.agreement).
Identifiers a kept sentence names that exist nowhere in the code are listed after it
as unverified.
Sections with no convincing match are left as they are (no model call).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from string import Template
from typing import TYPE_CHECKING

from localread.agreement import SAMPLES, unsure
from localread.config import Settings
from localread.data import Chunk
from localread.grounding import unverified_names
from localread.paper.align import Alignment, CodeView, Match, SectionAlignment, finish
from localread.paper.text import Paper, Section
from localread.prompts import load
from localread.quality import Subject, check, subject_for, subject_of_names

if TYPE_CHECKING:
    from localread.repo.analysis import Repo

SECTION_WORDS = 70  # section text shown to the model; small models lose the thread past this
CANDIDATES = 5  # static candidates per section the model re-ranks
MAX_TOKENS = 60  # a rating and one sentence
RRF_K = 2  # reciprocal-rank constant: small, because the lists are short (a handful)
RATINGS = {"strong": 2, "partial": 1, "weak": 0}
STOPS = ("\n\n", "\n## ")

Complete = Callable[[str, str], str]
# (shared part, per-call part) -> answers sampled from that prompt.
Sample = Callable[[str, str], list[str]]


def prompt_version() -> str:
    """The version of paper.txt: part of how a result names the model that made it.
    Bump it there with any change to the template or to how it is filled in here."""
    return load("paper").version


def shared_prompt(*, retry: bool = False) -> str:
    """The instructions and worked examples, the same for every call (cacheable);
    with retry, the instructions alone (what a rejected sentence is asked again with)."""
    return load("paper").blocks["retry_shared" if retry else "shared"] + "\n\n"


def match_prompt(section: Section, chunk: Chunk, match: Match) -> str:
    """The per-candidate part of the prompt; the model continues after "Match:"."""
    words = " ".join(section.text.split()[:SECTION_WORDS])
    return Template(load("paper").blocks["match"]).substitute(
        title=section.title,
        id=chunk.id,
        section=words,
        kind=str(chunk.kind),
        where=f"{chunk.path}:{chunk.start}",
        signature=chunk.signature,
        docstring=(chunk.docstring or "(none)").split("\n\n")[0].replace("\n", " "),
        evidence=", ".join(match.evidence) or "(none)",
    )


def parse_answer(text: str) -> tuple[int | None, str | None]:
    """(rating, sentence) from a completion that follows "Match:". A rating the model
    did not give is None; the sentence is the first one after "Why:"."""
    first = re.match(r"\s*\**\s*([A-Za-z]+)", text)
    rating = RATINGS.get(first.group(1).lower()) if first else None
    why = re.search(r"Why:\s*(.+)", text)
    if why is None:
        return rating, None
    sentence = re.split(r"(?<=[.!?])\s", why.group(1).strip(), maxsplit=1)[0].strip()
    # A bare name or path (`pkg/mod.py:12`) is not a reason: keep sentences only.
    words = re.findall(r"[A-Za-z]+", re.sub(r"`[^`]*`", " ", sentence))
    return rating, sentence if len(words) >= 4 else None


def explain_matches(
    alignment: Alignment,
    paper: Paper,
    view: CodeView,
    complete: Complete,
    *,
    top: int,
    known: frozenset[str],
    model: str,
    repo: Repo | None = None,
    sample: Sample | None = None,
) -> Alignment:
    """Re-rank and explain. alignment: from `align` with more candidates than `top`
    per section (they are the pool the model re-ranks); known: the repository's
    identifiers (grounding.repo_identifiers); model: how the result names the model;
    repo: the repository, whose call graph and facts the quality gate checks each
    sentence against (without it, the chunk's name, signature and docstring);
    sample: answers sampled from a prompt, that a sentence which passed the gate must
    agree with (without it, none is drawn).
    Returns the alignment with `top` matches per section, `why` filled in, and the
    reverse lists recomputed."""
    by_title = {s.title: s for s in paper.sections}
    sections: list[SectionAlignment] = []
    for aligned in alignment.sections:
        section = by_title.get(aligned.title)
        if section is None or not aligned.matched or not aligned.matches:
            sections.append(replace(aligned, matches=aligned.matches[:top]))
            continue
        rated: list[tuple[int, Match]] = []
        for match in aligned.matches:
            chunk = view.chunks[match.id]
            rating, checked = _rated(complete, sample, section, chunk, match, repo)
            why, source, rejected = checked
            if why is not None:
                unknown = unverified_names(why, known)
                if unknown:
                    why += f" [unverified: {', '.join(unknown)}]"
            rated.append((rating if rating is not None else RATINGS["partial"],
                          replace(match, why=why, why_source=source, rejected=rejected)))
        sections.append(replace(aligned, matches=tuple(_fused(rated))[:top]))
    return finish(alignment.paper, sections, view, alignment.threshold, model=model)


def _rated(
    complete: Complete, sample: Sample | None, section: Section, chunk: Chunk, match: Match, repo: Repo | None
) -> tuple[int | None, tuple[str | None, str, tuple[str, ...]]]:
    """The model's rating of one pair, and its sentence as the quality gate and the
    sampled answers leave it: (rating, (why, why_source, rejected)). The first
    answer's rating is kept."""
    subject = _subject(section, chunk, match, repo)
    examples = (load("paper").blocks["shared"],)
    rejected: list[str] = []
    first_rating: int | None = None
    for retry in (False, True):
        shared, text = shared_prompt(retry=retry), match_prompt(section, chunk, match)
        rating, why = parse_answer(complete(shared, text))
        first_rating = rating if not retry else first_rating
        problems = check(why or "", subject, examples=examples)
        if not problems and why is not None and sample is not None:
            guess = unsure(why, [parse_answer(answer)[1] or "" for answer in sample(shared, text)])
            problems = [guess] if guess else []
        if not problems:
            return first_rating, (why, "retry" if retry else "model", tuple(rejected))
        rejected.append("; ".join(problems))
    return first_rating, (None, "static", tuple(rejected))


def _subject(section: Section, chunk: Chunk, match: Match, repo: Repo | None) -> Subject:
    """What a why line is checked against: the chunk (its facts when the repository
    is at hand), with the section's words and the shared words as context, since a
    sentence on why they match may use both."""
    said = [section.title, " ".join(section.text.split()[:SECTION_WORDS]), " ".join(match.evidence)]
    if repo is not None and chunk.id in repo.chunks:
        from localread.facts import facts_card

        return subject_for(repo, chunk, facts_card(repo, chunk.id), shown=said)
    return subject_of_names(chunk.name, str(chunk.kind), [chunk.qualname, chunk.signature, chunk.docstring or ""], said)


def _fused(rated: list[tuple[int, Match]]) -> list[Match]:
    """Reciprocal-rank fusion of the static order (as given) and the model's order
    (rating, then static order); ties keep the static order."""
    static_rank = {m.id: i for i, (_, m) in enumerate(rated)}
    model_order = sorted(rated, key=lambda rm: (-rm[0], static_rank[rm[1].id]))
    model_rank = {m.id: i for i, (_, m) in enumerate(model_order)}

    def fused(m: Match) -> float:
        return 1 / (RRF_K + 1 + static_rank[m.id]) + 1 / (RRF_K + 1 + model_rank[m.id])

    return sorted((m for _, m in rated), key=lambda m: (-fused(m), static_rank[m.id]))


def with_model(
    alignment: Alignment, paper: Paper, repo: Repo, view: CodeView, settings: Settings, *, top: int
) -> Alignment:
    """explain_matches with the local model of `settings` (llama.cpp: greedy answers,
    checked against SAMPLES sampled ones)."""
    from localread.grounding import repo_identifiers
    from localread.llm.engine import Prompt, open_engine
    from localread.llm.models import ChatStyle

    with open_engine(settings) as engine:

        def complete(shared: str, text: str) -> str:
            prompt = Prompt(shared=shared, text=text, style=ChatStyle.COMPLETION)
            return engine.complete(prompt, max_tokens=MAX_TOKENS, stop=STOPS).text

        def sample(shared: str, text: str) -> list[str]:
            prompt = Prompt(shared=shared, text=text, style=ChatStyle.COMPLETION)
            return [c.text for c in engine.sample(prompt, MAX_TOKENS, SAMPLES, stop=STOPS)]

        name = f"{engine.model.name} (sha256 {engine.model.sha256[:12]}, prompt {prompt_version()})"
        return explain_matches(
            alignment, paper, view, complete, top=top, known=repo_identifiers(repo), model=name, repo=repo,
            sample=sample,
        )
