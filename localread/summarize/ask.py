"""A unit's model work, whoever runs the model: the prompts of its attempts, the
check of each answer, and the store entry of the outcome.

The first attempt shows the inputs' one-line summaries. Its greedy answer is checked
by the quality gate (answers.summary_problems), then against answers sampled from the
same prompt: one the model's own samples do not bear out is a guess
(localread.agreement). A prompt that does not fit the model context fails the same
way. When it fails either check, the retry prompt is asked, and its
answer is checked the same way; when that fails too, the summary is the static
description (answers.fallback_summary). The live run (summarize.run) makes these
calls in one go; a batch (summarize.batch) asks each prompt's greedy answer only, one
per wave, and keeps the first rejection in the store between waves (a batch file
carries no sampled answers to check against).

`judge` is the one check of an answer: every engine's answers go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from localread.agreement import SAMPLES, unsure
from localread.errors import PromptTooLong
from localread.repo.analysis import Repo
from localread.store import Entry
from localread.summarize.answers import answer_summary, fallback_summary, summary_problems
from localread.summarize.model import Unit
from localread.summarize.prompts import STOPS, UnitPrompt, instructions

if TYPE_CHECKING:
    from localread.llm.engine import Completion, Engine, Prompt


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
    calls: its greedy model calls, one per prompt asked (the batch's first call, made
    in an earlier wave, is counted in `earlier`); samples: the answers sampled to
    check them (localread.agreement), whose tokens the counts include."""

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
    samples: int = 0


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


def ask_engine(repo: Repo, inputs: tuple[str, ...], ask: Ask, engine: Engine,
               clock: Any) -> Outcome:
    """Make the attempts of ask on engine until an answer is kept (see the module
    docstring): each prompt's greedy answer, checked by the gate and then against
    answers sampled from the same prompt (localread.agreement). clock: a monotonic
    clock (time.monotonic). Thread-safe where the engine is: it reads the repository
    and writes nothing."""
    calls: list[Completion] = []
    samples: list[Completion] = []
    rejected: list[str] = []
    seconds = 0.0
    summary = ""
    kept = False
    for attempt, prompt in enumerate(ask.prompts):
        started = clock()
        try:
            completion = engine.complete(model_prompt(prompt), prompt.max_tokens)
        except PromptTooLong:
            # The builder's estimate of the tokens was short (code that tokenizes
            # densely): the next, shorter prompt, else the static description.
            seconds += clock() - started
            rejected.append("the prompt did not fit the model context")
            continue
        calls.append(completion)
        verdict = judge(repo, ask, attempt, completion.text)
        summary, why = verdict.summary, verdict.rejected
        if why is None and SAMPLES:
            drawn = engine.sample(model_prompt(prompt), prompt.max_tokens, SAMPLES)
            samples += drawn
            why = unsure(summary, [answer_summary(ask.unit, c.text, prompt.answer_prefix) for c in drawn])
        seconds += clock() - started
        if why is None:
            kept = True
            break
        rejected.append(why)
    fallback = not kept
    if fallback:
        summary = fallback_summary(repo, ask.unit, inputs)
    every = calls + samples
    return Outcome(
        ask=ask,
        summary=summary,
        rejected=tuple(rejected),
        fallback=fallback,
        finish_reason=calls[-1].finish_reason if calls else "prompt too long",
        prompt_tokens=sum(c.prompt_tokens for c in every),
        prompt_tokens_reused=sum(c.reused_tokens for c in every),
        completion_tokens=sum(c.completion_tokens for c in every),
        seconds=seconds,
        calls=len(calls),
        samples=len(samples),
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
