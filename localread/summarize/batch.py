"""Batch files for cluster engines: a summarize run's next wave of prompts in the
OpenAI Batch format (`vllm run-batch` reads it as it is), and their answers back.

A wave is every unit whose inputs are all summarized and whose own summary is not in
the store yet: the units that can be asked now, all at once. Each request line is
`{"custom_id": KEY, "method": "POST", "url": "/v1/completions", "body": {...}}` with
KEY the unit's store key (`#retry` appended for a unit's second attempt) and the
body what `ServerEngine` would send (same prompt text, answer budget, stops,
temperature 0, seed). An answer line is the Batch output format:
`{"custom_id": ..., "response": {"status_code": 200, "body": <completion>}, "error": ...}`.

Importing checks each answer exactly as a live run does (summarize.ask.judge) and
commits it. An answer that repeats its prompt while a second attempt remains is kept
in the store (`Store.put_attempt`) and its unit's second prompt goes in the next
wave; any answer that matches no prompt of the current wave (already imported, code
changed since, another model) is skipped and counted.

The keys carry the model's identity as a server's would (`server_model_sha256` of
the model name in the requests), so the results are shared with a `--server` run of
the same served name, and never mixed with the in-process engine's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from localread.errors import LocalreadError
from localread.repo.analysis import Repo
from localread.store import Attempt, Store
from localread.summarize.answers import fallback_summary
from localread.summarize.ask import Ask, Outcome, entry, judge, model_prompt
from localread.summarize.model import Plan
from localread.summarize.prompts import STOPS

BATCH_URL = "/v1/completions"
RETRY_SUFFIX = "#retry"


def custom_id(ask: Ask, attempt: int) -> str:
    return ask.key + (RETRY_SUFFIX if attempt else "")


def attempt_of(store: Store, ask: Ask) -> int:
    """Which attempt of ask the next wave carries: the second once the first answer
    was rejected in an earlier wave."""
    return 1 if len(ask.prompts) > 1 and store.get_attempt(ask.key) is not None else 0


def request_line(ask: Ask, attempt: int, model: str) -> dict[str, Any]:
    """One request of the Batch file (see the module docstring)."""
    from localread.llm.engine import DEFAULT_SEED

    prompt = model_prompt(ask.prompts[attempt])
    return {
        "custom_id": custom_id(ask, attempt),
        "method": "POST",
        "url": BATCH_URL,
        "body": {
            "model": model,
            "prompt": prompt.shared + prompt.text,
            "max_tokens": ask.prompts[attempt].max_tokens,
            "temperature": 0.0,
            "seed": DEFAULT_SEED,
            "stop": list(STOPS),
        },
    }


def write_wave(path: Path, store: Store, asks: Iterable[Ask], model: str) -> int:
    """Write the wave's requests to path (replacing it atomically: a reader never
    sees half a file; an empty wave is an empty file). Returns how many were written.
    Raises LocalreadError when the file cannot be written."""
    lines = [json.dumps(request_line(a, attempt_of(store, a), model), ensure_ascii=False) for a in asks]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LocalreadError(f"cannot write the batch file {path} ({exc.strerror or exc})") from None
    return len(lines)


# --------------------------------------------------------------------------- answers


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    content: str | None = None


class _Choice(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str | None = None
    message: _Message | None = None
    finish_reason: str | None = None


class _Usage(BaseModel):
    model_config = ConfigDict(extra="allow")
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str | None = None
    choices: list[_Choice] = []
    usage: _Usage | None = None


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")
    status_code: int = 200
    body: _Body | None = None


class _Line(BaseModel):
    model_config = ConfigDict(extra="allow")
    custom_id: str
    response: _Response | None = None
    error: Any = None


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """One answer of a results file. text None: the request failed (error says why)."""

    custom_id: str
    text: str | None
    finish_reason: str
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None


def read_answers(path: Path) -> list[BatchAnswer]:
    """The answers of a Batch output file, in file order. Raises LocalreadError for a
    file that cannot be read or a line that is not a Batch output line (naming it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalreadError(f"cannot read the batch results {path} ({exc})") from None
    answers: list[BatchAnswer] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = _Line.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "line"
            raise LocalreadError(
                f"{path}:{number}: not a Batch output line ({where}: {first['msg']}); expected "
                '{"custom_id": ..., "response": {"status_code": 200, "body": {...}}}'
            ) from None
        answers.append(_answer(line))
    return answers


def _answer(line: _Line) -> BatchAnswer:
    response, body = line.response, line.response.body if line.response else None
    if line.error or response is None or response.status_code != 200 or body is None or not body.choices:
        why = line.error if line.error else (f"status {response.status_code}" if response else "no response")
        return BatchAnswer(line.custom_id, None, "", None, 0, 0, error=str(why)[:200])
    choice = body.choices[0]
    text = choice.text if choice.text is not None else (choice.message.content if choice.message else None)
    usage = body.usage or _Usage()
    return BatchAnswer(
        custom_id=line.custom_id,
        text=text or "",
        finish_reason="length" if choice.finish_reason == "length" else "stop",
        model=body.model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
    )


def answers_model(answers: list[BatchAnswer], path: Path) -> str:
    """The one model name the answers report. Raises LocalreadError when they name
    none or several."""
    names = sorted({a.model for a in answers if a.model})
    if len(names) != 1:
        found = ", ".join(names) if names else "none"
        raise LocalreadError(
            f"{path}: the answers name {len(names)} models ({found}); give the model of the "
            "wave with --batch-model NAME"
        )
    return names[0]


@dataclass(slots=True)
class Imported:
    """What an import did, by answer. kept: committed; retried: rejected, the
    unit's second prompt goes in the next wave; fallback: committed, both answers
    rejected; failed: requests the engine did not answer; unknown: answers that
    match no prompt of the current wave."""

    kept: int = 0
    retried: int = 0
    fallback: int = 0
    failed: int = 0
    unknown: int = 0

    def line(self) -> str:
        return (f"imported {self.kept + self.fallback} answers ({self.fallback} replaced by what the code "
                f"says), {self.retried} to ask again, {self.failed} failed, {self.unknown} not in this wave")


def import_answers(
    repo: Repo,
    plan: Plan,
    store: Store,
    wave: list[Ask],
    answers: list[BatchAnswer],
    *,
    model_sha256: str,
    model_name: str,
    prompt_version: str,
) -> Imported:
    """Check and commit the answers to the current wave's prompts (see the module
    docstring). wave: what the model is asked now (from a run in batch mode)."""
    waiting = {custom_id(a, attempt_of(store, a)): a for a in wave}
    done = Imported()
    for answer in answers:
        ask = waiting.pop(answer.custom_id, None)
        if ask is None:
            done.unknown += 1
            continue
        if answer.text is None:
            done.failed += 1
            continue
        attempt = 1 if answer.custom_id.endswith(RETRY_SUFFIX) else 0
        earlier = store.get_attempt(ask.key) if attempt else None
        verdict = judge(repo, ask, attempt, answer.text)
        rejected = (*(earlier.rejected if earlier else ()), *([verdict.rejected] if verdict.rejected else []))
        if verdict.rejected is not None and attempt + 1 < len(ask.prompts):
            store.put_attempt(Attempt(ask.key, ask.unit.id, rejected, answer.prompt_tokens, answer.completion_tokens))
            done.retried += 1
            continue
        fallback = verdict.rejected is not None
        outcome = Outcome(
            ask=ask,
            summary=fallback_summary(repo, ask.unit, plan.inputs[ask.unit.id]) if fallback else verdict.summary,
            rejected=rejected,
            fallback=fallback,
            finish_reason=answer.finish_reason,
            prompt_tokens=answer.prompt_tokens + (earlier.prompt_tokens if earlier else 0),
            prompt_tokens_reused=0,
            completion_tokens=answer.completion_tokens + (earlier.completion_tokens if earlier else 0),
            seconds=0.0,
            calls=attempt + 1,
        )
        store.put(entry(repo, outcome, model_sha256=model_sha256, model_name=model_name,
                        prompt_version=prompt_version))
        if fallback:
            done.fallback += 1
        else:
            done.kept += 1
    return done
