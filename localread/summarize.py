"""The overnight batch: summarize every chunk of a repository bottom-up, then its
classes, modules, packages and the repository itself, reusing and committing work.

`build_plan(repo, tours)` (pure) decides what to summarize and in which order:

- one *unit* per chunk (function, method, main block, class, module), one per package
  and one for the repository overview;
- a unit's prompt carries the one-line summaries of its *inputs*: for code, the repo
  functions and classes it calls; for a class, its methods and repo base classes; for
  a module, what it defines (and calls at top level); for a package, its modules and
  sub-packages; for the overview, the top-level packages and modules;
- call cycles are broken deterministically, inside each strongly connected component
  only, by a depth-first post-order from its smallest id: an input that would come
  later in that order is left out of the prompt. The order of the rest of the
  repository never changes which edges are cut;
- priority: the top entry point's reading tour first (with everything it needs),
  then the other tours and the highest-ranked symbols, then the rest by rank; among
  units that are ready, those of the previous prompt's module come first, so
  consecutive prompts share the longest prefix (instructions, then module header).

`summarize(repo, plan, store, model, ...)` walks that order. For each unit: a static
summary when the chunk is trivial (a placeholder, a getter, `__repr__`, a one-line
return, `main()` under a `__main__` guard, an import-only module); else the store,
keyed by `make_key(kind, {body, model sha256, prompt version, sampling})` where
`body` is everything the prompt says about this unit (its source, its inputs'
summaries); else one model call, committed to the store at once. The module header
(file, imports) is context, not part of the key, so identical sources in different
files share one explanation. Every prompt starts with the same instructions and
examples, the engine's shared prefix, evaluated once and reused by every call. The engine
is opened on the first model call only: a rerun on an unchanged repository loads no
model and makes no call.

A budget (deadline, most model calls) or a stop request ends model calls cleanly; the
walk then still fills whatever the store or static rules can, and every other unit
is reported as pending. The next run recomputes the same plan and resumes.
"""

from __future__ import annotations

import ast
import heapq
import logging
import re
import signal
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from types import FrameType
from typing import TYPE_CHECKING, Any

import networkx as nx

from localread import __version__
from localread.data import Chunk, ChunkKind, EdgeKind
from localread.errors import LocalreadError
from localread.grounding import find_repeat
from localread.repo.analysis import Repo
from localread.repo.rank import core_symbols
from localread.repo.scan import read_source
from localread.repo.tour import Tour, build_tour
from localread.store import Entry, Store, make_key

if TYPE_CHECKING:
    from localread.llm.engine import Completion, Engine
    from localread.llm.models import ResolvedModel

log = logging.getLogger("localread.summarize")

# Answer budgets (tokens). A code summary is one or two sentences; the overview is a
# short paragraph.
MAX_TOKENS = {"code": 48, "class": 48, "module": 64, "package": 64, "overview": 96}
# Sentences kept of an answer: small models go on once they have said it.
MAX_SENTENCES = {"code": 2, "class": 2, "module": 2, "package": 2, "overview": 3}
# One-line summaries handed to callers are cut at this many characters.
ONE_LINE_CHARS = 200
# Inputs listed in one prompt, at most (callees of a huge dispatcher, modules of a
# big package); the rest is named as a count.
MAX_INPUTS = 24
# Characters per token assumed when cutting a long source to fit the context. Code
# tokenizes at 3-4 characters per token; 3 keeps the cut on the safe side.
CHARS_PER_TOKEN = 3
# Tokens of the context kept for the instructions, header and inputs of a code prompt.
RESERVED_TOKENS = 1100
# Seconds kept in hand before a deadline for writing the report.
REPORT_MARGIN_S = 5.0
# Where an answer ends: a blank line, or the model starting the next piece itself.
# A summary is one line; a stop on any newline would end an answer that opens with
# one, so the stops are the ways small models go on: the next piece, a list.
STOPS = ("\n\n", "\n-", "\n```", "\nCode:", "\nFile:", "\nSummary:", "\nDefines:",
         "\nMethods:", "\nCalls:", "\nContains:", "\nPackage ")
# How many entry points get a reading tour in the report.
TOURS = 3
# The highest-ranked symbols summarized right after the top tour.
CORE = 20
# The facts fallback names at most this many of a unit's parts.
FALLBACK_NAMES = 4


class UnitKind(StrEnum):
    CODE = "code"  # function, method or main block
    CLASS = "class"
    MODULE = "module"
    PACKAGE = "package"
    OVERVIEW = "overview"


class Source(StrEnum):
    MODEL = "model"
    CACHE = "cache"
    STATIC = "static"
    PENDING = "pending"


OVERVIEW_ID = "overview:"
PACKAGE_PREFIX = "package:"


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
    retries: model calls made again because the first answer repeated the prompt
    (`repeated_text`), beyond the one call each llm_calls unit made."""

    chunks: int = 0
    llm_calls: int = 0
    cached: int = 0
    static: int = 0
    pending: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    prompt_tokens_reused: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0  # time inside model calls (not in the JSON shape)

    def to_json(self) -> dict[str, Any]:
        return {
            "chunks": self.chunks,
            "llm_calls": self.llm_calls,
            "cached": self.cached,
            "static": self.static,
            "pending": self.pending,
            "retries": self.retries,
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


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for progress displays. remaining: units not yet processed.
    tokens_per_s: prompt tokens evaluated plus tokens generated, per second of model
    time. eta_s: remaining units that may need the model times the mean call time."""

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


# --------------------------------------------------------------------------- budget


def make_budget(
    until: str | None = None,
    max_minutes: float | None = None,
    max_chunks: int | None = None,
    *,
    now: datetime | None = None,
) -> Budget:
    """The budget from the command-line limits; the first limit reached stops the run.

    until: "HH:MM" local time, its next occurrence (07:00 given at 22:00 is tomorrow
    morning). Raises LocalreadError for a malformed time or a non-positive limit."""
    now = now or datetime.now().astimezone()
    deadlines: list[float] = []
    labels: list[str] = []
    if until is not None:
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", until)
        if match is None or int(match[1]) > 23 or int(match[2]) > 59:
            raise LocalreadError(f"--until {until}: expected a time of day as HH:MM, e.g. 07:00")
        target = now.replace(hour=int(match[1]), minute=int(match[2]), second=0, microsecond=0)
        if target <= now:
            target += timedelta(days=1)
        deadlines.append(target.timestamp())
        labels.append(f"until {target.strftime('%H:%M')}")
    if max_minutes is not None:
        if max_minutes <= 0:
            raise LocalreadError(f"--max-minutes {max_minutes:g}: must be more than 0")
        deadlines.append(now.timestamp() + max_minutes * 60)
        labels.append(f"{max_minutes:g} minutes")
    if max_chunks is not None and max_chunks < 0:
        raise LocalreadError(f"--max-chunks {max_chunks}: must be 0 or more")
    if max_chunks is not None:
        labels.append(f"{max_chunks} model calls")
    return Budget(
        deadline=min(deadlines) if deadlines else None,
        max_calls=max_chunks,
        label=", ".join(labels),
    )


# --------------------------------------------------------------------------- plan


_CODE_KINDS = (ChunkKind.FUNCTION, ChunkKind.METHOD, ChunkKind.MAIN)
_CALLABLE = (ChunkKind.FUNCTION, ChunkKind.METHOD, ChunkKind.CLASS)


def packages_of(repo: Repo) -> dict[str, str]:
    """Package name -> folder, for every `__init__.py` chunk."""
    return {
        c.id: c.path.rsplit("/", 1)[0] if "/" in c.path else ""
        for c in repo.chunks.values()
        if c.kind is ChunkKind.MODULE and c.path.rsplit("/", 1)[-1] == "__init__.py"
    }


def parent_package(module_id: str, packages: dict[str, str]) -> str | None:
    """The package directly holding a module or package, or None at the top."""
    if "." not in module_id:
        return None
    parent = module_id.rsplit(".", 1)[0]
    return parent if parent in packages else None


def _callees(repo: Repo, chunk_id: str) -> list[str]:
    out: dict[str, None] = {}
    for site in repo.graph.calls.get(chunk_id, []):
        for target in site.targets:
            chunk = repo.chunks.get(target)
            if chunk is not None and target != chunk_id and chunk.kind in _CALLABLE:
                out[target] = None
    return list(out)


def _units(repo: Repo, packages: dict[str, str]) -> dict[str, Unit]:
    children: dict[str, list[str]] = {}
    for cid, chunk in repo.chunks.items():
        if chunk.parent is not None and chunk.parent in repo.chunks:
            children.setdefault(chunk.parent, []).append(cid)
    units: dict[str, Unit] = {}
    for cid, chunk in repo.chunks.items():
        calls = _callees(repo, cid)
        if chunk.kind in _CODE_KINDS:
            units[cid] = Unit(cid, UnitKind.CODE, cid, chunk.module, tuple(calls))
        elif chunk.kind is ChunkKind.CLASS:
            members = [c for c in children.get(cid, []) if repo.chunks[c].kind in (ChunkKind.METHOD, ChunkKind.CLASS)]
            bases = [
                e.target
                for e in sorted(repo.graph.callees(cid), key=lambda e: (e.line, e.target))
                if e.kind is EdgeKind.INHERITS and e.target in repo.chunks and e.target != cid
            ]
            deps = list(dict.fromkeys([*bases, *members, *calls]))
            units[cid] = Unit(cid, UnitKind.CLASS, cid, chunk.module, tuple(deps))
        else:
            deps = list(dict.fromkeys([*children.get(cid, []), *calls]))
            units[cid] = Unit(cid, UnitKind.MODULE, cid, chunk.module, tuple(deps))
    modules = sorted((c for c in repo.chunks.values() if c.kind is ChunkKind.MODULE), key=lambda c: c.path)
    members: dict[str, list[str]] = {name: [name] for name in packages}  # its __init__ first
    top: list[str] = []
    for module in modules:
        if module.id in packages:
            holder = parent_package(module.id, packages)
            (members[holder] if holder else top).append(PACKAGE_PREFIX + module.id)
            continue
        holder = parent_package(module.id, packages)
        (members[holder] if holder else top).append(module.id)
    for name in sorted(packages):
        uid = PACKAGE_PREFIX + name
        units[uid] = Unit(uid, UnitKind.PACKAGE, None, uid, tuple(members[name]))
    units[OVERVIEW_ID] = Unit(OVERVIEW_ID, UnitKind.OVERVIEW, None, OVERVIEW_ID, tuple(top))
    return units


def _break_cycles(units: dict[str, Unit]) -> dict[str, tuple[str, ...]]:
    """Each unit's deps minus the edges that close a cycle (see the module docstring)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(units)
    for uid, unit in units.items():
        graph.add_edges_from((uid, d) for d in unit.deps)
    position: dict[str, int] = {}
    component: dict[str, int] = {}
    for n, members in enumerate(nx.strongly_connected_components(graph)):
        for member in members:
            component[member] = n
        if len(members) == 1:
            continue
        order = _post_order(sorted(members), units, members)
        position.update({uid: i for i, uid in enumerate(order)})
    inputs: dict[str, tuple[str, ...]] = {}
    for uid, unit in units.items():
        kept = []
        for dep in unit.deps:
            if dep == uid:
                continue
            if component[dep] == component[uid] and position[dep] > position[uid]:
                continue
            kept.append(dep)
        inputs[uid] = tuple(kept)
    return inputs


def _post_order(members: list[str], units: dict[str, Unit], inside: set[str]) -> list[str]:
    """Depth-first post-order of one component, from its smallest id, deps in prompt
    order; iterative, so a long recursive chain cannot exhaust Python's stack."""
    order: list[str] = []
    seen: set[str] = set()
    for root in members:
        if root in seen:
            continue
        seen.add(root)
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(units[root].deps))]
        while stack:
            node, deps = stack[-1]
            for dep in deps:
                if dep in inside and dep not in seen:
                    seen.add(dep)
                    stack.append((dep, iter(units[dep].deps)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def build_plan(repo: Repo, tours: list[Tour], *, core: int = CORE) -> Plan:
    """The units of the repository, their inputs and the order of work (pure)."""
    packages = packages_of(repo)
    units = _units(repo, packages)
    inputs = _break_cycles(units)
    roots: list[tuple[tuple[int, int], str]] = []
    if tours:
        roots += [((0, i), step.id) for i, step in enumerate(tours[0].steps)]
    later = [step.id for tour in tours[1:] for step in tour.steps]
    later += core_symbols(repo.graph, repo.ranks, limit=core)
    roots += [((1, i), uid) for i, uid in enumerate(later)]
    rest = sorted(units, key=lambda u: (-repo.ranks.get(u, 0.0), u))
    roots += [((2, i), uid) for i, uid in enumerate(rest)]
    # Priority: the depth-first post-order of the roots' inputs, root by root, so that
    # a unit runs no later than the most urgent unit that needs it, and the units a
    # reader meets first are finished first.
    priority: dict[str, tuple[int, int]] = {}
    for (tier, _), root in roots:
        if root not in units or root in priority:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(inputs[root]))]
        visiting = {root}
        while stack:
            node, deps = stack[-1]
            for dep in deps:
                if dep not in priority and dep not in visiting:
                    visiting.add(dep)
                    stack.append((dep, iter(inputs[dep])))
                    break
            else:
                stack.pop()
                priority[node] = (tier, len(priority))
    return Plan(units, _schedule(units, inputs, priority), inputs, priority, packages)


def _schedule(
    units: dict[str, Unit], inputs: dict[str, tuple[str, ...]], priority: dict[str, tuple[int, int]]
) -> list[str]:
    """Kahn's algorithm over the inputs. Among ready units of the most urgent tier, one
    in the previous unit's group comes first (shared prompt prefix), else the most
    urgent; ties by id."""
    waiting = {uid: len(set(deps)) for uid, deps in inputs.items()}
    needed_by: dict[str, list[str]] = {}
    for uid, deps in inputs.items():
        for dep in set(deps):
            needed_by.setdefault(dep, []).append(uid)
    ready: list[tuple[tuple[int, int], str]] = []
    by_group: dict[str, list[tuple[tuple[int, int], str]]] = {}

    def push(uid: str) -> None:
        item = (priority[uid], uid)
        heapq.heappush(ready, item)
        heapq.heappush(by_group.setdefault(units[uid].group, []), item)

    for uid in sorted(units):
        if waiting[uid] == 0:
            push(uid)
    order: list[str] = []
    done: set[str] = set()
    group = ""
    while ready:
        while ready and ready[0][1] in done:
            heapq.heappop(ready)
        if not ready:
            break
        best = ready[0]
        same = by_group.get(group, [])
        while same and same[0][1] in done:
            heapq.heappop(same)
        if same and same[0][0][0] == best[0][0]:
            chosen = heapq.heappop(same)[1]
        else:
            chosen = heapq.heappop(ready)[1]
        done.add(chosen)
        order.append(chosen)
        group = units[chosen].group
        for uid in sorted(needed_by.get(chosen, [])):
            waiting[uid] -= 1
            if waiting[uid] == 0:
                push(uid)
    if len(order) != len(units):  # cannot happen: _break_cycles leaves a DAG
        raise RuntimeError("summarize plan: dependency cycle left after breaking cycles")
    return order


# --------------------------------------------------------------------------- static


def _strip_docstring(body: list[ast.stmt]) -> tuple[str | None, list[ast.stmt]]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.value.value, body[1:]
    return None, body


def first_sentence(text: str | None, limit: int = ONE_LINE_CHARS) -> str | None:
    """The first sentence of a docstring or summary, on one line, at most `limit`
    characters (cut at a word, with an ellipsis)."""
    if not text:
        return None
    flat = " ".join(text.strip().split("\n\n", 1)[0].split())
    flat = flat.removeprefix("Summary:").strip()
    if not flat:
        return None
    match = re.search(r"(?<=[.!?])\s", flat)
    sentence = flat[: match.start()] if match else flat
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    return sentence


def _is_placeholder(stmts: list[ast.stmt]) -> bool:
    return all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in stmts
    )


def _raises_not_implemented(stmts: list[ast.stmt]) -> bool:
    if len(stmts) != 1 or not isinstance(stmts[0], ast.Raise) or stmts[0].exc is None:
        return False
    exc = stmts[0].exc
    name = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(name, ast.Name) and name.id == "NotImplementedError"


def _short(node: ast.AST, limit: int = 60) -> str | None:
    text = ast.unparse(node)
    return text if len(text) <= limit and "\n" not in text else None


def _static_function(chunk: Chunk, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    doc, body = _strip_docstring(node.body)
    said = first_sentence(doc)
    if not body or _is_placeholder(body):
        return f"{said} (no code: a placeholder)" if said else "Does nothing (a placeholder with no code)."
    if _raises_not_implemented(body):
        return f"{said} (abstract: subclasses implement it)" if said else "Abstract: subclasses must implement it."
    if len(body) != 1:
        return None
    stmt = body[0]
    if chunk.name in ("__repr__", "__str__") and isinstance(stmt, ast.Return):
        owner = chunk.qualname.rsplit(".", 1)[0] if "." in chunk.qualname else "the object"
        return said or f"Returns a readable text form of `{owner}`."
    if isinstance(stmt, ast.Return) and stmt.value is not None:
        value = stmt.value
        if isinstance(value, ast.Lambda | ast.JoinedStr | ast.ListComp | ast.DictComp | ast.GeneratorExp):
            return None
        text = _short(value)
        if text is None:
            return None
        return said or f"Returns `{text}`."
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = _short(stmt.targets[0], 40), _short(stmt.value, 40)
        if target is not None and value is not None and target.startswith("self."):
            return said or f"Sets `{target}` to `{value}`."
    return None


def _static_class(node: ast.ClassDef) -> str | None:
    doc, body = _strip_docstring(node.body)
    if body and not _is_placeholder(body):
        return None
    said = first_sentence(doc)
    bases = [ast.unparse(b) for b in node.bases]
    if said:
        return said
    if any(b.endswith(("Error", "Exception", "Warning")) for b in bases):
        return f"An exception type (a subclass of `{bases[0]}`) with no code of its own."
    if bases:
        return f"An empty subclass of `{bases[0]}`."
    return "An empty class (a placeholder with no code)."


def _static_main(node: ast.If) -> str | None:
    body = node.body
    if len(body) != 1 or not isinstance(body[0], ast.Expr | ast.Raise):
        return None
    value = body[0].value if isinstance(body[0], ast.Expr) else body[0].exc
    # `main()`, `main(args)`, `sys.exit(main())`, `raise SystemExit(main())`
    call = value
    if isinstance(call, ast.Call) and ast.unparse(call.func) in ("sys.exit", "exit", "SystemExit") and call.args:
        call = call.args[0]
    if not isinstance(call, ast.Call):
        return None
    text = _short(call)
    return f"Runs `{text}` when the file is executed as a script." if text else None


def _static_setup(body: list[ast.stmt]) -> str | None:
    """setup.py that only imports and calls setup(...): packaging, not code to read."""
    calls = [s for s in body if not isinstance(s, ast.Import | ast.ImportFrom)]
    if len(calls) != 1 or not isinstance(calls[0], ast.Expr) or not isinstance(calls[0].value, ast.Call):
        return None
    call = calls[0].value
    if ast.unparse(call.func).rsplit(".", 1)[-1] != "setup":
        return None
    name = next(
        (k.value.value for k in call.keywords
         if k.arg == "name" and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)),
        None,
    )
    what = f"the `{name}` project" if name else "the project"
    return f"Packaging script: declares {what} to setuptools, which installs it."


def _static_module(source: str, path: str = "") -> str | None:
    """An import-only (or empty) module: what it re-exports; a plain setup.py."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    doc, body = _strip_docstring(tree.body)
    if path == "setup.py":
        return _static_setup(body)
    names: list[str] = []
    sources: list[str] = []
    for stmt in body:
        if isinstance(stmt, ast.ImportFrom):
            sources.append("." * stmt.level + (stmt.module or ""))
            names += [a.asname or a.name for a in stmt.names]
        elif isinstance(stmt, ast.Import):
            names += [a.asname or a.name for a in stmt.names]
        elif isinstance(stmt, ast.Assign | ast.AnnAssign) and "__all__" in ast.unparse(stmt).split("=")[0] or isinstance(stmt, ast.Pass):
            continue
        else:
            return None
    said = first_sentence(doc)
    if not names:
        return said or "An empty module."
    shown = ", ".join(f"`{n}`" for n in names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    where = ", ".join(f"`{s}`" for s in dict.fromkeys(sources)) if sources else None
    made = f"Re-exports {shown}" + (f" from {where}." if where else ".")
    return f"{said} {made}" if said else made


def static_summary(chunk: Chunk, source: str, has_children: bool) -> str | None:
    """A summary written without a model for a trivial chunk, or None.

    Trivial: a setup.py that only calls setup(...); a function or method whose body is empty, `pass`, `...`, a docstring or
    `raise NotImplementedError`, or a single short `return expr` / `self.x = y`;
    `__repr__`/`__str__` with one return; a class with no body of its own and no
    members; a `__main__` block that only calls one function; a module of imports
    only. A docstring's first sentence is preferred to a generated phrase."""
    if chunk.kind is ChunkKind.MODULE:
        return None if has_children else _static_module(source, chunk.path)
    try:
        tree = ast.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) != 1:
        return None
    node = tree.body[0]
    if chunk.kind is ChunkKind.MAIN and isinstance(node, ast.If):
        return _static_main(node)
    if chunk.kind in (ChunkKind.FUNCTION, ChunkKind.METHOD) and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return _static_function(chunk, node)
    if chunk.kind is ChunkKind.CLASS and isinstance(node, ast.ClassDef) and not has_children:
        return _static_class(node)
    return None


# --------------------------------------------------------------------------- prompts


@cache
def templates() -> dict[str, str]:
    """The sections of `localread/prompts/summarize.txt` (`=== name ===` headed)."""
    text = resources.files("localread.prompts").joinpath("summarize.txt").read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    name = None
    lines: list[str] = []
    for line in text.split("\n"):
        match = re.fullmatch(r"=== (\w+) ===", line)
        if match:
            if name is not None:
                sections[name] = "\n".join(lines)
            name, lines = match[1], []
        else:
            lines.append(line)
    if name is not None:
        sections[name] = "\n".join(lines)
    return sections


def prompt_version() -> str:
    return templates()["version"].strip()


@dataclass(frozen=True, slots=True)
class UnitPrompt:
    """header: the group's context, shared by consecutive prompts of the group.
    body: what this prompt says about this unit; it ends with "Summary:"."""

    header: str
    body: str
    max_tokens: int
    answer_prefix: str = ""  # words the prompt puts in the model's mouth


class _Sources:
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


def _display(repo: Repo, uid: str) -> str:
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
        out.append(f"- {_display(repo, uid)}{kind}: {summary}" if summary else f"- {_display(repo, uid)}{kind}")
    if len(inputs) > MAX_INPUTS:
        out.append(f"- and {len(inputs) - MAX_INPUTS} more")
    return out


class PromptBuilder:
    """Builds the prompt of each unit from the repository and its inputs' summaries."""

    def __init__(self, repo: Repo, plan: Plan, n_ctx: int) -> None:
        self.repo = repo
        self.plan = plan
        self.n_ctx = n_ctx
        self.sources = _Sources(repo)
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
        lines = [f"Code: {_display(self.repo, unit.id)} ({kind})" if chunk.kind is not ChunkKind.MAIN
                 else f"Code: the `if __name__ == \"__main__\":` block of `{chunk.path}`"]
        lines += _inputs_text(self.repo, "Calls", inputs, with_kind=False)
        source = self.sources.chunk(chunk).split("\n")
        lines.append(_fence(_cut(source, self.source_budget(max_tokens))))
        return "\n".join(lines)

    def _class(self, unit: Unit, inputs: list[tuple[str, str]], max_tokens: int) -> str:
        chunk = self.repo.chunks[unit.id]
        lines = [f"Code: {_display(self.repo, unit.id)} (class)"]
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
        lines = [f"Code: the {_display(self.repo, unit.id)}"]
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


def clean_answer(text: str, max_sentences: int = 2) -> str:
    """A model's answer as a summary: its first non-empty line, sentences not repeated
    (small models loop), at most max_sentences, and an unfinished last sentence dropped
    when a finished one precedes it."""
    lines = [line for line in text.split("\n") if line.strip()]
    flat = " ".join(lines[0].split()).removeprefix("Summary:").strip() if lines else ""
    kept: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", flat):
        if sentence and sentence not in kept:
            kept.append(sentence)
    kept = kept[:max_sentences]
    if len(kept) > 1 and not kept[-1].endswith((".", "!", "?", "`", ")")):
        kept.pop()
    return " ".join(kept).strip()


@cache
def example_summaries() -> tuple[str, ...]:
    """The summaries the instructions' worked examples show (after `Summary:` and in
    their input lists): an answer must not be one of them."""
    found = []
    for line in templates()["instructions"].split("\n"):
        if line.startswith("Summary: "):
            found.append(line.removeprefix("Summary: "))
        elif line.startswith("- ") and "`" in line:
            # - `name`: text / - `name` (kind): text / - module `name`: text
            found.append(line[line.rindex("`"):].split(": ", 1)[-1])
    return tuple(dict.fromkeys(found))


def repeated_text(repo: Repo, summary: str, shown: dict[str, str]) -> str | None:
    """Why summary is a copy, or None: it repeats the summary of one of its inputs that
    the prompt showed (shown: input id -> summary), or a worked example's summary.
    A small model answers a class with its `forward`'s summary, and the module with
    the class's, so that one sentence climbs the whole tree."""
    texts = list(shown.values())
    found = find_repeat(summary, texts)
    if found is not None:
        uid = next(u for u, text in shown.items() if text == found.reference)
        return f"repeated the summary of {_display(repo, uid)}"
    if find_repeat(summary, example_summaries()) is not None:
        return "repeated a worked example of the prompt"
    return None


def fallback_summary(repo: Repo, unit: Unit, inputs: tuple[str, ...]) -> str:
    """What the code says of itself when the model's answers were copies: the
    docstring's first sentence (the README's for the overview), else what the unit is
    made of, by name."""
    chunk = repo.chunks.get(unit.chunk) if unit.chunk is not None else None
    doc = first_sentence(readme_intro(repo) if unit.kind is UnitKind.OVERVIEW else chunk and chunk.docstring)
    if doc:
        return doc
    what = _display(repo, unit.id)
    if unit.kind is UnitKind.CLASS:
        methods = [repo.chunks[u] for u in inputs if u in repo.chunks and repo.chunks[u].parent == unit.chunk]
        if methods:
            return f"Class {what} with the methods {_listed([f'`{m.name}`' for m in methods])}."
    elif inputs:
        listed = _listed([_display(repo, u) for u in inputs])
        if unit.kind is UnitKind.CODE:
            return f"Calls {listed}."
        return f"{what[0].upper()}{what[1:]}: {listed}."
    return f"No summary: the model's answers for {what} repeated texts its prompt showed."


def _listed(names: list[str]) -> str:
    """`a`, `b` and `c`; past FALLBACK_NAMES, `a`, ..., `d` and 3 more."""
    if len(names) > FALLBACK_NAMES:
        names = [*names[:FALLBACK_NAMES], f"{len(names) - FALLBACK_NAMES} more"]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


# --------------------------------------------------------------------------- run


class StopRequest:
    """Set by a signal handler (or a test) to end the run cleanly after the current
    unit. `graceful()` installs handlers: the first Ctrl-C (or SIGTERM) asks for a
    stop; a second Ctrl-C interrupts at once (the store is safe either way)."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __call__(self) -> str | None:
        return self.reason

    def request(self, reason: str) -> None:
        self.reason = self.reason or reason

    @contextmanager
    def graceful(self) -> Iterator[StopRequest]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self.reason is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.request("interrupted" if signum == signal.SIGINT else "terminated")

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def known_tours(repo: Repo, options: Options) -> list[Tour]:
    """Reading tours of the top entry points (distinct starting chunks), best first."""
    tours: list[Tour] = []
    seen: set[str] = set()
    for entry in repo.entries:
        if len(tours) >= options.tours:
            break
        if entry.chunk in seen or entry.chunk not in repo.chunks:
            continue
        seen.add(entry.chunk)
        tours.append(build_tour(repo, entry, max_depth=options.max_depth, max_steps=options.max_steps))
    return tours


def sampling_options() -> dict[str, Any]:
    """What the engine samples with (see llm/engine.py): part of every key."""
    from localread.llm.engine import DEFAULT_SEED

    return {"temperature": 0.0, "seed": DEFAULT_SEED, "stop": list(STOPS)}


class _Runner:
    def __init__(
        self,
        repo: Repo,
        plan: Plan,
        store: Store,
        model: ResolvedModel,
        n_ctx: int,
        engine_factory: Callable[[], Engine],
        options: Options,
        on_progress: Callable[[Progress], None],
        should_stop: Callable[[], str | None],
    ) -> None:
        self.repo, self.plan, self.store, self.model = repo, plan, store, model
        self.options = options
        self.engine_factory = engine_factory
        self.engine: Engine | None = None
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.prompts = PromptBuilder(repo, plan, n_ctx)
        self.version = prompt_version()
        self.sampling = sampling_options()
        self.stats = Stats(chunks=len(repo.chunks))
        self.results: dict[str, Result] = {}
        self.stopped: str | None = None
        self.left = 0
        self.started = time.monotonic()
        # Static summaries do not depend on inputs: decided once, up front, which also
        # lets the ETA leave them out.
        self.static: dict[str, str] = {}
        if options.static:
            for uid, unit in plan.units.items():
                if unit.chunk is not None:
                    chunk = repo.chunks[unit.chunk]
                    text = "\n".join(self.prompts.sources.lines(chunk.path)) if chunk.kind is ChunkKind.MODULE \
                        else self.prompts.sources.chunk(chunk)
                    said = static_summary(chunk, text, bool(self.prompts.children.get(chunk.id)))
                    if said is not None:
                        self.static[uid] = said

    def one_line(self, uid: str) -> str:
        summary = self.results[uid].summary or ""
        return first_sentence(summary) or "(no summary)"

    def run(self) -> None:
        total = len(self.plan.order)
        # Units after this one that may need the model (for the ETA), kept as a count
        # so that progress stays O(1) per unit on repositories of thousands.
        self.left = sum(1 for uid in self.plan.order if uid not in self.static)
        for n, uid in enumerate(self.plan.order, 1):
            if self.stopped is None:
                self.stopped = self.should_stop()
            self.results[uid] = self.unit(self.plan.units[uid])
            self._count(self.results[uid].source)
            if uid not in self.static:
                self.left -= 1
            self.on_progress(self._progress(n, total, uid))
        self.stats.seconds = time.monotonic() - self.started

    def _count(self, source: Source) -> None:
        if source is Source.MODEL:
            self.stats.llm_calls += 1
        elif source is Source.CACHE:
            self.stats.cached += 1
        elif source is Source.STATIC:
            self.stats.static += 1
        elif source is Source.PENDING:
            self.stats.pending += 1

    def unit(self, unit: Unit) -> Result:
        inputs = self.plan.inputs[unit.id]
        if unit.id in self.static:
            return Result(self.static[unit.id], Source.STATIC)
        if any(self.results[d].summary is None for d in inputs):
            return Result(None, Source.PENDING)
        shown = {d: self.one_line(d) for d in inputs}
        prompt = self.prompts.build(unit, shown)
        key = make_key(
            unit.kind.value,
            {
                "body": prompt.body,
                "model": self.model.sha256,
                "prompt_version": self.version,
                "sampling": {**self.sampling, "max_tokens": prompt.max_tokens},
            },
        )
        entry = self.store.get(key)
        if entry is not None:
            detail = entry.detail
            return Result(entry.summary, Source.CACHE, tuple(detail.get("rejected", ())), bool(detail.get("fallback")))
        if self.stopped is None:
            self.stopped = self._over_budget()
        if self.stopped is not None:
            return Result(None, Source.PENDING)
        return self._summarize(unit, prompt, key, shown)

    def _over_budget(self) -> str | None:
        budget = self.options.budget
        if budget.max_calls is not None and self.stats.llm_calls >= budget.max_calls:
            return f"--max-chunks {budget.max_calls} reached"
        if budget.deadline is not None:
            mean = self.stats.model_seconds / self.stats.llm_calls if self.stats.llm_calls else 0.0
            if time.time() + mean + REPORT_MARGIN_S >= budget.deadline:
                return f"deadline reached ({budget.label})"
        return None

    def _summarize(self, unit: Unit, prompt: UnitPrompt, key: str, shown: dict[str, str]) -> Result:
        """Ask the model; when the answer repeats a summary or worked example the prompt
        showed, ask once more with the inputs named but not summarized; when that
        repeats too, keep the facts fallback. The result is committed under key."""
        calls: list[Completion] = []
        seconds = 0.0
        rejected: list[str] = []
        summary = ""
        for attempt in (prompt, self.prompts.build(unit, shown, names_only=True)):
            if calls and attempt.body == prompt.body:
                break  # the same prompt, greedy decoding: the same answer again
            started = time.monotonic()
            completion = self._call(attempt)
            seconds += time.monotonic() - started
            calls.append(completion)
            summary = self._answer(unit, attempt, completion)
            why = repeated_text(self.repo, summary, shown)
            if why is None:
                break
            rejected.append(why)
        fallback = len(rejected) == len(calls)
        if fallback:
            summary = fallback_summary(self.repo, unit, self.plan.inputs[unit.id])
        self.store.put(
            Entry(
                key=key,
                kind=unit.kind.value,
                summary=summary,
                model_sha256=self.model.sha256,
                prompt_version=self.version,
                detail={"unit": unit.id, "finish_reason": calls[-1].finish_reason,
                        **({"source_hash": self.repo.chunks[unit.chunk].source_hash} if unit.chunk else {}),
                        **({"rejected": rejected, "fallback": fallback} if rejected else {})},
                prompt_tokens=sum(c.prompt_tokens for c in calls),
                prompt_tokens_reused=sum(c.reused_tokens for c in calls),
                completion_tokens=sum(c.completion_tokens for c in calls),
                seconds=seconds,
            )
        )
        self.stats.model_seconds += seconds
        self.stats.retries += len(calls) - 1
        log.debug("%s: %s%s", unit.id, summary, f" (rejected: {'; '.join(rejected)})" if rejected else "")
        return Result(summary, Source.MODEL, tuple(rejected), fallback)

    def _call(self, prompt: UnitPrompt) -> Completion:
        """One model call; its tokens are counted."""
        from localread.llm.engine import Prompt

        if self.engine is None:
            self.engine = self.engine_factory()
        # Only the instructions are the shared prefix: the engine reuses exactly that
        # part (llm/engine.py), and a module header of a few tokens is not worth losing
        # the instructions' reuse at every change of module.
        completion: Completion = self.engine.complete(
            Prompt(shared=templates()["instructions"], text=prompt.header + prompt.body, stop=STOPS),
            prompt.max_tokens,
        )
        self.stats.prompt_tokens += completion.prompt_tokens
        self.stats.prompt_tokens_reused += completion.reused_tokens
        self.stats.completion_tokens += completion.completion_tokens
        return completion

    def _answer(self, unit: Unit, prompt: UnitPrompt, completion: Completion) -> str:
        text = completion.text
        if prompt.answer_prefix:
            text = prompt.answer_prefix + ("" if text[:1].isspace() else " ") + text
        return clean_answer(text, MAX_SENTENCES[unit.kind.value])

    def _progress(self, done: int, total: int, current: str) -> Progress:
        s = self.stats
        evaluated = s.prompt_tokens - s.prompt_tokens_reused + s.completion_tokens
        rate = evaluated / s.model_seconds if s.model_seconds > 0 else 0.0
        remaining = total - done
        eta = None
        if s.llm_calls and self.stopped is None:
            eta = self.left * s.model_seconds / s.llm_calls
        return Progress(
            done=done,
            total=total,
            model=s.llm_calls,
            cached=s.cached,
            static=s.static,
            pending=s.pending,
            remaining=remaining,
            tokens_per_s=rate,
            eta_s=eta,
            current=current,
        )

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


def summarize(
    repo: Repo,
    store: Store,
    model: ResolvedModel,
    n_ctx: int,
    engine_factory: Callable[[], Engine],
    options: Options = Options(),
    *,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], str | None] | None = None,
) -> Report:
    """Summarize `repo` into a Report, committing every model result to `store`.

    model / n_ctx: the model's identity and the context the engine will have (known
    without loading it). engine_factory: opens the engine; called on the first model
    call only, and the engine is closed before returning. should_stop: polled between
    units; a reason ("interrupted") ends model calls as a budget does.
    Raises LocalreadError from the store or the engine (disk full, model missing).
    """
    tours = known_tours(repo, options)
    plan = build_plan(repo, tours)
    run_id = store.begin_run(str(repo.root))
    previous = store.last_run(str(repo.root), before=run_id)
    if previous is not None and previous.finished is None:
        log.warning(
            "the previous run on this repository (pid %d, started %s) did not finish; resuming",
            previous.pid,
            previous.started,
        )
    runner = _Runner(
        repo,
        plan,
        store,
        model,
        n_ctx,
        engine_factory,
        options,
        on_progress or (lambda _p: None),
        should_stop or (lambda: None),
    )
    status = "failed"
    try:
        runner.run()
        status = "complete" if runner.stopped is None else f"stopped: {runner.stopped}"
    finally:
        runner.close()
        runner.stats.seconds = time.monotonic() - runner.started
        try:
            store.end_run(run_id, status, runner.stats.to_json())
        except LocalreadError:
            if status != "failed":
                raise
    header = RunHeader(
        model_name=model.name,
        model_sha256=model.sha256,
        n_ctx=n_ctx,
        prompt_version=prompt_version(),
        localread_version=__version__,
        static=options.static,
    )
    return Report(
        repo=repo,
        plan=plan,
        results=runner.results,
        tours=tours,
        stats=runner.stats,
        header=header,
        stopped=runner.stopped,
        interrupted=runner.stopped in ("interrupted", "terminated"),
    )
