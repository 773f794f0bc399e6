"""Module index and import statements (localread/repo/imports.py)."""

from __future__ import annotations

from localread.repo.imports import ImportItem, ModuleIndex, ModuleRef, parse_imports

PATHS = [
    "setup.py",
    "toputil.py",
    "segkit/__init__.py",
    "segkit/models/__init__.py",
    "segkit/models/segmenter.py",
    "segkit/utils/misc.py",  # segkit/utils has no __init__.py: a namespace package
    "scripts/demo.py",
    "scripts/helpers.py",
    "scripts/logging.py",
    "code/lib/__init__.py",  # a package nested in a plain folder
    "code/lib/core.py",
    "code/train.py",
]


def test_parse_imports() -> None:
    assert parse_imports("import a.b as c, d", 3) == [
        ImportItem("c", "module", "a.b", "a.b", 0, 3),
        ImportItem("d", "module", "d", "d", 0, 3),
    ]
    assert parse_imports("import a.b", 1) == [ImportItem("a", "module", "a.b", "a", 0, 1)]
    assert parse_imports("from ..m import (x as y,\n    z)", 7) == [
        ImportItem("y", "from", "m", "x", 2, 7),
        ImportItem("z", "from", "m", "z", 2, 7),
    ]
    assert parse_imports("from . import x", 1) == [ImportItem("x", "from", "", "x", 1, 1)]
    assert parse_imports("from q import *", 1) == [ImportItem("", "star", "q", "*", 0, 1)]
    assert parse_imports("from import", 1) == []


def test_absolute_imports_from_the_root_and_package_parents() -> None:
    index = ModuleIndex(PATHS)
    assert index.resolve_absolute("segkit.models.segmenter", "scripts/demo.py") == ModuleRef(
        "segkit/models/segmenter.py"
    )
    assert index.resolve_absolute("segkit", "toputil.py") == ModuleRef("segkit/__init__.py")
    assert index.resolve_absolute("toputil", "segkit/models/segmenter.py") == ModuleRef("toputil.py")
    assert index.resolve_absolute("segkit.utils", "toputil.py") == ModuleRef("segkit/utils", is_namespace=True)
    assert index.resolve_absolute("lib.core", "code/train.py") == ModuleRef("code/lib/core.py")
    assert index.resolve_absolute("torch.nn", "scripts/demo.py") is None


def test_scripts_search_their_own_folder_first_packages_do_not() -> None:
    index = ModuleIndex(PATHS)
    assert index.resolve_absolute("helpers", "scripts/demo.py") == ModuleRef("scripts/helpers.py")
    # A script beside logging.py gets it (its folder is sys.path[0]) ...
    assert index.resolve_absolute("logging", "scripts/demo.py") == ModuleRef("scripts/logging.py")
    # ... a package module does not (no implicit relative imports in Python 3).
    assert index.resolve_absolute("helpers", "segkit/models/segmenter.py") is None


def test_relative_imports() -> None:
    index = ModuleIndex(PATHS)
    assert index.resolve_relative(1, "segmenter", "segkit/models/__init__.py") == ModuleRef(
        "segkit/models/segmenter.py"
    )
    assert index.resolve_relative(2, "utils.misc", "segkit/models/segmenter.py") == ModuleRef(
        "segkit/utils/misc.py"
    )
    assert index.resolve_relative(1, "", "segkit/models/segmenter.py") == ModuleRef("segkit/models/__init__.py")
    assert index.resolve_relative(1, "helpers", "scripts/demo.py") == ModuleRef("scripts/helpers.py")
    assert index.resolve_relative(3, "x", "toputil.py") is None


def test_submodules() -> None:
    index = ModuleIndex(PATHS)
    package = ModuleRef("segkit/__init__.py")
    assert index.submodule(package, "models") == ModuleRef("segkit/models/__init__.py")
    assert index.submodule(ModuleRef("toputil.py"), "x") is None


def test_src_layout_root() -> None:
    index = ModuleIndex(["src/diffuse/__init__.py", "src/diffuse/unet.py", "scripts/sample.py"], src_layout=True)
    assert index.roots == ("", "src")
    assert index.resolve_absolute("diffuse.unet", "scripts/sample.py") == ModuleRef("src/diffuse/unet.py")


def test_a_repository_that_is_itself_a_package() -> None:
    # Reading site-packages/pydantic: its files import `pydantic.x`, and `typing` is the
    # standard library even beside pydantic/typing.py.
    paths = ["__init__.py", "typing.py", "fields.py", "_internal/__init__.py", "_internal/_config.py"]
    index = ModuleIndex(paths, root_name="pydantic")
    assert index.resolve_absolute("pydantic.fields", "_internal/_config.py") == ModuleRef("fields.py")
    assert index.resolve_absolute("pydantic", "fields.py") == ModuleRef("__init__.py")
    assert index.resolve_absolute("typing", "_internal/_config.py") is None
