"""How close localread's texts come to what careful authors wrote, with the docstrings
hidden from it.

    python benchmarks/explain_quality.py [--per-base 100] [--seed 14] [--bases networkx,rich,fixtures]
                                         [--what summary,narrative] [--max-tokens 256]

A base is an installed package's name, `fixtures`, or a folder holding a `/` (code
that is not installed: a research checkout, or a package unpacked from a wheel).

For each code base (networkx and rich from the virtual environment: real, documented,
pure-Python code that localread does not depend on in a way that matters; and the test
fixtures), the script copies the code base to a temporary folder with every docstring
deleted (Python's `ast` on the copy's text: the code is never imported or run), reads
the copy with localread, and takes a fixed, seeded sample of its documented functions,
methods and classes. Each unit gets:

- `name`: its name split into words (a baseline: `number_of_nodes` -> "number of nodes");
- `static`: the static description (localread.describe; no model);
- `summary`: what `localread summarize` would keep for it (model, quality gate, the
  check against sampled answers, retry, static fallback; summarize.ask.ask_engine),
  with its inputs named but not summarized (the sample is not bottom-up);
- `narrative`: what `localread explain` shows (model purpose line, the same checks,
  fallback).

Each text is scored against the hidden docstring's first sentence with ROUGE-L F1 over
words (identifiers split into words, lower-cased). Also printed: the share of model
texts the gate rejected (then replaced by the static description), the share left
empty, the share off topic (no content word shared with the unit's code), seconds
per unit, and, on the units where the model's text was kept, its ROUGE-L next to the
name baseline's (how good the model is when it speaks). networkx is the held-out code base: prompts and the gate were tuned on rich
and the fixtures only, so networkx says how they do on code nobody looked at.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
HELD_OUT = "networkx"
# The last commit with prompt version 2 ("Explanation: `name`" notes, no quality gate):
# what --prompts old measures.
OLD_REF = "5b83eca7815f4e74205feec8d57c8ed9049eec3a"


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
    """ROUGE-L F1 (beta 1) of the word sequences (this script's words: not stemmed)."""
    from localread.agreement import lcs_f1

    return lcs_f1(words(candidate), words(reference))


_STOP = frozenset(["a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "be", "by", "with", "from", "as", "at", "it", "its", "this", "that"])


def off_topic(text: str, source: str) -> bool:
    """No word of 3+ letters (not a function word) that the unit's code also has."""
    mine = {w for w in words(text) if len(w) >= 3 and w not in _STOP}
    return bool(text.strip()) and not mine & set(words(source))


# --------------------------------------------------------------------------- texts


@dataclass(slots=True)
class Text:
    """One model text as the output shows it. asked_again: the gate rejected the first
    answer; static: no answer passed and the static description stands in (for the
    old prompts: their own copy check emptied it); empty: nothing reached the output."""

    text: str
    asked_again: bool
    static: bool
    seconds: float
    why: tuple[str, ...] = ()


@dataclass(slots=True)
class Scores:
    """Per column: ROUGE-L of each unit, and the counts of the rates table."""

    rouge: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, dict[str, float]] = field(default_factory=dict)
    # Per model column, the units whose model text was kept (not the static
    # description): (the text's ROUGE-L, the name baseline's ROUGE-L) on each.
    kept: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    units: int = 0

    def add(self, column: str, text: str, reference: str) -> None:
        self.rouge.setdefault(column, []).append(rouge_l(text, reference))

    def count(self, column: str, text: Text, source: str) -> None:
        c = self.counts.setdefault(column, {"asked_again": 0, "static": 0, "empty": 0, "off_topic": 0, "seconds": 0.0})
        c["asked_again"] += text.asked_again
        c["static"] += text.static
        c["empty"] += not text.text.strip()
        c["off_topic"] += off_topic(text.text, source)
        c["seconds"] += text.seconds


def code_bases(names: list[str]) -> Iterator[tuple[str, list[Path]]]:
    for name in names:
        if name == "fixtures":
            repos = sorted(p for p in FIXTURES.iterdir() if p.is_dir())
            yield name, [r / "repo" if (r / "repo").is_dir() else r for r in repos]
        elif "/" in name:
            # A folder of Python code that is not installed: a checkout, or a package
            # unpacked from a wheel without installing it.
            folder = Path(name).resolve()
            if not folder.is_dir():
                raise SystemExit(f"no folder {name!r}")
            yield folder.name, [folder]
        else:
            yield name, [site_package(name)]


def sample(repo: Any, hidden: list[Hidden], n: int, rng: random.Random) -> list[tuple[Any, Hidden]]:
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


def _inputs(repo: Any, chunk: Any) -> tuple[str, ...]:
    """What a summarize prompt of chunk names: its repository callees, or a class's methods."""
    if str(chunk.kind) == "class":
        return tuple(c.id for c in repo.chunks.values() if c.parent == chunk.id)
    seen: dict[str, None] = {}
    for site in repo.graph.calls.get(chunk.id, []):
        for target in site.targets:
            if target != chunk.id and target in repo.chunks:
                seen.setdefault(target)
    return tuple(seen)


def make_generators(engine: Any, max_tokens: int) -> dict[str, Callable[[Any, Any], Text]]:
    """The texts of the current prompts, made the way the commands make them (the
    quality gate, one retry, the static fallback)."""
    from localread.explain import explain_chunk
    from localread.summarize.ask import Ask, ask_engine
    from localread.summarize.model import Plan, Unit, UnitKind
    from localread.summarize.prompts import PromptBuilder

    builders: dict[int, PromptBuilder] = {}

    def summary(repo: Any, chunk: Any) -> Text:
        kind = UnitKind.CLASS if str(chunk.kind) == "class" else UnitKind.CODE
        inputs = _inputs(repo, chunk)
        unit = Unit(chunk.id, kind, chunk.id, chunk.module, inputs)
        builder = builders.get(id(repo))
        if builder is None:
            builder = builders[id(repo)] = PromptBuilder(repo, Plan({}, [], {}, {}, {}), engine.n_ctx)
        builder.plan.units[unit.id] = unit
        builder.plan.inputs[unit.id] = inputs
        shown = {u: "" for u in inputs}
        first, retry = builder.build(unit, shown, names_only=True), builder.build(unit, shown, retry=True)
        # The attempts summarize makes (summarize.run), through the same function.
        ask = Ask(unit, chunk.id, (first,) if retry.body == first.body else (first, retry), shown)
        started = time.perf_counter()
        outcome = ask_engine(repo, inputs, ask, engine, time.perf_counter)
        return Text(outcome.summary, bool(outcome.rejected), outcome.fallback, time.perf_counter() - started,
                    outcome.rejected)

    def narrative(repo: Any, chunk: Any) -> Text:
        started = time.perf_counter()
        result = explain_chunk(repo, chunk, engine, max_tokens=max_tokens)
        return Text(result.narrative, bool(result.rejected), not result.from_model, time.perf_counter() - started,
                    result.rejected)

    return {"summary": summary, "narrative": narrative}


# --------------------------------------------------------------------------- old prompts
#
# The old prompts are measured with the code they were written for: the package as it
# was at --old-ref, unpacked from git into the temporary folder and run in a child
# process (PYTHONPATH first, so it is imported instead of this checkout), on the same
# stripped copies and the same units. The gate is then applied here to its texts
# ("+gate": a text it rejects becomes the static description), without a retry.


def old_worker(job_path: str, out_path: str) -> None:
    """In the child: the old package's narrative and summary of every unit of the job,
    and the worked examples of its prompts, written as JSON to out_path."""
    from localread.config import load_settings
    from localread.explain import explain_chunk
    from localread.llm.engine import Prompt, open_engine
    from localread.llm.models import ChatStyle
    from localread.llm.prompts import templates, worked_examples
    from localread.repo.analysis import analyze
    from localread.summarize.answers import (
        answer_summary,
        example_summaries,
        fallback_summary,
        repeated_text,
    )
    from localread.summarize.model import Plan, Unit, UnitKind
    from localread.summarize.prompts import STOPS, PromptBuilder, instructions

    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    out: dict[str, Any] = {
        "narrative_examples": [templates(ChatStyle.COMPLETION)["shared"], *worked_examples(ChatStyle.COMPLETION)],
        "summary_examples": [instructions()],
        "summary_shown": list(example_summaries()),
        "texts": {},
    }
    engine = open_engine(load_settings())
    try:
        for root, ids in job["repos"].items():
            repo = analyze(Path(root))
            builder = PromptBuilder(repo, Plan({}, [], {}, {}, {}), engine.n_ctx)
            texts = out["texts"][root] = {}
            for cid in ids:
                chunk = repo.chunks.get(cid)
                if chunk is None:
                    continue
                started = time.perf_counter()
                if "narrative" in job["what"]:
                    result = explain_chunk(repo, chunk, engine, max_tokens=job["max_tokens"])
                    texts.setdefault(cid, {})["narrative"] = [result.narrative, bool(result.rejected),
                                                              time.perf_counter() - started, f"`{chunk.name}`"]
                if "summary" in job["what"]:
                    started = time.perf_counter()
                    kind = UnitKind.CLASS if str(chunk.kind) == "class" else UnitKind.CODE
                    inputs = _inputs(repo, chunk)
                    unit = Unit(chunk.id, kind, chunk.id, chunk.module, inputs)
                    builder.plan.units[unit.id] = unit
                    builder.plan.inputs[unit.id] = inputs
                    shown = {u: "" for u in inputs}
                    prompt = builder.build(unit, shown, names_only=True)
                    completion = engine.complete(
                        Prompt(shared=instructions(), text=prompt.header + prompt.body, stop=STOPS), prompt.max_tokens)
                    summary = answer_summary(unit, completion.text, prompt.answer_prefix)
                    copied = repeated_text(repo, summary, shown) is not None
                    if copied:
                        summary = fallback_summary(repo, unit, inputs)
                    texts.setdefault(cid, {})["summary"] = [summary, copied, time.perf_counter() - started,
                                                            prompt.answer_prefix]
    finally:
        engine.close()
    Path(out_path).write_text(json.dumps(out), encoding="utf-8")


def run_old(ref: str, jobs: dict[str, list[str]], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The old package's texts for jobs (copy root -> chunk ids), by old_worker."""
    tree = work / "old"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "localread", "models"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    job, out = work / "old-job.json", work / "old-out.json"
    job.write_text(json.dumps({"repos": jobs, "what": args.what, "max_tokens": args.max_tokens}), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, __file__, "--old-worker", str(job), str(out)], check=True, env=env)
    return json.loads(out.read_text(encoding="utf-8"))


def gated(repo: Any, chunk: Any, what: str, text: str, prefix: str, old: dict[str, Any]) -> tuple[str, bool]:
    """An old text after the quality gate: itself, or the static description when the
    gate rejects it (with the old prompts' worked examples as the examples)."""
    from localread.facts import facts_card
    from localread.quality import check, subject_for

    card = facts_card(repo, chunk.id)
    if what == "narrative":
        problems = check(text, subject_for(repo, chunk, card), examples=old["narrative_examples"], prefix=prefix)
    else:
        shown = {f"the example {i + 1}": e for i, e in enumerate(old["summary_shown"])}
        problems = check(text, subject_for(repo, chunk, card), examples=old["summary_examples"], shown=shown,
                         prefix=prefix)
    return (static_description(repo, chunk), True) if problems else (text, False)


# --------------------------------------------------------------------------- the run


def static_description(repo: Any, chunk: Any) -> str:
    from localread.describe import describe
    from localread.facts import facts_card

    return describe(repo, chunk, facts_card(repo, chunk.id))


def name_words(chunk: Any) -> str:
    return " ".join(words(chunk.name))


@dataclass(slots=True)
class Base:
    """A code base ready to score: its stripped copies read by localread, and the units."""

    name: str
    repos: list[tuple[Path, Any, list[tuple[Any, Hidden]]]]


def prepare(name: str, roots: list[Path], args: argparse.Namespace, work: Path) -> Base:
    from localread.repo.analysis import analyze

    rng = random.Random(f"{args.seed}:{name}")
    per_root = max(1, args.per_base // len(roots)) if name != "fixtures" else args.per_base
    base = Base(name, [])
    picked = 0
    for root in roots:
        copy = work / name / (root.parent.name if root.name == "repo" else root.name)
        hidden = stripped_copy(root, copy) if name == "fixtures" else \
            stripped_copy(root, copy / root.name, prefix=root.name + "/")
        repo = analyze(copy)
        units = sample(repo, hidden, min(per_root, args.per_base - picked), rng)
        picked += len(units)
        base.repos.append((copy, repo, units))
        if picked >= args.per_base:
            break
    return base


def score(base: Base, args: argparse.Namespace, generators: dict[str, Callable[[Any, Any], Text]],
          old: dict[str, Any] | None) -> Scores:
    scores = Scores()
    for copy, repo, units in base.repos:
        old_texts = old["texts"].get(str(copy), {}) if old is not None else {}
        for chunk, doc in units:
            scores.units += 1
            source = repo.chunk_source(chunk)
            scores.add("name", name_words(chunk), doc.sentence)
            scores.add("static", static_description(repo, chunk), doc.sentence)
            shown = {"hidden": doc.sentence}
            for what in args.what:
                if "new" in args.prompts:
                    text = generators[what](repo, chunk)
                    scores.add(f"new {what}", text.text, doc.sentence)
                    scores.count(f"new {what}", text, source)
                    if not text.static:
                        scores.kept.setdefault(f"new {what}", []).append(
                            (scores.rouge[f"new {what}"][-1], scores.rouge["name"][-1]))
                    shown["new " + what] = text.text + (" [static]" if text.static else "") + \
                        "".join(f"\n{'':<18} rejected: {why}" for why in text.why)
                if old is not None and what in old_texts.get(chunk.id, {}):
                    said, copied, seconds, prefix = old_texts[chunk.id][what]
                    raw = Text(said, False, copied, seconds)
                    scores.add(f"old {what}", said, doc.sentence)
                    scores.count(f"old {what}", raw, source)
                    kept, rejected = gated(repo, chunk, what, said, prefix, old)
                    scores.add(f"old+gate {what}", kept, doc.sentence)
                    scores.count(f"old+gate {what}", Text(kept, False, rejected or copied, seconds), source)
                    shown["old " + what] = said + (" [gate: static]" if rejected else "")
            if args.verbose:
                print(f"  {chunk.id}\n" + "".join(f"    {k:<14} {v}\n" for k, v in shown.items()), file=sys.stderr)
    return scores


def report(results: dict[str, Scores]) -> None:
    columns = list(dict.fromkeys(c for s in results.values() for c in s.rouge))
    print(f"{'code base':<20} {'units':>5}  " + "  ".join(f"{c:>17}" for c in columns))
    for base, s in results.items():
        label = base + (" (held out)" if base == HELD_OUT else "")
        cells = [f"{statistics.fmean(s.rouge[c]):17.3f}" if c in s.rouge else f"{'-':>17}" for c in columns]
        print(f"{label:<20} {s.units:>5}  " + "  ".join(cells))
    print()
    print(f"{'code base':<12} {'text':<18} {'asked again':>11} {'static':>7} {'empty':>6} {'off-topic':>9} {'s/unit':>7}")
    for base, s in results.items():
        for c, n in s.counts.items():
            units = max(1, s.units)
            print(f"{base:<12} {c:<18} {n['asked_again'] / units:11.0%} {n['static'] / units:7.0%} "
                  f"{n['empty'] / units:6.0%} {n['off_topic'] / units:9.0%} {n['seconds'] / units:7.1f}")
    print()
    print("Where the model's text was kept (not the static description), on those units:")
    print(f"{'code base':<12} {'text':<18} {'kept':>5} {'ROUGE-L':>8} {'name':>6}")
    for base, s in results.items():
        for c, pairs in s.kept.items():
            print(f"{base:<12} {c:<18} {len(pairs):5} {statistics.fmean(p[0] for p in pairs):8.3f} "
                  f"{statistics.fmean(p[1] for p in pairs):6.3f}")


def main() -> None:
    if sys.argv[1:2] == ["--old-worker"]:
        old_worker(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--per-base", type=int, default=100, help="units per code base (default 100: 300 in all)")
    parser.add_argument("--seed", default="14")
    parser.add_argument("--bases", default=f"{HELD_OUT},rich,fixtures")
    parser.add_argument("--what", default="summary,narrative", help="model texts to score (none: baselines only)")
    parser.add_argument("--prompts", default="new,old", help="new (this checkout), old (--old-ref), or both")
    parser.add_argument("--old-ref", default=OLD_REF, help=f"the commit of the old prompts (default {OLD_REF[:10]})")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--verbose", action="store_true", help="print every text next to the hidden sentence")
    args = parser.parse_args()
    args.what = [w for w in args.what.split(",") if w and w != "none"]
    args.prompts = [p for p in args.prompts.split(",") if p] if args.what else []
    from localread.config import load_settings
    from localread.llm.engine import open_engine

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="localread-quality-") as tmp:
        bases = [prepare(name, roots, args, Path(tmp)) for name, roots in code_bases(args.bases.split(","))]
        old = None
        if "old" in args.prompts:
            jobs = {str(copy): [c.id for c, _ in units] for b in bases for copy, _, units in b.repos}
            old = run_old(args.old_ref, jobs, args, Path(tmp))
        engine = open_engine(load_settings()) if "new" in args.prompts else None
        results: dict[str, Scores] = {}
        try:
            generators = make_generators(engine, args.max_tokens) if engine is not None else {}
            for base in bases:
                results[base.name] = score(base, args, generators, old)
                print(f"{base.name}: {results[base.name].units} units done", file=sys.stderr)
        finally:
            if engine is not None:
                engine.close()
    model = "no model" if not args.prompts else "model gemma3-270m" if engine is None else f"model {engine.model.name}"
    print(f"ROUGE-L F1 against the hidden first sentence ({model}, seed {args.seed}, "
          f"old prompts: {args.old_ref[:10]}, {time.perf_counter() - started:.0f} s)")
    report(results)


if __name__ == "__main__":
    main()
