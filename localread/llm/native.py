"""The llama.cpp library as localread loads it: `load_llama` (every model, with the
kernels chosen for this machine) and `route_llama_logs`. The engine and the first-load
check (`probe`) both load through here, so the check runs what the engine will run.
Imports nothing of localread; llama_cpp is passed in, so importing this is cheap."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_SEED = 1234


_log_callback: Any = None  # the ctypes callback must outlive every llama.cpp call


def route_llama_logs(llama_cpp: Any, verbose: bool) -> None:
    """Send llama.cpp's own logging to stderr when verbose, else nowhere. Its default
    callback prints some warnings (e.g. the SWA cache notice) even with verbose=False."""
    global _log_callback

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if verbose:
            sys.stderr.write(text.decode("utf-8", errors="replace"))

    _log_callback = callback
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


def gpu_offload_supported() -> bool:
    """Whether the installed llama-cpp-python was built with a GPU backend."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


@contextmanager
def _model_params(llama_cpp: Any, **fields: Any) -> Iterator[None]:
    """Set fields of llama_model_params that llama_cpp.Llama has no keyword for.
    Llama() builds its params from llama_model_default_params(), so that function is
    wrapped while the model loads (llama-cpp-python 0.3.36 has no `use_extra_bufts`
    keyword; issue 10)."""
    module = llama_cpp.llama_cpp
    original = module.llama_model_default_params

    def params() -> Any:
        value = original()
        for name, field_value in fields.items():
            setattr(value, name, field_value)
        return value

    module.llama_model_default_params = params
    try:
        yield
    finally:
        module.llama_model_default_params = original


def load_llama(
    llama_cpp: Any,
    path: Path,
    *,
    n_ctx: int,
    n_threads: int,
    n_gpu_layers: int,
    use_extra_bufts: bool,
    seed: int = DEFAULT_SEED,
    verbose: bool = False,
) -> Any:
    """A llama_cpp.Llama on `path`, as localread loads every model (the engine and the
    check in `probe` share it, so the check runs what the engine will run)."""
    with _model_params(llama_cpp, use_extra_bufts=use_extra_bufts):
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=min(512, n_ctx),
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_gpu_layers=n_gpu_layers,
            seed=seed,
            # Gemma 3 uses sliding-window attention; a full-size SWA cache keeps
            # positions before the window, which prefix reuse needs.
            swa_full=True,
            verbose=verbose,
        )
