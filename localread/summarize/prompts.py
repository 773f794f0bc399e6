"""The prompt of each unit: a header shared by the unit's group (the module's file
and imports, the package, the repository) and a body that says what this unit is
(its source, or what it is made of) with its inputs' one-line summaries.

Every prompt starts with the instructions and worked examples of
`localread/prompts/summarize.txt` (`instructions()`): the engine's shared prefix,
evaluated once and reused by every call. The body ends with "Summary:", which the
model continues.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

from localread.data import Chunk, ChunkKind
from localread.errors import LocalreadError
from localread.prompts import load
from localread.repo.analysis import Repo
from localread.repo.scan import read_source
from localread.sentences import first_sentence
from localread.summarize.model import OVERVIEW_ID, PACKAGE_PREFIX, Plan, Unit, UnitKind

# Answer budgets (tokens). A code summary is one or two sentences; the overview is a
# short paragraph.
MAX_TOKENS = {"code": 48, "class": 48, "module": 64, "package": 64, "overview": 96}
# Inputs listed in one prompt, at most (callees of a huge dispatcher, modules of a
# big package); the rest is named as a count.
MAX_INPUTS = 24
# Characters per token assumed when cutting a long source to fit the context. Code
# tokenizes at 3-4 characters per token; 3 keeps the cut on the safe side.
CHARS_PER_TOKEN = 3
# Tokens of the context kept for the instructions, header and inputs of a code prompt.
RESERVED_TOKENS = 1100
# Where an answer ends: a blank line, or the model starting the next piece itself.
# A summary is one line; a stop on any newline would end an answer that opens with
# one, so the stops are the ways small models go on: the next piece, a list.
STOPS = ("\n\n", "\n-", "\n```", "\nCode:", "\nFile:", "\nSummary:", "\nDefines:",
         "\nMethods:", "\nCalls:", "\nContains:", "\nPackage ")


def templates() -> Mapping[str, str]:
    """The blocks of `localread/prompts/summarize.txt`, by name."""
    return load("summarize").blocks


def prompt_version() -> str:
    """The version of summarize.txt: part of every stored summary's key."""
    return load("summarize").version


def instructions() -> str:
    """What every prompt starts with (the shared prefix): the instructions and worked
    examples, and the blank line that parts them from the unit's header."""
    return templates()["instructions"] + "\n\n"


@dataclass(frozen=True, slots=True)
class UnitPrompt:
    """header: the group's context, shared by consecutive prompts of the group.
    body: what this prompt says about this unit; it ends with "Summary:"."""

    header: str
    body: str
    max_tokens: int
    answer_prefix: str = ""  # words the prompt puts in the model's mouth


class Sources:
    """File texts, read once per run (the repository is not kept in memory otherwise)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._lines: dict[str, list[str]] = {}

    def lines(self, path: str) -> list[str]:
        if path not in self._lines:
            try:
                text = read_source(self.repo.root, path).decode("utf-8", errors="replace")
            except OSError as exc:
                raise LocalreadError(f"{path}: cannot be read again ({exc.strerror}); was it moved?") from None
            self._lines[path] = text.split("\n")
        return self._lines[path]

    def chunk(self, chunk: Chunk) -> str:
        return "\n".join(self.lines(chunk.path)[chunk.start - 1 : chunk.end])

    def own(self, chunk: Chunk, children: list[Chunk]) -> list[str]:
        """The chunk's lines outside its children's spans (class fields, module-level
        code), without blank lines."""
        covered: set[int] = set()
        for child in children:
            covered.update(range(child.start, child.end + 1))
        lines = self.lines(chunk.path)
        return [
            lines[n - 1]
            for n in range(chunk.start, min(chunk.end, len(lines)) + 1)
            if n not in covered and lines[n - 1].strip()
        ]


def unit_name(repo: Repo, uid: str) -> str:
    """How prompts and reasons name a unit: `` `qualname` ``, "module `id`", "package
    `name`", "`path` __main__ block" or "the repository"."""
    if uid == OVERVIEW_ID:
        return "the repository"
    if uid.startswith(PACKAGE_PREFIX):
        return f"package `{uid[len(PACKAGE_PREFIX):]}`"
    chunk = repo.chunks[uid]
    if chunk.kind is ChunkKind.MODULE:
        return f"module `{chunk.id}`"
    if chunk.kind is ChunkKind.MAIN:
        return f"`{chunk.path}` __main__ block"
    return f"`{chunk.qualname}`"


def _fence(code: str) -> str:
    # A source that itself holds ``` must not close our fence early.
    fence = "````" if "```" in code else "```"
    return f"{fence}python\n{code}\n{fence}"


def _cut(lines: list[str], budget_chars: int) -> str:
    """The first lines that fit budget_chars, and a note of how many were left out."""
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget_chars and kept:
            break
        kept.append(line[:budget_chars])
        used += len(line) + 1
    if len(kept) < len(lines):
        indent = re.match(r"\s*", lines[len(kept)]).group(0)  # type: ignore[union-attr]
        kept.append(f"{indent}# ... {len(lines) - len(kept)} more lines not shown")
    return "\n".join(kept)


def _inputs_text(repo: Repo, title: str, inputs: list[tuple[str, str]], with_kind: bool) -> list[str]:
    if not inputs:
        return []
    out = [f"{title}:"]
    for uid, summary in inputs[:MAX_INPUTS]:
        kind = ""
        if with_kind and uid in repo.chunks:
            kind = f" ({repo.chunks[uid].kind})"
        out.append(f"- {unit_name(repo, uid)}{kind}: {summary}" if summary else f"- {unit_name(repo, uid)}{kind}")
    if len(inputs) > MAX_INPUTS:
        out.append(f"- and {len(inputs) - MAX_INPUTS} more")
    return out


class PromptBuilder:
    """Builds the prompt of each unit from the repository and its inputs' summaries."""

    def __init__(self, repo: Repo, plan: Plan, n_ctx: int) -> None:
        self.repo = repo
        self.plan = plan
        self.n_ctx = n_ctx
        self.sources = Sources(repo)
        self.children: dict[str, list[Chunk]] = {}
        for chunk in repo.chunks.values():
            if chunk.parent is not None:
                self.children.setdefault(chunk.parent, []).append(chunk)
        self._headers: dict[str, str] = {}

    def source_budget(self, max_tokens: int) -> int:
        return max(400, (self.n_ctx - max_tokens - RESERVED_TOKENS) * CHARS_PER_TOKEN)

    def header(self, unit: Unit) -> str:
        if unit.group not in self._headers:
            self._headers[unit.group] = self._make_header(unit)
        return self._headers[unit.group]

    def _make_header(self, unit: Unit) -> str:
        if unit.kind is UnitKind.OVERVIEW:
            name = self.repo.layout.project_name or self.repo.root.name
            return f"Repository `{name}`\n\n"
        if unit.kind is UnitKind.PACKAGE:
            name = unit.id[len(PACKAGE_PREFIX):]
            folder = self.plan.packages.get(name, "")
            return f"Package `{name}` (folder {folder or '.'}/)\n\n"
        module = self.repo.chunks[unit.group]
        # No module docstring here: small models copy it as the summary of every
        # function in the module. The module's own prompt carries it.
        lines = [f"File: {module.path} (module `{module.id}`)"]
        imports = self._imports(module)
        if imports:
            lines.append("Imports: " + " | ".join(imports[:12]) + (" | ..." if len(imports) > 12 else ""))
        return "\n".join(lines) + "\n\n"

    def _imports(self, module: Chunk) -> list[str]:
        text = "\n".join(self.sources.lines(module.path))
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return [line.strip() for line in text.split("\n") if line.startswith(("import ", "from "))]
        return [
            " ".join(ast.unparse(stmt).split())
            for stmt in tree.body
            if isinstance(stmt, ast.Import | ast.ImportFrom)
        ]

    def build(self, unit: Unit, summaries: dict[str, str], *, names_only: bool = False) -> UnitPrompt:
        """summaries: one-line summaries of the unit's inputs (all of them present).
        names_only: list the inputs without their summaries, leaving nothing to copy."""
        inputs = [(uid, "" if names_only else summaries[uid]) for uid in self.plan.inputs[unit.id]]
        max_tokens = MAX_TOKENS[unit.kind.value]
        body = {
            UnitKind.CODE: self._code,
            UnitKind.CLASS: self._class,
            UnitKind.MODULE: self._module,
            UnitKind.PACKAGE: self._package,
            UnitKind.OVERVIEW: self._overview,
        }[unit.kind](unit, inputs, max_tokens)
        # The overview starts the answer for the model: left alone, a small model
        # continues the list of contents instead of describing the repository.
        prefix = "This repository" if unit.kind is UnitKind.OVERVIEW else ""
        ending = "\nSummary: " + prefix if prefix else "\nSummary:"
        return UnitPrompt(self.header(unit), body + ending, max_tokens, prefix)

    def _code(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int) -> str:
        chunk = self.repo.chunks[unit.id]
        kind = "main block" if chunk.kind is ChunkKind.MAIN else str(chunk.kind)
        lines = [f"Code: {unit_name(self.repo, unit.id)} ({kind})" if chunk.kind is not ChunkKind.MAIN
                 else f"Code: the `if __name__ == \"__main__\":` block of `{chunk.path}`"]
        lines += _inputs_text(self.repo, "Calls", inputs, with_kind=False)
        source = self.sources.chunk(chunk).split("\n")
        lines.append(_fence(_cut(source, self.source_budget(max_tokens))))
        return "\n".join(lines)

    def _class(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int) -> str:
        chunk = self.repo.chunks[unit.id]
        lines = [f"Code: {unit_name(self.repo, unit.id)} (class)"]
        own = self.sources.own(chunk, self.children.get(unit.id, []))
        if own:
            lines.append("Class body without its methods:")
            lines.append(_fence(_cut(textwrap.dedent("\n".join(own)).split("\n"), self.source_budget(max_tokens) // 2)))
        parents = [(u, s) for u, s in inputs if self.repo.chunks.get(u) and self.repo.chunks[u].parent != unit.id]
        members = [(u, s) for u, s in inputs if (u, s) not in parents]
        bases = [(u, s) for u, s in parents if self.repo.chunks[u].kind is ChunkKind.CLASS]
        calls = [(u, s) for u, s in parents if (u, s) not in bases]
        lines += _inputs_text(self.repo, "Base classes", bases, with_kind=False)
        lines += _inputs_text(self.repo, "Methods", members, with_kind=False)
        lines += _inputs_text(self.repo, "Calls", calls, with_kind=False)
        return "\n".join(lines)

    def _module(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int) -> str:
        chunk = self.repo.chunks[unit.id]
        lines = [f"Code: the module `{chunk.id}`"]
        doc = first_sentence(chunk.docstring)
        if doc:
            lines.append(f"Docstring: {doc}")
        mine = [(u, s) for u, s in inputs if self.repo.chunks[u].parent == unit.id]
        calls = [(u, s) for u, s in inputs if (u, s) not in mine]
        lines += _inputs_text(self.repo, "Defines", mine, with_kind=True)
        lines += _inputs_text(self.repo, "Calls", calls, with_kind=False)
        own = [
            line
            for line in self.sources.own(chunk, self.children.get(unit.id, []))
            if not line.startswith(("import ", "from ", "#"))
        ]
        if own:
            lines.append("Top-level code:")
            lines.append(_fence(_cut(own, self.source_budget(max_tokens) // 2)))
        return "\n".join(lines)

    def _package(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int) -> str:
        lines = [f"Code: the {unit_name(self.repo, unit.id)}"]
        lines += _inputs_text(self.repo, "Contains", inputs, with_kind=False)
        return "\n".join(lines)

    def _overview(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int) -> str:
        layout = self.repo.layout
        lines = ["Code: the whole repository"]
        ranked = sorted(inputs, key=lambda p: (-_rank(self.repo, p[0]), p[0]))
        kept = {u for u, _ in ranked[:MAX_INPUTS]}
        lines += _inputs_text(self.repo, "Contents", [p for p in inputs if p[0] in kept], with_kind=False)
        if len(inputs) > MAX_INPUTS:
            lines.append(f"- and {len(inputs) - MAX_INPUTS} more")
        entries = self.repo.entries[:5]
        if entries:
            lines.append("Run with: " + "; ".join(f"`{e.command}`" if e.command else f"`{e.path}`" for e in entries))
        if layout.install:
            lines.append(f"Install: `{layout.install}`")
        # The README last, nearest the answer: what the authors say the code is for.
        readme = readme_intro(self.repo)
        if readme:
            lines.append(f"README: {readme}")
        return "\n".join(lines)


def _rank(repo: Repo, uid: str) -> float:
    return repo.ranks.get(uid.removeprefix(PACKAGE_PREFIX), 0.0)


def readme_intro(repo: Repo, limit: int = 600) -> str | None:
    """The README's first paragraph of prose (headings, badges and code skipped)."""
    name = repo.layout.readme
    if name is None:
        return None
    try:
        text = (repo.root / name).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    paragraph: list[str] = []
    in_code = False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_code = not in_code
            if paragraph:
                break
            continue
        if in_code or stripped.startswith(("#", "[!", "![", "<", "=", "-" * 3)):
            if paragraph:
                break
            continue
        if not stripped:
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    joined = " ".join(paragraph)
    return joined[:limit] or None

