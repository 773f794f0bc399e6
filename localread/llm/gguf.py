"""A small pure-Python GGUF header reader: metadata for `models info` and the engine,
and the validation that rejects non-GGUF, truncated and corrupt files before
llama.cpp sees them. It never imports llama_cpp and never touches the network.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from localread.errors import LocalreadError

log = logging.getLogger("localread.models")


class ChatStyle(StrEnum):
    """How a model is prompted: a plain completion (base models) or through its chat
    template (instruct models whose GGUF carries `tokenizer.chat_template`)."""

    COMPLETION = "completion"
    CHAT = "chat"


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
