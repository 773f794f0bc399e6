"""The JSON shapes of DESIGN.md ("JSON shapes that other tools rely on"), built from
the stages' values. Paths are relative to the repository, with `/` separators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localread.data import Counts, Explanation
from localread.repo.analysis import Repo
from localread.repo.rank import core_symbols
from localread.repo.tour import Tour

if TYPE_CHECKING:
    from localread.paper.steps import StepSection


def files_json(counts: Counts) -> dict[str, Any]:
    return {
        "python": counts.files,
        "skipped_large": counts.skipped_large,
        "skipped_binary": counts.skipped_binary,
        "skipped_unreadable": counts.skipped_unreadable,
        "decode_errors": counts.decode_errors,
        "syntax_errors": counts.syntax_errors,
        "files_with_syntax_errors": counts.files_with_syntax_errors,
    }


def map_json(repo: Repo, top: int) -> dict[str, Any]:
    ids = core_symbols(repo.graph, repo.ranks, limit=top if top > 0 else len(repo.chunks))
    return {
        "repo": str(repo.root),
        "install": repo.layout.install,
        "entry_points": [
            {"path": e.path, "kind": e.kind, "command": e.command, "score": round(e.score, 4)}
            for e in repo.entries
        ],
        "symbols": [
            {
                "id": c.id,
                "kind": str(c.kind),
                "path": c.path,
                "start": c.start,
                "end": c.end,
                "rank": round(repo.ranks.get(c.id, 0.0), 6),
            }
            for c in (repo.chunks[i] for i in ids)
        ],
        "unresolved": len(repo.graph.unresolved),
        "files": files_json(repo.counts),
    }


def _explanation_json(explanation: Explanation | None, description: str | None) -> dict[str, Any]:
    if explanation is None:
        return {"explanation": None, **({"description": description} if description is not None else {})}
    return {
        "explanation": explanation.narrative or None,
        "explanation_source": str(explanation.source),
        "rejected": list(explanation.rejected),
        "unverified": list(explanation.unverified),
        "description": explanation.description,
    }


def tour_json(
    repo: Repo,
    tour: Tour,
    explanations: dict[str, Explanation] | None = None,
    summaries: dict[str, str] | None = None,
    descriptions: dict[str, str] | None = None,
    sections: dict[str, tuple[StepSection, ...]] | None = None,
) -> dict[str, Any]:
    """The tour shape of DESIGN.md, and: each step's "parent" (the id of the step it
    hangs under, null for the entry: the tour is a tree) and "calls" (how many calls
    below the entry's main code it runs, what --max-depth counts); "pruned", what the
    limits cut, heaviest first ("weight": the step with all below it). A narrated step
    also says where its explanation comes from ("explanation_source": "model" or
    "retry" when the model's line passed the quality gate, "static" when the
    explanation is the static description, "docstring" when the docstring made the
    model unnecessary; see localread.explain), why model answers were rejected
    ("rejected"), the names the explanation uses that the code does not have
    ("unverified") and the static description ("description"). A step of a tour
    without the model has "explanation": null and, when given, its "description". A
    step whose unchanged code an earlier `summarize` described has that as "summary"
    (absent otherwise). With a paper (`sections` given), every step has "paper": the
    sections it implements ([{"title", "score", "why"}], paper.steps)."""
    explanations = explanations or {}
    summaries = summaries or {}
    descriptions = descriptions or {}
    return {
        "repo": str(repo.root),
        "entry": tour.entry.path,
        "steps": [
            {
                "id": s.id,
                "kind": str(s.kind),
                "path": s.path,
                "start": s.start,
                "end": s.end,
                "depth": s.depth,
                "reason": s.reason,
                "parent": tour.parents.get(s.id),
                "calls": tour.calls.get(s.id, 0),
                **_explanation_json(explanations.get(s.id), descriptions.get(s.id)),
                **({"summary": summaries[s.id]} if s.id in summaries else {}),
                **({"paper": [x.to_json() for x in sections.get(s.id, ())]} if sections is not None else {}),
            }
            for s in tour.steps
        ],
        "pruned": [
            {"id": p.id, "rank": round(p.rank, 6), "weight": p.weight, "reason": p.reason} for p in tour.pruned
        ],
    }
