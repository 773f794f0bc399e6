"""What a reader sees of `map` and of the summarize report, for the bundled example,
compared with stored outputs as unified diffs (the tour's are in test_tour_golden).
The report's summaries come from a scripted model that names the unit it was asked
about, so the files change when the report's shape or the plan changes, not with the
model. To regenerate after an intended change, run from the repository root

    .venv/bin/python -m tests.test_golden_reports

and review `git diff tests/golden/` before committing.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.llm.engine import CompletionStream, Prompt, as_prompt
from localread.render import markdown
from tests.fakes import FakeEngine
from tests.helpers import EXAMPLE
from tests.summarize_helpers import run
from tests.test_tour_golden import COLUMNS, assert_matches, write_goldens


class NamingEngine(FakeEngine):
    """Answers 'What NAME does, in one sentence.' for the unit its prompt ends with."""

    def stream(self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()) -> CompletionStream:
        name = as_prompt(prompt).text.rsplit("Code:", 1)[-1].split("\n", 1)[0].strip()
        self.enqueue(f"What {name} does, in one sentence.")
        return super().stream(prompt, max_tokens, stop)


def _map(flags: list[str]) -> str:
    result = CliRunner().invoke(app, ["map", str(EXAMPLE), *flags], env={"COLUMNS": COLUMNS}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    if "--json" in flags:
        data = json.loads(result.stdout)
        data["repo"] = EXAMPLE.name
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    text = "".join(line.rstrip() + "\n" for line in result.stdout.splitlines())
    return text.replace(str(EXAMPLE.resolve()), EXAMPLE.name)


def _report() -> str:
    """index.md, then each module page under a `==> path <==` line, as `tail` shows files."""
    with tempfile.TemporaryDirectory() as tmp:
        report = run(EXAMPLE, Path(tmp) / "store.sqlite3", NamingEngine())
        out = Path(tmp) / "report"
        markdown.claim_out_dir(out, report.repo.root)
        markdown.write_report(report, out)
        parts = [
            f"==> {page.relative_to(out).as_posix()} <==\n{page.read_text(encoding='utf-8')}"
            for page in [out / "index.md", *sorted((out / "modules").glob("*.md"))]
        ]
    return "\n".join(parts).replace(str(EXAMPLE.resolve()), EXAMPLE.name)


CASES: dict[str, Callable[[], str]] = {
    "map_segment_demo.txt": lambda: _map([]),
    "map_segment_demo.json": lambda: _map(["--json"]),
    "summarize_segment_demo.md": _report,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_matches_the_golden_file(name: str) -> None:
    assert_matches(name, CASES[name](), what=name.split("_", 1)[0])


if __name__ == "__main__":
    write_goldens(CASES)
