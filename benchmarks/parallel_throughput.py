"""Aggregate throughput of `localread summarize` with parallel slots on llama.cpp's
server, against the in-process engine, all in one run.

    .venv/bin/python benchmarks/parallel_throughput.py [REPO] [--slots 1,2,4] [--json]

REPO defaults to the bundled example (examples/segment_demo). Needs `make server`
(the llama-server binary; LLAMA_SERVER overrides where it is) and the default model
(or LOCALREAD_MODEL). Each row is a summarize of REPO from an empty store:

- in-process: llama-cpp-python in this process, one call at a time (engine load
  included, as `localread summarize` pays it);
- server xN: a llama-server started with N slots (`-np N`, 4096 tokens of context
  each, the in-process engine's settings, --no-repack on AMX CPUs) and
  `--parallel N`; the server's start and model load are not in the wall time (a
  server is started once and serves many runs), the in-process engine's load is
  (a second or two for the default model).

Figures: wall seconds; model calls; prompt tokens evaluated (not reused from a
cache) and tokens generated; aggregate tokens/s = (evaluated + generated) / wall;
speedup = in-process wall / this wall; `same`: units whose summary equals the
in-process run's (see tests/test_server.py for why parallel slots change a few).
The load average is printed: on a shared machine the rows are only comparable when
it stayed flat.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.llama_server

from localread.config import load_settings
from localread.llm.engine import choose_n_ctx, open_engine
from localread.llm.machine import cpu_name, physical_cores
from localread.llm.models import resolve_model
from localread.llm.server import open_server_engine
from localread.repo.analysis import analyze
from localread.store import Store
from localread.summarize import Options, Report, summarize
from tests import llama_server

DEFAULT_REPO = Path(__file__).resolve().parent.parent / "examples" / "segment_demo"


def row(name: str, slots: int, report: Report, wall: float) -> dict[str, Any]:
    s = report.stats
    evaluated = s.prompt_tokens - s.prompt_tokens_reused
    return {
        "engine": name,
        "slots": slots,
        "wall_s": round(wall, 1),
        "calls": s.llm_calls + s.retries,
        "evaluated_tokens": evaluated,
        "generated_tokens": s.completion_tokens,
        "aggregate_tps": round((evaluated + s.completion_tokens) / wall, 1) if wall else 0.0,
        "summaries": {u: r.summary for u, r in report.results.items()},
        "load_average": round(os.getloadavg()[0], 2),
    }


def in_process(repo_path: Path, cache: Path) -> dict[str, Any]:
    settings = replace(load_settings(), cache_dir=cache)
    settings = replace(settings, models_dir=load_settings().model_store)
    model = resolve_model(settings)
    n_ctx = choose_n_ctx(settings.n_ctx, model.context_length)
    fixed = replace(settings, n_ctx=n_ctx, n_gpu_layers=0)
    repo = analyze(repo_path)
    with Store.open(cache / "bench.sqlite3") as store:
        started = time.perf_counter()
        report = summarize(repo, store, model, n_ctx, lambda: open_engine(fixed), Options())
        wall = time.perf_counter() - started
    return row("in-process", 1, report, wall)


def gpu_of(server_log: Path) -> str:
    """The GPU the server's llama.cpp found, from its log ('none' for a CPU build)."""
    for line in server_log.read_text(errors="replace").splitlines():
        if "CUDA" in line and "Device 0" in line:
            return line.split("Device 0:", 1)[-1].strip()
    return "none (CPU build, or no GPU found)"


def on_server(repo_path: Path, cache: Path, slots: int, model_path: Path) -> dict[str, Any]:
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / f"server-{slots}.log"
    server = llama_server.start(model_path, log, parallel=slots)
    try:
        settings = replace(load_settings(), cache_dir=cache, server=(server.url,), parallel=slots)
        repo = analyze(repo_path)
        with Store.open(cache / f"bench-{slots}.sqlite3") as store:
            started = time.perf_counter()
            engine = open_server_engine(settings)
            report = summarize(repo, store, engine.model, engine.n_ctx, lambda: engine, Options(), slots=slots)
            wall = time.perf_counter() - started
    finally:
        server.stop()
    return row("server", slots, report, wall) | {"gpu": gpu_of(log)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", type=Path, default=DEFAULT_REPO)
    parser.add_argument("--slots", default="1,2,4", help="slot counts to run, comma-separated")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not llama_server.available():
        sys.exit(f"no llama-server at {llama_server.BINARY}: run `make server` (or set LLAMA_SERVER)")
    slot_counts = [int(n) for n in args.slots.split(",") if n.strip()]
    model_path = resolve_model(load_settings()).path
    rows = []
    with tempfile.TemporaryDirectory(prefix="localread-parallel-") as tmp:
        rows.append(in_process(args.repo, Path(tmp) / "local"))
        for n in slot_counts:
            rows.append(on_server(args.repo, Path(tmp) / f"server{n}", n, model_path))
    base = rows[0]
    for r in rows:
        r["speedup"] = round(base["wall_s"] / r["wall_s"], 2) if r["wall_s"] else None
        r["same"] = sum(r["summaries"][u] == s for u, s in base["summaries"].items())
        r["units"] = len(base["summaries"])
    figures = {
        "repo": str(args.repo),
        "cpu": cpu_name(),
        "threads": physical_cores(),
        "gpu": rows[-1].get("gpu", "none"),
        "rows": [{k: v for k, v in r.items() if k not in ("summaries", "gpu")} for r in rows],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"repo: {figures['repo']}; CPU: {figures['cpu']}, {figures['threads']} threads per engine; "
          f"GPU: {figures['gpu']}")
    print("| engine | slots | wall s | model calls | tokens evaluated | tokens generated | aggregate tok/s "
          "| speedup | same summary as in-process | load avg |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in figures["rows"]:
        print(f"| {r['engine']} | {r['slots']} | {r['wall_s']} | {r['calls']} | {r['evaluated_tokens']} | "
              f"{r['generated_tokens']} | {r['aggregate_tps']} | {r['speedup']}x | {r['same']}/{r['units']} | "
              f"{r['load_average']} |")


if __name__ == "__main__":
    main()
