"""A unit's model work, whoever runs the model: the prompts of its attempts, the
check of each answer, and the store entry of the outcome.

The first attempt shows the inputs' one-line summaries. Its greedy answer is checked
by the quality gate (answers.summary_problems); when it fails, ALTERNATIVES answers
are sampled from the same prompt (cheap: the prompt is still in the cache), and of
those that pass the one the answers agree on most is kept (localread.agreement). When
none passes, the retry prompt is asked; when its answer fails too, the summary is
the static description (answers.fallback_summary). The
live run (summarize.run) makes these calls in one go; a batch (summarize.batch) asks
each prompt's greedy answer only, one per wave, and keeps the first rejection in the
store between waves (a batch file has no sampled answers to choose from).

`judge` is the one check of an answer: every engine's answers go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from localread.agreement import most_agreed
from localread.data import ChunkKind
from localread.quality import split_words
from localread.repo.analysis import Repo
from localread.store import Entry
from localread.summarize.answers import answer_summary, fallback_summary, summary_problems
from localread.summarize.model import Unit
from localread.summarize.prompts import STOPS, UnitPrompt, instructions

if TYPE_CHECKING:
    from localread.llm.engine import Completion, Engine, Prompt

# Answers sampled from the first prompt when its greedy answer fails the gate
# (Engine.sample): the summary is the one of them that passes the gate and that the
# answers agree with most (localread.agreement). benchmarks/explain_quality.py
# measured this against asking the retry prompt at once, and against always sampling
# (which chose worse than the greedy answer where that one passed).
ALTERNATIVES = 3


@dataclass(frozen=True, slots=True)
class Ask:
    """One unit's request to a model. key: its store key (from the first prompt).
    prompts: the attempts in order (the retry only where it differs from the first).
    shown: input id -> the one-line summary the first prompt showed."""

    unit: Unit
    key: str
    prompts: tuple[UnitPrompt, ...]
    shown: dict[str, str]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A checked answer: the summary it gives, and why it is not kept (None: kept)."""

    summary: str
    rejected: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a unit's attempts came to. rejected: why answers were not kept; fallback:
    every answer was rejected and summary is what the code says of itself.
    calls: the completions of its model calls, in order (the batch's first call, made
    in an earlier wave, is counted in `earlier`)."""

    ask: Ask
    summary: str
    rejected: tuple[str, ...]
    fallback: bool
    finish_reason: str
    prompt_tokens: int
    prompt_tokens_reused: int
    completion_tokens: int
    seconds: float
    calls: int


def model_prompt(prompt: UnitPrompt) -> Prompt:
    """What the engine is asked. Only the instructions are the shared prefix: the
    engine reuses exactly that part (llm/engine.py), and a module header of a few
    tokens is not worth losing the instructions' reuse at every change of module."""
    from localread.llm.engine import Prompt

    return Prompt(shared=instructions(), text=prompt.header + prompt.body, stop=STOPS)


def judge(repo: Repo, ask: Ask, attempt: int, text: str) -> Verdict:
    """The check of the answer `text` to attempt `attempt` of ask: cleaned to a
    summary (answers.answer_summary), and rejected with the quality gate's reasons
    (answers.summary_problems: a repeated input summary or worked example, a
    restatement, an off-topic or runaway text)."""
    prefix = ask.prompts[attempt].answer_prefix
    summary = answer_summary(ask.unit, text, prefix)
    problems = summary_problems(repo, ask.unit, summary, ask.shown, prefix)
    return Verdict(summary, "; ".join(problems) or None)


def name_voice(repo: Repo, unit: Unit) -> str:
    """The unit's name in words, the extra voice of localread.agreement."""
    chunk = repo.chunks.get(unit.chunk) if unit.chunk is not None else None
    name = chunk.name if chunk is not None and chunk.kind is not ChunkKind.MODULE else unit.id.rsplit(".", 1)[-1]
    return " ".join(split_words(name))


def ask_engine(repo: Repo, inputs: tuple[str, ...], ask: Ask, engine: Engine,
               clock: Any) -> Outcome:
    """Make the attempts of ask on engine until an answer is kept (see the module
    docstring): the first prompt's greedy answer; when it fails the gate,
    ALTERNATIVES sampled ones, the one they agree on kept among those that pass;
    then the retry prompt.
    clock: a monotonic clock (time.monotonic). Thread-safe where the engine is: it
    reads the repository and writes nothing."""
    calls: list[Completion] = []
    rejected: list[str] = []
    seconds = 0.0
    summary = ""
    kept = False
    for attempt, prompt in enumerate(ask.prompts):
        started = clock()
        drawn = [engine.complete(model_prompt(prompt), prompt.max_tokens)]
        verdicts = [judge(repo, ask, attempt, drawn[0].text)]
        if attempt == 0 and verdicts[0].rejected is not None and ALTERNATIVES:
            samples = engine.sample(model_prompt(prompt), prompt.max_tokens, ALTERNATIVES)
            drawn += samples
            verdicts += [judge(repo, ask, attempt, c.text) for c in samples]
        seconds += clock() - started
        calls += drawn
        if verdicts[0].rejected is not None:
            rejected.append(verdicts[0].rejected)
        passed = [v.summary for v in verdicts if v.rejected is None]
        if passed:
            voices = [v.summary for v in verdicts] + [name_voice(repo, ask.unit)]
            summary, kept = passed[most_agreed(passed, voices)], True
            break
    fallback = not kept
    if fallback:
        summary = fallback_summary(repo, ask.unit, inputs)
    return Outcome(
        ask=ask,
        summary=summary,
        rejected=tuple(rejected),
        fallback=fallback,
        finish_reason=calls[-1].finish_reason,
        prompt_tokens=sum(c.prompt_tokens for c in calls),
        prompt_tokens_reused=sum(c.reused_tokens for c in calls),
        completion_tokens=sum(c.completion_tokens for c in calls),
        seconds=seconds,
        calls=len(calls),
    )


def entry(repo: Repo, outcome: Outcome, *, model_sha256: str, model_name: str | None,
          prompt_version: str) -> Entry:
    """The store entry of an outcome. model_name: the name a server reported for its
    model (recorded with the result), None for the in-process engine."""
    unit = outcome.ask.unit
    detail: dict[str, Any] = {"unit": unit.id, "finish_reason": outcome.finish_reason}
    if unit.chunk:
        detail["source_hash"] = repo.chunks[unit.chunk].source_hash
    if outcome.rejected:
        detail.update(rejected=list(outcome.rejected), fallback=outcome.fallback)
    if model_name is not None:
        detail["model"] = model_name
    return Entry(
        key=outcome.ask.key,
        kind=unit.kind.value,
        summary=outcome.summary,
        model_sha256=model_sha256,
        prompt_version=prompt_version,
        detail=detail,
        prompt_tokens=outcome.prompt_tokens,
        prompt_tokens_reused=outcome.prompt_tokens_reused,
        completion_tokens=outcome.completion_tokens,
        seconds=outcome.seconds,
    )
