"""The values of a summarize run: units and their plan, the options and budget, each
unit's result, the run's statistics, progress snapshots and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localread.repo.analysis import Repo
    from localread.repo.tour import Tour

# How many entry points get a reading tour in the report.
TOURS = 3

OVERVIEW_ID = "overview:"
PACKAGE_PREFIX = "package:"


class UnitKind(StrEnum):
    CODE = "code"  # function, method or main block
    CLASS = "class"
    MODULE = "module"
    PACKAGE = "package"
    OVERVIEW = "overview"


class Source(StrEnum):
    """Where a unit's summary came from."""

    MODEL = "model"  # a model call of this run
    CACHE = "cache"  # the store: an earlier call on the same prompt body
    STATIC = "static"  # written without a model (summarize.static)
    PENDING = "pending"  # not yet: the budget ran out, or an input is pending


@dataclass(frozen=True, slots=True)
class Unit:
    """One thing to summarize. id: the chunk id, `package:<name>` or `overview:`.
    group: units whose prompts share a header (a module id, the package, the overview).
    deps: the units whose summaries its prompt would carry, in prompt order."""

    id: str
    kind: UnitKind
    chunk: str | None
    group: str
    deps: tuple[str, ...]


@dataclass(slots=True)
class Plan:
    """units by id; order: the order of work; inputs: the deps each unit's prompt
    actually carries (deps minus the cycle edges cut); priority: (tier, index)."""

    units: dict[str, Unit]
    order: list[str]
    inputs: dict[str, tuple[str, ...]]
    priority: dict[str, tuple[int, int]]
    packages: dict[str, str]  # package name -> folder (repo-relative)


@dataclass(frozen=True, slots=True)
class Budget:
    """When to stop making model calls. deadline: epoch seconds (time.time()).
    max_calls: most model calls in this run. label: how the user said it."""

    deadline: float | None = None
    max_calls: int | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class Options:
    budget: Budget = field(default_factory=Budget)
    static: bool = True  # trivial chunks get a static summary, no model call
    tours: int = TOURS
    max_depth: int | None = None  # see localread.repo.tour.build_tour
    max_steps: int = 40


@dataclass(frozen=True, slots=True)
class Result:
    """rejected: why answers of the model were not kept (they repeated a summary or a
    worked example the prompt showed). fallback: every answer was rejected, and the
    summary is what the code says of itself (`fallback_summary`)."""

    summary: str | None
    source: Source
    rejected: tuple[str, ...] = ()
    fallback: bool = False


@dataclass(slots=True)
class Stats:
    """What a run did. chunks: chunks in the repository; llm_calls / cached / static /
    pending: units (chunks, packages, overview) by how their summary was obtained.
    retries: prompts asked again (the retry prompt) because the first answer failed
    the quality gate or was a guess by its samples, beyond the one call each
    llm_calls unit made; samples: answers sampled to check answers that passed the
    gate (localread.agreement)."""

    chunks: int = 0
    llm_calls: int = 0
    cached: int = 0
    static: int = 0
    pending: int = 0
    retries: int = 0
    samples: int = 0
    prompt_tokens: int = 0
    prompt_tokens_reused: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0  # time inside model calls (not in the JSON shape)

    def count(self, source: Source) -> None:
        """One more unit whose summary came from source."""
        if source is Source.MODEL:
            self.llm_calls += 1
        elif source is Source.CACHE:
            self.cached += 1
        elif source is Source.STATIC:
            self.static += 1
        elif source is Source.PENDING:
            self.pending += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "chunks": self.chunks,
            "llm_calls": self.llm_calls,
            "cached": self.cached,
            "static": self.static,
            "pending": self.pending,
            "retries": self.retries,
            "samples": self.samples,
            "prompt_tokens": self.prompt_tokens,
            "prompt_tokens_reused": self.prompt_tokens_reused,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True, slots=True)
class RunHeader:
    """What a report must record to be reproduced."""

    model_name: str
    model_sha256: str
    n_ctx: int
    prompt_version: str
    localread_version: str
    static: bool


@dataclass(slots=True)
class Report:
    repo: Repo
    plan: Plan
    results: dict[str, Result]
    tours: list[Tour]
    stats: Stats
    header: RunHeader
    stopped: str | None = None  # why model calls stopped early, None when complete
    interrupted: bool = False
    failed: str | None = None  # why the model could not be reached any more (servers)


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for progress displays. remaining: units not yet processed.
    tokens_per_s: prompt tokens evaluated plus tokens generated, per second of wall
    time with a model call in flight (all slots together). eta_s: remaining units
    that may need the model times that wall time per model unit. in_flight / slots:
    model calls running now, and how many may run at once."""

    done: int
    total: int
    model: int
    cached: int
    static: int
    pending: int
    remaining: int
    tokens_per_s: float
    eta_s: float | None
    current: str
    in_flight: int = 0
    slots: int = 1
