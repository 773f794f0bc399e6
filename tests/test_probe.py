"""The CPU-kernel decision for CPUs this machine is not, and the first-load check in a
child process, with children that really crash (a segfault, not a raised error)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from localread.errors import LocalreadError
from localread.llm import machine, probe
from localread.llm.machine import build_features, kernel_choice, parse_cpu_flags
from localread.llm.models import ChatStyle, ResolvedModel
from localread.llm.probe import LoadPlan, checked_load, plans_to_try
from tests.helpers import EXAMPLE

# /proc/cpuinfo "flags" lines, cut to what matters, of CPU kinds localread meets.
SAPPHIRE_RAPIDS = (
    "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma bmi2 avx512f avx512dq avx512bw "
    "avx512vl avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8"
)
SKYLAKE_X = "flags\t\t: fpu sse sse2 ssse3 avx avx2 fma bmi2 avx512f avx512dq avx512bw avx512vl"
ZEN3_AVX2 = "flags\t\t: fpu sse sse2 ssse3 avx avx2 fma bmi2 sha_ni"
GRAVITON_ARM = "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp"

BUILD_NATIVE_AMX = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 | "
BUILD_AVX2 = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | REPACK = 1 | "


@pytest.mark.parametrize(
    ("cpuinfo", "system_info", "extra_bufts"),
    [
        (SAPPHIRE_RAPIDS, BUILD_NATIVE_AMX, False),  # the crash of issue 10: AMX kernel
        (SAPPHIRE_RAPIDS, None, False),  # build unknown: assume the kernel may be there
        (SAPPHIRE_RAPIDS, BUILD_AVX2, True),  # a wheel built elsewhere has no AMX kernel
        (SKYLAKE_X, BUILD_NATIVE_AMX.replace("AMX_INT8 = 1 | ", ""), True),
        (ZEN3_AVX2, BUILD_AVX2, True),
        (GRAVITON_ARM, "CPU : NEON = 1 | ARM_FMA = 1 | REPACK = 1 |", True),
        ("", None, True),  # no /proc/cpuinfo (macOS)
    ],
    ids=["amx", "amx-unknown-build", "amx-cpu-avx2-build", "avx512", "avx2", "arm", "no-info"],
)
def test_kernel_choice_turns_extra_buffers_off_only_where_the_amx_kernel_runs(
    cpuinfo: str, system_info: str | None, extra_bufts: bool
) -> None:
    features = build_features(system_info) if system_info is not None else None
    choice = kernel_choice(parse_cpu_flags(cpuinfo), features)
    assert choice.use_extra_bufts is extra_bufts
    assert choice.reason


def test_cpu_flags_and_build_features_are_parsed() -> None:
    assert {"amx_int8", "avx512f", "avx2"} <= parse_cpu_flags("processor\t: 0\n" + SAPPHIRE_RAPIDS)
    assert "asimd" in parse_cpu_flags(GRAVITON_ARM)
    assert build_features(BUILD_NATIVE_AMX) >= {"AVX2", "AMX_INT8", "REPACK", "SSE3"}
    assert machine.cpu_flags(Path("/nonexistent/cpuinfo")) == frozenset()


def test_safe_plans_come_after_the_preferred_one() -> None:
    assert plans_to_try(LoadPlan(True, -1)) == [
        LoadPlan(True, -1), LoadPlan(False, -1), LoadPlan(False, 0)
    ]
    assert plans_to_try(LoadPlan(False, 0)) == [LoadPlan(False, 0)]


# --------------------------------------------------------------------------- children


def _model(tmp_path: Path) -> ResolvedModel:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return ResolvedModel(name="test-model", path=path, sha256="ab" * 32, source="test",
                         chat_style=ChatStyle.COMPLETION, context_length=2048)


# A child that dies of a real SIGSEGV (a read of address 0) when its command line asks
# for the plans named in CRASH_WHEN ("extra": extra buffer types on; "all": always).
CRASHING_CHILD = textwrap.dedent(
    """
    import ctypes, os, sys
    when = os.environ["CRASH_WHEN"]
    if when == "all" or (when == "extra" and "--extra-bufts=1" in sys.argv):
        ctypes.string_at(0)
    print("fine")
    """
)


@pytest.fixture
def crashing_checks(monkeypatch: pytest.MonkeyPatch) -> list[LoadPlan]:
    """Checks run CRASHING_CHILD instead of loading a model; returns the plans tried."""
    tried: list[LoadPlan] = []

    def command(model_path: Path, plan: LoadPlan) -> list[str]:
        tried.append(plan)
        return [sys.executable, "-c", CRASHING_CHILD,
                f"--extra-bufts={int(plan.use_extra_bufts)}", f"--n-gpu-layers={plan.n_gpu_layers}"]

    monkeypatch.setattr(probe, "check_command", command)
    # Pretend this CPU is one where the preferred plan keeps the extra buffer types.
    monkeypatch.setattr(probe, "cpu_flags", lambda: parse_cpu_flags(ZEN3_AVX2))
    return tried


def test_a_crashing_check_falls_back_to_safe_settings_and_is_remembered(
    tmp_path: Path, crashing_checks: list[LoadPlan], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CRASH_WHEN", "extra")
    model = _model(tmp_path)
    plan = checked_load(model, 0, tmp_path / "cache")
    assert plan == LoadPlan(use_extra_bufts=False, n_gpu_layers=0)
    assert crashing_checks == [LoadPlan(True, 0), LoadPlan(False, 0)]
    assert "SIGSEGV" in caplog.text and "safe settings" in caplog.text
    [verdict] = (tmp_path / "cache" / "engine-checks").iterdir()
    assert json.loads(verdict.read_text())["plan"] == {"use_extra_bufts": False, "n_gpu_layers": 0}
    # The next load of the same combination runs no child at all.
    assert checked_load(model, 0, tmp_path / "cache") == plan
    assert len(crashing_checks) == 2
    # Another GPU setting is another combination: checked again.
    checked_load(model, 5, tmp_path / "cache")
    assert crashing_checks[2:] == [LoadPlan(True, 5), LoadPlan(False, 5)]


def test_when_every_plan_crashes_the_user_gets_one_line(
    tmp_path: Path, crashing_checks: list[LoadPlan], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRASH_WHEN", "all")
    with pytest.raises(LocalreadError) as caught:
        checked_load(_model(tmp_path), -1, tmp_path / "cache")
    message = str(caught.value)
    assert "\n" not in message and "SIGSEGV" in message and "--no-llm" in message
    assert len(crashing_checks) == 3  # preferred, no extra buffers, no GPU either
    assert not (tmp_path / "cache" / "engine-checks").exists()  # no verdict: check again next time


def test_a_check_that_fails_without_crashing_is_not_a_verdict(
    tmp_path: Path, crashing_checks: list[LoadPlan], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        probe, "check_command",
        lambda path, plan: crashing_checks.append(plan) or [sys.executable, "-c", "raise SystemExit(1)"],
    )
    plan = checked_load(_model(tmp_path), 0, tmp_path / "cache")
    assert plan == LoadPlan(True, 0) and len(crashing_checks) == 1
    assert not (tmp_path / "cache" / "engine-checks").exists()


def test_a_damaged_verdict_is_checked_again(
    tmp_path: Path, crashing_checks: list[LoadPlan], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRASH_WHEN", "none")
    model = _model(tmp_path)
    checked_load(model, 0, tmp_path / "cache")
    [verdict] = (tmp_path / "cache" / "engine-checks").iterdir()
    verdict.write_text("{not json")
    assert checked_load(model, 0, tmp_path / "cache") == LoadPlan(True, 0)
    assert len(crashing_checks) == 2


# --------------------------------------------------------------------------- real model


@pytest.mark.model
def test_the_real_check_loads_and_generates(model_store: Path, tmp_path: Path) -> None:
    from localread.config import load_settings
    from localread.llm.models import resolve_model

    model = resolve_model(load_settings())
    plan = LoadPlan(True, 0)
    outcome = probe.run_check(model.path, plan)
    assert outcome.ok, outcome.detail
    import llama_cpp

    expected = kernel_choice(machine.cpu_flags(), build_features(llama_cpp.llama_print_system_info().decode()))
    assert checked_load(model, 0, tmp_path / "cache") == LoadPlan(expected.use_extra_bufts, 0)


@pytest.mark.model
def test_a_crashing_build_never_reaches_the_user_of_the_cli(model_store: Path, tmp_path: Path) -> None:
    """End to end, as a subprocess: the check child dies of SIGSEGV whenever the extra
    buffer types are on (a sitecustomize only the child acts on), and `explain` still
    answers, with one warning; when every plan crashes, it exits 1 with one line."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(
        f"""
        import ctypes, os
        if os.environ.get({probe.CHILD_ENV!r}):
            argv = open("/proc/self/cmdline", "rb").read().split(b"\\0")
            when = os.environ.get("CRASH_WHEN")
            if when == "all" or (when == "extra" and b"--extra-bufts" in argv
                                 and argv[argv.index(b"--extra-bufts") + 1] == b"1"):
                ctypes.string_at(0)
        """
    ))
    env = dict(os.environ, PYTHONPATH=str(site), CRASH_WHEN="extra", LOCALREAD_MAX_TOKENS="16")
    cmd = [sys.executable, "-m", "localread", "explain", str(EXAMPLE), "Segmenter.predict"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if machine.kernel_choice(machine.cpu_flags(), None).use_extra_bufts:
        assert done.returncode == 0, done.stderr
        assert "crashed" in done.stderr and "safe settings" in done.stderr
    assert "Traceback" not in done.stderr
    env["CRASH_WHEN"] = "all"
    env["LOCALREAD_CACHE_DIR"] = str(tmp_path / "other-cache")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "SIGSEGV" in errors[0]
    assert "Traceback" not in done.stderr and done.returncode != -signal.SIGSEGV
