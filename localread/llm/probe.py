"""The first load of a model on a machine is tried in a child process, so that a
native crash of llama.cpp is never what the user sees.

`checked_load(model, n_gpu_layers, cache_dir)` returns the LoadPlan to load with. The
first time a combination of llama-cpp-python build, model file, CPU flags and GPU
layers is used, a child process (`python -m localread.llm.probe`) loads the model
with the preferred plan (`machine.kernel_choice`) and generates a few tokens. If the
child dies of a signal, the safe plans are tried in turn (no extra buffer types, then
also no GPU). The verdict is kept in `<cache>/engine-checks/`, so later loads cost
nothing. If every plan crashes, LocalreadError says what to do.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from localread.errors import LocalreadError
from localread.llm.machine import build_features, cpu_flags, kernel_choice
from localread.llm.models import ResolvedModel

log = logging.getLogger("localread.engine")

SCHEME = "c1"  # bump when what the check does changes: older verdicts are ignored
CHECK_TIMEOUT_S = 600.0  # a 7B model loading from a slow disk on a CPU
CHILD_ENV = "LOCALREAD_PROBE_CHILD"  # set in the child, so its process is recognizable
_CHECK_PROMPT = "def add(a, b):\n    return"


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """How LlamaEngine loads the model: see `machine.KernelChoice`."""

    use_extra_bufts: bool
    n_gpu_layers: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a check child did: ok, died of `signal`, or failed with `exit_code`."""

    ok: bool
    signal: int | None = None
    exit_code: int | None = None
    detail: str = ""

    @property
    def crashed(self) -> bool:
        return self.signal is not None


def plans_to_try(preferred: LoadPlan) -> list[LoadPlan]:
    """The preferred plan, then safer ones: no extra buffer types, then also no GPU."""
    plans = [preferred, LoadPlan(False, preferred.n_gpu_layers), LoadPlan(False, 0)]
    return list(dict.fromkeys(plans))


def checked_load(model: ResolvedModel, n_gpu_layers: int, cache_dir: Path) -> LoadPlan:
    """The plan this machine can load `model` with, checked once in a child process
    and remembered. A check that fails without crashing (bad file, no memory) is
    not a verdict: the preferred plan is returned and the real load reports the
    problem. Raises LocalreadError when every plan crashes."""
    flags = cpu_flags()
    llama_info = _llama_build()
    if llama_info is None:
        raise LocalreadError("llama-cpp-python is not installed: pip install 'localread[llm]'")
    version, system_info, lib_stamp = llama_info
    choice = kernel_choice(flags, build_features(system_info))
    preferred = LoadPlan(choice.use_extra_bufts, n_gpu_layers)
    key = verdict_key(model.sha256, version, lib_stamp, flags, n_gpu_layers)
    path = cache_dir / "engine-checks" / f"{key}.json"
    known = _read_verdict(path)
    if known is not None:
        return known
    log.info("checking %s with llama-cpp-python %s (%s)", model.name, version, choice.reason)
    crashes: list[str] = []
    for plan in plans_to_try(preferred):
        outcome = run_check(model.path, plan)
        if outcome.ok:
            if crashes:
                log.warning(
                    "llama.cpp crashed loading %s (%s); using safe settings: extra buffer "
                    "types %s, %d GPU layers", model.name, "; ".join(crashes),
                    "on" if plan.use_extra_bufts else "off", plan.n_gpu_layers,
                )
            _write_verdict(path, plan, crashes, version)
            return plan
        if not outcome.crashed:
            log.info("the check of %s failed without a crash: %s", model.name, outcome.detail)
            return plan
        crashes.append(f"{_signal_name(outcome.signal)} with {_describe(plan)}")
    raise LocalreadError(
        f"llama.cpp crashes on this machine with {model.name} ({'; '.join(crashes)}), even "
        "with safe settings; rebuild llama-cpp-python for this CPU (pip install "
        "--force-reinstall --no-cache-dir llama-cpp-python), try another model with "
        "--model, or use --no-llm"
    )


def verdict_key(
    model_sha256: str, version: str, lib_stamp: str, flags: frozenset[str], n_gpu_layers: int
) -> str:
    parts = {
        "model": model_sha256,
        "llama_cpp": version,
        "lib": lib_stamp,
        "cpu": sorted(flags),
        "n_gpu_layers": n_gpu_layers,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]
    return f"{SCHEME}-{digest}"


def check_command(model_path: Path, plan: LoadPlan) -> list[str]:
    """The child's command line: this Python, this module."""
    return [
        sys.executable, "-m", "localread.llm.probe", str(model_path),
        "--extra-bufts", "1" if plan.use_extra_bufts else "0",
        "--n-gpu-layers", str(plan.n_gpu_layers),
    ]


def run_check(model_path: Path, plan: LoadPlan) -> Outcome:
    """Load and generate in a child process; how it ended."""
    env = dict(os.environ, **{CHILD_ENV: "1"})
    try:
        proc = subprocess.run(
            check_command(model_path, plan), capture_output=True, text=True,
            timeout=CHECK_TIMEOUT_S, env=env, stdin=subprocess.DEVNULL, check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(False, detail=f"no answer in {CHECK_TIMEOUT_S:.0f} s")
    except OSError as exc:
        return Outcome(False, detail=str(exc))
    last = (proc.stderr.strip().splitlines() or [""])[-1][:300]
    if proc.returncode < 0:
        return Outcome(False, signal=-proc.returncode, detail=last)
    if proc.returncode != 0:
        return Outcome(False, exit_code=proc.returncode, detail=last)
    return Outcome(True)


def _llama_build() -> tuple[str, str, str] | None:
    """(version, system info, stamp of the native libraries) of the installed
    llama-cpp-python, or None when it is missing. The stamp (names, sizes, mtimes of
    its shared libraries) changes when it is rebuilt, e.g. with CUDA."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        return None
    import llama_cpp

    lib_dir = Path(spec.origin).parent / "lib"
    stamps = []
    for lib in sorted(lib_dir.glob("*")) if lib_dir.is_dir() else []:
        try:
            st = lib.stat()
        except OSError:
            continue
        stamps.append(f"{lib.name}:{st.st_size}:{st.st_mtime_ns}")
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    return llama_cpp.__version__, info, hashlib.sha256("|".join(stamps).encode()).hexdigest()


def _read_verdict(path: Path) -> LoadPlan | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LoadPlan(bool(data["plan"]["use_extra_bufts"]), int(data["plan"]["n_gpu_layers"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or damaged: check again


def _write_verdict(path: Path, plan: LoadPlan, crashes: list[str], version: str) -> None:
    """Atomically; a verdict that cannot be written only means checking again."""
    data = {"plan": asdict(plan), "crashed": crashes, "llama_cpp": version}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".check-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not keep the model check in %s (%s)", path.parent, exc)


def _signal_name(number: int | None) -> str:
    try:
        return signal.Signals(number or 0).name
    except ValueError:
        return f"signal {number}"


def _describe(plan: LoadPlan) -> str:
    bufts = "extra buffer types on" if plan.use_extra_bufts else "extra buffer types off"
    return f"{bufts}, {plan.n_gpu_layers} GPU layers"


def _child(argv: list[str]) -> int:
    """The check itself: load the model as the engine does and generate 4 tokens."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m localread.llm.probe")
    parser.add_argument("model", type=Path)
    parser.add_argument("--extra-bufts", choices=("0", "1"), required=True)
    parser.add_argument("--n-gpu-layers", type=int, required=True)
    args = parser.parse_args(argv)
    import llama_cpp

    from localread.llm.machine import physical_cores
    from localread.llm.native import load_llama, route_llama_logs

    route_llama_logs(llama_cpp, verbose=False)
    try:
        llm = load_llama(
            llama_cpp, args.model, n_ctx=512, n_threads=physical_cores(),
            n_gpu_layers=args.n_gpu_layers, use_extra_bufts=args.extra_bufts == "1",
        )
        llm.create_completion(_CHECK_PROMPT, max_tokens=4, temperature=0.0)
    except Exception as exc:  # noqa: BLE001 - any failure is the verdict, told by exit code
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
