"""The reading path as a CodeTour file (the VS Code extension `vsls-contrib.codetour`).

`codetour(repo, tour, ...)` returns the `.tour` JSON: `title`, `description` and
`steps[{file, line, pattern, title, description}]`, `file` relative to the
repository root with `/` separators (CodeTour resolves it against the workspace
folder), `line` the definition line, and `pattern` a regular expression matching that
line, so that a step stays on its definition when lines are added above it.

Titles are plain text (`safe.one_line`: controls shown as escapes). A step's
description is Markdown that VS Code renders (and where a `command:` link
would run an editor command): every text from the code, a paper or the model goes
through `safe.md_text` or `safe.md_code`, so it shows as the characters it is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localread.errors import LocalreadError
from localread.render.diagram import step_label
from localread.render.safe import md_code, md_text, one_line

if TYPE_CHECKING:
    from localread.data import Chunk
    from localread.paper.steps import StepSection
    from localread.repo.model import Repo
    from localread.repo.tour import Tour

SCHEMA = "https://aka.ms/codetour-schema"
_DEFINITION = re.compile(r"\s*(async\s+def|def|class)\s")
# The characters that are special in a JavaScript regular expression (CodeTour builds
# one from `pattern`); escaping only these keeps the pattern valid with or without /u.
_JS_SPECIAL = re.compile(r"[\\^$.*+?()[\]{}|/]")


def definition_line(repo: Repo, chunk: Chunk) -> tuple[int, str]:
    """(line number, text) of the chunk's definition: its `def`/`class` line (after its
    decorators), or its first line for a module or main block."""
    from localread.data import ChunkKind

    lines = repo.chunk_source(chunk).split("\n")
    if chunk.kind in (ChunkKind.CLASS, ChunkKind.FUNCTION, ChunkKind.METHOD):
        for offset, text in enumerate(lines):
            if _DEFINITION.match(text):
                return chunk.start + offset, text
    return chunk.start, lines[0] if lines else ""


def line_pattern(text: str) -> str:
    """A JavaScript regular expression matching exactly this line, indentation free."""
    return r"^\s*" + _JS_SPECIAL.sub(lambda m: "\\" + m.group(), text.strip()) + r"\s*$"


def codetour(
    repo: Repo,
    tour: Tour,
    told: dict[str, str] | None = None,
    sections: dict[str, tuple[StepSection, ...]] | None = None,
    paper: str | None = None,
) -> dict[str, Any]:
    """The CodeTour document of a tour. told: chunk id -> its explanation or summary;
    sections: chunk id -> the paper sections it implements (paper named `paper`)."""
    told = told or {}
    sections = sections or {}
    name = repo.layout.project_name or repo.root.name
    steps = []
    for n, step in enumerate(tour.steps, 1):
        chunk = repo.chunks[step.id]
        line, text = definition_line(repo, chunk)
        parts = [f"**{n}. {md_code(step_label(repo, step))}** ({step.kind}, depth {step.depth})",
                 f"_{md_text(step.reason)}_"]
        if told.get(step.id):
            parts.append(md_text(told[step.id], line_start=True))
        if paper is not None:
            found = sections.get(step.id, ())
            if found:
                parts.append(f"In the paper ({md_code(paper)}): " + "; ".join(md_text(s.title) for s in found))
        entry: dict[str, Any] = {"file": step.path, "line": line, "title": f"{n}. {one_line(step_label(repo, step))}",
                                 "description": "\n\n".join(parts)}
        if text.strip():
            entry["pattern"] = line_pattern(text)
        steps.append(entry)
    return {
        "$schema": SCHEMA,
        "title": one_line(f"localread: {name} from {tour.entry.path}"),
        "description": (f"The reading path localread found from {md_code(tour.entry.path)} "
                        f"to the core ({len(tour.steps)} steps), drawn from the static call graph."),
        "steps": steps,
    }


def write_codetour(path: Path, document: dict[str, Any]) -> None:
    """Write the `.tour` file; raises LocalreadError when it cannot be written."""
    if path.is_dir():
        raise LocalreadError(f"--codetour {path}: is a folder; name the .tour file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise LocalreadError(f"--codetour {path}: cannot be written ({exc.strerror or exc})") from None
