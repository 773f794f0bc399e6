"""How close `localread summarize` runs to the speed of the model itself, and how much
faster it is than explaining each chunk naively.

    .venv/bin/python benchmarks/summarize_throughput.py [REPO] [--json]

REPO defaults to the bundled example (examples/segment_demo). The run uses the
default model (or LOCALREAD_MODEL), a fresh store in a temporary cache dir, and
prints:

- wall: seconds of the summarize run (engine load included, analysis excluded);
- raw rates, measured with llama-cpp-python directly in the same process, on the
  same model file and settings, just before and just after the run (averaged):
  prompt tokens/s (a 256-token block evaluated after the cached instructions, as
  summarize's prompts are) and generation tokens/s (greedy, one token at a time
  after a prompt of typical length);
- limit: the prompt tokens summarize actually evaluated at the raw prompt rate plus
  its completion tokens at the raw generation rate, i.e. the time the model alone
  needs for that work; efficiency = limit / wall (target >= 0.9);
- the share of prompt tokens reused from the KV cache;
- naive: the same units with one fresh completion each (the run's second asks, made
  when an answer repeated its prompt, have no counterpart there) (llama-cpp-python's
  create_completion, as the default model is a base model; KV cache reset before
  every call, so no prefix reuse; no static summaries, no store, duplicates
  repeated), with the same prompts and answer budgets; ratio = naive / wall (target
  >= 2).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from localread.config import load_settings
from localread.llm.engine import choose_n_ctx, open_engine, physical_cores
from localread.llm.models import resolve_model
from localread.repo.analysis import analyze
from localread.sentences import first_sentence
from localread.store import Store
from localread.summarize import (
    STOPS,
    Options,
    PromptBuilder,
    Report,
    instructions,
    summarize,
)

DEFAULT_REPO = Path(__file__).resolve().parent.parent / "examples" / "segment_demo"


def raw_rates(model_path: Path, n_ctx: int, n_threads: int, prompts: list[str]) -> dict[str, float]:
    """Prompt and generation tokens/s of llama-cpp-python itself (best of 3 each)."""
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(model_path), n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=n_threads,
        n_threads_batch=n_threads, n_gpu_layers=0, swa_full=True, verbose=False,
    )
    try:
        shared = llm.tokenize(instructions().encode("utf-8"))
        text = "\n\n".join(prompts).encode("utf-8")
        block = llm.tokenize(text, add_bos=False)[:256]
        prompt_rates = []
        for _ in range(3):
            llm.reset()
            llm.eval(shared)
            started = time.perf_counter()
            llm.eval(block)
            prompt_rates.append(len(block) / (time.perf_counter() - started))
        generation_rates = []
        steps = 48
        for _ in range(3):
            llm.reset()
            llm.eval(shared + block[:128])
            started = time.perf_counter()
            for _ in range(steps):
                token = llm.sample(temp=0.0)
                llm.eval([token])
            generation_rates.append(steps / (time.perf_counter() - started))
    finally:
        llm.close()
    return {"prompt_tps": max(prompt_rates), "generation_tps": max(generation_rates)}


def naive(model_path: Path, n_ctx: int, n_threads: int, prompts: list[tuple[str, int]]) -> dict[str, float]:
    """One fresh completion per unit: the KV cache is reset before each call."""
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(model_path), n_ctx=n_ctx, n_batch=min(512, n_ctx), n_threads=n_threads,
        n_threads_batch=n_threads, n_gpu_layers=0, swa_full=True, verbose=False,
    )
    prompt_tokens = completion_tokens = 0
    started = time.perf_counter()
    try:
        for text, max_tokens in prompts:
            llm.reset()
            out = llm.create_completion(text, max_tokens=max_tokens, temperature=0.0, stop=list(STOPS))
            prompt_tokens += out["usage"]["prompt_tokens"]
            completion_tokens += out["usage"]["completion_tokens"]
    finally:
        wall = time.perf_counter() - started
        llm.close()
    return {"wall_s": wall, "calls": len(prompts), "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}


def unit_prompts(report: Report, n_ctx: int) -> list[tuple[str, int]]:
    """The prompt of every unit, built from the run's final summaries."""
    builder = PromptBuilder(report.repo, report.plan, n_ctx)
    out = []
    for uid in report.plan.order:
        inputs = report.plan.inputs[uid]
        summaries = {d: first_sentence(report.results[d].summary) or "(no summary)" for d in inputs}
        prompt = builder.build(report.plan.units[uid], summaries)
        out.append((instructions() + prompt.header + prompt.body, prompt.max_tokens))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", type=Path, default=DEFAULT_REPO)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="localread-bench-") as tmp:
        settings = load_settings()
        # A fresh store, but the usual models dir (no second copy of the model).
        settings = replace(settings, models_dir=settings.model_store, cache_dir=Path(tmp))
        model = resolve_model(settings)
        n_ctx = choose_n_ctx(settings.n_ctx, model.context_length)
        n_threads = settings.n_threads or physical_cores()
        fixed = replace(settings, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=0)
        repo = analyze(args.repo)
        # The raw rates are measured just before and just after the run and averaged,
        # so a machine whose load drifts during the run is not credited either way.
        sample = [f"{c.signature}\n{c.docstring or ''}" for c in repo.chunks.values()]
        before = raw_rates(model.path, n_ctx, n_threads, sample)
        with Store.open(Path(tmp) / "bench.sqlite3") as store:
            started = time.perf_counter()
            report = summarize(repo, store, model, n_ctx, lambda: open_engine(fixed), Options())
            wall = time.perf_counter() - started
        after = raw_rates(model.path, n_ctx, n_threads, sample)
        rates = {k: (before[k] + after[k]) / 2 for k in before}
        prompts = unit_prompts(report, n_ctx)
        baseline = naive(model.path, n_ctx, n_threads, prompts)
    s = report.stats
    evaluated = s.prompt_tokens - s.prompt_tokens_reused
    limit = evaluated / rates["prompt_tps"] + s.completion_tokens / rates["generation_tps"]
    naive_limit = baseline["prompt_tokens"] / rates["prompt_tps"] + baseline["completion_tokens"] / rates["generation_tps"]
    figures: dict[str, Any] = {
        "repo": str(args.repo),
        "model": {"name": model.name, "sha256": model.sha256},
        "n_ctx": n_ctx,
        "threads": n_threads,
        "units": len(report.plan.units),
        "stats": s.to_json(),
        "wall_s": round(wall, 2),
        "model_s": round(s.model_seconds, 2),
        "prompt_tps": round(rates["prompt_tps"], 1),
        "generation_tps": round(rates["generation_tps"], 1),
        "rates_before": {k: round(v, 1) for k, v in before.items()},
        "rates_after": {k: round(v, 1) for k, v in after.items()},
        "limit_s": round(limit, 2),
        "efficiency": round(limit / wall, 3) if wall else None,
        "reused_share": round(s.prompt_tokens_reused / s.prompt_tokens, 3) if s.prompt_tokens else 0.0,
        "naive": {k: round(v, 2) if isinstance(v, float) else v for k, v in baseline.items()},
        "speedup_vs_naive": round(baseline["wall_s"] / wall, 2) if wall else None,
        # The same comparison in model work at the raw rates: immune to load changes
        # between the two runs on a shared machine.
        "naive_limit_s": round(naive_limit, 2),
        "speedup_vs_naive_limit": round(naive_limit / limit, 2) if limit else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"repo: {figures['repo']} ({figures['units']} units: {s.llm_calls} by the model, of which "
          f"{s.retries} asked again after a copied answer; {s.static} static, {s.cached} shared)")
    print(f"model: {model.name}, context {n_ctx}, {n_threads} threads")
    print(f"wall: {wall:.1f} s (of which {s.model_seconds:.1f} s in model calls)")
    print(f"raw rates (llama-cpp-python, mean of before/after the run): prompt {rates['prompt_tps']:.0f} tok/s "
          f"({before['prompt_tps']:.0f}/{after['prompt_tps']:.0f}), generation {rates['generation_tps']:.1f} tok/s "
          f"({before['generation_tps']:.1f}/{after['generation_tps']:.1f})")
    print(f"limit: {limit:.1f} s for {evaluated} prompt tokens evaluated + {s.completion_tokens} generated")
    print(f"efficiency: {figures['efficiency']:.2f} (target >= 0.9)")
    print(f"prompt tokens reused: {figures['reused_share']:.0%} of {s.prompt_tokens}")
    print(f"naive baseline: {baseline['wall_s']:.1f} s for {baseline['calls']} fresh completions "
          f"({baseline['prompt_tokens']} prompt tokens) -> {figures['speedup_vs_naive']:.2f}x (target >= 2x)")
    print(f"naive limit at the same raw rates: {naive_limit:.1f} s -> {figures['speedup_vs_naive_limit']:.2f}x")
    print(f"load average during the run: {figures['load_average']}")


if __name__ == "__main__":
    main()
