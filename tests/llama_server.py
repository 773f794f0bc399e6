"""A real llama.cpp server (`llama-server`, built by `make server`) on loopback, for
the tests and benchmarks of the server engine.

The binary: $LLAMA_SERVER (make test sets it), else where `make server` caches it
(`~/.cache/localread-build/llama-server-<llama-cpp-python version>/llama-server`),
both read when this module is imported (the tests' isolated HOME comes later).
On a CPU with Intel AMX the server gets `--no-repack`, as the in-process engine
turns llama.cpp's extra buffer types off there (llm/machine.py `kernel_choice`).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from localread.llm.machine import cpu_flags, kernel_choice, physical_cores

ROOT = Path(__file__).resolve().parent.parent


def _version() -> str:
    found = re.search(r"^llama[-_]cpp[-_]python==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    return found.group(1) if found else "unknown"


def _default_binary() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "localread-build" / f"llama-server-{_version()}" / "llama-server"


BINARY = Path(os.environ["LLAMA_SERVER"]) if os.environ.get("LLAMA_SERVER") else _default_binary()
# Seconds a server may take to load the default model on a busy 2-core machine.
START_TIMEOUT_S = 300.0


def available() -> bool:
    return BINARY.is_file() and os.access(BINARY, os.X_OK)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_args(model: Path, port: int, *, parallel: int, ctx_per_slot: int, threads: int | None,
                alias: str | None) -> list[str]:
    """The command line: `parallel` slots of ctx_per_slot tokens each on 127.0.0.1."""
    args = [
        str(BINARY), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
        "-np", str(parallel), "-c", str(parallel * ctx_per_slot),
        "-t", str(threads or physical_cores()),
        "--fit", "off",  # sizing for GPU memory: nothing to fit on a CPU, and slow
        "--no-warmup",
        # The in-process engine's settings (llm/native.py load_llama): no flash
        # attention, a full sliding-window cache, 512-token batches. With llama.cpp's
        # defaults (flash attention on) the logits differ enough to change answers.
        "-fa", "off", "--swa-full", "-b", "512", "-ub", "512",
    ]
    if alias:
        args += ["--alias", alias]
    if not kernel_choice(cpu_flags(), None).use_extra_bufts:
        args.append("--no-repack")  # llama.cpp 0.3.36's AMX kernel segfaults (issue 10)
    return args


@dataclass
class LlamaServer:
    """A running llama-server: its URL and process; `log` holds its output."""

    process: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path
    args: list[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start(model: Path, log: Path, *, parallel: int = 4, ctx_per_slot: int = 4096, port: int | None = None,
          threads: int | None = None, alias: str | None = None) -> LlamaServer:
    """Start llama-server on model and wait until /health says it is ready. Raises
    RuntimeError (with the end of its log) when it exits or is not ready in time, and
    when there is no binary: a test that needs the server fails, it is not skipped."""
    if not available():
        raise RuntimeError(f"no llama-server at {BINARY}: run `make server`, or set LLAMA_SERVER to one")
    port = port or free_port()
    args = server_args(model, port, parallel=parallel, ctx_per_slot=ctx_per_slot, threads=threads, alias=alias)
    env = dict(os.environ)
    # A build with shared libraries keeps them beside the binary.
    env["LD_LIBRARY_PATH"] = f"{BINARY.parent}:{env.get('LD_LIBRARY_PATH', '')}"
    handle = log.open("wb")
    process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env)
    handle.close()
    server = LlamaServer(process, f"http://127.0.0.1:{port}", port, log, args)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {process.returncode}:\n{server.tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=5) as answer:
                if answer.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"llama-server not ready after {START_TIMEOUT_S:.0f} s:\n{server.tail()}")
