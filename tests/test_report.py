"""`localread report` (render/html.py, render/diagram.py), `tour --codetour`
(render/codetour.py) and `--paper` on the tour (paper/steps.py), without a browser:
the files, their links, the diagram's tree, determinism, and hostile text in HTML,
Markdown, CodeTour JSON and the terminal. tests/test_report_browser.py opens them."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from localread.cli import app
from localread.render.diagram import call_orders, tour_mermaid
from localread.render.safe import md_text
from localread.repo.analysis import analyze
from localread.repo.tour import build_tour, pick_entry
from tests.helpers import EXAMPLE, FIXTURES
from tests.hostile import env_for, localread
from tests.test_hostile_output import (
    CLEAR,
    RLO,
    TITLE,
    assert_inert,
    hostile_repo,
    write_hostile_report,
)

runner = CliRunner()
PROTOMEM = FIXTURES / "paper_protomem"


def report(repo: Path, out: Path, *extra: str) -> Path:
    result = runner.invoke(app, ["report", str(repo), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"report: {out / 'index.html'}"
    return out


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.refs.append(value)
            if name == "id" and value is not None:
                self.ids.add(value)


def parse(page: Path) -> _Refs:
    refs = _Refs()
    refs.feed(page.read_text(encoding="utf-8"))
    return refs


def test_report_writes_a_site_whose_every_link_resolves_inside_it(tmp_path: Path) -> None:
    out = report(EXAMPLE, tmp_path / "site")
    repo = analyze(EXAMPLE)
    tour = build_tour(repo, pick_entry(repo, None))
    steps = sorted(p.name for p in (out / "steps").iterdir())
    assert steps == [f"t1-{i:03d}.html" for i in range(1, len(tour.steps) + 1)]
    assert {p.name for p in (out / "assets").iterdir()} == {"style.css", "filter.js", "pygments.css"}
    pages = sorted(out.rglob("*.html"))
    ids = {page: parse(page).ids for page in pages}
    checked = 0
    for page in pages:
        for ref in parse(page).refs:
            assert not re.match(r"[a-z]+:", ref), (page, ref)  # no scheme: nothing leaves the folder
            target, frag = urldefrag(ref)
            path = (page.parent / target).resolve() if target else page
            assert path.is_file() and out.resolve() in path.parents, (page, ref)
            if frag and path.suffix == ".html":
                assert frag in ids[path], (page, ref)
            checked += 1
    assert checked > 500
    marker = json.loads((out / ".localread-report.json").read_text())
    assert {"index.html", "steps/t1-001.html", "modules/segmenter.modeling.build.html"} <= set(marker["files"])
    listed = runner.invoke(app, ["report", str(EXAMPLE), "--out", str(out), "--json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert data["index"] == str(out / "index.html")
    assert data["files"] == sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name[0] != ".")
    again = report(EXAMPLE, tmp_path / "again")
    assert {p.relative_to(out): p.read_bytes() for p in pages} == {
        p.relative_to(again): p.read_bytes() for p in sorted(again.rglob("*.html"))
    }


def test_the_diagram_is_the_tour_tree(tmp_path: Path) -> None:
    out = report(EXAMPLE, tmp_path / "site")
    repo = analyze(EXAMPLE)
    tour = build_tour(repo, pick_entry(repo, None))
    index = (out / "index.html").read_text()
    svg = index[index.index("<svg"): index.index("</svg>")]
    nodes = re.findall(r'<a class="node" href="(steps/t1-(\d+)\.html)" data-step="(\d+)">.*?<text [^>]*>([^<]*)</text>', svg)
    assert [(int(n), label) for _, n, _, label in nodes] == [
        (i, f"{i}. {repo.chunks[s.id].qualname if s.kind != 'main' else repo.chunks[s.id].module + ' __main__'}")
        for i, s in enumerate(tour.steps, 1)
    ]
    # One edge per step but the entry; its label is the call's place under the parent.
    assert svg.count('class="edge"') == len(tour.steps) - 1
    orders = call_orders(tour)
    build = next(s for s in tour.steps if s.id == "segmenter.modeling.build.build_model")
    assert orders[build.id] == 4  # main calls parse_args, re-exports, then build_model
    mermaid = tour_mermaid(repo, tour)
    assert 's3 -->|"4"| s7' in mermaid and mermaid.count("-->") == len(tour.steps) - 1


def test_report_refuses_an_out_folder_inside_the_repository(tmp_path: Path) -> None:
    repo = hostile_repo(tmp_path)
    result = runner.invoke(app, ["report", str(repo), "--out", str(repo / "site")])
    assert result.exit_code == 1
    assert "never writes into the repository" in result.output
    assert not (repo / "site").exists()


def test_report_and_summarize_share_the_folder(tmp_path: Path) -> None:
    repo, out = write_hostile_report(tmp_path)
    assert (out / "index.html").is_file() and (out / "index.md").is_file()
    again = runner.invoke(app, ["report", str(repo), "--out", str(out), "--entry", "scripts/demo.py"])
    assert again.exit_code == 0, again.output
    marker = json.loads((out / ".localread-report.json").read_text())
    assert "index.md" in marker["files"] and "index.html" in marker["files"]
    assert (out / "index.md").is_file()


def test_the_paper_on_the_tour_everywhere(tmp_path: Path) -> None:
    repo, paper = PROTOMEM / "repo", PROTOMEM / "paper.md"
    shown = runner.invoke(app, ["tour", str(repo), "--no-llm", "--paper", str(paper)])
    assert shown.exit_code == 0, shown.output
    assert "in the paper: 2.1 Patch tokenisation" in re.sub(r"\s*│\s*", " ", shown.stdout)
    data = json.loads(runner.invoke(app, ["tour", str(repo), "--no-llm", "--json", "--paper", str(paper)]).stdout)
    by_id = {s["id"]: s for s in data["steps"]}
    assert [p["title"] for p in by_id["protomem.modeling.patch_embed.PatchEmbed"]["paper"]] == ["2.1 Patch tokenisation"]
    assert all("paper" in s for s in data["steps"])
    assert any(s["paper"] == [] for s in data["steps"])  # scaffolding implements no section
    plain_json = json.loads(runner.invoke(app, ["tour", str(repo), "--no-llm", "--json"]).stdout)
    assert all("paper" not in s for s in plain_json["steps"])
    out = report(repo, tmp_path / "site", "--paper", str(paper))
    n = [s["id"] for s in data["steps"]].index("protomem.modeling.patch_embed.PatchEmbed") + 1
    step = (out / "steps" / f"t1-{n:03d}.html").read_text()
    assert "In the paper" in step and "2.1 Patch tokenisation" in step
    tour_file = tmp_path / "tours" / "protomem.tour"
    written = runner.invoke(app, ["tour", str(repo), "--no-llm", "--paper", str(paper), "--codetour", str(tour_file)])
    assert written.exit_code == 0, written.output
    steps = json.loads(tour_file.read_text())["steps"]
    assert "In the paper (`" in steps[n - 1]["description"] and "2.1 Patch tokenisation" in steps[n - 1]["description"]


def test_codetour_steps_point_at_their_definitions(tmp_path: Path) -> None:
    tour_file = tmp_path / "demo.tour"
    result = runner.invoke(app, ["tour", str(EXAMPLE), "--no-llm", "--codetour", str(tour_file)])
    assert result.exit_code == 0, result.output
    document = json.loads(tour_file.read_text())
    assert set(document) == {"$schema", "title", "description", "steps"}
    repo = analyze(EXAMPLE)
    tour = build_tour(repo, pick_entry(repo, None))
    assert len(document["steps"]) == len(tour.steps)
    for entry, step in zip(document["steps"], tour.steps, strict=True):
        assert {"file", "line", "title", "description"} <= set(entry)
        lines = (EXAMPLE / entry["file"]).read_text().split("\n")
        assert step.start <= entry["line"] <= step.end
        matching = [i for i, text in enumerate(lines, 1) if re.search(entry["pattern"], text)]
        assert entry["line"] in matching, entry
        if step.kind in ("function", "method", "class"):
            assert re.match(r"\s*(async def|def|class) ", lines[entry["line"] - 1]), entry
    folder = runner.invoke(app, ["tour", str(EXAMPLE), "--no-llm", "--codetour", str(tmp_path)])
    assert folder.exit_code == 1 and "is a folder" in folder.output


def test_hostile_text_is_inert_in_html_codetour_and_terminal(tmp_path: Path) -> None:
    repo = hostile_repo(tmp_path)
    paper = tmp_path / "paper.md"
    paper.write_text(
        f"# Mask {CLEAR}head{RLO} {TITLE}\n\nThe SegNet forward mask encoder thresholds features.\n\n"
        "# <script>alert(5)</script> Encoder &amp; [x](javascript:alert(9))\n\nThe Encoder forward encodes.\n",
        encoding="utf-8",
    )
    (repo / "tinyseg" / "entities.py").write_text(
        'def tom():\n    """Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; &#x3C;script&#x3E;"""\n', encoding="utf-8"
    )
    out = report(repo, tmp_path / "site", "--entry", "scripts/demo.py", "--paper", str(paper))
    entities = (out / "modules" / "tinyseg.entities.html").read_text()
    assert "Tom &amp;amp; Jerry &amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; &amp;#x3C;script&amp;#x3E;" in entities
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert_inert(text)
        assert "<script>alert" not in text and "<img src=x" not in text
        assert "javascript:" not in " ".join(parse(page).refs)
    evil = (out / "modules" / "tinyseg.evil.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in evil
    assert html.escape("[click here](javascript:alert(3))", quote=True) in evil
    assert r"\x1b]0;pwned\x07" in evil
    # The hostile file names are module pages too, named with safe characters only.
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+\.html", p.name) for p in (out / "modules").iterdir())

    tour_file = tmp_path / "evil.tour"
    shown = runner.invoke(app, ["tour", str(repo), "--entry", "<img src=x onerror=alert(4)>.py", "--no-llm",
                                "--paper", str(paper), "--codetour", str(tour_file)])
    assert shown.exit_code == 0, shown.output
    assert_inert(shown.stdout)
    raw = tour_file.read_text(encoding="utf-8")
    assert_inert(raw)
    document = json.loads(raw)
    assert_inert(json.dumps(document, ensure_ascii=False))
    md = MarkdownIt("commonmark", {"html": True})
    for entry in document["steps"]:
        rendered = md.render(entry["description"])
        assert "<img" not in rendered and "<script" not in rendered and "href=\"javascript" not in rendered, rendered
    assert "<img src=x onerror=alert(4)>" in document["steps"][0]["title"]  # plain text, shown as is
    # The paper's hostile titles reach the terminal and the CodeTour as visible text.
    assert r"in the paper: Mask \x1b[2Jhead\u202e \x1b]0;pwned\x07" in shown.stdout
    descriptions = " ".join(md.render(e["description"]) for e in document["steps"])
    assert "Mask \\x1b[2Jhead\\u202e" in descriptions
    assert "Encoder &amp;amp; x)" in descriptions  # the entity is shown, not decoded

    # The Markdown report's Mermaid blocks hold no markup of the names.
    _, summarized = write_hostile_report(tmp_path / "md")
    index = (summarized / "index.md").read_text()
    blocks = re.findall(r"```mermaid\n(.*?)```", index, re.DOTALL)
    assert blocks and all("<" not in b and "`" not in b for b in blocks)


@pytest.mark.model
def test_narrated_codetour_carries_the_models_explanations(tmp_path: Path, model_store: Path) -> None:
    """As a subprocess, so the narration runs in the supervised child, which writes the file."""
    tour_file = tmp_path / "narrated.tour"
    run = localread("tour", str(EXAMPLE), "--max-steps", "3", "--json", "--codetour", str(tour_file),
                    env=env_for(tmp_path), timeout=600)
    assert run.rc == 0, run.stderr
    steps = json.loads(run.stdout)["steps"]
    document = json.loads(tour_file.read_text())
    assert len(document["steps"]) == len(steps)
    narrated = [s for s in steps if s["explanation"]]
    assert narrated
    for step, entry in zip(steps, document["steps"], strict=True):
        if step["explanation"]:
            assert md_text(step["explanation"], line_start=True) in entry["description"]
    assert f"codetour: {tour_file}" in run.stderr


def test_report_without_an_entry_point_and_bad_inputs(tmp_path: Path) -> None:
    repo = tmp_path / "lib"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("def f():\n    return 1\n")
    out = report(repo, tmp_path / "site")
    assert "No entry point to start a tour from." in (out / "index.html").read_text()
    assert not (out / "steps").exists() and (out / "modules" / "pkg.html").is_file()
    for args, needle in ((["--entry", "nope.py"], "--entry nope.py: no such Python file"),
                         (["--paper", str(tmp_path / "missing.pdf")], "missing.pdf: no such file")):
        result = runner.invoke(app, ["report", str(EXAMPLE), "--out", str(tmp_path / "other"), *args])
        assert result.exit_code == 1 and needle in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
