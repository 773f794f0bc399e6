"""Packaging files read as data: pyproject.toml, setup.cfg, setup.py, README.

These files come from the repository being read, so each reader has explicit limits:
a file over MAX_PACKAGING_BYTES is not read; TOML and Python nested deeper than the
parser can take (tomllib and `ast` recurse) are not read either; values of the wrong
type where a table or a string is expected are dropped. Nothing is ever run:
setup.py is parsed, and only literal keyword arguments of its `setup(...)` call are
kept. Each reader returns what it could read, and `problem(...)` says what it could
not, as one line for the scan's warnings.
"""

from __future__ import annotations

import ast
import configparser
import tomllib
from pathlib import Path

# A packaging file larger than this is not a packaging file anyone wrote by hand.
MAX_PACKAGING_BYTES = 512 * 1024
# A README larger than this is not read for commands.
MAX_README_BYTES = 1 << 20

# The tables other stages read; anything else in their place is dropped.
_PYPROJECT_TABLES = (
    ("project",),
    ("project", "scripts"),
    ("project", "gui-scripts"),
    ("build-system",),
    ("tool",),
    ("tool", "poetry"),
    ("tool", "poetry", "scripts"),
)


def _read_text(path: Path, limit: int) -> str:
    """The file's text; raises OSError (unreadable) or ValueError (over the limit)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"over {limit // 1024} KiB")
    return data.decode("utf-8", errors="replace")


def problem(root: Path, name: str) -> str | None:
    """Why the packaging file `name` (pyproject.toml, setup.cfg or setup.py) cannot be
    read completely, as "name: why ...", or None when it reads fine."""
    reader = {"pyproject.toml": _pyproject, "setup.cfg": _setup_cfg, "setup.py": _setup_py}[name]
    return reader(root)[1]


def read_pyproject(root: Path) -> dict:
    """pyproject.toml as a dict; {} when missing, too large, invalid or too deeply
    nested. The tables localread reads ([project], [project.scripts], [tool.poetry],
    [build-system], ...) are dicts when present."""
    return _pyproject(root)[0]


def _pyproject(root: Path) -> tuple[dict, str | None]:
    try:
        text = _read_text(root / "pyproject.toml", MAX_PACKAGING_BYTES)
    except FileNotFoundError:
        return {}, None
    except (OSError, ValueError) as exc:
        return {}, f"pyproject.toml: not read ({_why(exc)})"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return {}, f"pyproject.toml: not valid TOML ({exc})"
    except (RecursionError, MemoryError):
        return {}, "pyproject.toml: nested too deeply to read; its name and install command are left out"
    for path in _PYPROJECT_TABLES:
        parent = data
        for key in path[:-1]:
            parent = parent.get(key, {})
        if path[-1] in parent and not isinstance(parent[path[-1]], dict):
            del parent[path[-1]]
    return data, None


def read_setup_cfg(root: Path) -> configparser.ConfigParser | None:
    """setup.cfg parsed without interpolation; None when missing, too large or invalid."""
    return _setup_cfg(root)[0]


def _setup_cfg(root: Path) -> tuple[configparser.ConfigParser | None, str | None]:
    cfg = configparser.ConfigParser(interpolation=None)
    try:
        cfg.read_string(_read_text(root / "setup.cfg", MAX_PACKAGING_BYTES))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"setup.cfg: not read ({_why(exc)})"
    except configparser.Error as exc:
        return None, f"setup.cfg: not valid ({' '.join(str(exc).split())[:120]})"
    return cfg, None


def setup_py_keywords(root: Path) -> dict[str, object]:
    """Literal keyword arguments of the `setup(...)` call in setup.py.

    The file is parsed, never run; arguments that are not literals are left out.
    `entry_points`, when kept, is a dict of strings or lists of strings."""
    return _setup_py(root)[0]


def _setup_py(root: Path) -> tuple[dict[str, object], str | None]:
    try:
        source = _read_text(root / "setup.py", MAX_PACKAGING_BYTES)
    except FileNotFoundError:
        return {}, None
    except (OSError, ValueError) as exc:
        return {}, f"setup.py: not read ({_why(exc)})"
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}, None  # counted with the other syntax errors when the file is read
    except (RecursionError, MemoryError):
        return {}, "setup.py: an expression nested too deeply to parse; its name and entry points are left out"
    out: dict[str, object] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name != "setup":
            continue
        for kw in node.keywords:
            if kw.arg is None:
                continue
            try:
                out[kw.arg] = ast.literal_eval(kw.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
    if "entry_points" in out:
        out["entry_points"] = _entry_points(out["entry_points"])
    return out, None


def _entry_points(value: object) -> dict[str, str | list[str]]:
    """entry_points as written in setup(), keeping only text values."""
    if not isinstance(value, dict):
        return {}
    kept: dict[str, str | list[str]] = {}
    for key, lines in value.items():
        if isinstance(lines, str):
            kept[str(key)] = lines
        elif isinstance(lines, (list, tuple)):
            kept[str(key)] = [line for line in lines if isinstance(line, str)]
    return kept


def _why(exc: OSError | ValueError) -> str:
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc)).lower()
    return str(exc)
