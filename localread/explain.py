"""chunk + context -> Explanation: the static facts, the local model's narrative, and
the grounding check of that narrative against the code.

`explain_chunk` explains one chunk; `narrate_tour` explains each step of a reading
tour in order, each prompt aware of the steps already read. The model only narrates:
every fact it is given comes from the static analysis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localread.data import Chunk, Explanation
from localread.facts import facts_card, facts_text
from localread.grounding import repo_identifiers, unverified_names
from localread.llm.engine import Engine
from localread.llm.prompts import PROMPT_VERSION, BudgetedPrompt, Summary, chunk_prompt, tour_step_prompt
from localread.repo.analysis import Repo
from localread.repo.tour import Tour

# How many earlier tour steps a step's prompt recalls (the latest ones).
ALREADY_READ = 6


def call_lines(repo: Repo, chunk: Chunk) -> set[int]:
    """File lines of the chunk that call into the repository: kept when condensing."""
    return {site.line for site in repo.graph.calls.get(chunk.id, []) if site.targets}


def callee_summaries(card: dict[str, Any], summaries: dict[str, str]) -> list[Summary]:
    """One-line summaries of the chunk's repo callees that are known, in call order."""
    return [Summary(c["id"], summaries[c["id"]]) for c in card["callees"] if summaries.get(c["id"])]


def explain_chunk(
    repo: Repo,
    chunk: Chunk,
    engine: Engine,
    *,
    max_tokens: int,
    tour: Tour | None = None,
    summaries: dict[str, str] | None = None,
    on_text: Callable[[str], None] | None = None,
    card: dict[str, Any] | None = None,
) -> Explanation:
    """Explain one chunk. on_text receives the narrative as it is generated (the
    answer prefix first). summaries: known one-line summaries of repo symbols, used
    for the chunk's callees. card: the chunk's facts card, when already built."""
    card = card if card is not None else facts_card(repo, chunk.id, tour)
    prompt = chunk_prompt(engine, **_prompt_parts(repo, chunk, card, summaries or {}), max_tokens=max_tokens)
    return _run(repo, chunk, engine, prompt, card, on_text)


def _prompt_parts(repo: Repo, chunk: Chunk, card: dict[str, Any], known: dict[str, str]) -> dict[str, Any]:
    """What every chunk prompt carries; fills the card's callee summaries from known."""
    for callee in card["callees"]:
        callee["summary"] = known.get(callee["id"])
    return {
        "chunk_id": chunk.id,
        "kind": str(chunk.kind),
        "path": chunk.path,
        "start": chunk.start,
        "facts": facts_text(card),
        "source": repo.chunk_source(chunk),
        "callees": callee_summaries(card, known),
        "call_lines": call_lines(repo, chunk),
    }


def _run(
    repo: Repo,
    chunk: Chunk,
    engine: Engine,
    prompt: BudgetedPrompt,
    card: dict[str, Any],
    on_text: Callable[[str], None] | None,
) -> Explanation:
    if on_text is None:
        narrative = prompt.narrative(engine.complete(prompt.prompt, prompt.max_tokens))
    else:
        on_text(prompt.answer_prefix)
        stream = engine.stream(prompt.prompt, prompt.max_tokens)
        first = True
        for piece in stream:
            if first and prompt.answer_prefix and piece[:1].isalnum():
                piece = " " + piece  # as BudgetedPrompt.narrative joins them
            first = False
            on_text(piece)
        narrative = prompt.narrative(stream.result)
    card["condensed"] = (
        f"{prompt.elided_lines} source lines were elided to fit the model's context" if prompt.condensed else None
    )
    return Explanation(
        id=chunk.id,
        facts=card,
        narrative=narrative,
        unverified=tuple(unverified_names(narrative, repo_identifiers(repo))),
        model_name=engine.model.name,
        model_sha256=engine.model.sha256,
        prompt_version=prompt.version,
        condensed=prompt.condensed,
    )


def static_explanation(chunk: Chunk, card: dict[str, Any]) -> Explanation:
    """What `--no-llm` reports: the facts alone, no narrative, nothing to verify."""
    return Explanation(
        id=chunk.id, facts=card, narrative="", unverified=(), model_name="", model_sha256="",
        prompt_version=PROMPT_VERSION,
    )


def first_sentence(text: str) -> str:
    """The narrative's first sentence, as the one-line summary of a step."""
    flat = " ".join(text.split())
    for end in (". ", "! ", "? "):
        if end in flat:
            return flat.split(end, 1)[0] + end.strip()
    return flat


def narrate_tour(
    repo: Repo,
    tour: Tour,
    engine: Engine,
    *,
    max_tokens: int,
    summaries: dict[str, str] | None = None,
    on_step: Callable[[int, Any], None] | None = None,
    on_text: Callable[[str], None] | None = None,
    on_done: Callable[[Explanation], None] | None = None,
) -> dict[str, Explanation]:
    """Explain every step of the tour in reading order. Each prompt recalls the steps
    already read (their first sentences) so the model says what is new here."""
    known = dict(summaries or {})
    read: list[Summary] = []
    out: dict[str, Explanation] = {}
    for n, step in enumerate(tour.steps, 1):
        chunk = repo.chunks[step.id]
        if on_step is not None:
            on_step(n, step)
        card = facts_card(repo, chunk.id, tour)
        prompt = tour_step_prompt(
            engine, step=n, reason=step.reason, max_tokens=max_tokens,
            already_read=read[-ALREADY_READ:], **_prompt_parts(repo, chunk, card, known),
        )
        explanation = _run(repo, chunk, engine, prompt, card, on_text)
        out[step.id] = explanation
        summary = first_sentence(explanation.narrative)
        known.setdefault(step.id, summary)
        read.append(Summary(step.id, summary))
        if on_done is not None:
            on_done(explanation)
    return out


def explain_json(repo: Repo, explanation: Explanation) -> dict[str, Any]:
    """The `explain --json` shape of DESIGN.md."""
    chunk = repo.chunks[explanation.id]
    return {
        "id": chunk.id,
        "path": chunk.path,
        "start": chunk.start,
        "end": chunk.end,
        "facts": explanation.facts,
        "narrative": explanation.narrative,
        "unverified": list(explanation.unverified),
        "model": {"name": explanation.model_name or None, "sha256": explanation.model_sha256 or None},
        "prompt_version": explanation.prompt_version,
    }

