"""What this machine is, for the engine: physical cores, free memory, the CPU's
instruction-set flags, and which llama.cpp kernels are safe on it.

`kernel_choice(cpu_flags, build_features)` is a pure function of the flags, so the
decision can be tested for CPUs this machine is not.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

# CPU flags (Linux /proc/cpuinfo names) that mean Intel AMX tiles are usable.
AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})


def physical_cores() -> int:
    """Physical cores this process may run on: distinct (package, core) pairs of the
    CPUs in its affinity mask (Linux sysfs); else half the logical CPUs, at least 1.
    llama.cpp runs slower with one thread per hyper-thread than per core."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = list(range(os.cpu_count() or 1))
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(
                (
                    (topo / "physical_package_id").read_text().strip(),
                    (topo / "core_id").read_text().strip(),
                )
            )
        except OSError:
            return max(len(cpus) // 2, 1)
    return max(len(cores), 1)


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of the first CPU ("flags" on x86, "Features" on
    ARM Linux), lower case; empty where the file does not exist (macOS, Windows)."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    return parse_cpu_flags(text)


def parse_cpu_flags(cpuinfo_text: str) -> frozenset[str]:
    for line in cpuinfo_text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            return frozenset(value.lower().split())
    return frozenset()


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name, for messages and benchmark tables."""
    try:
        for line in cpuinfo.read_text(encoding="ascii", errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def build_features(system_info: str) -> frozenset[str]:
    """The features a llama.cpp build reports as compiled in, from
    `llama_print_system_info()` ("CPU : AVX2 = 1 | AMX_INT8 = 1 | REPACK = 1 | ...")."""
    features = set()
    for part in system_info.replace("\n", "|").split("|"):
        name, sep, value = part.rpartition("=")
        if sep and value.strip() == "1":
            features.add(name.split(":")[-1].strip().upper())
    return frozenset(features)


@dataclass(frozen=True, slots=True)
class KernelChoice:
    """How the model's weights are laid out for the CPU.

    use_extra_bufts: let llama.cpp move weights into its extra buffer types (AMX tiles
    and the repacked layouts of the CPU backend), which speeds up matrix products where
    the kernels work. reason: one line for logs and `models info`."""

    use_extra_bufts: bool
    reason: str


def kernel_choice(flags: frozenset[str], features: frozenset[str] | None) -> KernelChoice:
    """The extra buffer types stay on, except where llama.cpp's AMX kernel would run:
    a build with AMX compiled in (features None: unknown, assume it may be) on a CPU
    with AMX. llama-cpp-python 0.3.36 segfaults in ggml_backend_amx_mul_mat on the
    first decode there (issue 10); turning the extra buffer types off is the only
    switch llama.cpp offers, and it costs the repacked kernels too, so it is used
    only where AMX is present."""
    cpu_amx = sorted(flags & AMX_FLAGS)
    build_amx = features is None or any(f.startswith("AMX") for f in features)
    if cpu_amx and build_amx:
        return KernelChoice(
            False,
            f"CPU has {', '.join(cpu_amx)} and llama.cpp's AMX kernel crashes: extra buffer "
            "types off",
        )
    if cpu_amx:
        return KernelChoice(True, "CPU has AMX but this llama.cpp build has no AMX kernel: "
                                  "repacked kernels on")
    return KernelChoice(True, "no AMX on this CPU: repacked kernels on")
