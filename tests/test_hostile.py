"""Hostile and careless repositories (issue 12): each gives one clear line and exit 1,
or a warning naming what was skipped and the results of everything else, in every
command; nothing is written into the repository or the temporary folder, and
nothing outside the repository is read.

Each case is the small research-shaped repository `fixtures/hostile_base` plus one
hostile part, made by the test (5,000 nested TOML arrays, a 100,000-term setup.py,
2,500 nested folders, links to /usr, unreadable folders cannot be committed)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.repo.scan import MAX_DEPTH, scan
from tests.helpers import FIXTURES
from tests.hostile import (
    assert_one_line_error,
    assert_warned,
    env_for,
    localread,
    remove_tree,
    snapshot,
    unprivileged_prefix,
)

BASE = FIXTURES / "hostile_base"
runner = CliRunner()
PAPER = "# Method\n\nThe encoder turns the image into features; the mask head thresholds them into a mask.\n"


def base_repo(tmp_path: Path) -> Path:
    return Path(shutil.copytree(BASE, tmp_path / "repo"))


def deep_pyproject(repo: Path) -> str:
    (repo / "pyproject.toml").write_text("deps = " + "[" * 5000 + "]" * 5000 + "\n")
    return "pyproject.toml: nested too deeply to read"


def long_setup_expression(repo: Path) -> str:
    terms = "+".join(["1"] * 100_000)
    (repo / "setup.py").write_text(f"from setuptools import setup\n\nsetup(name='tinyseg', version={terms})\n")
    return "setup.py: an expression nested too deeply to parse"


def notebook_cell_not_text(repo: Path) -> str:
    cells = [
        {"cell_type": "code", "source": [1]},
        {"cell_type": "code", "source": ["def plot_masks(masks):\n", "    return len(masks)\n"]},
    ]
    (repo / "explore.ipynb").write_text(json.dumps({"cells": cells, "nbformat": 4}))
    return "explore.ipynb: cell 1 left out (its source is not text)"


def deep_tree(repo: Path) -> str:
    folder = repo / "data"
    folder.mkdir()
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(2_500):  # relative to a folder fd: the absolute path gets too long
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("deep.py", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    return f"more than {MAX_DEPTH} folders deep, not read"


def links_out(repo: Path) -> str:
    outside = repo.parent / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("class OutsideSecret:\n    pass\n")
    (outside / "pkg").mkdir()
    (outside / "pkg" / "__init__.py").write_text("def outside_helper():\n    pass\n")
    os.symlink("/usr", repo / "usr")
    os.symlink(outside / "secret.py", repo / "tinyseg" / "secret.py")
    os.symlink(outside / "pkg", repo / "vendored")
    os.symlink(outside / "secret.py", repo / "README.md")
    return "usr -> /usr (outside the repository)"


CASES: dict[str, Callable[[Path], str]] = {
    "deep_pyproject": deep_pyproject,
    "long_setup_expression": long_setup_expression,
    "notebook_cell_not_text": notebook_cell_not_text,
    "deep_tree": deep_tree,
    "links_out": links_out,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_repository_warns_and_every_command_still_works(
    case: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    repo = base_repo(tmp_path)
    request.addfinalizer(lambda: remove_tree(repo))
    expected = CASES[case](repo)
    (tmp_path / "paper.md").write_text(PAPER)
    before = snapshot(repo)
    env = env_for(tmp_path, LOCALREAD_ANALYSIS_CACHE="0")

    mapped = localread("map", str(repo), "--json", env=env)
    assert_warned(mapped, expected)
    data = json.loads(mapped.stdout)
    ids = {s["id"] for s in data["symbols"]}
    assert {"tinyseg.model.SegNet", "tinyseg.model.SegNet.forward"} <= ids

    for args in (
        ["tour", str(repo), "--no-llm"],
        ["explain", str(repo), "SegNet.forward", "--no-llm"],
        ["paper", str(repo), str(tmp_path / "paper.md"), "--no-llm"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        assert expected in result.stderr, (args, result.stderr)
    # summarize reads the repository, takes its lock and opens its store before it
    # needs a model: with none, it stops there with one line (not an internal error).
    no_model = runner.invoke(
        app, ["summarize", str(repo), "--out", str(tmp_path / "report")], env={"LOCALREAD_MODEL": str(tmp_path / "none.gguf")}
    )
    assert no_model.exit_code == 1, no_model.output
    assert no_model.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in no_model.output

    assert snapshot(repo) == before
    assert list((tmp_path / "tmpdir").iterdir()) == []


def test_links_out_of_the_repository_are_not_followed(tmp_path: Path) -> None:
    repo = base_repo(tmp_path)
    links_out(repo)
    result = scan(repo)
    paths = [f.path for f in result.files]
    assert not any(p.startswith(("usr/", "vendored/")) or p == "tinyseg/secret.py" for p in paths)
    assert result.counts.skipped_links == 4
    assert sorted(result.counts.notes) == sorted(
        [
            "usr -> /usr (outside the repository)",
            f"vendored -> {tmp_path / 'outside' / 'pkg'} (outside the repository)",
            f"tinyseg/secret.py -> {tmp_path / 'outside' / 'secret.py'} (outside the repository)",
            f"README.md -> {tmp_path / 'outside' / 'secret.py'} (outside the repository)",
        ]
    )
    assert result.layout.readme is None  # the README is a link out: never read
    mapped = runner.invoke(app, ["map", str(repo), "--json"])
    assert mapped.exit_code == 0
    assert "OutsideSecret" not in mapped.stdout and "outside_helper" not in mapped.stdout
    assert "4 links not followed" in mapped.stderr


def test_links_inside_the_repository_are_still_followed(tmp_path: Path) -> None:
    repo = base_repo(tmp_path)
    os.symlink(repo / "tinyseg", repo / "scripts" / "tinyseg_link")
    os.symlink("../tinyseg/model.py", repo / "scripts" / "model_link.py")
    paths = [f.path for f in scan(repo).files]
    assert "scripts/model_link.py" in paths


def test_unreadable_subfolder_is_skipped_with_its_name(tmp_path: Path) -> None:
    prefix = unprivileged_prefix()
    repo = base_repo(tmp_path)
    private = repo / "tinyseg" / "private"
    private.mkdir()
    (private / "weights.py").write_text("LOADED = True\n")
    (repo / "tinyseg" / "secret_config.py").write_text("TOKEN = 1\n")
    before = snapshot(repo)
    private.chmod(0)
    (repo / "tinyseg" / "secret_config.py").chmod(0)
    try:
        env = env_for(tmp_path, LOCALREAD_ANALYSIS_CACHE="0")
        mapped = localread("map", str(repo), "--json", env=env, prefix=prefix)
        line = assert_warned(mapped, "2 unreadable skipped", "tinyseg/private/: permission denied",
                             "tinyseg/secret_config.py: permission denied")
        assert "looping" not in line
        assert "tinyseg.model.SegNet" in {s["id"] for s in json.loads(mapped.stdout)["symbols"]}
        explained = localread("explain", str(repo), "SegNet.forward", "--no-llm", env=env, prefix=prefix)
        assert_warned(explained, "tinyseg/private/: permission denied")
        assert "SegNet.forward" in explained.stdout
    finally:
        private.chmod(0o755)
        (repo / "tinyseg" / "secret_config.py").chmod(0o644)
    assert snapshot(repo) == before


def test_unreadable_repository_is_one_line_not_a_usage_box(tmp_path: Path) -> None:
    prefix = unprivileged_prefix()
    repo = base_repo(tmp_path)
    repo.chmod(0)
    try:
        env = env_for(tmp_path)
        for args in (["map", str(repo)], ["tour", str(repo), "--no-llm"], ["explain", str(repo), "SegNet", "--no-llm"]):
            assert_one_line_error(localread(*args, env=env, prefix=prefix), str(repo), "permission denied")
    finally:
        repo.chmod(0o755)


def test_bad_notebook_and_unreadable_file_are_told_apart(tmp_path: Path) -> None:
    repo = base_repo(tmp_path)
    (repo / "broken.ipynb").write_text("{this is not json")
    (repo / "shape.ipynb").write_text(json.dumps({"cells": "not a list"}))
    (repo / "deep.ipynb").write_text("[" * 5000 + "]" * 5000)
    # Brackets inside strings are text, not nesting: this one reads.
    cell = {"cell_type": "code", "source": 'grid = "\\"" + "' + "[" * 500 + '"\n'}
    (repo / "brackets.ipynb").write_text(json.dumps({"cells": [cell], "nbformat": 4}))
    mapped = runner.invoke(app, ["map", str(repo), "--json"])
    assert mapped.exit_code == 0
    warning = mapped.stderr.strip()
    assert "3 not usable, left out" in warning
    assert "broken.ipynb: not a Jupyter notebook (not JSON: Expecting property name" in warning
    assert "shape.ipynb: not a Jupyter notebook (no list of cells)" in warning
    assert "deep.ipynb: not a Jupyter notebook (JSON nested more than 100 levels deep)" in warning
    assert "brackets.ipynb" not in warning
    paths = {e["path"] for e in json.loads(mapped.stdout)["entry_points"]}
    assert "brackets.ipynb" in paths
    assert "unreadable" not in warning and "looping" not in warning


def test_notebook_is_listed_by_its_name_and_run_in_jupyter(tmp_path: Path) -> None:
    repo = base_repo(tmp_path)
    notebook_cell_not_text(repo)
    result = scan(repo)
    assert "explore.ip" not in result.layout.top_level_modules
    mapped = runner.invoke(app, ["map", str(repo), "--json"])
    entries = {e["path"]: e for e in json.loads(mapped.stdout)["entry_points"]}
    assert entries["explore.ipynb"]["command"] == "jupyter notebook explore.ipynb"
    assert entries["explore.ipynb"]["kind"] == "notebook"


def test_packaging_values_of_the_wrong_type_are_ignored(tmp_path: Path) -> None:
    repo = base_repo(tmp_path)
    (repo / "pyproject.toml").write_text('project = "not a table"\n[tool]\npoetry = 3\n')
    (repo / "setup.py").write_text("from setuptools import setup\nsetup(name=['x'], entry_points={'console_scripts': 5})\n")
    (repo / "README.md").write_text("# tinyseg\n\n" + "x" * (2 << 20))
    result = runner.invoke(app, ["map", str(repo), "--json"])
    assert result.exit_code == 0, result.output
    assert "README.md: over 1 MiB, not read for commands" in result.stderr
    assert json.loads(result.stdout)["install"] == "pip install -e ."


@pytest.mark.parametrize("value", ["0", "-3"])
def test_tour_limits_below_their_minimum_are_refused(value: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["tour", str(BASE), "--no-llm", "--max-steps", value])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: setting max_steps (--max-steps, LOCALREAD_MAX_STEPS, config file): expected 1 or more, got {value}"
    depth = runner.invoke(app, ["tour", str(BASE), "--no-llm", "--max-depth", "-1"])
    assert depth.exit_code == 1 and "expected 0 or more, got -1" in depth.stderr
    env = runner.invoke(app, ["tour", str(BASE), "--no-llm"], env={"LOCALREAD_MAX_STEPS": value})
    assert env.exit_code == 1 and "max_steps" in env.stderr


def test_a_method_named_like_its_class_does_not_hang_the_graph(tmp_path: Path) -> None:
    """Found by benchmarks/fuzz.py: a class and its last method (or a function and a
    nested one) with one name end on the same line; the graph took the method for
    the class, made it its own parent scope, and looped forever."""
    repo = base_repo(tmp_path)
    (repo / "tinyseg" / "same.py").write_text(
        "class Decoder:\n    def Decoder(self):\n        return 1\n\n\n"
        "def build():\n    @staticmethod\n    def build():\n        return Decoder()\n    return build()\n"
    )
    result = runner.invoke(app, ["explain", str(repo), "tinyseg.same.build.build", "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)["facts"]
    assert facts["kind"] == "function" and "tinyseg.same.Decoder" in [c["id"] for c in facts["callees"]]
    mapped = json.loads(runner.invoke(app, ["map", str(repo), "--json", "--top", "0"]).stdout)
    kinds = {s["id"]: s["kind"] for s in mapped["symbols"]}
    assert kinds["tinyseg.same.Decoder"] == "class" and kinds["tinyseg.same.Decoder.Decoder"] == "method"


PAPER_WORDS = (
    "Method. The encoder turns each image into a grid of features, and the mask head "
    "thresholds those features into a binary mask; training minimises the loss of the mask "
    "against the labels over many images of the dataset."
)


def test_pdf_that_inflates_to_a_gibibyte_is_left_out_or_refused(tmp_path: Path) -> None:
    """A 1 MB PDF page inflating to 1 GiB: pypdf stops it at its limit; that page is left
    out with a warning and the rest of the paper is aligned; three such pages refuse
    the file with one line. Neither takes long, nor much memory."""
    from tests.hostile import inflating_stream, text_stream, write_pdf

    bomb = inflating_stream(1)
    assert len(bomb) < 1_100_000
    one = write_pdf(tmp_path / "one.pdf", [(text_stream(PAPER_WORDS), None), (bomb, "FlateDecode")])
    three = write_pdf(tmp_path / "three.pdf", [(text_stream(PAPER_WORDS), None)] + [(bomb, "FlateDecode")] * 3)
    env = env_for(tmp_path)

    partial = localread("paper", str(BASE), str(one), "--no-llm", "--json", env=env)
    assert_warned(partial, f"{one}: 1 page left out (page 2: it inflates past pypdf's safety limit on decompressed data)")
    assert json.loads(partial.stdout)["sections"], partial.stdout

    assert list((tmp_path / "tmpdir").iterdir()) == []
    refused = runner.invoke(app, ["paper", str(BASE), str(three), "--no-llm"])
    assert refused.exit_code == 1
    line = refused.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: {three}: 3 pages cannot be read"), line
    assert "decompression bomb" in line and "pdftotext" in line


def test_pdf_page_with_megabytes_of_content_is_left_out(tmp_path: Path) -> None:
    """A few KB of PDF can hold megabytes of text operations, which pypdf extracts at
    about a megabyte a second: such a page is left out, not read for minutes."""
    import zlib

    from tests.hostile import text_stream, write_pdf

    content = text_stream("mask " * 40) * 60_000  # 13 MiB of text operations
    heavy = zlib.compress(content)
    pdf = write_pdf(tmp_path / "heavy.pdf", [(text_stream(PAPER_WORDS), None), (heavy, "FlateDecode")])
    assert pdf.stat().st_size < 200_000
    result = runner.invoke(app, ["paper", str(BASE), str(pdf), "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    assert f"page 2: {len(content) >> 20} MiB of page content, over the 4 MiB a page may have" in result.stderr
