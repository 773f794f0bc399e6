"""`localread map` and `localread tour --no-llm` through typer's runner and as a
subprocess: JSON contracts, human output, bad input, and never running the repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
from tests.helpers import EXAMPLE, write_repo

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_map_json_contract() -> None:
    result = invoke("map", str(EXAMPLE), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"repo", "install", "entry_points", "symbols", "unresolved"}
    assert data["install"] == "pip install -e ."
    assert data["entry_points"][0] == {
        "path": "scripts/demo.py",
        "kind": "readme",
        "command": "python scripts/demo.py --image examples/dog.png --point 120 80 --checkpoint weights/vit_s.pt",
        "score": data["entry_points"][0]["score"],
    }
    symbol = data["symbols"][0]
    assert set(symbol) == {"id", "kind", "path", "start", "end", "rank"}
    assert isinstance(data["unresolved"], int)
    ids = [s["id"] for s in data["symbols"]]
    assert "segmenter.predictor.Segmenter" in ids[:10]
    assert all(not s["path"].startswith("/") for s in data["symbols"])


def test_map_human_output() -> None:
    result = invoke("map", str(EXAMPLE))
    assert result.exit_code == 0
    assert "scripts/demo.py" in result.stdout
    assert "pip install -e ." in result.stdout
    assert "core symbols" in result.stdout
    # Symbols by qualified name with their file and line whole, even at 80 columns.
    row = next(line for line in result.stdout.splitlines() if " Segmenter " in line)
    assert "class" in row and "segmenter/predictor.py:10" in row


def test_tour_json_contract_and_order() -> None:
    result = invoke("tour", str(EXAMPLE), "--no-llm", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["entry"] == "scripts/demo.py"
    steps = data["steps"]
    # The DESIGN.md keys, the tree (each step's parent and its calls below the main
    # code) and the static description.
    assert set(steps[0]) == {"id", "kind", "path", "start", "end", "depth", "reason", "explanation", "parent", "calls",
                             "description"}
    assert all(s["explanation"] is None and s["description"] for s in steps)  # the static description
    ids = [s["id"] for s in steps]
    assert len(ids) == len(set(ids))
    assert ids[0] == "scripts.demo"
    # main() is read before what it calls, and the class before its methods.
    assert ids.index("scripts.demo.main") < ids.index("segmenter.predictor.Segmenter")
    assert ids.index("segmenter.predictor.Segmenter") < ids.index("segmenter.predictor.Segmenter.__init__")
    assert ids.index("segmenter.predictor.Segmenter.__init__") < ids.index("segmenter.predictor.Segmenter.set_image")
    assert ids.index("segmenter.predictor.Segmenter.set_image") < ids.index("segmenter.predictor.Segmenter.predict")
    # The re-exporting package is shown on the way to the core class.
    assert ids.index("segmenter") < ids.index("segmenter.predictor.Segmenter")
    # Calling an nn.Module instance reaches forward, also through a ModuleList loop.
    assert "segmenter.modeling.encoder.ImageEncoder.forward" in ids
    assert "segmenter.modeling.encoder.Block.forward" in ids
    assert "segmenter.modeling.decoder.MaskDecoder._masks_from_tokens" in ids
    # The registry call reaches the builder through functools.partial.
    assert "segmenter.modeling.build._build" in ids
    # Library code is never a step.
    assert all(s["id"].startswith(("scripts.", "segmenter")) for s in steps)
    reasons = {s["id"]: s["reason"] for s in steps}
    assert reasons["scripts.demo"].startswith("entry point: `python scripts/demo.py")
    assert "called by `main` at scripts/demo.py:" in reasons["segmenter.predictor.Segmenter.set_image"]


def test_tour_limits_list_what_was_pruned() -> None:
    result = invoke("tour", str(EXAMPLE), "--no-llm", "--json", "--max-steps", "5")
    data = json.loads(result.stdout)
    # A class and its constructor are one step of the budget.
    constructors = sum(s["id"].endswith(".__init__") and s["parent"] == s["id"].rsplit(".", 1)[0] for s in data["steps"])
    assert len(data["steps"]) - constructors <= 5
    assert data["pruned"]
    weights = [p["weight"] for p in data["pruned"]]
    assert weights == sorted(weights, reverse=True)
    shallow = json.loads(invoke("tour", str(EXAMPLE), "--no-llm", "--json", "--max-depth", "1").stdout)
    assert max(s["calls"] for s in shallow["steps"]) <= 1
    assert any("beyond depth 1" in p["reason"] for p in shallow["pruned"])


def test_tour_human_output_is_a_tree_with_locations() -> None:
    result = invoke("tour", str(EXAMPLE), "--no-llm")
    assert result.exit_code == 0
    assert "scripts/demo.py:1-" in result.stdout
    assert "segmenter/predictor.py:" in result.stdout


def test_tour_with_entry() -> None:
    data = json.loads(invoke("tour", str(EXAMPLE), "--no-llm", "--json", "--entry", "scripts/train.py").stdout)
    ids = [s["id"] for s in data["steps"]]
    assert ids[0] == "scripts.train"
    assert "segmenter.losses.focal_dice_loss" in ids
    assert "segmenter.modeling.decoder.MaskDecoder.forward" in ids


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["map", "{tmp}/missing"], "no such folder"),
        (["map", "{tmp}/file.py"], "is a file, not a folder"),
        (["map", "{tmp}/empty"], "no Python files found"),
        (["map", "{tmp}/docs"], "no Python files found"),
        (["tour", str(EXAMPLE), "--no-llm", "--entry", "scripts/nope.py"], "--entry scripts/nope.py: no such"),
    ],
)
def test_bad_input_is_one_line_exit_1(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "file.py").write_text("x = 1\n")
    (tmp_path / "empty").mkdir()
    write_repo(tmp_path / "docs", {"README.md": "# docs only\n"})
    result = runner.invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_partial_results_with_a_warning(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "pkg/__init__.py": "from .core import run\n",
            "pkg/core.py": "def run():\n    return helper()\n\ndef helper():\n    return 1\n",
            "pkg/broken.py": "def oops(:\n    pass\n",
            "pkg/latin.py": b"# caf\xe9\ndef ok():\n    return 1\n",
            "run.py": "from pkg import run\n\nif __name__ == '__main__':\n    run()\n",
        },
    )
    os.symlink(tmp_path / "pkg", tmp_path / "pkg" / "loop")
    result = runner.invoke(app, ["tour", str(tmp_path), "--no-llm", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [s["id"] for s in data["steps"]][:2] == ["run", "run.__main__"]
    assert "pkg.core.helper" in [s["id"] for s in data["steps"]]
    warning = result.stderr.strip()
    assert warning.startswith("warning: 5 Python files read")
    assert "1 with syntax errors (pkg/broken.py)" in warning
    assert "1 not valid UTF-8" in warning
    assert "1 link not followed (pkg/loop/ (a second link to a folder already read))" in warning


def trap(markers: Path, name: str) -> str:
    """A line that writes a marker file named after the file when it runs."""
    return f"import pathlib\npathlib.Path({str(markers)!r}, {name!r}).write_text('executed')\n"


def test_never_imports_or_runs_the_repo(tmp_path: Path) -> None:
    """Every file of this repository writes a marker when executed or imported."""
    markers = tmp_path / "markers"
    markers.mkdir()
    repo = tmp_path / "trap"
    bodies = {
        "setup.py": "from setuptools import setup\nsetup(name='trap', entry_points={'console_scripts': ['t=trap.cli:main']})\n",
        "conftest.py": "",
        "trap/__init__.py": "from .core import Model\n",
        "trap/__main__.py": "from .cli import main\nmain()\n",
        "trap/core.py": "class Model:\n    def run(self):\n        return 1\n",
        "trap/cli.py": "from .core import Model\n\ndef main():\n    Model().run()\n",
        "scripts/demo.py": "from trap import Model\n\nif __name__ == '__main__':\n    Model().run()\n",
    }
    files: dict[str, str] = {p: trap(markers, p.replace("/", "_")) + body for p, body in bodies.items()}
    files["README.md"] = "```\npython scripts/demo.py\n```\n"
    write_repo(repo, files)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for args in (["map", str(repo), "--json"], ["tour", str(repo), "--no-llm", "--json"], ["tour", str(repo), "--no-llm"]):
        proc = subprocess.run([sys.executable, "-m", "localread", *args], capture_output=True, text=True, env=env, cwd=repo, check=False)
        assert proc.returncode == 0, proc.stderr
    result = runner.invoke(app, ["tour", str(repo), "--no-llm", "--json"])
    assert result.exit_code == 0
    steps = [s["id"] for s in json.loads(result.stdout)["steps"]]
    assert "trap.core.Model.run" in steps
    assert list(markers.iterdir()) == []
    assert not list(repo.rglob("__pycache__"))


def test_subprocess_json_is_clean_stdout(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "localread", "tour", str(EXAMPLE), "--no-llm", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)
    bad = subprocess.run([sys.executable, "-m", "localread", "map", str(tmp_path / "nope")], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == f"error: {tmp_path / 'nope'}: no such folder"
    usage = subprocess.run([sys.executable, "-m", "localread", "map", "--bogus"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2
