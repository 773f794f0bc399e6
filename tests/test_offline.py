"""`--offline` (and LOCALREAD_OFFLINE / HF_HUB_OFFLINE / the config file) is a
guarantee in every command: once the command starts, a connection attempted from
inside the process, to a loopback listener this test runs, is refused and never
arrives. Without it, the same attempt arrives, so the test can fail."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
from tests.helpers import EXAMPLE, FIXTURES

PAPER = FIXTURES / "paper_protomem"

# Each command, and a function it calls after reading its settings (where the test
# makes the connection attempt, as a library the command used would).
COMMANDS = {
    "map": (["map", str(EXAMPLE)], "localread.repo.analysis.analyze"),
    "tour": (["tour", str(EXAMPLE), "--no-llm"], "localread.repo.analysis.analyze"),
    "explain": (["explain", str(EXAMPLE), "Segmenter.predict", "--no-llm"], "localread.repo.analysis.analyze"),
    "summarize": (["summarize", str(EXAMPLE), "--max-chunks", "1"], "localread.repo.analysis.analyze"),
    "paper": (["paper", str(PAPER / "repo"), str(PAPER / "paper.md"), "--no-llm"], "localread.repo.analysis.analyze"),
    "models list": (["models", "list"], "localread.llm.models.list_models"),
    "models info": (["models", "info", "gemma3-270m"], "localread.llm.models.describe_model"),
    "models path": (["models", "path"], "localread.llm.models.resolve_model"),
    "models import": (["models", "import", "missing.gguf"], "localread.llm.models.import_model"),
    "models pull": (["models", "pull", "qwen2.5-coder-1.5b"], "localread.llm.models.pull_model"),
}


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A TCP listener on 127.0.0.1: (port, connections it accepted)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[str] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, addr = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(f"{addr[0]}:{addr[1]}")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    done.set()
    thread.join(timeout=2)
    server.close()


def _attempt_inside(monkeypatch: pytest.MonkeyPatch, target: str, port: int) -> None:
    """Make `target` open a connection to the listener before doing nothing else."""
    module_name, name = target.rsplit(".", 1)
    module = __import__(module_name, fromlist=[name])

    def connect_first(*args: object, **kwargs: object) -> object:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        raise SystemExit(0)  # connected: the command had no guarantee

    monkeypatch.setattr(module, name, connect_first)


@pytest.mark.parametrize("how", ["flag", "env", "hf-env", "config"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_connections_offline(
    command: str, how: str, listener: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch,
    isolated_env: Path,
) -> None:
    port, accepted = listener
    args, target = COMMANDS[command]
    _attempt_inside(monkeypatch, target, port)
    if how == "flag":
        args = [*args, "--offline"]
    elif how == "env":
        monkeypatch.setenv("LOCALREAD_OFFLINE", "1")
    elif how == "hf-env":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        (isolated_env / "config.toml").write_text("offline = true\n")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "offline mode: refused a network connection" in result.stderr
    assert accepted == []


@pytest.mark.parametrize("command", ["map", "models list", "summarize"])
def test_without_offline_the_same_attempt_arrives(
    command: str, listener: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, accepted = listener
    args, target = COMMANDS[command]
    _attempt_inside(monkeypatch, target, port)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for _ in range(20):
        if accepted:
            break
        threading.Event().wait(0.05)
    assert len(accepted) == 1
