"""Fidelity of `localread tour` on labelled research repositories.

Usage: python benchmarks/tour_fidelity.py [FIXTURE_DIR ...] [--max-steps N]
       [--max-depth N] [--max-lines N] [--misses]

A fixture is any folder with a `tour_labels.toml` (default: every
tests/fixtures/*/tour_labels.toml, in name order); adding one is dropping a folder
with its repository and that file:

    repo = "repo"              # the repository, relative to the folder (default "repo")
    entry = "sample.py"        # optional: what `--entry` gets; default: the top entry point
    order = ["a.main", ...]    # the steps an expert reads, in the order they read them;
                               # or a list of such lists, each one an order of its own
    unordered = ["a.helper"]   # optional: steps they read whose place is no reading order

Steps are chunk ids (`pkg.module.Class.method`; a module's id is its dotted name).
For each fixture the tour is built at localread's default settings (or the limits
given) and the script prints the steps it has, how many required steps it shows
(found / total), whether each `order` list appears in that order ("order kept":
the required steps found are in the labelled order, and at least two are found),
and how many required steps
the whole tree holds ("reachable": a missing step that is not reachable is a gap of
name resolution, not of the tour's budget). A last line totals the fixtures.
--misses lists, per fixture, the required steps not shown and the first pair out of
order. Nothing of the fixtures is imported or run.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from localread.config import Settings
from localread.errors import LocalreadError
from localread.repo.analysis import analyze
from localread.repo.tour import build_tour, pick_entry

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
LABELS = "tour_labels.toml"
# Limits that no fixture reaches: the whole tree.
UNLIMITED = 10**6


@dataclass(frozen=True, slots=True)
class Labels:
    repo: Path
    entry: str | None
    chains: list[list[str]]
    unordered: list[str]

    @property
    def required(self) -> list[str]:
        return list(dict.fromkeys([s for chain in self.chains for s in chain] + self.unordered))


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    entry: str
    steps: int
    found: list[str]
    missing: list[str]
    reachable: int
    orders: list[bool]
    out_of_order: list[tuple[str, str]]
    error: str | None = None

    @property
    def order_kept(self) -> bool:
        return all(self.orders)


def read_labels(folder: Path) -> Labels:
    data = tomllib.loads((folder / LABELS).read_text(encoding="utf-8"))
    order = data.get("order", [])
    chains = [order] if order and all(isinstance(s, str) for s in order) else [list(c) for c in order]
    return Labels(
        repo=folder / data.get("repo", "repo"),
        entry=data.get("entry"),
        chains=chains,
        unordered=list(data.get("unordered", [])),
    )


def chain_kept(chain: list[str], position: dict[str, int]) -> tuple[bool, tuple[str, str] | None]:
    """Whether the steps of chain that the tour shows appear in chain order (fewer than
    two shown is no order kept); the first pair that does not, if any."""
    shown = [s for s in chain if s in position]
    for a, b in pairwise(shown):
        if position[a] > position[b]:
            return False, (a, b)
    return len(shown) >= 2 or len(chain) < 2, None


def measure(folder: Path, limits: dict[str, int | None]) -> Result:
    labels = read_labels(folder)
    required = labels.required
    try:
        repo = analyze(labels.repo)
        entry = pick_entry(repo, labels.entry)
    except LocalreadError as exc:
        return Result(folder.name, labels.entry or "?", 0, [], required, 0, [False] * len(labels.chains), [], str(exc))
    tour = build_tour(repo, entry, **limits)
    whole = build_tour(repo, entry, max_depth=UNLIMITED, max_steps=UNLIMITED)
    position = {step.id: n for n, step in enumerate(tour.steps)}
    everything = {step.id for step in whole.steps}
    orders, out_of_order = [], []
    for chain in labels.chains:
        kept, pair = chain_kept(chain, position)
        orders.append(kept)
        if pair:
            out_of_order.append(pair)
    return Result(
        name=folder.name,
        entry=entry.path,
        steps=len(tour.steps),
        found=[s for s in required if s in position],
        missing=[s for s in required if s not in position],
        reachable=sum(s in everything for s in required),
        orders=orders,
        out_of_order=out_of_order,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fixtures", nargs="*", type=Path, help=f"folders with a {LABELS}")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--max-depth", type=int, default=None)
    parser.add_argument("--max-lines", type=int, default=None)
    parser.add_argument("--misses", action="store_true", help="list missing steps and pairs out of order")
    args = parser.parse_args(argv)
    folders = args.fixtures or sorted(p.parent for p in FIXTURES.glob(f"*/{LABELS}"))
    if not folders:
        print(f"no {LABELS} under {FIXTURES}", file=sys.stderr)
        return 1
    defaults = Settings()
    limits: dict[str, int | None] = {
        "max_depth": args.max_depth if args.max_depth is not None else defaults.max_depth,
        "max_steps": args.max_steps if args.max_steps is not None else defaults.max_steps,
    }
    if args.max_lines is not None:
        limits["max_lines"] = args.max_lines
    shown = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in limits.items())
    print(f"tour fidelity at {shown}\n")
    header = f"{'fixture':<18} {'entry':<22} {'steps':>5} {'found':>7} {'order kept':>10} {'reachable':>9}"
    print(header)
    print("-" * len(header))
    results = [measure(folder, limits) for folder in folders]
    for r in results:
        total = len(r.found) + len(r.missing)
        kept = f"{sum(r.orders)}/{len(r.orders)}" if len(r.orders) > 1 else ("yes" if r.order_kept else "no")
        print(f"{r.name:<18} {r.entry:<22.22} {r.steps:>5} {len(r.found):>3}/{total:<3} {kept:>10} {r.reachable:>5}/{total:<3}")
    found = sum(len(r.found) for r in results)
    total = sum(len(r.found) + len(r.missing) for r in results)
    kept = sum(r.order_kept for r in results)
    reachable = sum(r.reachable for r in results)
    print("-" * len(header))
    print(f"{'total':<18} {'':<22} {'':>5} {found:>3}/{total:<3} {f'{kept}/{len(results)}':>10} {reachable:>5}/{total:<3}")
    if args.misses:
        for r in results:
            if r.error:
                print(f"\n{r.name}: {r.error}")
            if r.missing:
                print(f"\n{r.name}: not shown: " + ", ".join(r.missing))
            for a, b in r.out_of_order:
                print(f"{r.name}: out of order: {b} before {a}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
