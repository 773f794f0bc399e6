"""What localread prints and writes cannot be turned against its reader (issue 12):
terminal escapes, bidi overrides and rich markup from the code are shown as visible
text, on a terminal and in a pipe; the Markdown report, rendered by a real CommonMark
renderer (markdown-it-py, raw HTML on, as many viewers have it), runs no script, loads
no image, follows no javascript: link, and keeps its code spans and tables whole."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from localread.cli import app
from localread.llm.engine import CompletionStream, Prompt
from localread.render import markdown
from localread.repo.analysis import analyze
from localread.store import Store
from localread.summarize import Options, Source, summarize
from tests.fakes import FakeEngine
from tests.helpers import FIXTURES
from tests.hostile import env_for, localread, on_terminal, snapshot

runner = CliRunner()
BASE = FIXTURES / "hostile_base"

CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
RED = "\x1b[31m"
RLO = "\u202e"
HOSTILE_TEXTS = (CLEAR, "\x1b]0;", RED, RLO)

EVIL_MODULE = f'''"""Helpers a stranger wrote {RLO}txt.exe"""


def render(mode="{CLEAR}", title="{TITLE}"):
    """Draw the mask {RED}in red{RLO} and [bold]loudly[/bold] {TITLE}."""
    return mode + title


def run_script():
    """<script>alert(1)</script> runs when the report opens."""


def load_pixel():
    """<img src=x onerror=alert(2)> loads on open."""


def track():
    """![tracker](http://tracker.example/p.png) fetches when the page is shown."""


def trick():
    """[click here](javascript:alert(3)) looks like a link."""
'''

ESC_NAME = "\x1b[31mred"
MARKUP_NAME = "[bold]loud"
TICK_NAME = "evil`name"
TAG_NAME = "<img src=x onerror=alert(4)>"
PIPE_NAME = "a|b"


def hostile_repo(tmp_path: Path) -> Path:
    repo = Path(shutil.copytree(BASE, tmp_path / "repo"))
    (repo / "tinyseg" / "evil.py").write_text(EVIL_MODULE, encoding="utf-8")
    for name in (ESC_NAME, MARKUP_NAME, TICK_NAME, TAG_NAME, PIPE_NAME):
        (repo / f"{name}.py").write_text("from tinyseg import SegNet\n\nSegNet().forward([[1.0]])\n")
    return repo


def assert_inert(text: str) -> None:
    """No hostile sequence made it through raw; each is shown as visible text."""
    for raw in HOSTILE_TEXTS:
        assert raw not in text, repr(raw)


def without_rich_styles(text: str) -> str:
    """The terminal output without the SGR styles rich adds itself (bold, dim, italic,
    yellow, green: never red, which is what the code tried)."""
    assert RED not in text
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# --------------------------------------------------------------------------- terminal


def test_explain_in_a_pipe_shows_escapes_as_text(tmp_path: Path) -> None:
    repo = hostile_repo(tmp_path)
    run = localread("explain", str(repo), "tinyseg.evil.render", "--no-llm", env=env_for(tmp_path, COLUMNS="300"))
    assert run.rc == 0, run
    assert_inert(run.stdout)
    assert "\x1b" not in run.stdout
    assert r'mode = "\x1b[2J"' in run.stdout
    assert r"\x1b[31min red\u202e and [bold]loudly[/bold] \x1b]0;pwned\x07" in run.stdout


def test_explain_and_map_on_a_terminal_show_escapes_as_text(tmp_path: Path) -> None:
    repo = hostile_repo(tmp_path)
    env = env_for(tmp_path)
    shown = on_terminal("explain", str(repo), "tinyseg.evil.render", "--no-llm", env=env)
    assert_inert(shown)
    plain = without_rich_styles(shown)
    assert "\x1b" not in plain
    assert r"\x1b[31min red\u202e" in plain and "[bold]loudly[/bold]" in plain
    mapped = without_rich_styles(on_terminal("map", str(repo), "--top", "0", env=env))
    assert "\x1b" not in mapped
    assert r"\x1b[31mred.py" in mapped and "[bold]loud.py" in mapped


def test_map_in_a_pipe_and_in_process_shows_file_names_as_text(tmp_path: Path) -> None:
    repo = hostile_repo(tmp_path)
    run = localread("map", str(repo), "--top", "0", env=env_for(tmp_path))
    assert run.rc == 0, run
    assert "\x1b" not in run.stdout
    assert r"\x1b[31mred.py" in run.stdout and f"{MARKUP_NAME}.py" in run.stdout
    result = runner.invoke(app, ["map", str(repo)])
    assert "\x1b" not in result.stdout and r"\x1b[31mred" in result.stdout


def test_error_lines_show_escapes_as_text(tmp_path: Path) -> None:
    repo = hostile_repo(tmp_path)
    run = localread("explain", str(repo), f"{CLEAR}nothing{RLO}", "--no-llm", env=env_for(tmp_path))
    assert run.rc == 1
    assert_inert(run.stderr)
    assert r"\x1b[2Jnothing\u202e" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_paper_titles_are_shown_as_text(tmp_path: Path) -> None:
    repo = hostile_repo(tmp_path)
    paper = tmp_path / "paper.md"
    paper.write_text(
        f"# Mask {CLEAR}head{RLO}\n\nThe encoder turns the image into features and the mask head thresholds them.\n\n"
        f"# <script>alert(5)</script> results\n\nWe report [bold]masks[/bold] on ![](http://tracker/p.png) images.\n",
        encoding="utf-8",
    )
    table = runner.invoke(app, ["paper", str(repo), str(paper), "--no-llm"])
    assert table.exit_code == 0, table.output
    assert_inert(table.stdout)
    assert r"\x1b[2Jhead\u202e" in table.stdout
    page = runner.invoke(app, ["paper", str(repo), str(paper), "--no-llm", "--markdown"])
    rendered = render_html(page.stdout)
    assert_inert(rendered)
    assert "<script" not in rendered
    assert r"\x1b[2Jhead\u202e" in rendered


# --------------------------------------------------------------------------- Markdown


class EchoingEngine(FakeEngine):
    """A fake model that answers every prompt with markup, as a model copying a hostile
    docstring would: plumbing for the renderer, never a test of model output."""

    def stream(self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()) -> CompletionStream:
        self.enqueue(
            f"Masks pixels <script>alert(6)</script> with <img src=x onerror=alert(7)> and "
            f"![](http://tracker.example/q.png) via [docs](javascript:alert(8)) `SegNet` {RED}{RLO}."
        )
        return super().stream(prompt, max_tokens, stop)


def render_html(text: str) -> str:
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    return parser.render(text)


def write_hostile_report(tmp_path: Path) -> tuple[Path, Path]:
    repo = hostile_repo(tmp_path)
    engine = EchoingEngine()
    with Store.open(tmp_path / "store.sqlite3") as store:
        report = summarize(analyze(repo), store, engine.model, engine.n_ctx, lambda: engine, Options())
    assert any(r.source is Source.STATIC for r in report.results.values())  # docstrings as summaries
    assert any(r.source is Source.MODEL for r in report.results.values())
    out = tmp_path / "report"
    markdown.claim_out_dir(out, report.repo.root)
    markdown.write_report(report, out)
    return repo, out


def test_markdown_report_rendered_by_commonmark_runs_and_fetches_nothing(tmp_path: Path) -> None:
    repo, out = write_hostile_report(tmp_path)
    pages = sorted(out.rglob("*.md"))
    assert len(pages) > 3
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert_inert(text)
        rendered = render_html(text)
        assert "<script" not in rendered.lower(), page
        assert "<img" not in rendered.lower(), page
        assert not re.search(r"<[^>]*\bon\w+\s*=", rendered), page  # no event handler attribute
        assert "javascript:" not in " ".join(re.findall(r'href="[^"]*"', rendered)), page
        assert not re.search(r"\b(src|href)=\"(https?:)?//", rendered), page  # no remote fetch or link
        for href in re.findall(r'href="([^"]*)"', rendered):
            assert re.fullmatch(r"(\.\./)?(modules/)?[A-Za-z0-9_.-]*(\.md)?(#[A-Za-z0-9_.-]*)?", href), (page, href)
    evil_page = render_html((out / "modules" / "tinyseg.evil.md").read_text(encoding="utf-8"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; runs when the report opens" in evil_page
    assert "&lt;img src=x onerror=alert(2)&gt; loads on open" in evil_page
    assert "![tracker](http://tracker.example/p.png) fetches" in html.unescape(evil_page)
    assert "[click here](javascript:alert(3)) looks like a link" in html.unescape(evil_page)
    assert "<code>SegNet</code>" in evil_page  # the model's code names stay code
    assert snapshot(repo) == snapshot(repo)  # taken twice to be sure the walk itself is stable


def test_markdown_report_keeps_code_spans_and_tables_whole(tmp_path: Path) -> None:
    _, out = write_hostile_report(tmp_path)
    index = (out / "index.md").read_text(encoding="utf-8")
    tokens = MarkdownIt("commonmark").enable("table").parse(index)
    rows: list[list[str]] = []
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            cells, j = [], i + 1
            while tokens[j].type != "tr_close":
                if tokens[j].type == "inline":
                    cells.append(tokens[j].content)
                j += 1
            rows.append(cells)
    module_rows = [r for r in rows if len(r) == 5]  # the modules table: module, file, chunks, pending, summary
    names = " ".join(r[0] for r in module_rows)
    for name in (TICK_NAME, TAG_NAME, PIPE_NAME):
        assert name.replace("|", "\\|") in names or name in names, name
    assert all(len(r) in (2, 3, 4, 5) for r in rows)
    rendered = render_html(index)
    codes = [html.unescape(c) for c in re.findall(r"<code>(.*?)</code>", rendered)]
    assert TICK_NAME in codes and TAG_NAME in codes and f"{PIPE_NAME}.py" in codes
    assert "<img" not in rendered


def test_summarize_out_inside_the_repository_is_refused(tmp_path: Path) -> None:
    repo = hostile_repo(tmp_path)
    before = snapshot(repo)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "link").symlink_to(repo / "tinyseg")
    for out in (repo / "report", repo, repo / "tinyseg" / "deeper" / "report", outside / "link" / "report"):
        result = runner.invoke(app, ["summarize", str(repo), "--out", str(out)])
        assert result.exit_code == 1, result.output
        assert result.stderr.strip().startswith(f"error: --out {out}: is inside the repository {repo}")
        assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(repo) == before
    with pytest.raises(Exception, match="inside the repository"):
        markdown.claim_out_dir(repo / "r", repo)
