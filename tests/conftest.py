"""Shared test setup.

- `isolated_env` (autouse): HOME, XDG dirs, the Hugging Face home, LOCALREAD_CACHE_DIR and
  LOCALREAD_CONFIG point into a fresh temporary folder (not tmp_path, which tests use
  for their own repositories), and every LOCALREAD_* / HF_* variable of the caller is
  cleared, so no test reads or writes the user's home or config; socket patches made
  by the offline guarantee are undone after each test.
- `default_model_file` (session): the real default model, assembled once per session.
- `model_store`: LOCALREAD_MODELS_DIR pointing at the folder that holds it.
- `default_engine` (session): a LlamaEngine on the default model, loaded once.
- `make_gguf`: writes small, valid GGUF files for tests of import and validation.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localread.config import Settings


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path_factory.mktemp("env")
    for var in list(os.environ):
        if var.startswith(("LOCALREAD_", "HF_", "HUGGINGFACE_")) or var == "TRANSFORMERS_OFFLINE":
            monkeypatch.delenv(var)
    # `--offline` replaces socket connection process-wide (localread.offline); undo
    # that after each test so one offline test does not cut the network of the next.
    monkeypatch.setattr(socket.socket, "connect", socket.socket.connect)
    monkeypatch.setattr(socket.socket, "connect_ex", socket.socket.connect_ex)
    home = root / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("LOCALREAD_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("LOCALREAD_CONFIG", str(root / "config.toml"))
    return root


@pytest.fixture(scope="session")
def default_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model (Gemma 3 270M Q4_K_M), assembled once for the whole session."""
    from localread.llm.models import ensure_default_model

    return ensure_default_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def model_store(default_model_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models dir that already holds the default model; LOCALREAD_MODELS_DIR points at
    it. Shared by the session: tests that import or pull should use their own dir."""
    monkeypatch.setenv("LOCALREAD_MODELS_DIR", str(default_model_file.parent))
    return default_model_file.parent


@pytest.fixture(scope="session")
def default_engine(default_model_file: Path) -> Iterator[Any]:
    """A LlamaEngine on the default model with the default context, shared by the
    session (answers do not depend on earlier calls; see localread.llm.engine)."""
    from localread.llm.engine import open_engine

    with open_engine(Settings(models_dir=default_model_file.parent)) as engine:
        yield engine


# --------------------------------------------------------------------------- GGUF files

GGUFValue = str | int | float | bool | list[str]
_TYPES = {"u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8, "u64": 10}


def _gguf_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _gguf_kv(key: str, value: GGUFValue) -> bytes:
    out = _gguf_string(key)
    if isinstance(value, bool):
        return out + struct.pack("<I?", _TYPES["bool"], value)
    if isinstance(value, int):
        return out + struct.pack("<II", _TYPES["u32"], value)
    if isinstance(value, float):
        return out + struct.pack("<If", _TYPES["f32"], value)
    if isinstance(value, str):
        return out + struct.pack("<I", _TYPES["str"]) + _gguf_string(value)
    items = b"".join(_gguf_string(v) for v in value)
    return out + struct.pack("<IIQ", 9, _TYPES["str"], len(value)) + items


def write_gguf(
    path: Path,
    metadata: dict[str, GGUFValue] | None = None,
    *,
    tensors: int = 2,
    version: int = 3,
) -> Path:
    """A small well-formed GGUF file: the metadata given (default: a tiny "llama"
    model header) and `tensors` F32 tensors of 8 elements each, aligned to 32 bytes."""
    if metadata is None:
        metadata = {
            "general.architecture": "llama",
            "general.name": "Tiny Test",
            "llama.context_length": 2048,
            "llama.block_count": 1,
            "tokenizer.ggml.tokens": ["<s>", "</s>", "a"],
        }
    body = b"".join(_gguf_kv(k, v) for k, v in metadata.items())
    infos = b""
    data = b""
    for i in range(tensors):
        infos += _gguf_string(f"t{i}.weight") + struct.pack("<IQIQ", 1, 8, 0, len(data))
        data += struct.pack("<8f", *([float(i)] * 8))  # 32 bytes: stays aligned
    header = b"GGUF" + struct.pack("<IQQ", version, tensors, len(metadata)) + body + infos
    header += b"\0" * (-len(header) % 32)
    path.write_bytes(header + data)
    return path


@pytest.fixture
def make_gguf() -> Callable[..., Path]:
    return write_gguf
