"""chunk + context -> Explanation: the static facts, the local model's narrative, and
the grounding check of that narrative against the code.

`explain_chunk` explains one chunk; `narrate_tour` explains each step of a reading
tour in order, each prompt aware of the steps already read. The model only narrates:
every fact it is given comes from the static analysis.

A small model sometimes answers with a worked example of its prompt (or a summary the
prompt showed) instead of explaining the chunk. Such an answer is never shown: the
model is asked once more with a prompt that has nothing to copy (`retry=True` in
localread.llm.prompts), and when that answer repeats too, the explanation is the static
facts alone (`NarrativeSource.STATIC`), with the reasons in `Explanation.rejected`.
Deterministic: greedy decoding, and the same checks on the same text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from localread.data import Chunk, Explanation, FactsCard, NarrativeSource
from localread.facts import facts_card, facts_text
from localread.grounding import REPEAT_NGRAM, find_repeat, repo_identifiers, unverified_names
from localread.llm.engine import Completion, Engine
from localread.llm.prompts import (
    BudgetedPrompt,
    Summary,
    chunk_prompt,
    prompt_version,
    tour_step_prompt,
)
from localread.repo.analysis import Repo
from localread.repo.tour import Tour
from localread.sentences import first_sentence

# How many earlier tour steps a step's prompt recalls (the latest ones).
ALREADY_READ = 6
# An answer that names at least this many identifiers found nowhere in the code but
# in the prompt's worked examples (`self.pre`, `resize_image`) took them from there.
EXAMPLE_NAMES = 2
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


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
    build = partial(chunk_prompt, engine, **_prompt_parts(repo, chunk, card, known), max_tokens=max_tokens)
    return _run(repo, chunk, engine, build, card, on_text)


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
) -> Explanation:
    """Ask the model with build(retry=False); when the answer repeats what the prompt
    showed, once more with build(retry=True); when that repeats too, fall back to the
    static explanation. on_text sees only the answer that is kept."""
    known = repo_identifiers(repo)
    rejected: list[str] = []
    examples: tuple[str, ...] = ()
    shown: tuple[Summary, ...] = ()
    for retry in (False, True):
        prompt = build(retry=retry)
        # The retry answer must not repeat the first prompt's texts either.
        examples, shown = examples + prompt.examples, shown + prompt.shown
        narrative = _generate(engine, prompt, on_text, held=bool(examples or shown))
        unverified = unverified_names(narrative, known)
        why = copied(narrative, prompt.answer_prefix, examples, shown, unverified)
        if why is None:
            if on_text is not None and (examples or shown):
                on_text(narrative)  # held back until checked, see _generate
            return _explanation(
                chunk, engine, prompt, card, narrative, tuple(unverified),
                NarrativeSource.RETRY if retry else NarrativeSource.MODEL, tuple(rejected),
            )
        rejected.append(why)
    return _explanation(chunk, engine, prompt, card, "", (), NarrativeSource.STATIC, tuple(rejected))


def _generate(
    engine: Engine, prompt: BudgetedPrompt, on_text: Callable[[str], None] | None, *, held: bool
) -> str:
    """The model's answer as a tidy narrative. Streamed to on_text as it comes unless
    held: when there is something the answer could copy, the caller shows it once it
    has been checked, so that a copy is never shown."""
    if on_text is None or held:
        return tidy_narrative(prompt, engine.complete(prompt.prompt, prompt.max_tokens))
    on_text(prompt.answer_prefix)
    stream = engine.stream(prompt.prompt, prompt.max_tokens)
    first = True
    for piece in stream:
        if first and prompt.answer_prefix and piece[:1].isalnum():
            piece = " " + piece  # as BudgetedPrompt.narrative joins them
        first = False
        on_text(piece)
    return tidy_narrative(prompt, stream.result)


def tidy_narrative(prompt: BudgetedPrompt, completion: Completion) -> str:
    """The answer as a reader should see it. Small models loop: each sentence is kept
    once, and a run of words that comes round a third time is cut where it began to
    repeat (at the sentence before it when there is one). The unfinished last
    sentence of an answer cut by max_tokens goes when a finished one precedes it."""
    text = _cut_loop(" ".join(prompt.narrative(completion).split()))
    sentences: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if sentence and sentence not in sentences:
            sentences.append(sentence)
    cut = completion.finish_reason == "length" or text.endswith(" ...")
    if cut and len(sentences) > 1 and not sentences[-1].endswith((".", "!", "?")):
        sentences.pop()
    return " ".join(sentences)


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


def copied(
    narrative: str,
    answer_prefix: str,
    examples: Sequence[str],
    shown: Sequence[Summary],
    unverified: Sequence[str],
) -> str | None:
    """Why the narrative is a copy of what the prompt showed rather than an
    explanation, in words for the reader; None when it is not one.

    A copy repeats most of the word n-grams of a worked example or of a summary shown
    (grounding.find_repeat), or names identifiers that exist nowhere in the code
    (`unverified`) but in the worked examples. answer_prefix: the words the prompt put
    in the model's mouth (the chunk's name), not counted."""
    answer = narrative.removeprefix(answer_prefix)
    repeat = find_repeat(answer, [*examples, *(s.summary for s in shown)])
    if repeat is not None:
        share = f"{repeat.share:.0%} of its {REPEAT_NGRAM}-word phrases"
        if repeat.reference in examples:
            return f"repeated a worked example of the prompt ({share})"
        said = next(s.id for s in shown if s.summary == repeat.reference)
        return f"repeated what the prompt said about `{said}` ({share})"
    example_words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(examples)))
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
    )


def static_explanation(chunk: Chunk, card: FactsCard) -> Explanation:
    """What `--no-llm` reports: the facts alone, no narrative, nothing to verify."""
    return Explanation(
        id=chunk.id, facts=card, narrative="", unverified=(), model_name="", model_sha256="",
        prompt_version=prompt_version(), source=NarrativeSource.STATIC,
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
        build = partial(
            tour_step_prompt, engine, step=n, reason=step.reason, max_tokens=max_tokens,
            already_read=read[-ALREADY_READ:], **_prompt_parts(repo, chunk, card, known),
        )
        explanation = _run(repo, chunk, engine, build, card, on_text)
        out[step.id] = explanation
        # What later steps are told about this one: a static step has only its
        # docstring to offer, and nothing when it has none.
        summary = first_sentence(explanation.narrative or card.docstring, limit=None)
        if summary:
            known.setdefault(step.id, summary)
            read.append(Summary(step.id, summary))
        if on_done is not None:
            on_done(explanation)
    return out


def explain_json(repo: Repo, explanation: Explanation) -> dict[str, Any]:
    """The `explain --json` shape of DESIGN.md. Once a prompt was built, the facts
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
        "unverified": list(explanation.unverified),
        "model": {"name": explanation.model_name or None, "sha256": explanation.model_sha256 or None},
        "prompt_version": explanation.prompt_version,
        "source": str(explanation.source),
        "rejected": list(explanation.rejected),
    }

