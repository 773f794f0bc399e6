"""`localread tour` through typer's runner and as a subprocess: --all, the budgets,
the entry kinds, the tree in the human output and in --json, bad limits."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from localread.cli import app
from tests.helpers import EXAMPLE, FIXTURES

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
