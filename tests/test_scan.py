import os
from pathlib import Path

import pytest

from localread.errors import LocalreadError
from localread.repo.scan import MAX_FILE_BYTES, module_name, scan, setup_py_keywords
from tests.helpers import EXAMPLE, write_repo


def test_example_layout() -> None:
    result = scan(EXAMPLE)
    layout = result.layout
    assert layout.packaging == ["setup.py"]
    assert layout.install == "pip install -e ."
    assert layout.packages == ["segmenter"]
    assert layout.script_dirs == ["scripts"]
    assert layout.readme == "README.md"
    assert layout.project_name == "segment-demo"
    modules = {f.path: f.module for f in result.files}
    assert modules["scripts/demo.py"] == "scripts.demo"
    assert modules["segmenter/__init__.py"] == "segmenter"
    assert modules["segmenter/modeling/build.py"] == "segmenter.modeling.build"
    assert [f.path for f in result.files] == sorted(f.path for f in result.files)


def test_src_layout_and_requirements(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "pkgx"\n[build-system]\nrequires = ["setuptools"]\n',
            "requirements.txt": "numpy\n",
            "src/pkgx/__init__.py": "",
            "src/pkgx/core.py": "def f():\n    pass\n",
            "src/single.py": "x = 1\n",
        },
    )
    result = scan(tmp_path)
    assert result.layout.src_layout
    assert result.layout.packages == ["pkgx"]
    assert result.layout.install == "pip install -r requirements.txt && pip install -e ."
    modules = {f.path: f.module for f in result.files}
    assert modules == {"src/pkgx/__init__.py": "pkgx", "src/pkgx/core.py": "pkgx.core", "src/single.py": "single"}


def test_module_name_nested_package_below_plain_folders() -> None:
    paths = {"a/b/pkg/__init__.py", "a/b/pkg/x.py", "tools/run.py"}
    assert module_name("a/b/pkg/x.py", paths) == "pkg.x"
    assert module_name("tools/run.py", paths) == "tools.run"


def test_gitignore_default_excludes_binary_and_large(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            ".gitignore": "generated/\n*_pb2.py\n",
            "pkg/__init__.py": "",
            "pkg/ok.py": "x = 1\n",
            "pkg/msg_pb2.py": "x = 1\n",
            "pkg/sub/.gitignore": "local.py\n",
            "pkg/sub/local.py": "x = 1\n",
            "pkg/sub/kept.py": "x = 1\n",
            "generated/gen.py": "x = 1\n",
            ".venv/lib/site.py": "x = 1\n",
            "node_modules/a.py": "x = 1\n",
            "build/lib/a.py": "x = 1\n",
            "pkg/blob.py": b"\x00\x01binary",
            "pkg/huge.py": "x = 1\n" * (MAX_FILE_BYTES // 6 + 10),
        },
    )
    result = scan(tmp_path)
    assert [f.path for f in result.files] == ["pkg/__init__.py", "pkg/ok.py", "pkg/sub/kept.py"]
    assert result.counts.skipped_binary == 1
    assert result.counts.skipped_large == 1


def test_symlink_loop_is_counted_not_followed(tmp_path: Path) -> None:
    write_repo(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "x = 1\n"})
    os.symlink(tmp_path / "pkg", tmp_path / "pkg" / "loop")
    os.symlink(tmp_path / "self", tmp_path / "self")
    result = scan(tmp_path)
    assert [f.path for f in result.files] == ["pkg/__init__.py", "pkg/a.py"]
    assert result.counts.skipped_links == 2
    assert result.counts.skipped_unreadable == 0
    assert sorted(result.counts.notes) == [
        "pkg/loop/ (a second link to a folder already read)",
        "self (a broken or looping link)",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_counted(tmp_path: Path) -> None:
    write_repo(tmp_path, {"a.py": "x = 1\n", "b.py": "y = 2\n"})
    (tmp_path / "b.py").chmod(0)
    result = scan(tmp_path)
    assert [f.path for f in result.files] == ["a.py"]
    assert result.counts.skipped_unreadable == 1


def test_bad_roots(tmp_path: Path) -> None:
    with pytest.raises(LocalreadError, match="no such folder"):
        scan(tmp_path / "missing")
    (tmp_path / "f.py").write_text("x = 1\n")
    with pytest.raises(LocalreadError, match="is a file, not a folder"):
        scan(tmp_path / "f.py")
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    with pytest.raises(LocalreadError, match="cannot be opened"):
        scan(tmp_path / "loop")


def test_setup_py_is_parsed_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    write_repo(
        tmp_path,
        {
            "setup.py": f"""
            open({str(marker)!r}, "w").write("x")
            from setuptools import setup
            setup(name="trap", version=VERSION, entry_points={{"console_scripts": ["t=trap.cli:main"]}})
            """,
        },
    )
    keywords = setup_py_keywords(tmp_path)
    assert keywords == {"name": "trap", "entry_points": {"console_scripts": ["t=trap.cli:main"]}}
    assert not marker.exists()


def test_yaml_files_are_listed_as_configs_and_links_out_are_not(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_repo(outside, {"secret.yaml": "model:\n  target: x.Y\n"})
    root = write_repo(tmp_path / "repo", {
        "train.py": "x = 1\n",
        "configs/model.yaml": "model: {}\n",
        "configs/sub/data.yml": "data: {}\n",
        "build/generated.yaml": "skipped: true\n",
        "notes.txt": "not a config\n",
    })
    os.symlink(outside / "secret.yaml", root / "configs" / "linked.yaml")
    result = scan(root)
    assert result.layout.configs == ["configs/model.yaml", "configs/sub/data.yml"]
    assert result.counts.skipped_links == 1
