import json
from pathlib import Path

from localread.repo.chunks import extract_chunks, parse
from localread.repo.entries import console_scripts, find_entries, readme_commands
from localread.repo.scan import read_source, scan
from tests.helpers import EXAMPLE, write_repo


def entries_of(root: Path):
    result = scan(root)
    chunks = {}
    for f in result.files:
        source = read_source(root, f.path)
        for c in extract_chunks(parse(source), source, f.path, f.module).chunks:
            chunks[c.id] = c
    return find_entries(result, chunks)


def test_example_readme_script_comes_first() -> None:
    entries = entries_of(EXAMPLE)
    top = entries[0]
    assert top.path == "scripts/demo.py"
    assert top.kinds[0] == "readme"
    assert top.command.startswith("python scripts/demo.py --image")
    paths = [e.path for e in entries]
    assert paths.index("scripts/train.py") == 1  # second README command
    cli = next(e for e in entries if e.path == "segmenter/cli.py")
    assert cli.kind == "console_script"
    assert cli.command == "segment-demo"
    assert cli.chunk == "segmenter.cli.main"


def test_console_scripts_from_all_packaging_files(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n[project.scripts]\nxa = "pkg.a:main"\n'
            '[project.gui-scripts]\nxg = "pkg.g:run"\n',
            "setup.cfg": "[options.entry_points]\nconsole_scripts =\n    xc = pkg.c:main\n",
            "setup.py": "from setuptools import setup\nsetup(entry_points={'console_scripts': ['xs = pkg.s:cli']})\n",
        },
    )
    assert console_scripts(tmp_path, ["setup.py", "setup.cfg", "pyproject.toml"]) == {
        "xa": "pkg.a:main",
        "xg": "pkg.g:run",
        "xc": "pkg.c:main",
        "xs": "pkg.s:cli",
    }


def test_readme_commands_forms(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "README.md": """
            Run:

            ```
            $ CUDA_VISIBLE_DEVICES=0 python tools/infer.py \\
                --cfg a.yaml
            # a comment
            ```

                python -m pkg.serve --port 1
            """,
        },
    )
    assert readme_commands(tmp_path, "README.md") == [
        "CUDA_VISIBLE_DEVICES=0 python tools/infer.py --cfg a.yaml",
        "python -m pkg.serve --port 1",
    ]


def test_kinds_of_entries(tmp_path: Path) -> None:
    notebook = {
        "cells": [{"cell_type": "code", "source": ["from pkg import run\n", "run()\n"]}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    write_repo(
        tmp_path,
        {
            "README.md": "```\npython -m pkg.serve\n```\n",
            "pkg/__init__.py": "def run():\n    pass\n",
            "pkg/__main__.py": "from . import run\nrun()\n",
            "pkg/serve.py": "def main():\n    pass\n\nif __name__ == '__main__':\n    main()\n",
            "pkg/lib.py": "def helper():\n    pass\n",
            "tools/export.py": "import pkg\npkg.run()\n",
            "train.py": "import pkg\npkg.run()\n",
            "tests/test_x.py": "def test_x():\n    pass\n\nif __name__ == '__main__':\n    test_x()\n",
            "notebooks/demo.ipynb": json.dumps(notebook),
        },
    )
    entries = {e.path: e for e in entries_of(tmp_path)}
    assert entries["pkg/serve.py"].kinds == ["readme", "main_guard"]
    assert entries["pkg/serve.py"].command == "python -m pkg.serve"
    assert entries["pkg/__main__.py"].command == "python -m pkg"
    assert entries["tools/export.py"].kind == "script_dir"
    assert entries["train.py"].kind == "top_level_script"
    assert "pkg/lib.py" not in entries
    assert entries["notebooks/demo.ipynb"].kind == "notebook"
    assert entries["notebooks/demo.ipynb"].chunk == "notebooks.demo"
    ordered = list(entries)
    assert ordered[0] == "pkg/serve.py"
    assert ordered.index("tests/test_x.py") == len(ordered) - 1 or entries["tests/test_x.py"].score < 0
