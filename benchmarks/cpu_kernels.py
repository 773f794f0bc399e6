"""Prompt and generation speed of the default model with llama.cpp's extra buffer
types on and off, on this machine, in one run (issue 10: the AMX kernel crash and
what turning the extra buffer types off costs where they work).

    python benchmarks/cpu_kernels.py [--rounds 3] [--prompt-tokens 480] [--gen-tokens 64]

Each round loads the model both ways in a child process (a crash of one way is
reported, not fatal) and times one prompt evaluation and one greedy generation; the
table shows the best round of each (the least disturbed by other load) and the ratio.
Also prints the CPU, its AMX/AVX flags, the build's features, and what localread
chooses here (`machine.kernel_choice`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import llama_cpp
from pathlib import Path
from localread.llm.native import load_llama
from localread.llm.machine import physical_cores
path, extra, n_prompt, n_gen = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4])
llm = load_llama(llama_cpp, Path(path), n_ctx=2048, n_threads=physical_cores(),
                 n_gpu_layers=0, use_extra_bufts=extra)
words = ("the encoder maps each image patch to a feature vector and the decoder "
         "predicts a mask for every prompt point ").split()
text = " ".join(words[i % len(words)] for i in range(n_prompt * 2))
tokens = llm.tokenize(text.encode())[:n_prompt]
t0 = time.perf_counter()
llm.eval(tokens)
t1 = time.perf_counter()
out = llm.create_completion(prompt=tokens, max_tokens=n_gen, temperature=0.0, seed=1234)
t2 = time.perf_counter()
n_out = out["usage"]["completion_tokens"]
print(json.dumps({"prompt_tps": len(tokens) / (t1 - t0), "gen_tps": n_out / (t2 - t1),
                  "prompt_tokens": len(tokens), "gen_tokens": n_out}))
"""


def run_child(model: str, extra: bool, n_prompt: int, n_gen: int) -> dict[str, float] | str:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, model, "1" if extra else "0", str(n_prompt), str(n_gen)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if proc.returncode != 0:
        return f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or ''}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=480)
    parser.add_argument("--gen-tokens", type=int, default=64)
    args = parser.parse_args()

    import llama_cpp

    from localread.config import load_settings
    from localread.llm.machine import AMX_FLAGS, build_features, cpu_flags, cpu_name, kernel_choice
    from localread.llm.models import resolve_model

    model = resolve_model(load_settings())
    flags = cpu_flags()
    features = build_features(llama_cpp.llama_print_system_info().decode())
    choice = kernel_choice(flags, features)
    shown = sorted(f for f in flags if f in AMX_FLAGS or f.startswith("avx512") or f == "avx2")
    print(f"CPU: {cpu_name()}; flags: {' '.join(shown) or '-'}")
    print(f"llama-cpp-python {llama_cpp.__version__}; build: {' '.join(sorted(features))}")
    print(f"localread chooses: extra buffer types {'on' if choice.use_extra_bufts else 'off'} "
          f"({choice.reason})")
    print(f"model: {model.name} ({model.path.name}); {args.prompt_tokens}-token prompt, "
          f"{args.gen_tokens} generated tokens, best of {args.rounds} rounds")

    best: dict[bool, dict[str, float]] = {}
    failures: dict[bool, str] = {}
    started = time.perf_counter()
    for _ in range(args.rounds):
        for extra in (True, False):
            result = run_child(str(model.path), extra, args.prompt_tokens, args.gen_tokens)
            if isinstance(result, str):
                failures[extra] = result
                continue
            prev = best.setdefault(extra, result)
            for key in ("prompt_tps", "gen_tps"):
                prev[key] = max(prev[key], result[key])

    print()
    print("| extra buffer types | prompt tokens/s | generation tokens/s |")
    print("|---|---|---|")
    for extra in (True, False):
        label = "on (repacked kernels)" if extra else "off"
        if extra in best:
            b = best[extra]
            print(f"| {label} | {b['prompt_tps']:.1f} | {b['gen_tps']:.1f} |")
        else:
            print(f"| {label} | crashed: {failures.get(extra)} | |")
    if True in best and False in best:
        on, off = best[True], best[False]
        print(f"\noff / on: prompt {off['prompt_tps'] / on['prompt_tps']:.2f}, "
              f"generation {off['gen_tps'] / on['gen_tps']:.2f}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
