"""One Settings object: command-line flags > environment (LOCALREAD_*) > config file >
defaults.

The config file is TOML, `config.toml` in the user config dir (platformdirs) or the
path in LOCALREAD_CONFIG. It is validated with pydantic because it crosses a trust
boundary; a bad file is a LocalreadError naming the file and the field.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, ValidationError

from localread.errors import LocalreadError

APP = "localread"


class _FileConfig(BaseModel):
    """What a config file may set."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    cache_dir: str | None = None
    models_dir: str | None = None
    n_ctx: int | None = None
    n_gpu_layers: int | None = None
    n_threads: int | None = None
    max_tokens: int | None = None
    offline: bool | None = None
    max_depth: int | None = None
    max_steps: int | None = None
    max_lines: int | None = None
    analysis_cache: bool | None = None
    server: list[str] | str | None = None
    parallel: int | None = None
    server_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a command may be configured with. None means "decide automatically"."""

    model: str | None = None  # catalog name or path to a .gguf; None: the embedded default
    cache_dir: Path = Path(platformdirs.user_cache_dir(APP))
    models_dir: Path | None = None  # None: <cache_dir>/models
    config_file: Path = Path(platformdirs.user_config_dir(APP)) / "config.toml"
    n_ctx: int | None = None  # None: from the model's metadata and the prompt budget
    n_gpu_layers: int | None = None  # None: all layers when the build can offload
    n_threads: int | None = None  # None: physical cores
    max_tokens: int = 256  # answer budget per explanation
    offline: bool = False
    verbose: bool = False
    max_depth: int | None = None  # tour: most calls below the entry's main code; None: no limit
    max_steps: int = 40  # tour: the step budget
    max_lines: int | None = None  # tour: a budget of lines to read too; None: steps only
    analysis_cache: bool = True  # reuse an unchanged repository's analysis from <cache_dir>/analysis
    # OpenAI-compatible servers to run the model on instead of in-process llama.cpp
    # (llm/server.py); empty: the in-process engine.
    server: tuple[str, ...] = ()
    parallel: int | None = None  # requests in flight across the servers; None: their slots
    server_timeout: float = 60.0  # seconds a server may fail to answer before it counts as down

    @property
    def model_store(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.cache_dir / "models"


_ENV = {
    "model": "LOCALREAD_MODEL",
    "cache_dir": "LOCALREAD_CACHE_DIR",
    "models_dir": "LOCALREAD_MODELS_DIR",
    "n_ctx": "LOCALREAD_N_CTX",
    "n_gpu_layers": "LOCALREAD_N_GPU_LAYERS",
    "n_threads": "LOCALREAD_N_THREADS",
    "max_tokens": "LOCALREAD_MAX_TOKENS",
    "offline": "LOCALREAD_OFFLINE",
    "max_depth": "LOCALREAD_MAX_DEPTH",
    "max_steps": "LOCALREAD_MAX_STEPS",
    "max_lines": "LOCALREAD_MAX_LINES",
    "analysis_cache": "LOCALREAD_ANALYSIS_CACHE",
    "server": "LOCALREAD_SERVER",
    "parallel": "LOCALREAD_PARALLEL",
    "server_timeout": "LOCALREAD_SERVER_TIMEOUT",
}


def load_settings(**flags: Any) -> Settings:
    """Settings from flags (None means "not given"), environment, config file, defaults.

    Raises LocalreadError for an unreadable or invalid config file or environment value.
    """
    settings = Settings()
    config_file = Path(os.environ.get("LOCALREAD_CONFIG", settings.config_file)).expanduser()
    settings = replace(settings, config_file=config_file)
    layers: list[dict[str, Any]] = [_from_file(config_file), _from_env()]
    layers.append({k: v for k, v in flags.items() if v is not None})
    types = {f.name: f.type for f in fields(Settings)}
    for layer in layers:
        for key, value in layer.items():
            if key not in types:
                raise TypeError(f"unknown setting {key!r}")
            settings = replace(settings, **{key: _coerce(key, value)})
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        settings = replace(settings, offline=True)
    return settings


_PATHS = {"cache_dir", "models_dir", "config_file"}
# Whole-number settings and the least value each may take (a tour of 0 steps, or a
# context of -1 tokens, would be silently replaced by something else).
_INTS = {"n_ctx": 1, "n_gpu_layers": -1, "n_threads": 1, "max_tokens": 1, "max_depth": 0, "max_steps": 1, "max_lines": 1,
         "parallel": 1}
_BOOLS = {"offline", "verbose", "analysis_cache"}
# the settings a command-line flag sets
_FLAGS = {"n_gpu_layers", "max_depth", "max_steps", "max_lines", "parallel"}


def _coerce(key: str, value: Any) -> Any:
    if key in _PATHS:
        return Path(str(value)).expanduser()
    if key == "server":
        return server_urls(value)
    if key in _INTS:
        flag = [f"--{key.replace('_', '-')}"] if key in _FLAGS else []
        where = ", ".join([*flag, _ENV[key], "config file"])
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise LocalreadError(f"setting {key} ({where}): expected a whole number, got {value!r}") from None
        if number < _INTS[key]:
            raise LocalreadError(
                f"setting {key} ({where}): expected {_INTS[key]} or more, got {number}"
            )
        return number
    if key == "server_timeout":
        where = f"{_ENV[key]}, config file"
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise LocalreadError(f"setting {key} ({where}): expected a number of seconds, got {value!r}") from None
        if seconds < 1:
            raise LocalreadError(f"setting {key} ({where}): expected 1 or more, got {value!r}")
        return seconds
    if key in _BOOLS and isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value


def server_urls(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Server URLs from a flag list, a config list or a comma-separated string, each
    checked to be http(s)://HOST[:PORT][/PATH], in order, each once. Raises
    LocalreadError naming the first bad one."""
    items = value.split(",") if isinstance(value, str) else [u for v in value for u in str(v).split(",")]
    urls: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        scheme, sep, rest = item.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
            raise LocalreadError(
                f"server {item!r}: expected a URL such as http://127.0.0.1:8080 (the server's "
                "base URL, with or without /v1)"
            )
        if item not in urls:
            urls.append(item)
    return tuple(urls)


def _from_env() -> dict[str, Any]:
    return {key: os.environ[var] for key, var in _ENV.items() if os.environ.get(var)}


def _from_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalreadError(f"config file {path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise LocalreadError(f"config file {path}: invalid TOML ({exc})") from None
    try:
        parsed = _FileConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LocalreadError(f"config file {path}: {where}: {first['msg']}") from None
    return parsed.model_dump(exclude_none=True)
