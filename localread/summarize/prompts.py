"""The prompt of each unit: a header shared by the unit's group (the module's file
and imports, the package, the repository) and a body that says what this unit is
(its source, or what it is made of) with its inputs' one-line summaries.

Every prompt starts with the worked examples of `localread/prompts/summarize.txt`
(`instructions()`): the engine's shared prefix, evaluated once and reused by every
call. The body shows the unit as code (its inputs' summaries as comments above it)
and ends by opening it again with a docstring's three quotes: the model writes the
docstring.
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
from localread.summarize.model import OVERVIEW_ID, PACKAGE_PREFIX, Plan, Unit, UnitKind

# Answer budgets (tokens). A code summary is one sentence; the overview is a
# short paragraph.
MAX_TOKENS = {"code": 48, "class": 48, "module": 64, "package": 64, "overview": 96}
# Inputs listed in one prompt, at most (callees of a huge dispatcher, modules of a
# big package); the rest is named as a count.
MAX_INPUTS = 24
# A long source is cut so that the whole prompt fits the context, by an estimate of
# its tokens made without the model (a prompt is built, and is its summary's key,
# before any model is loaded): see estimate_tokens. The margin covers the few texts
# the estimate undercounts; a prompt it still gets wrong fails its attempt
# (summarize.ask), it does not stop the run.
TOKEN_MARGIN = 1.1
# Tokens of source kept at least, however full the rest of the prompt is.
MIN_SOURCE_TOKENS = 150
# The pieces estimate_tokens counts: a word of ASCII letters, a digit, a run of
# white space, any other single character.
_PIECE = re.compile(r"[A-Za-z]+|\d|\s+|.", re.DOTALL)
# Where an answer ends: the docstring's closing quotes, a blank line (the rest of a
# docstring: parameters, examples), or the model starting the next piece itself.
STOPS = ('"""', "\n\n", "\n# ", "\n# ---")


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


def estimate_tokens(text: str) -> int:
    """The tokens text takes, from above for nearly any code: a word takes one token
    per 6 letters, a digit, a run of spaces and a punctuation mark one each, and any
    other character two. Subword tokenizers of code models (Gemma's, Llama's, Qwen's)
    split digits one by one, which is why a numeric table takes a token for every one
    or two characters while ordinary code takes one for every three or four; on real
    code (torch, networkx, rich) this counts 1.0-1.5 times the true number."""
    count = 0
    for piece in _PIECE.findall(text):
        first = piece[0]
        if first.isascii() and first.isalpha():
            count += -(-len(piece) // 6)
        else:
            count += 1 if first.isascii() else 2
    return count


def _cut(lines: list[str], budget: int) -> str:
    """The first lines that fit budget (tokens, as estimate_tokens counts them) with
    a note of how many were left out (the note counted in)."""
    # The newline joins an indented line's indentation into one run of space.
    costs = [estimate_tokens(line) + (not line[:1].isspace()) for line in lines]
    if sum(costs) <= budget + 1:
        return "\n".join(lines)
    budget -= min(12, budget // 4)  # the note
    kept: list[str] = []
    used = 0
    for line, cost in zip(lines, costs, strict=True):
        if used + cost > budget and kept:
            break
        # A first line longer than the budget: cut at one character per token.
        kept.append(line if cost <= budget else line[:budget])
        used += cost
    if len(kept) < len(lines):
        indent = re.match(r"\s*", lines[len(kept)]).group(0)  # type: ignore[union-attr]
        kept.append(f"{indent}# ... {len(lines) - len(kept)} more lines not shown")
    return "\n".join(kept)


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

    def room(self, unit: Unit, max_tokens: int, *parts: list[str] | str) -> int:
        """Tokens (as estimate_tokens counts them) left for the unit's source once the
        instructions, the header and `parts` (the rest of the body) are in the prompt,
        and the answer budget kept."""
        text = "\n".join([instructions(), self.header(unit), *(p if isinstance(p, str) else "\n".join(p) for p in parts)])
        return max(MIN_SOURCE_TOKENS, int((self.n_ctx - max_tokens) / TOKEN_MARGIN) - estimate_tokens(text))

    def header(self, unit: Unit) -> str:
        if unit.group not in self._headers:
            self._headers[unit.group] = self._make_header(unit)
        return self._headers[unit.group]

    def _make_header(self, unit: Unit) -> str:
        if unit.kind is UnitKind.OVERVIEW:
            name = self.repo.layout.project_name or self.repo.root.name
            return f"# --- the repository `{name}`\n"
        if unit.kind is UnitKind.PACKAGE:
            name = unit.id[len(PACKAGE_PREFIX):]
            folder = self.plan.packages.get(name, "")
            return f"# --- {folder + '/' if folder else ''}__init__.py (package `{name}`)\n"
        module = self.repo.chunks[unit.group]
        # No module docstring here: small models copy it as the summary of every
        # function in the module. The module's own prompt carries it.
        lines = [f"# --- {module.path}"]
        imports = self._imports(module)
        lines += imports[:12] + (["# ... more imports"] if len(imports) > 12 else [])
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

    def build(self, unit: Unit, summaries: dict[str, str], *, names_only: bool = False, retry: bool = False) -> UnitPrompt:
        """summaries: one-line summaries of the unit's inputs (all of them present).
        names_only: list the inputs without their summaries, leaving nothing to copy.
        retry: the other prompt a unit is asked again with when its answer failed the
        quality gate: its inputs by name, and a function or method by its signature
        alone (the same prompt would get the same answer again)."""
        names_only = names_only or retry
        inputs = [(uid, "" if names_only else summaries[uid]) for uid in self.plan.inputs[unit.id]]
        max_tokens = MAX_TOKENS[unit.kind.value]
        body = {
            UnitKind.CODE: self._code,
            UnitKind.CLASS: self._class,
            UnitKind.MODULE: self._module,
            UnitKind.PACKAGE: self._package,
            UnitKind.OVERVIEW: self._overview,
        }[unit.kind](unit, inputs, max_tokens, retry)
        # The overview starts the answer for the model: left alone, a small model
        # continues the list of contents instead of describing the repository.
        prefix = "This repository" if unit.kind is UnitKind.OVERVIEW else ""
        return UnitPrompt(self.header(unit), body + prefix, max_tokens, prefix)

    def _opening(self, chunk: Chunk) -> tuple[list[str], str]:
        """The def or class header lines of chunk as written (decorators left out),
        and the indentation of its body."""
        lines = self.sources.chunk(chunk).split("\n")
        start = next((i for i, line in enumerate(lines) if _DEF.match(line)), 0)
        end = start
        for j in range(start, len(lines)):
            if lines[j].split("#", 1)[0].rstrip().endswith(":"):
                end = j
                break
        header = lines[start : end + 1]
        indent = re.match(r"\s*", header[0]).group(0) + "    "  # type: ignore[union-attr]
        return header, indent

    def _facts(self, chunk: Chunk) -> list[str]:
        """The chunk's facts card as comment lines, as explain's prompt shows them,
        without what the source shows anyway and without its callers (a prompt is the
        key of its summary, and depends on the unit's own code and inputs only)."""
        from localread.facts import facts_card, facts_text

        said_elsewhere = ("- signature:", "- docstring:", "- decorators:", "- called by:", "- methods:")
        text = facts_text(facts_card(self.repo, chunk.id))
        return [f"# {line}" for line in text.splitlines() if not line.startswith(said_elsewhere)]

    def _documented(self, label: str, header: list[str], indent: str) -> str:
        """The closing lines of a prompt: the unit opened again with `\"\"\"`."""
        return "\n".join([f"# Code: {label}, documented:", *header, f'{indent}"""'])

    def _code(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int, retry: bool) -> str:
        chunk = self.repo.chunks[unit.id]
        if chunk.kind is ChunkKind.MAIN:
            lines = _comments("calls", self.repo, inputs)
            source = textwrap.dedent(self.sources.chunk(chunk)).split("\n")
            closing = [f'# Code: the `if __name__ == "__main__":` block of `{chunk.path}`, documented:', '"""']
            lines.append(_cut(source, self.room(unit, max_tokens, lines, closing)))
            return "\n".join([*lines, "", *closing])
        header, indent = self._opening(chunk)
        lines = self._facts(chunk) + _comments("calls", self.repo, inputs)
        closing = self._documented(f"{unit_name(self.repo, unit.id)} ({chunk.kind})", header, indent)
        if not retry:
            lines.append(_cut(self.sources.chunk(chunk).split("\n"), self.room(unit, max_tokens, lines, closing)))
            lines.append("")
        return "\n".join([*lines, closing])

    def _class(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int, retry: bool) -> str:
        chunk = self.repo.chunks[unit.id]
        header, indent = self._opening(chunk)
        parents = [(u, s) for u, s in inputs if self.repo.chunks.get(u) and self.repo.chunks[u].parent != unit.id]
        members = [(u, s) for u, s in inputs if (u, s) not in parents]
        bases = [(u, s) for u, s in parents if self.repo.chunks[u].kind is ChunkKind.CLASS]
        calls = [(u, s) for u, s in parents if (u, s) not in bases]
        lines = self._facts(chunk) + _comments("base class", self.repo, bases) + _comments("calls", self.repo, calls)
        lines += _comments("method", self.repo, [(u, s) for u, s in members if s])
        # The class's own lines (fields, class attributes), then its methods'
        # signatures: what is cut when the class is too big for the context.
        body = [] if retry else self.sources.own(chunk, self.children.get(unit.id, []))[len(header):]
        for uid, _ in members:
            method = self.repo.chunks.get(uid)
            if method is not None and method.kind is ChunkKind.METHOD:
                first = self.sources.chunk(method).split("\n")
                sig = next((line for line in first if _DEF.match(line)), first[0])
                body.append(sig.rstrip() + (" ..." if sig.rstrip().endswith(":") else ""))
        closing = self._documented(f"{unit_name(self.repo, unit.id)} (class)", header, indent)
        lines += header
        lines.append(_cut(body, self.room(unit, max_tokens, lines, closing)) if body else f"{indent}...")
        return "\n".join([*lines, "", closing])

    def _module(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int, retry: bool) -> str:
        chunk = self.repo.chunks[unit.id]
        mine = [(u, s) for u, s in inputs if self.repo.chunks[u].parent == unit.id]
        calls = [(u, s) for u, s in inputs if (u, s) not in mine]
        lines = [f"# defines {self.repo.chunks[u].kind} {unit_name(self.repo, u)}" + (f": {s}" if s else "")
                 for u, s in mine[:MAX_INPUTS]]
        if len(mine) > MAX_INPUTS:
            lines.append(f"# defines {len(mine) - MAX_INPUTS} more")
        lines += _comments("calls", self.repo, calls)
        own = [
            line
            for line in self.sources.own(chunk, self.children.get(unit.id, []))
            if not line.startswith(("import ", "from ", "#"))
        ]
        closing = [f"# Code: the module `{chunk.id}`, documented:", '"""']
        if own and not retry:
            lines.append(_cut(own, self.room(unit, max_tokens, lines, closing)))
        return "\n".join([*lines, "", *closing])

    def _package(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int, retry: bool) -> str:
        lines = [f"# contains {unit_name(self.repo, u)}" + (f": {s}" if s else "") for u, s in inputs[:MAX_INPUTS]]
        if len(inputs) > MAX_INPUTS:
            lines.append(f"# contains {len(inputs) - MAX_INPUTS} more")
        return "\n".join([*lines, "", f"# Code: the {unit_name(self.repo, unit.id)}, documented:", '"""'])

    def _overview(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int, retry: bool) -> str:
        layout = self.repo.layout
        ranked = sorted(inputs, key=lambda p: (-_rank(self.repo, p[0]), p[0]))
        kept = {u for u, _ in ranked[:MAX_INPUTS]}
        lines = [f"# contains {unit_name(self.repo, u)}" + (f": {s}" if s else "") for u, s in inputs if u in kept]
        if len(inputs) > MAX_INPUTS:
            lines.append(f"# contains {len(inputs) - MAX_INPUTS} more")
        entries = self.repo.entries[:5]
        if entries:
            lines.append("# run with: " + "; ".join(f"`{e.command}`" if e.command else f"`{e.path}`" for e in entries))
        if layout.install:
            lines.append(f"# install: `{layout.install}`")
        # The README last, nearest the answer: what the authors say the code is for.
        readme = readme_intro(self.repo)
        if readme:
            lines.append(f"# README: {readme}")
        return "\n".join([*lines, "", "# Code: the whole repository, documented:", '"""'])


def _comments(label: str, repo: Repo, inputs: list[tuple[str, str]]) -> list[str]:
    """One `# label name: summary` line per input (the name alone when its summary is
    not shown), at most MAX_INPUTS."""
    out = [f"# {label} {unit_name(repo, uid)}" + (f": {summary}" if summary else "") for uid, summary in inputs[:MAX_INPUTS]]
    if len(inputs) > MAX_INPUTS:
        out.append(f"# {label} {len(inputs) - MAX_INPUTS} more")
    return out


_DEF = re.compile(r"\s*(async\s+def|def|class)\b")

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

