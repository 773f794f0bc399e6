"""Fuzz the stages that read untrusted structure, and print how many inputs ran and
how many crashed (issue 12: the goal is 10^5 inputs and 0 crashes).

    .venv/bin/python benchmarks/fuzz.py [--inputs N] [--only NAME] [--seed S] [--json]

The generated inputs and the targets are those of tests/fuzzing.py: source bytes to
the chunker, notebooks, packaging files to the scanner, small repositories to the
whole static reader (resolver, facts cards, terminal rendering), PDFs and text
papers to the paper reader. N (default 100,000) is shared between the targets by
their shares. A crash is any exception but the stage's documented refusal, or an
input that takes over a minute; each is
printed with its input (shortened) and the last lines of its traceback. Also printed
per target: inputs, refusals (one-line errors, as designed), crashes, seconds spent
in the stage and in all (generating the inputs included), and the slowest input's
seconds (a stage that hangs on some input is a bug too).
Exit status 1 when anything crashed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fuzzing

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.fuzzing import TARGETS, Hang, Refused, time_limit

SHOW = 300  # characters of a crashing input shown
LIMIT_S = 60  # one input taking longer than this is a crash (a hang)


def fuzz_target(name: str, count: int, rng_seed: int) -> dict[str, Any]:
    strategy, runner, _share = TARGETS[name]
    stats: dict[str, Any] = {"inputs": 0, "refused": 0, "crashes": 0, "seconds": 0.0, "slowest_s": 0.0, "examples": []}

    @seed(rng_seed)
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # every input counts once: no shrinking, no replay
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def one(value: object) -> None:
        stats["inputs"] += 1
        start = time.perf_counter()
        try:
            with time_limit(LIMIT_S):
                runner(value)
        except Refused:
            stats["refused"] += 1
        except (Exception, Hang) as exc:  # noqa: BLE001 - counting crashes is the point
            stats["crashes"] += 1
            if len(stats["examples"]) < 5:
                stats["examples"].append(
                    {
                        "input": repr(value)[:SHOW],
                        "error": repr(exc)[:SHOW],
                        "where": "".join(traceback.format_exc().splitlines(keepends=True)[-6:]),
                    }
                )
        took = time.perf_counter() - start
        stats["seconds"] += took
        if took > stats["slowest_s"]:
            stats["slowest_s"] = took
            stats["slowest_input"] = repr(value)[:SHOW]

    started = time.perf_counter()
    one()
    stats["wall_s"] = time.perf_counter() - started  # generation included
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs in all (shared by the targets)")
    parser.add_argument("--only", help="run only the target whose name contains this")
    parser.add_argument("--seed", type=int, default=12, help="hypothesis seed (same seed, same inputs)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    names = [n for n in TARGETS if args.only is None or args.only in n]
    total_share = sum(TARGETS[n][2] for n in names)
    results: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for name in names:
        count = max(1, round(args.inputs * TARGETS[name][2] / total_share))
        results[name] = fuzz_target(name, count, args.seed)
        r = results[name]
        if not args.json:
            print(
                f"{name:30s} {r['inputs']:7d} inputs {r['refused']:6d} refused {r['crashes']:4d} crashes "
                f"{r['seconds']:8.1f} s in the stage, {r['wall_s']:6.0f} s in all (slowest input {r['slowest_s']:.2f} s)",
                flush=True,
            )
            for example in r["examples"]:
                print(f"  CRASH {example['error']}\n    input: {example['input']}\n{example['where']}", flush=True)
    inputs = sum(r["inputs"] for r in results.values())
    crashes = sum(r["crashes"] for r in results.values())
    wall = time.perf_counter() - started
    if args.json:
        print(json.dumps({"inputs": inputs, "crashes": crashes, "seconds": round(wall, 1), "targets": results}, indent=2))
    else:
        print(f"total: {inputs} inputs, {crashes} crashes, {wall:.0f} s (seed {args.seed})")
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
