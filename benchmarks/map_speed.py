"""Speed of `localread map REPO --json` against a bare tree-sitter parse of the same
files, in the same run, plus peak memory.

    python benchmarks/map_speed.py REPO [--repeat N]

Prints the wall time of each (best of N), their ratio (target <= 3), the number of
lines, and the peak RSS of the `localread map` process (target <= 400 MB for 150k
lines). `map` runs as a subprocess so that its RSS is its own.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def bare_parse(files: list[Path]) -> tuple[float, int]:
    """Seconds to read and parse every file with tree-sitter, and the line count."""
    import tree_sitter_python
    from tree_sitter import Language, Parser

    parser = Parser(Language(tree_sitter_python.language()))
    lines = 0
    start = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        parser.parse(data)
        lines += data.count(b"\n")
    return time.perf_counter() - start, lines


def run_map(repo: Path) -> tuple[float, float]:
    """Seconds for `localread map REPO --json` in a child process, and its peak RSS in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "localread", "map", str(repo), "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak_kb, before) / 1024


def startup() -> float:
    """Seconds for `python -m localread --help`: the interpreter and import cost that
    every command pays, reported so the ratio can be read with and without it."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "localread", "--help"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from localread.repo.scan import scan

    result = scan(args.repo)
    files = [result.root / f.path for f in result.files if f.path.endswith(".py")]
    parse_s = min(bare_parse(files)[0] for _ in range(args.repeat))
    _, lines = bare_parse(files)
    runs = [run_map(args.repo) for _ in range(args.repeat)]
    map_s = min(s for s, _ in runs)
    peak = max(m for _, m in runs)
    start_s = min(startup() for _ in range(args.repeat))
    print(f"repo: {args.repo} ({len(files)} files, {lines} lines)")
    print(f"bare tree-sitter parse: {parse_s:.2f} s")
    print(f"localread map --json:   {map_s:.2f} s (process start + imports alone: {start_s:.2f} s)")
    print(f"ratio map/parse:        {map_s / parse_s:.2f} (without process start: {(map_s - start_s) / parse_s:.2f}; target <= 3)")
    print(f"peak RSS of map:        {peak:.0f} MB (target <= 400 MB for 150k lines)")
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
