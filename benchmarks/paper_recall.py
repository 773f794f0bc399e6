"""Recall of `localread paper` on labelled paper/repository pairs.

Usage: python benchmarks/paper_recall.py [FIXTURE_DIR ...] [--no-model] [--model NAME] [--misses]

Each FIXTURE_DIR (default: every tests/fixtures/paper_*/ with a labels.json, in name
order) holds labels.json:
{"paper": file, "repo": folder, "sections": {title: [symbol ids]}, "unmatched": [titles]}.
For each labelled section, recall@k = |top-k matches & gold| / min(k, |gold|); the
figure printed is the mean over the labelled sections. Modes, one table per fixture:
lexical only (BM25), lexical + graph (the default of `localread paper --no-llm`), and
with the model (`localread paper`: the local model re-ranks the graph mode's top 5).
The model is asked only about labelled sections that the alignment finds (others are
not scored, and sections without a convincing match get no model call in
`localread paper` either), so the calls are at most 5 per labelled section; their
number and the wall time are printed. --no-model skips that mode.
"unmatched" counts the expected "in the paper, not in the code" sections the mode
flags, and how many labelled sections it wrongly flags.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from localread.paper import Alignment, Paper, align, code_view, read_paper
from localread.paper.align import CodeView
from localread.repo.analysis import Repo, analyze

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


@dataclass(frozen=True, slots=True)
class Row:
    mode: str
    at1: float
    at3: float
    unmatched: str
    seconds: float
    note: str = ""


def recall_at(alignment: Alignment, gold: dict[str, list[str]], k: int) -> float:
    found = {s.title: [m.id for m in s.matches[:k]] for s in alignment.sections}
    values = []
    for title, ids in sorted(gold.items()):
        top = found.get(title, [])
        values.append(len(set(top) & set(ids)) / min(k, len(ids)))
    return sum(values) / len(values)


def misses(alignment: Alignment, gold: dict[str, list[str]]) -> list[str]:
    """Labelled sections whose first match is not one of theirs, with that match."""
    out = []
    for s in alignment.sections:
        if s.title in gold and (not s.matches or s.matches[0].id not in gold[s.title]):
            out.append(f"{s.title} -> {s.matches[0].id if s.matches else '(nothing)'}")
    return out


def unmatched_note(alignment: Alignment, labels: dict) -> str:
    expected = set(labels.get("unmatched", []))
    flagged = expected & set(alignment.unmatched_sections)
    wrongly = set(labels["sections"]) & set(alignment.unmatched_sections)
    return f"{len(flagged)}/{len(expected)}" + (f", {len(wrongly)} labelled flagged" if wrongly else "")


def model_row(paper: Paper, repo: Repo, view: CodeView, labels: dict, model: str | None) -> tuple[Row, Alignment]:
    from localread.config import load_settings
    from localread.paper.explain import CANDIDATES, with_model

    gold: dict[str, list[str]] = labels["sections"]
    started = time.perf_counter()
    pool = align(paper, view, top=CANDIDATES)
    asked = replace(paper, sections=tuple(s for s in paper.sections if s.title in gold))
    calls = sum(len(s.matches) for s in pool.sections if s.title in gold and s.matched)
    alignment = with_model(pool, asked, repo, view, load_settings(model=model), top=3)
    seconds = time.perf_counter() - started
    with_why = sum(1 for s in alignment.sections for m in s.matches if m.why)
    note = f"{calls} calls, {with_why} reasons; {alignment.model}"
    row = Row("with the model", recall_at(alignment, gold, 1), recall_at(alignment, gold, 3),
              unmatched_note(alignment, labels), seconds, note)
    return row, alignment


def run_fixture(fixture: Path, *, use_model: bool, model: str | None, show_misses: bool) -> int:
    labels = json.loads((fixture / "labels.json").read_text(encoding="utf-8"))
    gold: dict[str, list[str]] = labels["sections"]
    paper = read_paper(fixture / labels["paper"])
    repo = analyze(fixture / labels["repo"])
    view = code_view(repo)
    missing = sorted({i for ids in gold.values() for i in ids} - set(repo.chunks))
    if missing:
        print(f"{fixture.name}: labels name symbols the repository does not have: {', '.join(missing)}", file=sys.stderr)
        return 2
    absent = sorted(set(gold) - {s.title for s in paper.sections})
    if absent:
        print(f"{fixture.name}: labels name sections the paper does not have: {', '.join(absent)}", file=sys.stderr)
        return 2
    rows: list[Row] = []
    detail: list[tuple[str, list[str]]] = []
    for mode, graph in (("lexical", False), ("lexical + graph", True)):
        started = time.perf_counter()
        alignment = align(paper, view, top=3, graph=graph)
        seconds = time.perf_counter() - started
        rows.append(Row(mode, recall_at(alignment, gold, 1), recall_at(alignment, gold, 3),
                        unmatched_note(alignment, labels), seconds))
        detail.append((mode, misses(alignment, gold)))
    if use_model:
        row, alignment = model_row(paper, repo, view, labels, model)
        rows.append(row)
        detail.append((row.mode, misses(alignment, gold)))
    print(f"{fixture.name}: {len(gold)} labelled sections, {len(paper.sections)} sections, "
          f"{len(view.docs)} candidate symbols")
    print(f"  {'mode':<16} {'recall@1':>8} {'recall@3':>8} {'seconds':>8}  unmatched found")
    for r in rows:
        note = f"  ({r.note})" if r.note else ""
        print(f"  {r.mode:<16} {r.at1:>8.3f} {r.at3:>8.3f} {r.seconds:>8.2f}  {r.unmatched}{note}")
    if not use_model:
        print(f"  {'with the model':<16} {'skipped':>8} {'skipped':>8}")
    if show_misses:
        for mode, missed in detail:
            for line in missed:
                print(f"  miss@1 [{mode}] {line}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixtures", nargs="*", help="fixture folders (default: every tests/fixtures/paper_*)")
    parser.add_argument("--no-model", action="store_true", help="skip the model mode")
    parser.add_argument("--model", default=None, help="model name or .gguf path")
    parser.add_argument("--misses", action="store_true", help="list the labelled sections each mode misses at 1")
    args = parser.parse_args()
    fixtures = [Path(f) for f in args.fixtures] or sorted(
        p.parent for p in FIXTURES.glob("paper_*/labels.json")
    )
    started = time.perf_counter()
    status = 0
    for fixture in fixtures:
        status = max(status, run_fixture(fixture, use_model=not args.no_model, model=args.model,
                                         show_misses=args.misses))
    print(f"total {time.perf_counter() - started:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
