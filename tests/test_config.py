"""Settings: flags > environment > config file > defaults, for every setting, and one
clear line for a bad config file or value (the file crosses a trust boundary)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.config import _ENV, Settings, load_settings
from localread.errors import LocalreadError
from tests.helpers import EXAMPLE


def _config(isolated_env: Path, text: str) -> Path:
    path = isolated_env / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_env_or_file() -> None:
    settings = load_settings()
    assert settings.model is None and settings.offline is False
    assert (settings.max_depth, settings.max_steps, settings.max_tokens) == (None, 40, 256)
    assert settings.model_store == settings.cache_dir / "models"


def test_every_environment_variable_names_a_setting() -> None:
    names = {f.name for f in fields(Settings)}
    assert set(_ENV) <= names
    assert all(var.startswith("LOCALREAD_") for var in _ENV.values())


def test_flags_beat_env_beat_file(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(isolated_env, 'model = "from-file"\nmax_tokens = 100\nmax_steps = 12\n')
    assert load_settings().model == "from-file"
    assert load_settings().max_steps == 12
    monkeypatch.setenv("LOCALREAD_MODEL", "from-env")
    monkeypatch.setenv("LOCALREAD_MAX_TOKENS", "150")
    settings = load_settings()
    assert (settings.model, settings.max_tokens, settings.max_steps) == ("from-env", 150, 12)
    settings = load_settings(model="from-flag", max_tokens=None)
    assert (settings.model, settings.max_tokens) == ("from-flag", 150)  # None: flag not given


def test_paths_and_booleans_are_coerced(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALREAD_MODELS_DIR", "~/models")
    monkeypatch.setenv("LOCALREAD_ANALYSIS_CACHE", "0")
    settings = load_settings()
    assert settings.models_dir == Path("~/models").expanduser()
    assert settings.analysis_cache is False
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert load_settings().offline is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model = [1, 2", "invalid TOML"),
        ("no_such_key = 1\n", "no_such_key"),
        ('max_steps = "many"\n', "max_steps"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file(isolated_env: Path, text: str, message: str) -> None:
    path = _config(isolated_env, text)
    with pytest.raises(LocalreadError) as caught:
        load_settings()
    assert str(path) in str(caught.value) and message in str(caught.value)
    result = CliRunner().invoke(app, ["map", str(EXAMPLE)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "config file" in result.stderr


def test_a_bad_environment_value_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALREAD_N_CTX", "lots")
    with pytest.raises(LocalreadError, match=r"setting n_ctx \(LOCALREAD_N_CTX, config file\): expected a whole number, got .lots."):
        load_settings()
