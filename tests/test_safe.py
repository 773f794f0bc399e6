"""render/safe.py: the one sanitizer. Checked against the renderers themselves: what
markdown-it-py (CommonMark, raw HTML on, GFM tables) makes of `md_text`, `md_code`
and `md_block` is exactly the characters given, and what rich prints of `term` holds
no control character but its own styles."""

from __future__ import annotations

import html
import io
import re
import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from rich.console import Console

from localread.render import safe

MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
# Text as hostile code writes it: controls, bidi marks, Markdown and HTML punctuation.
ALPHABET = st.sampled_from(
    list("ab_ *`[]()<>!&#|~\\-+=.:/'\"1\t\n\r") + ["\x1b", "\x00", "\x07", "\x9b", "\u202e", "\u2066", "\u200b", "\ufeff", "é", "\u00a0", "\u2028"]
)
TEXT = st.text(ALPHABET, max_size=40)
CHECKS = settings(max_examples=400, deadline=None)


def test_control_class_matches_unicodedata() -> None:
    wanted = {
        c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp")
    } - {0x09, 0x0A}
    found = {c for c in range(sys.maxunicode + 1) if safe.has_hidden(chr(c))}
    assert wanted <= found
    # Unicode 15 added U+13439..U+1343F (Egyptian hieroglyph format controls); this
    # Python's unicodedata may be older.
    assert found - wanted <= set(range(0x13439, 0x13440))


def test_plain_shows_the_attacks_of_issue_12() -> None:
    assert safe.plain("a\x1b[2Jb\x1b]0;title\x07c\x1b[31md\u202ee") == r"a\x1b[2Jb\x1b]0;title\x07c\x1b[31md\u202ee"
    assert safe.plain("tab\tand\nnewline") == "tab\tand\nnewline"
    assert safe.plain("\U000e0041") == r"\U000e0041"


@CHECKS
@given(TEXT)
def test_plain_leaves_no_hidden_character(text: str) -> None:
    shown = safe.plain(text)
    assert not safe.has_hidden(shown)
    if not safe.has_hidden(text):
        assert shown == text


def inline_html(markdown: str) -> str:
    rendered = MD.render(markdown)
    assert rendered.startswith("<p>") and rendered.endswith("</p>\n"), rendered
    return rendered[3:-5]


@CHECKS
@given(TEXT.filter(lambda t: "`" not in t))
def test_md_text_renders_as_exactly_its_characters(text: str) -> None:
    expected = safe.one_line(text)
    if not expected:
        return
    for markdown, shown in ((f"x {safe.md_text(text)}", f"x {expected}"), (safe.md_text(text, line_start=True), expected)):
        body = inline_html(markdown)
        assert "<" not in body, (text, body)  # no tag at all: no HTML, link, image, emphasis
        assert html.unescape(body) == shown


@CHECKS
@given(TEXT)
def test_md_text_with_backticks_makes_nothing_but_code(text: str) -> None:
    body = MD.render(f"x {safe.md_text(text)}")
    tags = set(re.findall(r"</?([a-z0-9]+)", body))
    assert tags <= {"p", "code"}, (text, body)


@CHECKS
@given(TEXT)
def test_md_code_shows_exactly_its_characters(text: str) -> None:
    body = inline_html(f"x {safe.md_code(text)}")
    match = re.fullmatch(r"x <code>(.*)</code>", body, re.DOTALL)
    assert match, (text, body)
    assert html.unescape(match.group(1)) == (safe.one_line(text) or " ")


@CHECKS
@given(TEXT)
def test_md_code_in_a_table_cell_keeps_the_table(text: str) -> None:
    table = f"| name | n |\n| --- | --- |\n| {safe.md_code(text, table=True)} | 1 |\n"
    rendered = MD.render(table)
    cells = re.findall(r"<td>(.*?)</td>", rendered, re.DOTALL)
    assert len(cells) == 2 and cells[1] == "1", (text, rendered)
    code = re.fullmatch(r"<code>(.*)</code>", cells[0], re.DOTALL)
    assert code, (text, rendered)
    assert html.unescape(code.group(1)) == (safe.one_line(text) or " ")


@CHECKS
@given(st.text(ALPHABET, max_size=80))
def test_md_block_cannot_be_closed_from_inside(text: str) -> None:
    rendered = MD.render(safe.md_block(text, "py thon<>") + "\n\nafter\n")
    match = re.fullmatch(r'<pre><code class="language-python">(.*)</code></pre>\n<p>after</p>\n', rendered, re.DOTALL)
    assert match, (text, rendered)
    body = safe.plain(text).rstrip("\n")
    assert html.unescape(match.group(1)) == body + "\n"


@CHECKS
@given(TEXT)
def test_term_prints_no_control_character_but_rich_styles(text: str) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=200, soft_wrap=True)
    console.print(f"[bold]{safe.term(text)}[/bold]")
    printed = re.sub(r"\x1b\[[0-9;]*m", "", buffer.getvalue())
    assert "\x1b" not in printed and not safe.has_hidden(printed), (text, printed)


def test_term_keeps_rich_markup_as_text() -> None:
    buffer = io.StringIO()
    text = "[bold]x[/bold] \\[y] [link=http://a]z"
    Console(file=buffer, width=200).print(f"[dim]{safe.term(text)}[/dim]")
    assert buffer.getvalue() == text + "\n"


def test_html_text_escapes_markup_and_quotes() -> None:
    assert safe.html_text('<a href="x">\x1b') == "&lt;a href=&quot;x&quot;&gt;\\x1b"
