"""The static description of a chunk: what it does, in plain English, from the facts
card and the call outline alone. Always true, no model.

`describe(repo, chunk, card)` returns a few sentences: the docstring's first sentence
when there is one, then what the code does in the order it does it ("For each `block`
in `self.blocks`, calls `Block.forward`; if `checkpoint is not None`, calls
`torch.load`."), what it raises and when, the attributes it sets, and what it
returns. A class says what it derives from and is built from, what its `__init__`
builds, its methods, and what calling it runs (`forward` or `__call__`: the calls and
what it returns). It is what `--no-llm` shows, and what every text the quality gate
(localread.quality) rejects is replaced with. Nothing here runs the repository's code.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from localread.data import Chunk, ChunkKind, EdgeKind, FactsCard
from localread.facts import facts_card
from localread.quality import split_words
from localread.repo.entries import is_pytest_test
from localread.repo.graph.library import is_module_base
from localread.sentences import first_sentence

if TYPE_CHECKING:
    from localread.repo.analysis import Repo
    from localread.repo.graph import CallSite

# Clauses of the call sentence, at most; the rest is counted.
MAX_CLAUSES = 6
# Names listed in one clause, at most.
MAX_NAMES = 4
# Library functions named in the "uses" sentence, at most.
MAX_LIBRARY = 3
# An expression longer than this is not quoted (a condition, a returned value).
MAX_EXPRESSION = 48
# Builtins that say nothing about what a piece of code is for.
_PLAIN_BUILTINS = frozenset({
    "len", "range", "enumerate", "zip", "print", "int", "float", "str", "bool", "list", "dict",
    "tuple", "set", "isinstance", "getattr", "setattr", "hasattr", "super", "min", "max", "sum",
    "sorted", "reversed", "iter", "next", "repr", "abs", "round", "any", "all", "map", "filter",
    "type", "id", "hash", "format", "open", "frozenset", "object", "vars", "callable",
})


def describe(repo: Repo, chunk: Chunk, card: FactsCard) -> str:
    """The static description of chunk (card: its facts card). Never empty."""
    doc = first_sentence(card.docstring, limit=None)
    if chunk.kind is ChunkKind.CLASS:
        body = _class(repo, chunk, card)
    elif chunk.kind is ChunkKind.MODULE:
        body = _module(repo, chunk, card)
    else:
        body = _code(repo, chunk, card)
    sentences = [_sentence(doc)] if doc else []
    if is_pytest_test(chunk, repo.chunks):
        sentences.append(_test(chunk))
    sentences += [s for s in body if s]
    if not sentences:
        sentences = [_nothing(chunk)]
    return " ".join(sentences)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _q(text: str) -> str:
    """`text`, or None-like empty when it is too long to quote."""
    text = " ".join(text.split())
    return f"`{text}`" if text and len(text) <= MAX_EXPRESSION and "`" not in text else ""


def _listed(items: list[str], more: str = "more", sep: str = ", ") -> str:
    """`a`, `b` and `c`; past MAX_NAMES, `a`, ..., `d` and 3 more. sep: between all
    but the last two ("; " when the items hold commas of their own)."""
    items = list(dict.fromkeys(i for i in items if i))
    if len(items) > MAX_NAMES:
        rest = len(items) - MAX_NAMES
        # "1 more parameter", "1 more class": one is singular.
        counted = more if rest > 1 else re.sub(r"(ss)es$|s$", r"\1", more)
        items = [*items[:MAX_NAMES], f"{rest} {counted}"]
    if len(items) <= 1:
        return "".join(items)
    return sep.join(items[:-1]) + (" and " if sep == ", " else f"{sep}and ") + items[-1]


def _nothing(chunk: Chunk) -> str:
    return {
        ChunkKind.CLASS: f"The class `{chunk.name}` has no code of its own.",
        ChunkKind.MODULE: f"The module `{chunk.id}` has no functions or classes of its own.",
        ChunkKind.MAIN: "The script's `__main__` block calls nothing in the repository.",
    }.get(chunk.kind, f"`{chunk.name}` calls nothing and returns nothing that the code names.")


# --------------------------------------------------------------------------- code


def _test(chunk: Chunk) -> str:
    """What a test is by convention: its name after `test` says what it tests
    (`test_complete_graph` -> "A test of “complete graph”, run by pytest.")."""
    words = " ".join(split_words(chunk.name.removeprefix("test")))
    return f"A test of “{words}”, run by pytest." if words else "A test, run by pytest."


def _target_name(repo: Repo, chunk: Chunk, target: str) -> str:
    """How the description names a repository callee: a method of the same class by
    its name, anything else by its qualified name."""
    other = repo.chunks.get(target)
    if other is None:
        return f"`{target.rsplit('.', 1)[-1]}`"
    if other.kind is ChunkKind.METHOD and other.name == "__init__" and other.parent in repo.chunks:
        other = repo.chunks[other.parent]
    if chunk.parent is not None and other.parent == chunk.parent and other.kind is ChunkKind.METHOD:
        return f"`{other.name}`"
    return f"`{other.qualname}`"


def _context(context: str) -> str:
    """`for block in self.blocks; if block.use` -> "for each `block` in
    `self.blocks`, if `block.use`": the innermost two levels, in words."""
    # A comment after a condition (`if self.smoothing:  # EMA update`) is no part of it.
    parts = [re.sub(r"\s*:?\s*#.*$", "", p).strip() for p in context.split(";") if p.strip()]
    words: list[str] = []
    for part in parts[-2:]:
        head, _, rest = part.partition(" ")
        if head == "for" and " in " in rest:
            target, _, iterable = rest.partition(" in ")
            quoted = _q(iterable)
            words.append(f"for each {_q(target) or 'item'}" + (f" in {quoted}" if quoted else ""))
        elif head in ("if", "elif"):
            words.append(f"if {_q(rest)}" if _q(rest) else "under a condition")
        elif head == "while":
            words.append(f"while {_q(rest)}" if _q(rest) else "in a loop")
        elif head == "else":
            words.append(_else(rest))
        elif head == "with":
            words.append(f"within {_q(rest)}" if _q(rest) else "within a context")
        elif head == "except":
            words.append(f"on {_q(rest)}" if _q(rest) else "when an error is caught")
    # "under a condition, under a condition" says no more than once.
    return ", ".join(dict.fromkeys(w for w in words if w))


def _else(rest: str) -> str:
    """The words of an `else` context (`else of if fast` -> "unless `fast`"), from
    the statement the outline says it belongs to."""
    owner = rest.removeprefix("of ")
    head, _, header = owner.partition(" ")
    if head == "if":
        condition, elifs, _ = header.partition(" ... elif")
        quoted = _q(condition)
        if elifs:
            return f"if neither {quoted} nor any `elif` condition holds" if quoted else "when no branch of an `if` holds"
        return f"unless {quoted}" if quoted else "when a condition does not hold"
    if head == "for" and " in " in header:
        quoted = _q(header.partition(" in ")[2])
        return f"after the loop over {quoted} ends without a `break`" if quoted else "after a loop ends without a `break`"
    if head == "while":
        return "after the `while` loop ends without a `break`"
    if head == "try":
        return "when the `try` block raises nothing"
    return "otherwise"


def _is_exception(site: CallSite, card: FactsCard) -> bool:
    name = (site.external or site.text).rsplit(".", 1)[-1]
    return name in card.raises or name.endswith(("Error", "Exception", "Warning"))


def _call_clauses(
    repo: Repo, chunk: Chunk, card: FactsCard, *, skip_super: bool = False
) -> tuple[list[str], list[str], list[str]]:
    """(clauses of repository calls grouped by context, library functions used,
    conditions under which each exception is raised). skip_super: leave out calls
    through `super()` (a constructor's call of its base's)."""
    clauses: list[tuple[str, list[str]]] = []
    library: list[str] = []
    raises: list[str] = []
    for site in repo.graph.calls.get(chunk.id, []):
        if skip_super and site.text.startswith("super("):
            continue
        if _is_exception(site, card):
            when = _context(site.context)
            raises.append(f"`{(site.external or site.text).rsplit('.', 1)[-1]}`" + (f" {when}" if when else ""))
            continue
        if site.targets:
            named = dict(site.configured)
            plain = [t for t in site.targets if t not in named]
            whats = []
            if plain:
                verb = "builds" if site.kind is EdgeKind.INSTANTIATES else "calls"
                names = [_target_name(repo, chunk, t) for t in plain]
                whats.append(f"{verb} {_a(names[0]) if verb == 'builds' else ''}{' or '.join(dict.fromkeys(names))}")
            for target, where in named.items():
                # What a config names is built as well as the helper's call, not instead.
                name = _target_name(repo, chunk, target)
                whats.append(f"builds {_a(name)}{name} (named at {where.split(' at ', 1)[-1]})")
            where = _context(site.context)
            for what in whats:
                if clauses and clauses[-1][0] == where:
                    if what not in clauses[-1][1]:
                        clauses[-1][1].append(what)
                else:
                    clauses.append((where, [what]))
        elif site.external and not site.external.startswith("builtins."):
            library.append(f"`{site.external.removesuffix('.__call__')}`")
        elif site.external and site.external.removeprefix("builtins.") not in _PLAIN_BUILTINS and "." not in site.external.removeprefix("builtins."):
            library.append(f"`{site.external.removeprefix('builtins.')}`")
    out = []
    for where, whats in clauses:
        joined = _join_whats(whats)
        out.append(f"{where}, {joined}" if where else joined)
    if len(out) > MAX_CLAUSES:
        out = [*out[:MAX_CLAUSES], f"and {len(out) - MAX_CLAUSES} more calls into the repository"]
    return out, list(dict.fromkeys(library)), list(dict.fromkeys(raises))


def _a(name: str) -> str:
    """The article before a quoted class name."""
    return "an " if name.strip("`")[:1].lower() in "aeiou" else "a "


def _join_whats(whats: list[str]) -> str:
    """"calls `a`", "calls `b`", "builds a `C`" -> "calls `a` and `b`, builds a `C`":
    consecutive clauses of one verb share it."""
    runs: list[tuple[str, list[str]]] = []
    for what in whats:
        verb, _, obj = what.partition(" ")
        if runs and runs[-1][0] == verb:
            runs[-1][1].append(obj)
        else:
            runs.append((verb, [obj]))
    return ", ".join(f"{verb} {_and(objs)}" for verb, objs in runs)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _returns(card: FactsCard) -> str:
    returned = [r for r in card.returned if r not in ("None", "self")]
    if card.returns and card.returns != "None":
        quoted = _q(card.returns)
        named = [r for r in returned if r != card.returns]
        if quoted and len(named) == 1 and _q(named[0]):
            return f"Returns {_q(named[0])}, {_a(quoted)}{quoted}."
        if quoted:
            return f"Returns {_a(quoted)}{quoted}."
    shown = [_q(r) for r in returned[:2] if _q(r)]
    if shown:
        return "Returns " + " or ".join(shown) + "."
    return ""


def _code(repo: Repo, chunk: Chunk, card: FactsCard) -> list[str]:
    clauses, library, raises = _call_clauses(repo, chunk, card)
    out: list[str] = []
    if chunk.kind is ChunkKind.MAIN:
        return [_sentence("when the file is run as a script, " + "; ".join(clauses))] if clauses else []
    if clauses:
        out.append(_sentence("; ".join(clauses)))
    if library:
        out.append(f"Uses {_listed(library, 'more library functions')}.")
    if raises:
        # "`ValueError` if `k`, under a condition, `KeyError`": where a condition has a
        # comma of its own, the exceptions are set apart with semicolons.
        sep = "; " if any(", " in r for r in raises) else ", "
        out.append(f"Raises {_listed(raises, 'more exceptions', sep)}.")
    # All of them, not the card's first MAX_LISTED: "and 8 more" must be the true count.
    facts = repo.graph.facts.get(chunk.id)
    written = [f"`self.{a}`" for a in (facts.writes if facts is not None else card.attributes_written)]
    if written:
        out.append(f"Sets {_listed(written, 'more attributes')}.")
    out.append(_returns(card))
    if not any(out) and card.parameters:
        out.append(f"Takes {_listed([f'`{p.name}`' for p in card.parameters], 'more parameters')}.")
    return out


# --------------------------------------------------------------------------- class, module


def _class(repo: Repo, chunk: Chunk, card: FactsCard) -> list[str]:
    out: list[str] = []
    bases = [b.rsplit(".", 1)[-1] for b in card.bases or ()]
    external = _external_bases(repo, chunk)
    named = [f"`{b}`" for b in [*bases, *external]]
    if named:
        out.append(f"A subclass of {_listed(named, 'more classes')}.")
    params = [f"`{p.name}`" for p in card.parameters]
    if params:
        out.append(f"Built from {_listed(params, 'more parameters')}.")
    methods = [m for m in card.methods or () if m != "__init__"]
    public = [f"`{m}`" for m in methods if not m.startswith("_")]
    private = [f"`{m}`" for m in methods if m.startswith("_")]
    if public:
        are = "Its method is" if len(public) == 1 else "Its methods are"
        out.append(f"{are} {_listed(public, 'more')}" + (f", with the helper{'s' if len(private) > 1 else ''} {_listed(private, 'more')}." if private else "."))
    elif private:
        out.append(f"{'Its method is' if len(private) == 1 else 'Its methods are'} {_listed(private, 'more')}.")
    out.insert(bool(named) + bool(params), _construction(repo, chunk))
    out.append(_calling(repo, chunk))
    return out


def _method(repo: Repo, chunk: Chunk, name: str) -> Chunk | None:
    return repo.chunks.get(f"{chunk.id}.{name}")


def _construction(repo: Repo, chunk: Chunk) -> str:
    """What the class's `__init__` builds, or the library parts it uses: what an object
    of the class is made of ("On construction, builds a `PatchEmbed` and a
    `GatedEncoder`.")."""
    init = _method(repo, chunk, "__init__")
    if init is None:
        return ""
    clauses, library, _ = _call_clauses(repo, init, facts_card(repo, init.id), skip_super=True)
    if library:
        clauses.append(f"uses {_listed(library, 'more library functions')}")
    return _sentence("on construction, " + "; ".join(clauses)) if clauses else ""


def _calling(repo: Repo, chunk: Chunk) -> str:
    """What calling an object of the class runs: its `__call__`, or the `forward` of an
    nn.Module; the repository calls made there and what it returns."""
    for name in ("__call__", "forward"):
        run = _method(repo, chunk, name)
        if run is None or (name == "forward" and not _module_like(repo, chunk)):
            continue
        card = facts_card(repo, run.id)
        parts = _call_clauses(repo, run, card)[0]
        returns = _returns(card)  # "Returns `x`." as a clause: "returns `x`"
        if returns:
            parts.append(returns[0].lower() + returns[1:].removesuffix("."))
        return f"Calling it runs `{name}`: {'; '.join(parts)}." if parts else ""
    return ""


def _module_like(repo: Repo, chunk: Chunk, seen: frozenset[str] = frozenset()) -> bool:
    """Whether the class is an nn.Module (an external base, or one of its repository
    bases', that is one: library.MODULE_BASES), so that calling it runs `forward`."""
    imported = repo.graph.import_names.get(chunk.module, {})
    for base in _external_bases(repo, chunk):
        head, dot, rest = base.partition(".")
        if is_module_base(imported.get(head, head) + dot + rest):
            return True
    seen |= {chunk.id}
    return any(
        _module_like(repo, repo.chunks[e.target], seen)
        for e in repo.graph.callees(chunk.id)
        if e.kind is EdgeKind.INHERITS and e.target in repo.chunks and e.target not in seen
    )


def _external_bases(repo: Repo, chunk: Chunk) -> list[str]:
    """Bases outside the repository (`nn.Module`), as the signature writes them."""
    match = re.match(r"\s*class\s+\w+\s*\((.*)\)\s*:?\s*$", chunk.signature)
    if match is None:
        return []
    inside = {e.target.rsplit(".", 1)[-1] for e in repo.graph.callees(chunk.id) if e.kind is EdgeKind.INHERITS}
    bases = [b.strip() for b in match.group(1).split(",") if b.strip() and "=" not in b]
    return [b for b in bases if b.rsplit(".", 1)[-1] not in inside and b != "object"]


def _module(repo: Repo, chunk: Chunk, card: FactsCard) -> list[str]:
    defines = [d for d in card.defines or () if "." not in d and d != "__main__"]
    if defines:
        shown = [f"`{d}`" for d in defines]
        return [f"Defines {_listed(shown, 'more')}."]
    imported = [e.target for e in repo.graph.callees(chunk.id) if e.kind is EdgeKind.IMPORTS and e.target in repo.chunks]
    # A module of top-level code (`from .cli import main` then `main()`) does what it calls.
    clauses = _call_clauses(repo, chunk, card)[0]
    calls = f", and at import {'; '.join(clauses)}" if clauses else ""
    if imported:
        names = [f"`{repo.chunks[t].qualname}`" for t in dict.fromkeys(imported)]
        return [f"Imports {_listed(names, 'more')}{calls}; it defines nothing of its own."]
    return [_sentence("at import, " + "; ".join(clauses))] if clauses else []
