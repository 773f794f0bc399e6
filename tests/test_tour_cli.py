"""`localread tour` through typer's runner and as a subprocess: --all, the budgets,
the entry kinds, the tree in the human output and in --json, bad limits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from localread.cli import app
from localread.data import ChunkKind
from localread.repo.analysis import analyze
from tests.helpers import EXAMPLE, FIXTURES, write_repo

runner = CliRunner()
DETR = FIXTURES / "tour_detr" / "repo"
SPEECH = FIXTURES / "tour_speech" / "repo"


def tour_json(*args: str) -> dict:
    result = runner.invoke(app, ["tour", *args, "--no-llm", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_steps_form_a_tree_with_the_design_keys() -> None:
    data = tour_json(str(DETR))
    steps = data["steps"]
    shown = {s["id"] for s in steps}
    assert steps[0]["parent"] is None
    assert all(s["parent"] in shown for s in steps[1:])
    assert set(steps[0]) >= {"id", "kind", "path", "start", "end", "depth", "reason", "explanation"}
    assert all(set(p) == {"id", "rank", "weight", "reason"} for p in data["pruned"])


def test_all_shows_the_whole_tree_and_cuts_nothing() -> None:
    default = tour_json(str(DETR))
    whole = tour_json(str(DETR), "--all")
    assert whole["pruned"] == []
    assert len(whole["steps"]) == len(default["steps"]) + len(default["pruned"])
    human = runner.invoke(app, ["tour", str(DETR), "--no-llm", "--all"])
    assert human.exit_code == 0
    assert "more steps" not in human.stdout
    assert "CocoEvaluator.update" in human.stdout


def test_the_limits_from_the_command_line() -> None:
    small = tour_json(str(DETR), "--max-steps", "6")
    assert len(small["steps"]) <= 12 and small["pruned"]
    assert all(p["reason"].endswith("cut by the 6-step budget") for p in small["pruned"])
    lines = tour_json(str(DETR), "--max-lines", "80")
    assert lines["pruned"][0]["reason"].endswith("cut by the 40-step budget and the 80-line budget")
    deep = tour_json(str(DETR), "--max-depth", "1")
    assert max(s["calls"] for s in deep["steps"]) <= 1
    assert "main.main" in {s["id"] for s in deep["steps"]}  # scaffolding uses no depth


def test_the_human_output_nests_each_step_under_its_caller_and_lists_the_cut() -> None:
    result = runner.invoke(app, ["tour", str(DETR), "--no-llm", "--max-steps", "6"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    main = next(i for i, line in enumerate(lines) if "3. main function main.py" in line)
    build = next(i for i, line in enumerate(lines) if ". build_model function" in line)
    assert _indent(lines[build]) > _indent(lines[main])
    assert "more steps, cut by the 6-step budget (the heaviest first; the whole tree: --all):" in result.stdout


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" │├└─"))


def test_the_readme_usage_and_a_test_module_as_entries() -> None:
    readme = tour_json(str(SPEECH))
    assert readme["entry"] == "README.md"
    assert readme["steps"][0]["id"] == "README"
    chosen = tour_json(str(SPEECH), "--entry", "README.md")
    assert chosen["steps"] == readme["steps"]
    tests = tour_json(str(FIXTURES / "tour_gpt" / "repo"), "--entry", "tests/test_model.py")
    assert "tests.test_model.test_crop_block_size" in {s["id"] for s in tests["steps"]}


def test_tour_as_a_subprocess_reads_a_readme_entry_without_running_anything() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "localread", "tour", str(SPEECH), "--no-llm", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert "murmur.decoding.DecodingTask.run" in {s["id"] for s in data["steps"]}
    # The fixture imports torch, which is not installed: had anything of it been
    # imported or run, the command would have failed.
    assert "Traceback" not in result.stderr


def test_a_bad_limit_is_a_usage_error() -> None:
    result = runner.invoke(app, ["tour", str(EXAMPLE), "--no-llm", "--max-lines", "many"])
    assert result.exit_code == 2


def test_a_package_with_a_main_guard_and_a_main_module_tours_from_the_main_module(tmp_path: Path) -> None:
    # rich's layout: `rich/__init__.py` ends with `if __name__ == "__main__":` (chunk
    # `rich.__main__`) and `rich/__main__.py` is the module `rich.__main__`. The tour
    # crashed (KeyError) and the package's own main block was lost; and `x.py` beside
    # a package `x/` claimed the same ids again.
    write_repo(tmp_path, {
        "seg/__init__.py": "def hello():\n    return 0\n\n\nif __name__ == \"__main__\":\n    hello()\n",
        "seg/__main__.py": "from seg.train import fit\n\n\ndef run():\n    fit()\n\n\nif __name__ == \"__main__\":\n    run()\n",
        "seg/train.py": "def fit():\n    return 1\n",
        "tools/train.py": "def fit():\n    return 2\n",
        "utils.py": "def norm(x):\n    return x\n",
        "utils/__init__.py": "def norm(x):\n    return -x\n",
    })
    repo = analyze(tmp_path)
    assert all(key == chunk.id for key, chunk in repo.chunks.items())
    assert repo.chunks["seg.__main__"].kind is ChunkKind.MODULE  # imports resolve to the module
    mains = sorted((c.path, c.id) for c in repo.chunks.values() if c.kind is ChunkKind.MAIN)
    assert mains == [("seg/__init__.py", "seg.__main__#2"), ("seg/__main__.py", "seg.__main__.__main__")]
    norms = sorted((c.path, c.id, c.parent) for c in repo.chunks.values() if c.name == "norm")
    assert norms == [("utils.py", "utils.norm", "utils"), ("utils/__init__.py", "utils.norm#2", "utils#2")]
    data = tour_json(str(tmp_path), "--entry", "seg/__main__.py")
    assert [s["id"] for s in data["steps"]] == ["seg.__main__", "seg.__main__.__main__", "seg.__main__.run", "seg.train.fit"]
    done = subprocess.run([sys.executable, "-m", "localread", "tour", str(tmp_path), "--no-llm"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
