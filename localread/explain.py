"""chunk + context -> Explanation: the static facts and description, the local
model's line of purpose, and the quality gate's verdict on it.

`explain_chunk` explains one chunk; `narrate_tour` explains each step of a reading
tour in order. The model's job is the one line of purpose the facts cannot give:
what the code does step by step is the static description (localread.describe),
exact. A chunk with a docstring needs no model: its docstring says what it is for
(`NarrativeSource.DOCSTRING`).

Every answer passes the quality gate (localread.quality) before it is shown: empty,
off topic, restating, borrowed from a worked example, contradicting the call graph,
degenerate. An answer that passes is checked once more against answers sampled from
the same prompt (Engine.sample): one the model's own samples do not bear out is a
guess, and is not shown either (localread.agreement). When the answer fails, the
model is asked again once with another prompt (`retry=True` in localread.llm.prompts:
no worked examples, no summaries to copy); when that fails too, the narrative is the
static description (`NarrativeSource.STATIC`), with the reasons in
`Explanation.rejected`.
Deterministic: greedy decoding, seeded sampling, and the same checks on the same text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from localread.agreement import SAMPLES, unsure
from localread.data import Chunk, ChunkKind, Explanation, FactsCard, NarrativeSource
from localread.describe import describe
from localread.facts import facts_card, facts_text
from localread.grounding import REPEAT_NGRAM, repo_identifiers, unverified_names
from localread.llm.engine import Completion, Engine
from localread.llm.prompts import (
    BudgetedPrompt,
    Summary,
    chunk_prompt,
    prompt_version,
    tour_step_prompt,
)
from localread.quality import Subject, check, subject_for
from localread.repo.analysis import Repo
from localread.repo.tour import Tour
from localread.sentences import first_sentence, said_before

# How many earlier tour steps a step's prompt recalls (the latest ones).
ALREADY_READ = 6
# An answer that names at least this many identifiers found nowhere in the code but
# in the prompt's worked examples (`self.pre`, `resize_image`) took them from there.
EXAMPLE_NAMES = 2
# The answer budget of a line of purpose (tokens): one sentence. Asking for
# less than max_tokens also keeps a small model from rambling into a loop.
PURPOSE_TOKENS = 64
# Sentences kept of an answer: the one line of purpose (the 270M model's second
# sentences were filler or invented; see localread.summarize.answers.MAX_SENTENCES).
PURPOSE_SENTENCES = 1
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Where a docstring's first paragraph gives way to its sections.
_SECTION = re.compile(r"\s(?:Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?|Attributes):|\s:(?:param|return|rtype)\b|\s>>>|\s-{3,}")


def call_lines(repo: Repo, chunk: Chunk) -> set[int]:
    """File lines of the chunk that call into the repository: kept when condensing."""
    return {site.line for site in repo.graph.calls.get(chunk.id, []) if site.targets}


def callee_summaries(card: FactsCard, summaries: dict[str, str]) -> list[Summary]:
    """One-line summaries of the chunk's repo callees that are known, in call order."""
    return [Summary(c.id, summaries[c.id]) for c in card.callees if summaries.get(c.id)]


def explain_chunk(
    repo: Repo,
    chunk: Chunk,
    engine: Engine,
    *,
    max_tokens: int,
    tour: Tour | None = None,
    summaries: dict[str, str] | None = None,
    on_text: Callable[[str], None] | None = None,
    card: FactsCard | None = None,
) -> Explanation:
    """Explain one chunk. on_text receives the narrative as it is generated (the
    answer prefix first). summaries: known one-line summaries of repo symbols, used
    for the chunk's callees (the explanation's card carries them). card: the chunk's
    facts card, when already built."""
    known = summaries or {}
    card = (card if card is not None else facts_card(repo, chunk.id, tour)).with_summaries(known)
    if is_documented(chunk, card):
        return documented_explanation(repo, chunk, card, engine)
    build = partial(chunk_prompt, engine, **_prompt_parts(repo, chunk, card, known), max_tokens=min(max_tokens, PURPOSE_TOKENS))
    return _run(repo, chunk, engine, build, card, on_text)


def is_documented(chunk: Chunk, card: FactsCard) -> bool:
    """Whether the chunk's docstring already says what it is for: then the model has
    nothing to add that the facts do not give (a main block has no docstring)."""
    return chunk.kind is not ChunkKind.MAIN and bool(first_sentence(card.docstring))


def _prompt_parts(repo: Repo, chunk: Chunk, card: FactsCard, known: dict[str, str]) -> dict[str, Any]:
    """What every chunk prompt carries."""
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
    build: Callable[..., BudgetedPrompt],
    card: FactsCard,
    on_text: Callable[[str], None] | None,
    reason: str | None = None,
) -> Explanation:
    """Ask the model with build(retry=False) for its greedy answer, checked by the
    quality gate and then against answers sampled from the same prompt
    (localread.agreement); when it fails, ask once more with build(retry=True),
    checked the same way; when that fails too, the static description.
    on_text sees only the answer that is kept (the gate needs the whole answer, so
    nothing is streamed before it has passed)."""
    known = repo_identifiers(repo)
    description = describe(repo, chunk, card)
    rejected: list[str] = []
    examples: tuple[str, ...] = ()
    example_text: tuple[str, ...] = ()
    shown: tuple[Summary, ...] = ()
    prompt: BudgetedPrompt | None = None
    for retry in (False, True):
        prompt = build(retry=retry)
        # The retry answer must not repeat the first prompt's texts either.
        examples, shown = examples + prompt.examples, shown + prompt.shown
        example_text += (prompt.example_text,) if prompt.example_text else ()
        subject = subject_for(repo, chunk, card, reason=reason, shown=[s.summary for s in shown])
        labels = {f"`{s.id}`": s.summary for s in shown}
        narrative = tidy_narrative(prompt, engine.complete(prompt.prompt, prompt.max_tokens))
        problems = _problems(narrative, subject=subject, examples=examples, example_text=example_text,
                             shown=labels, prefix=prompt.answer_prefix, known=known)
        if not problems and SAMPLES:
            drawn = engine.sample(prompt.prompt, prompt.max_tokens, SAMPLES)
            guess = unsure(narrative, [tidy_narrative(prompt, c) for c in drawn])
            problems = (guess,) if guess else ()
        if not problems:
            if on_text is not None:
                on_text(narrative)
            return _explanation(
                chunk, engine, prompt, card, narrative, tuple(unverified_names(narrative, known)),
                NarrativeSource.RETRY if retry else NarrativeSource.MODEL, tuple(rejected), description,
            )
        rejected.append("; ".join(problems))
    assert prompt is not None  # the loop ran
    return _explanation(chunk, engine, prompt, card, description, (), NarrativeSource.STATIC, tuple(rejected), description)


def _problems(narrative: str, *, subject: Subject, examples: tuple[str, ...], example_text: tuple[str, ...],
              shown: dict[str, str], prefix: str, known: frozenset[str]) -> tuple[str, ...]:
    """Why the quality gate rejects a narrative (empty: it passes), and whether it
    named a worked example's identifiers."""
    problems = check(narrative, subject, examples=(*example_text, *examples), shown=shown, prefix=prefix)
    if problems:
        return problems
    borrowed = _borrowed_names(unverified_names(narrative, known), examples, example_text)
    return (borrowed,) if borrowed else ()


def tidy_narrative(prompt: BudgetedPrompt, completion: Completion) -> str:
    """The answer as a reader should see it. Small models loop: each sentence is kept
    once, and a run of words that comes round a third time is cut where it began to
    repeat (at the sentence before it when there is one). The unfinished last
    sentence of an answer cut by max_tokens goes when a finished one precedes it."""
    text = prompt.narrative(completion).split('"""', 1)[0]
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    text = " ".join(paragraphs[0].split()) if paragraphs else ""
    text = _cut_loop(_SECTION.split(" " + text, maxsplit=1)[0].strip())
    sentences: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if sentence and not said_before(sentence, sentences):
            sentences.append(sentence)
    sentences = sentences[: PURPOSE_SENTENCES + 1]
    cut = completion.finish_reason == "length" or text.endswith(" ...") or len(sentences) > PURPOSE_SENTENCES
    if cut and len(sentences) > 1 and not sentences[-1].endswith((".", "!", "?")):
        sentences.pop()
    return " ".join(sentences[:PURPOSE_SENTENCES])


def _cut_loop(text: str, n: int = REPEAT_NGRAM) -> str:
    """text up to the second occurrence of the first word n-gram that occurs three
    times, marked with " ..."; text itself when none does."""
    words = list(re.finditer(r"\S+", text))
    seen: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(words) - n + 1):
        gram = tuple(w.group().lower() for w in words[i : i + n])
        starts = seen.setdefault(gram, [])
        starts.append(i)
        if len(starts) == 3:
            head = text[: words[starts[1]].start()].rstrip()
            end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
            if head.endswith((".", "!", "?")):
                return head
            return head[: end + 1] if end > 0 else head.rstrip(",;:") + " ..."
    return text


def _borrowed_names(unverified: Sequence[str], examples: Sequence[str], example_text: Sequence[str]) -> str | None:
    """Why an answer that names identifiers found nowhere in the code but in the
    worked examples (`self.pre`, `resize_image`) took them from there; None when it
    does not."""
    example_words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join([*examples, *example_text])))
    borrowed = [n for n in unverified if set(n.split(".")) <= example_words]
    if len(borrowed) >= EXAMPLE_NAMES and 2 * len(borrowed) >= len(unverified):
        return "named " + ", ".join(f"`{n}`" for n in borrowed) + " from a worked example of the prompt"
    return None


def _explanation(
    chunk: Chunk,
    engine: Engine,
    prompt: BudgetedPrompt,
    card: FactsCard,
    narrative: str,
    unverified: tuple[str, ...],
    source: NarrativeSource,
    rejected: tuple[str, ...],
    description: str,
) -> Explanation:
    return Explanation(
        id=chunk.id,
        facts=card,
        narrative=narrative,
        unverified=unverified,
        model_name=engine.model.name,
        model_sha256=engine.model.sha256,
        prompt_version=prompt.version,
        condensed=prompt.condensed and source is not NarrativeSource.STATIC,
        source=source,
        rejected=rejected,
        elided_lines=prompt.elided_lines,
        description=description,
    )


def static_explanation(repo: Repo, chunk: Chunk, card: FactsCard) -> Explanation:
    """What `--no-llm` reports: the facts and the static description, nothing to verify."""
    description = describe(repo, chunk, card)
    return Explanation(
        id=chunk.id, facts=card, narrative=description, unverified=(), model_name="", model_sha256="",
        prompt_version=prompt_version(), source=NarrativeSource.STATIC, description=description,
    )


def documented_explanation(repo: Repo, chunk: Chunk, card: FactsCard, engine: Engine) -> Explanation:
    """A documented chunk's explanation: its static description, led by the
    docstring's first sentence; the model is not asked."""
    description = describe(repo, chunk, card)
    return Explanation(
        id=chunk.id, facts=card, narrative=description, unverified=(), model_name=engine.model.name,
        model_sha256=engine.model.sha256, prompt_version=prompt_version(), source=NarrativeSource.DOCSTRING,
        description=description,
    )


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
        card = facts_card(repo, chunk.id, tour).with_summaries(known)
        if is_documented(chunk, card):
            explanation = documented_explanation(repo, chunk, card, engine)
        else:
            build = partial(
                tour_step_prompt, engine, step=n, reason=step.reason, max_tokens=min(max_tokens, PURPOSE_TOKENS),
                already_read=read[-ALREADY_READ:], **_prompt_parts(repo, chunk, card, known),
            )
            explanation = _run(repo, chunk, engine, build, card, on_text, reason=step.reason)
        out[step.id] = explanation
        # What later steps are told about this one: the model's line when it passed
        # the gate, else the docstring (a static description is not a summary).
        summary = first_sentence(explanation.narrative if explanation.from_model else card.docstring, limit=None)
        if summary:
            known.setdefault(step.id, summary)
            read.append(Summary(step.id, summary))
        if on_done is not None:
            on_done(explanation)
    return out


def explain_json(repo: Repo, explanation: Explanation) -> dict[str, Any]:
    """The `explain --json` shape of DESIGN.md, plus `description` (the static
    description), `source` (model, retry, static or docstring) and `rejected` (why
    the quality gate rejected each model answer). Once a prompt was built, the facts
    also say what it left out of the source (`condensed`, null when nothing)."""
    chunk = repo.chunks[explanation.id]
    facts = explanation.facts.to_json()
    if explanation.elided_lines is not None:
        facts["condensed"] = explanation.condensed_note
    return {
        "id": chunk.id,
        "path": chunk.path,
        "start": chunk.start,
        "end": chunk.end,
        "facts": facts,
        "narrative": explanation.narrative,
        "description": explanation.description,
        "unverified": list(explanation.unverified),
        "model": {"name": explanation.model_name or None, "sha256": explanation.model_sha256 or None},
        "prompt_version": explanation.prompt_version,
        "source": str(explanation.source),
        "rejected": list(explanation.rejected),
    }

