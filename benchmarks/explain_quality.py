"""How close localread's texts come to what careful authors wrote, with the docstrings
hidden from it.

    python benchmarks/explain_quality.py [--per-base 100] [--seed 14] [--bases networkx,rich,fixtures]
                                         [--what summary,narrative] [--max-tokens 256]

For each code base (networkx and rich from the virtual environment: real, documented,
pure-Python code that localread does not depend on in a way that matters; and the test
fixtures), the script copies the code base to a temporary folder with every docstring
deleted (Python's `ast` on the copy's text: the code is never imported or run), reads
the copy with localread, and takes a fixed, seeded sample of its documented functions,
methods and classes. Each unit gets:

- `name`: its name split into words (a baseline: `number_of_nodes` -> "number of nodes");
- `static`: the static description (localread.describe; no model);
- `summary`: what `localread summarize` would keep for it (model, quality gate, static
  fallback), with its inputs named but not summarized (the sample is not bottom-up);
- `narrative`: what `localread explain` shows (model purpose line, gate, fallback).

Each text is scored against the hidden docstring's first sentence with ROUGE-L F1 over
words (identifiers split into words, lower-cased). Also printed: the share of model
texts the gate rejected (then replaced by the static description), the share left
empty, the share off topic (no content word shared with the unit's code), and seconds
per unit. networkx is the held-out code base: prompts and the gate were tuned on rich
and the fixtures only, so networkx says how they do on code nobody looked at.
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
HELD_OUT = "networkx"


def site_package(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    for entry in sys.path:
        candidate = Path(entry) / name
        if (candidate / "__init__.py").is_file():
            return candidate
    raise SystemExit(f"package {name!r} is not installed in this environment")


# --------------------------------------------------------------------------- docstrings


@dataclass(frozen=True, slots=True)
class Hidden:
    """A deleted docstring: where it was (file, qualified name) and its first sentence."""

    path: str
    qualname: str
    kind: str
    sentence: str


_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def first_sentence(doc: str) -> str:
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split())
    match = _SENTENCE_END.search(paragraph)
    return paragraph[: match.start()] if match else paragraph


def strip_docstrings(source: str, path: str) -> tuple[str, list[Hidden]]:
    """source without its docstrings (module, class, function; a body left empty gets
    `pass`), and the first sentence of each function's and class's docstring."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    cuts: list[tuple[int, int, str]] = []
    hidden: list[Hidden] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                qualname = f"{prefix}{child.name}"
                doc = _docstring_node(child)
                if doc is not None:
                    text = ast.get_docstring(child) or ""
                    kind = "class" if isinstance(child, ast.ClassDef) else "function"
                    if first_sentence(text):
                        hidden.append(Hidden(path, qualname, kind, first_sentence(text)))
                    cuts.append(_cut(doc, offsets, only=len(child.body) == 1))
                visit(child, qualname + ".")
            elif not isinstance(child, ast.Lambda):
                visit(child, prefix)

    module_doc = _docstring_node(tree)
    if module_doc is not None:
        cuts.append(_cut(module_doc, offsets, only=len(tree.body) == 1))
    visit(tree, "")
    out = source
    for start, end, repl in sorted(cuts, reverse=True):
        out = out[:start] + repl + out[end:]
    # A deleted docstring leaves a blank line or trailing spaces: tidy them.
    out = re.sub(r"\n[ \t]+\n", "\n\n", out)
    return out, hidden


def _docstring_node(node: ast.AST) -> ast.Expr | None:
    body = getattr(node, "body", None)
    if not body:
        return None
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def _cut(node: ast.Expr, offsets: list[int], *, only: bool) -> tuple[int, int, str]:
    start = offsets[node.lineno - 1] + node.col_offset
    end = offsets[node.end_lineno - 1] + node.end_col_offset  # type: ignore[operator]
    return start, end, "pass" if only else ""


def stripped_copy(source: Path, dest: Path, prefix: str = "") -> list[Hidden]:
    """Copy the files of source to dest, Python files without docstrings; the hidden
    docstrings, their paths relative to dest's parent-to-be (prefix + path in source)."""
    hidden: list[Hidden] = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if "__pycache__" in rel.parts or not path.is_file():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix != ".py":
            shutil.copyfile(path, target)
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            stripped, found = strip_docstrings(text, prefix + rel.as_posix())
        except (SyntaxError, ValueError):
            stripped, found = text, []
        target.write_text(stripped, encoding="utf-8")
        hidden += found
    return hidden


# --------------------------------------------------------------------------- scoring

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def words(text: str) -> list[str]:
    """Lower-cased words, identifiers split at `_`, `.` and inner capitals."""
    return [w.lower() for w in _WORD.findall(text)]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 (beta 1) of the word sequences: the longest common subsequence."""
    a, b = words(candidate), words(reference)
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


_STOP = frozenset(["a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "be", "by", "with", "from", "as", "at", "it", "its", "this", "that"])


def off_topic(text: str, source: str) -> bool:
    """No word of 3+ letters (not a function word) that the unit's code also has."""
    mine = {w for w in words(text) if len(w) >= 3 and w not in _STOP}
    return bool(text.strip()) and not mine & set(words(source))


# --------------------------------------------------------------------------- texts


@dataclass(slots=True)
class Text:
    """One model text as the output shows it. rejected: the gate rejected it (the
    static description stands in); empty: nothing reached the output."""

    text: str
    rejected: bool
    seconds: float


@dataclass(slots=True)
class Scores:
    rouge: dict[str, list[float]] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    empty: dict[str, int] = field(default_factory=dict)
    off_topic: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    units: int = 0

    def add(self, column: str, score: float) -> None:
        self.rouge.setdefault(column, []).append(score)

    def count(self, column: str, text: Text, source: str) -> None:
        self.rejected[column] = self.rejected.get(column, 0) + text.rejected
        self.empty[column] = self.empty.get(column, 0) + (not text.text.strip())
        self.off_topic[column] = self.off_topic.get(column, 0) + off_topic(text.text, source)
        self.seconds[column] = self.seconds.get(column, 0.0) + text.seconds


def code_bases(names: list[str]) -> Iterator[tuple[str, list[Path]]]:
    for name in names:
        if name == "fixtures":
            repos = sorted(p for p in FIXTURES.iterdir() if p.is_dir())
            yield name, [r / "repo" if (r / "repo").is_dir() else r for r in repos]
        else:
            yield name, [site_package(name)]


def sample(repo, hidden: list[Hidden], n: int, rng: random.Random) -> list[tuple[object, Hidden]]:
    """(chunk, hidden docstring) pairs of repo, a fixed seeded sample of n (all when fewer)."""
    by_place = {(h.path, h.qualname): h for h in hidden if len(words(h.sentence)) >= 3}
    pairs = []
    for chunk in sorted(repo.chunks.values(), key=lambda c: c.id):
        if str(chunk.kind) not in ("function", "method", "class"):
            continue
        found = by_place.get((chunk.path, chunk.qualname))
        if found is not None:
            pairs.append((chunk, found))
    rng.shuffle(pairs)
    return sorted(pairs[:n], key=lambda p: p[0].id)


Generator = Callable[..., Text]


def make_generators(engine, max_tokens: int) -> dict[str, Callable]:
    """The model texts the benchmark scores, made the way the commands make them."""
    from localread.explain import explain_chunk
    from localread.llm.engine import Prompt
    from localread.summarize.answers import summarize_unit
    from localread.summarize.model import Plan, Unit, UnitKind
    from localread.summarize.prompts import STOPS, PromptBuilder, instructions

    builders: dict[int, PromptBuilder] = {}

    def summary(repo, chunk) -> Text:
        kind = UnitKind.CLASS if str(chunk.kind) == "class" else UnitKind.CODE
        inputs = _inputs(repo, chunk)
        unit = Unit(chunk.id, kind, chunk.id, chunk.module, inputs)
        builder = builders.get(id(repo))
        if builder is None:
            builder = builders[id(repo)] = PromptBuilder(repo, Plan({}, [], {}, {}, {}), engine.n_ctx)
        builder.plan.units[unit.id] = unit
        builder.plan.inputs[unit.id] = inputs
        started = time.perf_counter()

        def call(prompt):
            return engine.complete(Prompt(shared=instructions(), text=prompt.header + prompt.body, stop=STOPS),
                                   prompt.max_tokens)

        outcome = summarize_unit(repo, builder, unit, {u: "" for u in inputs}, call, names_only=True)
        return Text(outcome.summary, outcome.fallback, time.perf_counter() - started)

    def narrative(repo, chunk) -> Text:
        started = time.perf_counter()
        result = explain_chunk(repo, chunk, engine, max_tokens=max_tokens)
        return Text(result.narrative, bool(result.rejected) and str(result.source) == "static",
                    time.perf_counter() - started)

    return {"summary": summary, "narrative": narrative}


def _inputs(repo, chunk) -> tuple[str, ...]:
    """What a summarize prompt of chunk names: its repository callees, or a class's methods."""
    if str(chunk.kind) == "class":
        return tuple(c.id for c in repo.chunks.values() if c.parent == chunk.id)
    seen: dict[str, None] = {}
    for site in repo.graph.calls.get(chunk.id, []):
        for target in site.targets:
            if target != chunk.id and target in repo.chunks:
                seen.setdefault(target)
    return tuple(seen)


def static_description(repo, chunk) -> str:
    from localread.describe import describe
    from localread.facts import facts_card

    return describe(repo, chunk, facts_card(repo, chunk.id))


def name_words(chunk) -> str:
    return " ".join(words(chunk.name))


def run_base(name: str, roots: list[Path], args, generators: dict[str, Callable], work: Path) -> Scores:
    from localread.repo.analysis import analyze

    scores = Scores()
    rng = random.Random(f"{args.seed}:{name}")
    per_root = max(1, args.per_base // len(roots)) if name != "fixtures" else args.per_base
    for root in roots:
        copy = work / name / (root.parent.name if root.name == "repo" else root.name)
        if name == "fixtures":
            hidden = stripped_copy(root, copy)
        else:
            hidden = stripped_copy(root, copy / root.name, prefix=root.name + "/")
        repo = analyze(copy)
        for chunk, doc in sample(repo, hidden, per_root, rng):
            scores.units += 1
            source = repo.chunk_source(chunk)
            scores.add("name", rouge_l(name_words(chunk), doc.sentence))
            static = static_description(repo, chunk)
            scores.add("static", rouge_l(static, doc.sentence))
            for what in args.what:
                text = generators[what](repo, chunk)
                scores.add(what, rouge_l(text.text, doc.sentence))
                scores.count(what, text, source)
                if args.verbose:
                    print(f"  {chunk.id}\n    hidden:  {doc.sentence}\n    {what}: {text.text}"
                          f"{'  [rejected]' if text.rejected else ''}", file=sys.stderr)
    return scores


def report(results: dict[str, Scores], what: list[str]) -> None:
    columns = ["name", "static", *what]
    print(f"{'code base':<12} {'units':>5}  " + "  ".join(f"{c:>9}" for c in columns))
    for base, s in results.items():
        label = base + (" (held out)" if base == HELD_OUT else "")
        cells = [f"{statistics.fmean(s.rouge.get(c, [0.0])):9.3f}" for c in columns]
        print(f"{label:<12} {s.units:>5}  " + "  ".join(cells))
    print()
    print(f"{'code base':<12} {'text':<10} {'rejected':>8} {'empty':>6} {'off-topic':>9} {'s/unit':>7}")
    for base, s in results.items():
        for c in what:
            n = max(1, s.units)
            print(f"{base:<12} {c:<10} {s.rejected.get(c, 0) / n:8.0%} {s.empty.get(c, 0) / n:6.0%} "
                  f"{s.off_topic.get(c, 0) / n:9.0%} {s.seconds.get(c, 0.0) / n:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-base", type=int, default=100, help="units per code base (default 100: 300 in all)")
    parser.add_argument("--seed", default="14")
    parser.add_argument("--bases", default=f"{HELD_OUT},rich,fixtures")
    parser.add_argument("--what", default="summary,narrative", help="model texts to score (none: baselines only)")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--verbose", action="store_true", help="print every text next to the hidden sentence")
    args = parser.parse_args()
    args.what = [w for w in args.what.split(",") if w and w != "none"]
    from localread.config import load_settings
    from localread.llm.engine import open_engine

    with tempfile.TemporaryDirectory(prefix="localread-quality-") as tmp:
        results: dict[str, Scores] = {}
        engine = open_engine(load_settings()) if args.what else None
        try:
            generators = make_generators(engine, args.max_tokens) if engine is not None else {}
            for name, roots in code_bases(args.bases.split(",")):
                results[name] = run_base(name, roots, args, generators, Path(tmp))
                print(f"{name}: {results[name].units} units done", file=sys.stderr)
        finally:
            if engine is not None:
                engine.close()
    model = "no model" if engine is None else f"model {engine.model.name}"
    print(f"ROUGE-L F1 against the hidden first sentence ({model}, seed {args.seed})")
    report(results, args.what)


if __name__ == "__main__":
    main()
