"""The registry (`<models_dir>/registry.json`): the model files this machine has
(pulled, imported or assembled: name -> file, sha256, source), and file hashes cached
by size and mtime, so a 5 GB file is hashed once, not on every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localread.errors import LocalreadError

REGISTRY_FILE = "registry.json"
REGISTRY_SCHEMA = 1
_HASH_BLOCK = 1 << 20

log = logging.getLogger("localread.models")


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """A model file this machine has: pulled, imported, or assembled. path is absolute."""

    name: str
    path: Path
    sha256: str
    size: int
    source: str
    added: str

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "source": self.source,
            "added": self.added,
        }


def _registry_path(store: Path) -> Path:
    return store / REGISTRY_FILE


def _load_registry_raw(store: Path) -> dict[str, Any]:
    path = _registry_path(store)
    if not path.is_file():
        return {"schema": REGISTRY_SCHEMA, "models": {}, "hashes": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LocalreadError(
            f"model registry {path} cannot be read ({exc}); move it away and import the "
            "models again"
        ) from None
    if not isinstance(data, dict) or data.get("schema") != REGISTRY_SCHEMA:
        raise LocalreadError(
            f"model registry {path}: unknown format (schema {data.get('schema')!r})"
        )
    data.setdefault("models", {})
    data.setdefault("hashes", {})
    return data


def _save_registry_raw(store: Path, data: dict[str, Any]) -> None:
    store.mkdir(parents=True, exist_ok=True)
    path = _registry_path(store)
    fd, tmp = tempfile.mkstemp(prefix=".registry.", suffix=".json", dir=store)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the registry is not a secret
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _registry_lock(store: Path) -> Iterator[None]:
    """Serialise read-modify-write of the registry between processes (POSIX)."""
    store.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: last writer wins; the file is still replaced atomically.
        yield
        return
    with open(store / ".registry.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_registry(store: Path) -> dict[str, RegistryEntry]:
    """Registered models by name, sorted by name."""
    models = _load_registry_raw(store)["models"]
    out: dict[str, RegistryEntry] = {}
    for name in sorted(models):
        item = models[name]
        try:
            out[name] = RegistryEntry(
                name=name,
                path=Path(item["path"]),
                sha256=item["sha256"],
                size=int(item["size"]),
                source=item["source"],
                added=item["added"],
            )
        except (KeyError, TypeError, ValueError):
            raise LocalreadError(
                f"model registry {_registry_path(store)}: entry {name!r} is malformed"
            ) from None
    return out


def _register(store: Path, entry: RegistryEntry) -> None:
    with _registry_lock(store):
        data = _load_registry_raw(store)
        data["models"][entry.name] = entry.to_json()
        _remember_hash(data, entry.path, entry.sha256)
        _save_registry_raw(store, data)


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _remember_hash(data: dict[str, Any], path: Path, sha256: str) -> None:
    data["hashes"][str(path.resolve())] = {**_stamp(path), "sha256": sha256}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def cached_sha256(path: Path, store: Path) -> str:
    """sha256 of `path`, computed once per (size, mtime) and remembered in the
    registry of `store`, so that resolving a multi-GB model does not re-read it."""
    key = str(path.resolve())
    data = _load_registry_raw(store)
    known = data["hashes"].get(key)
    if known and {k: known.get(k) for k in ("size", "mtime_ns")} == _stamp(path):
        return str(known["sha256"])
    digest = sha256_file(path)
    with _registry_lock(store):
        data = _load_registry_raw(store)
        _remember_hash(data, path, digest)
        _save_registry_raw(store, data)
    return digest


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
