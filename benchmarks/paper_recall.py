"""Recall of `localread paper` on a labelled paper/repository pair.

Usage: python benchmarks/paper_recall.py [FIXTURE_DIR] [--top K]

FIXTURE_DIR (default tests/fixtures/paper_protomem) holds labels.json:
{"paper": file, "repo": folder, "sections": {title: [symbol ids]}, "unmatched": [titles]}.
For each labelled section, recall@k = |top-k matches & gold| / min(k, |gold|); the
figure printed is the mean over sections. Modes: lexical only (BM25), lexical + graph
(the default of `localread paper --no-llm`), and with the model (`localread paper`:
the local model re-ranks the graph mode's top 5; --no-model skips it, --model picks
another model than the default).
The expected "in the paper, not in the code" sections are checked too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from localread.paper import Alignment, align, code_view, read_paper
from localread.repo.analysis import analyze

ROOT = Path(__file__).resolve().parent.parent


def recall_at(alignment: Alignment, gold: dict[str, list[str]], k: int) -> float:
    found = {s.title: [m.id for m in s.matches[:k]] for s in alignment.sections}
    values = []
    for title, ids in sorted(gold.items()):
        top = found.get(title, [])
        values.append(len(set(top) & set(ids)) / min(k, len(ids)))
    return sum(values) / len(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixture", nargs="?", default=str(ROOT / "tests/fixtures/paper_protomem"))
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--no-model", action="store_true", help="skip the model mode")
    parser.add_argument("--model", default=None, help="model name or .gguf path")
    args = parser.parse_args()
    fixture = Path(args.fixture)
    labels = json.loads((fixture / "labels.json").read_text(encoding="utf-8"))
    gold: dict[str, list[str]] = labels["sections"]
    started = time.perf_counter()
    paper = read_paper(fixture / labels["paper"])
    repo = analyze(fixture / labels["repo"])
    view = code_view(repo)
    missing = sorted({i for ids in gold.values() for i in ids} - set(repo.chunks))
    if missing:
        print(f"labels name symbols the repository does not have: {', '.join(missing)}", file=sys.stderr)
        return 2
    titles = {s.title for s in paper.sections}
    absent = sorted(set(gold) - titles)
    if absent:
        print(f"labels name sections the paper does not have: {', '.join(absent)}", file=sys.stderr)
        return 2
    print(f"{fixture.name}: {len(gold)} labelled sections, {len(view.docs)} candidate symbols")
    print(f"{'mode':<18} {'recall@1':>9} {'recall@3':>9}  unmatched sections found")
    for name, graph in (("lexical", False), ("lexical + graph", True)):
        alignment = align(paper, view, top=max(args.top, 3), graph=graph)
        expected = set(labels.get("unmatched", []))
        flagged = expected & set(alignment.unmatched_sections)
        wrongly = set(gold) & set(alignment.unmatched_sections)
        note = f"{len(flagged)}/{len(expected)}" + (f", {len(wrongly)} labelled flagged" if wrongly else "")
        print(f"{name:<18} {recall_at(alignment, gold, 1):>9.3f} {recall_at(alignment, gold, 3):>9.3f}  {note}")
    if args.no_model:
        print(f"{'with the model':<18} {'skipped':>9} {'skipped':>9}")
    else:
        from localread.config import load_settings
        from localread.paper.explain import CANDIDATES, with_model

        pool = align(paper, view, top=max(args.top, CANDIDATES))
        settings = load_settings(model=args.model)
        alignment = with_model(pool, paper, repo, view, settings, top=max(args.top, 3))
        with_why = sum(1 for s in alignment.sections for m in s.matches if m.why)
        note = f"{with_why} reasons written; {alignment.model}"
        print(f"{'with the model':<18} {recall_at(alignment, gold, 1):>9.3f} {recall_at(alignment, gold, 3):>9.3f}  {note}")
    print(f"{time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
