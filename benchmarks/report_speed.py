"""How long `localread report REPO` takes, cold (empty analysis cache: every file
parsed, the graph built) and warm (the analysis read back from the cache), and what it
writes.

    python benchmarks/report_speed.py REPO

Prints the Python lines read, the wall time of each run of `localread report` (a
subprocess, as a user runs it), the pages and megabytes written. A reference point:
.venv/lib/python3.11/site-packages/pygments (about 128k lines).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_report(repo: Path, out: Path, cache: Path) -> float:
    env = {**os.environ, "LOCALREAD_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "localread", "report", str(repo), "--out", str(out)],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/report_speed.py REPO")
    repo = Path(sys.argv[1]).resolve()
    lines = sum(p.read_bytes().count(b"\n") for p in repo.rglob("*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        cold = run_report(repo, Path(tmp) / "cold", cache)
        warm = run_report(repo, Path(tmp) / "warm", cache)
        pages = list((Path(tmp) / "warm").rglob("*.html"))
        size = sum(p.stat().st_size for p in (Path(tmp) / "warm").rglob("*") if p.is_file())
    print(f"repo: {repo} ({lines} Python lines)")
    print(f"report cold (analysis + site): {cold:.1f} s")
    print(f"report warm (cached analysis + site): {warm:.1f} s")
    print(f"pages: {len(pages)}, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
