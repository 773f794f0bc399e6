"""The paper on the reading path: for each step, the sections of the paper it
implements, from the alignment `localread paper` computes (paper.align).

A step implements a section when the section is found in the code (`matched`) and the
step's symbol is one of its convincing matches (score at least the alignment's
threshold), the rule by which `finish` counts a symbol as covered. Sections keep the
paper's order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localread.paper.align import Alignment


@dataclass(frozen=True, slots=True)
class StepSection:
    """A paper section a step implements. score: the match's; why: the model's
    sentence when the model re-ranked, else None."""

    title: str
    score: float
    why: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "score": round(self.score, 4), "why": self.why}


def step_sections(alignment: Alignment, ids: Iterable[str]) -> dict[str, tuple[StepSection, ...]]:
    """Chunk id -> the sections it implements (ids with none are left out)."""
    wanted = set(ids)
    found: dict[str, list[StepSection]] = {}
    for section in alignment.sections:
        if not section.matched:
            continue
        for match in section.matches:
            if match.id in wanted and match.score >= alignment.threshold:
                found.setdefault(match.id, []).append(StepSection(section.title, match.score, match.why))
    return {cid: tuple(found[cid]) for cid in sorted(found)}

