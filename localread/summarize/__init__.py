"""The overnight batch: plan, static summaries, prompts, answer checks, the run, the job.
Imports repo/, store, quality, describe, facts, sentences, prompts (llm/ lazily); never render/ or commands/.

`summarize(repo, store, model, n_ctx, engine_factory, options)` (summarize.run) walks
`build_plan(repo, tours)` (summarize.plan) and returns a Report (summarize.model);
`run_job` (summarize.job) is the command's pipeline around it: lock, store, model.
"""

from localread.summarize.answers import (
    clean_answer,
    example_summaries,
    fallback_summary,
    summary_problems,
)
from localread.summarize.budget import StopRequest, make_budget
from localread.summarize.model import (
    OVERVIEW_ID,
    PACKAGE_PREFIX,
    Budget,
    Options,
    Plan,
    Progress,
    Report,
    Result,
    RunHeader,
    Source,
    Stats,
    Unit,
    UnitKind,
)
from localread.summarize.plan import build_plan, known_tours
from localread.summarize.prompts import (
    STOPS,
    PromptBuilder,
    instructions,
    prompt_version,
    templates,
)
from localread.summarize.run import summarize
from localread.summarize.static import static_summary

__all__ = [
    "OVERVIEW_ID",
    "PACKAGE_PREFIX",
    "STOPS",
    "Budget",
    "Options",
    "Plan",
    "Progress",
    "PromptBuilder",
    "Report",
    "Result",
    "RunHeader",
    "Source",
    "Stats",
    "StopRequest",
    "Unit",
    "UnitKind",
    "build_plan",
    "clean_answer",
    "example_summaries",
    "fallback_summary",
    "instructions",
    "known_tours",
    "make_budget",
    "prompt_version",
    "static_summary",
    "summarize",
    "summary_problems",
    "templates",
]
