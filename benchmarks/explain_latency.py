"""Latency of `explain` on a fixed chunk against llama-cpp-python called directly on
the same prompt, in the same run.

    python benchmarks/explain_latency.py [--target Segmenter.predict]

Prints model load time, time to first token, prompt and generation tokens/s for both,
and explain's overhead beyond the model's own work (target <= 10%).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "segment_demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="Segmenter.predict")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    from localread.config import load_settings
    from localread.explain import explain_chunk, facts_card
    from localread.facts import facts_text
    from localread.llm.engine import open_engine
    from localread.llm.prompts import chunk_prompt
    from localread.repo.analysis import analyze
    from localread.targets import resolve_target

    settings = load_settings()
    started = time.perf_counter()
    repo = analyze(EXAMPLE)
    chunk = resolve_target(repo, args.target)
    analysis_s = time.perf_counter() - started
    with open_engine(settings) as engine:
        load_s = engine.load_seconds
        first: list[float] = []
        t0 = time.perf_counter()
        result = explain_chunk(
            repo, chunk, engine, max_tokens=args.max_tokens,
            on_text=lambda piece: first.append(time.perf_counter()) if len(first) < 2 else None,
        )
        explain_s = time.perf_counter() - t0
        ttft = (first[1] if len(first) > 1 else first[0]) - t0  # first[0] is the answer prefix
        prompt = chunk_prompt(
            engine, chunk_id=chunk.id, kind=str(chunk.kind), path=chunk.path, start=chunk.start,
            facts=facts_text(facts_card(repo, chunk.id)), source=repo.chunk_source(chunk),
            max_tokens=args.max_tokens,
        )
        text = engine.render(prompt.prompt)
        n_ctx, threads, model_path = engine.n_ctx, engine.n_threads, engine.model.path
    import llama_cpp

    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                          seed=1234, swa_full=True, verbose=False)
    direct_load = time.perf_counter() - t0
    # The rendered text already starts with the model's BOS token.
    tokens = llm.tokenize(text.encode("utf-8"), add_bos=not text.startswith("<bos>"), special=True)
    t0 = time.perf_counter()
    direct_first = None
    generated = 0
    for part in llm.create_completion(prompt=tokens, max_tokens=args.max_tokens, temperature=0.0, seed=1234,
                                      stop=list(prompt.prompt.stop) or None, stream=True):
        if direct_first is None:
            direct_first = time.perf_counter() - t0
        generated += 1
    direct_s = time.perf_counter() - t0
    llm.close()
    n_prompt = len(tokens)
    print(f"chunk: {chunk.id} ({chunk.lines} lines); prompt {n_prompt} tokens; answer budget {args.max_tokens}")
    print(f"static analysis of the example: {analysis_s:.2f} s")
    print(f"model load: localread {load_s:.2f} s, llama-cpp-python direct {direct_load:.2f} s")
    print(f"time to first token: explain {ttft:.2f} s, direct {direct_first:.2f} s")
    print(f"explain total {explain_s:.2f} s ({len(result.narrative.split())} words); direct total {direct_s:.2f} s ({generated} pieces)")
    print(f"direct rates: prompt {n_prompt / direct_first:.0f} tok/s, generation {generated / max(direct_s - direct_first, 1e-9):.1f} tok/s")
    print(f"explain overhead beyond the model's work: {(explain_s - direct_s) / direct_s * 100:+.1f}% (target <= 10%)")


if __name__ == "__main__":
    main()
