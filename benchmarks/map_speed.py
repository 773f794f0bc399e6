"""Speed of `localread map REPO --json` against a bare tree-sitter parse of the same
files, in the same run, plus peak memory.

    python benchmarks/map_speed.py REPO [--repeat N]

Prints the wall time of each (best of N), their ratio (target <= 3), the number of
lines, and the peak RSS of the `localread map` process (target <= 400 MB for 150k
lines). `map` runs as a subprocess so that its RSS is its own. Two cases: cold, a
first run with an empty analysis cache (every file parsed and the graph built), and
warm, a run on the unchanged repository, which reads the cached analysis back.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
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


def run_map(repo: Path, cache_dir: Path) -> tuple[float, float]:
    """Seconds for `localread map REPO --json` in a child process, and the peak RSS
    of the children so far in MB."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "localread", "map", str(repo), "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LOCALREAD_CACHE_DIR": str(cache_dir)},
    )
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kb / 1024


def wait_for_cache(cache_dir: Path) -> None:
    """The analysis of a large repository is written in the background: wait for it."""
    deadline = time.monotonic() + 60
    while not list(cache_dir.glob("analysis/*.pickle")) and time.monotonic() < deadline:
        time.sleep(0.1)


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
    with tempfile.TemporaryDirectory(prefix="map-speed-") as tmp:
        cold = []
        for n in range(args.repeat):
            cold.append(run_map(args.repo, Path(tmp) / f"cold{n}")[0])
            time.sleep(1)  # let the background cache writer finish before the next run
        peak = run_map(args.repo, Path(tmp) / "warm")[1]
        wait_for_cache(Path(tmp) / "warm")
        warm = [run_map(args.repo, Path(tmp) / "warm")[0] for _ in range(args.repeat)]
    cold_s, warm_s = min(cold), min(warm)
    start_s = min(startup() for _ in range(args.repeat))
    print(f"repo: {args.repo} ({len(files)} files, {lines} lines)")
    print(f"bare tree-sitter parse:     {parse_s:.2f} s")
    print(f"process start + imports:    {start_s:.2f} s (`localread --help`)")
    for name, seconds in (("cold", cold_s), ("warm", warm_s)):
        print(
            f"map --json, {name} cache:    {seconds:.2f} s; ratio map/parse {seconds / parse_s:.2f} "
            f"(without process start {(seconds - start_s) / parse_s:.2f}; target <= 3)"
        )
    print(f"peak RSS of map (cold):     {peak:.0f} MB (target <= 400 MB for 150k lines)")
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
