"""The HTML report in a real browser (headless Debian chromium, network cut off), and
every Mermaid diagram of the Markdown report through the real Mermaid parser in the
same browser. These tests fail, never skip, when chromium or Mermaid is missing."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from localread.cli import app
from localread.render.html import _page as html_page
from tests.browser import mermaid_js, offline_page, pixel_variance
from tests.helpers import EXAMPLE
from tests.test_hostile_output import hostile_repo, write_hostile_report

runner = CliRunner()


def make_report(repo: Path, out: Path, *extra: str) -> Path:
    result = runner.invoke(app, ["report", str(repo), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file()
    return out


def test_click_through_the_report_offline(tmp_path: Path) -> None:
    out = make_report(EXAMPLE, tmp_path / "site")
    shots = tmp_path / "shots"
    shots.mkdir()
    with offline_page(out) as (page, refused):
        page.goto((out / "index.html").as_uri())
        assert page.locator("h1").inner_text() == "segment-demo"
        # The overview names the install command and the top entry point.
        assert "pip install -e ." in page.locator("#overview").inner_text()
        assert "scripts/demo.py" in page.locator("#overview").inner_text()
        overview = page.screenshot(path=str(shots / "overview.png"))
        assert pixel_variance(overview) > 50

        nodes = page.locator("svg.tour a.node")
        assert nodes.count() == len(list((out / "steps").glob("t1-*.html")))
        # The diagram's 7th node is `build_model` (tour order); clicking it opens its step.
        node = page.locator('svg.tour a.node[data-step="7"]')
        assert "build_model" in node.text_content()
        node.click()
        page.wait_for_url(re.compile(r"steps/t1-007\.html$"))
        assert page.locator("h1").inner_text() == "Step 7: build_model"
        assert "called by `main`" in page.locator(".reason").inner_text()
        assert page.locator(".hl").count() == 1  # the highlighted source
        assert "def build_model" in page.locator(".hl").inner_text()
        step = page.screenshot(path=str(shots / "step.png"), full_page=True)
        assert pixel_variance(step) > 50

        page.locator("#parent").click()  # up the tree to the step that calls it
        page.wait_for_url(re.compile(r"steps/t1-003\.html$"))
        assert "main" in page.locator("h1").inner_text()
        page.go_back()
        page.wait_for_url(re.compile(r"steps/t1-007\.html$"))
        page.locator("#back").click()
        page.wait_for_url(re.compile(r"index\.html#tour-1$"))

        # The symbol filter runs client-side (its script is allowed by the page's CSP).
        total = page.locator("#symbols li").count()
        page.locator("#filter").fill("forward")
        visible = page.locator("#symbols li:visible")
        assert 0 < visible.count() < total
        assert all("forward" in t.lower() for t in visible.all_inner_texts())
        assert page.locator("#filter-count").inner_text() == f"{visible.count()} of {total} symbols"
        filtered = page.screenshot(path=str(shots / "filter.png"))
        assert pixel_variance(filtered) > 50

        # A callee on a module page links to its place in the site.
        page.goto((out / "modules" / "segmenter.modeling.build.html").as_uri())
        assert page.locator("#c-segmenter\\.modeling\\.build\\._build").count() == 1
    assert refused == [], refused


def test_every_request_outside_the_folder_is_refused_and_seen(tmp_path: Path) -> None:
    """The request log works: a page that tries to leave the folder is caught (so the
    empty log of the test above means something)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text('<img src="http://tracker.example/p.png"><img src="../outside.png">')
    with offline_page(site) as (page, refused):
        page.goto((site / "index.html").as_uri())
        page.wait_for_load_state("networkidle")
    assert "http://tracker.example/p.png" in refused
    assert (tmp_path / "outside.png").as_uri() in refused


def test_hostile_code_is_inert_in_the_browser(tmp_path: Path) -> None:
    repo = hostile_repo(tmp_path)
    (repo / "tinyseg" / "entities.py").write_text(
        'def tom():\n    """Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; &#x3C;script&#x3E;"""\n', encoding="utf-8"
    )
    out = make_report(repo, tmp_path / "site", "--entry", "scripts/demo.py")
    pages = sorted(out.rglob("*.html"))
    with offline_page(out) as (page, refused):
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for html_file in pages:
            page.goto(html_file.as_uri())
            for link in page.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))"):
                assert not link.lower().startswith(("javascript:", "http:", "https:", "data:")), link
        page.goto((out / "modules" / "tinyseg.evil.html").as_uri())
        text = page.locator("main").inner_text()
        assert "<script>alert(1)</script> runs when the report opens." in text
        assert "[click here](javascript:alert(3))" in text
        assert "\\x1b]0;pwned\\x07" in text  # the escape shown, not sent
        assert page.title() == "module tinyseg.evil"
        page.goto((out / "modules" / "tinyseg.entities.html").as_uri())
        assert "Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; &#x3C;script&#x3E;" in page.locator("main").inner_text()
    assert dialogs == []
    assert refused == [], refused
    # Under the escaping, the pages' CSP: an inline script that got in would not run.
    probe = out / "probe.html"
    probe.write_text(html_page("probe", ["<script>alert('inline')</script>", '<p id="p">probe</p>'], 0))
    with offline_page(out) as (page, _refused):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(probe.as_uri())
        assert page.locator("#p").inner_text() == "probe"
    assert dialogs == []
    probe.unlink()
    for html_file in pages:
        raw = html_file.read_text(encoding="utf-8")
        assert "\x1b" not in raw and "\u202e" not in raw
        assert "<script>alert" not in raw and "<img src=x" not in raw


def test_summarize_html_with_hostile_model_text_is_inert_in_the_browser(tmp_path: Path) -> None:
    """summarize writes the same site; a model answer holding <script>, an onerror
    image, a tracker image and a javascript: link runs, loads and links nothing."""
    _, out = write_hostile_report(tmp_path)
    with offline_page(out) as (page, refused):
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for html_file in sorted(out.rglob("*.html")):
            page.goto(html_file.as_uri())
        page.goto((out / "modules" / "tinyseg.model.html").as_uri())
        assert "Masks pixels <script>alert(6)</script> with <img src=x onerror=alert(7)>" in page.locator("main").inner_text()
        assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert dialogs == [] and refused == []


def test_codetour_patterns_are_javascript_regexps_matching_their_line(tmp_path: Path) -> None:
    """CodeTour builds a JavaScript RegExp from `pattern`: each one compiles (with and
    without the u flag) and matches its step's line, on the example and on hostile names."""
    checks = []
    for repo_dir, entry in ((EXAMPLE, None), (hostile_repo(tmp_path), "scripts/demo.py")):
        tour_file = tmp_path / f"{repo_dir.name}.tour"
        args = ["tour", str(repo_dir), "--no-llm", "--codetour", str(tour_file)] + (["--entry", entry] if entry else [])
        assert runner.invoke(app, args).exit_code == 0
        for step in json.loads(tour_file.read_text())["steps"]:
            line = (repo_dir / step["file"]).read_text().split("\n")[step["line"] - 1]
            checks.append([step["pattern"], line])
    with offline_page(tmp_path) as (page, _refused):
        page.goto("about:blank")
        results = page.evaluate(
            "(checks) => checks.map(([p, line]) => new RegExp(p).test(line) && new RegExp(p, 'u').test(line))", checks
        )
    assert results == [True] * len(checks), [c for c, ok in zip(checks, results, strict=True) if not ok]


def test_mermaid_in_the_markdown_report_parses(tmp_path: Path) -> None:
    """Every ```mermaid block summarize writes (examples/segment_demo and the hostile
    repository's names) goes through mermaid.parse in the browser."""
    from localread.render.diagram import mermaid_label, tour_mermaid
    from localread.repo.analysis import analyze
    from localread.repo.tour import build_tour, pick_entry

    diagrams = []
    for repo_dir in (EXAMPLE, hostile_repo(tmp_path)):
        repo = analyze(repo_dir)
        # Every entry point: the hostile repository's include files named `<img ...>.py`, `a|b.py`, ...
        diagrams += [tour_mermaid(repo, build_tour(repo, pick_entry(repo, e.path))) for e in repo.entries]
    assert any("#60;img src#61;x onerror#61;alert#40;4#41;#62;" in d for d in diagrams)
    # ...and those of the summarize report itself, as the golden file holds them.
    golden = (Path(__file__).parent / "golden" / "summarize_segment_demo.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```mermaid\n(.*?)```", golden, re.DOTALL)
    assert len(blocks) == len(re.findall(r"^### \d+\. From ", golden, re.MULTILINE)) == 3  # one per tour
    diagrams += blocks
    for name in ("<img src=x onerror=alert(4)>", "a|b", 'q"uote', "evil`name", "[bold]loud", 'x"] --> y['):
        label = mermaid_label(name)
        assert not set(label) & set('<>"[]|`'), label
        diagrams.append(f'flowchart TD\n    s1["{label}"] -->|"1"| s2["{label}"]')
    script = mermaid_js()
    with offline_page(script.parent) as (page, refused):
        page.goto(script.with_name("mermaid.min.js").parent.as_uri() + "/")
        page.add_script_tag(path=str(script))
        results = page.evaluate(
            """async (sources) => {
                 const out = [];
                 for (const s of sources) {
                   try { out.push(await mermaid.parse(s) ? "ok" : "no"); }
                   catch (e) { out.push("error: " + e.message); }
                 }
                 return out;
               }""",
            diagrams,
        )
        # The check can fail: a broken diagram is reported as an error.
        broken = page.evaluate("async () => { try { await mermaid.parse('flowchart TD\\n a[\"x\"] --> ]'); return 'ok'; }"
                               " catch (e) { return 'error'; } }")
    assert results == ["ok"] * len(diagrams), json.dumps(list(zip(results, diagrams, strict=True)), indent=1)
    assert broken == "error"
    assert refused == []

