"""What a reader sees of the tour, compared with stored outputs as unified diffs:
`tour --no-llm` of the example and of two fixtures (DETR training, NeRF), and the
example's `--json`. A change in the tour is a reviewed change of these files.

To regenerate them after an intended change, run from the repository root

    .venv/bin/python -m tests.test_tour_golden

and review `git diff tests/golden/` before committing.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
from tests.helpers import EXAMPLE, FIXTURES

GOLDEN = Path(__file__).parent / "golden"
# The rendering width, fixed so that the files do not depend on the terminal.
COLUMNS = "100"

CASES = {
    "tour_segment_demo.txt": (EXAMPLE, []),
    "tour_segment_demo.json": (EXAMPLE, ["--json"]),
    "tour_detr.txt": (FIXTURES / "tour_detr" / "repo", []),
    "tour_nerf.txt": (FIXTURES / "tour_nerf" / "repo", []),
}


def render(name: str) -> str:
    """The output a golden file holds: the CLI's stdout (line ends stripped), the
    repository root in JSON replaced by its name so that the file does not depend on
    the checkout."""
    repo, flags = CASES[name]
    result = CliRunner().invoke(
        app, ["tour", str(repo), "--no-llm", *flags], env={"COLUMNS": COLUMNS}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    if name.endswith(".json"):
        data = json.loads(result.stdout)
        data["repo"] = repo.name
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    # Rich pads wrapped tree lines with spaces; they are nothing a reader sees.
    return "".join(line.rstrip() + "\n" for line in result.stdout.splitlines())


def assert_matches(name: str, actual: str, *, what: str = "tour") -> None:
    """Fail with the unified diff when `actual` is not tests/golden/<name>."""
    expected = (GOLDEN / name).read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True),
            fromfile=f"tests/golden/{name}", tofile=f"{what} now",
        ))
        pytest.fail(f"the {what} changed; review the diff and regenerate (see the test module's docstring):\n{diff}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_tour_output_matches_the_golden_file(name: str) -> None:
    assert_matches(name, render(name))


def write_goldens(cases: dict[str, Callable[[], str]]) -> None:
    """Write tests/golden/<name> for each case, run as the tests run them: no user
    cache, config or stored summaries."""
    import os
    import tempfile

    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        for var in list(os.environ):
            if var.startswith("LOCALREAD_"):
                del os.environ[var]
        os.environ["LOCALREAD_CACHE_DIR"] = str(Path(home) / "cache")
        os.environ["LOCALREAD_CONFIG"] = str(Path(home) / "config.toml")
        for name in sorted(cases):
            (GOLDEN / name).write_text(cases[name](), encoding="utf-8")
            print(f"wrote tests/golden/{name}", file=sys.stderr)


if __name__ == "__main__":
    write_goldens({name: lambda name=name: render(name) for name in CASES})
