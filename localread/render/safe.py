"""Untrusted text made inert wherever localread shows it: terminal, Markdown, HTML.

Everything localread shows comes from code, papers and model answers that someone
else wrote: names, docstrings, default values, file names, section titles. Any of them
may carry terminal escape sequences (`\\x1b[2J` clears the screen, `\\x1b]0;...` sets
the window title), bidi overrides that make text read differently from what it is
(U+202E), or markup (`<script>`, `![](http://tracker/p.png)`, `[x](javascript:...)`).
Every renderer passes such text through this module, and through nothing else:

- `plain(text)`: control and invisible format characters (C0 but tab and newline,
  DEL, C1, the Unicode `Cf` format characters such as bidi overrides and zero-width
  marks, line and paragraph separators) are shown as visible escapes (`\\x1b`,
  `\\u202e`), never emitted. The base of every other function here.
- `term(text)`: `plain` and then rich's own `escape`, for text inside rich markup.
- `text(value, style)`: a rich `Text` of `plain(value)`, never parsed as markup.
- `md_text(text)`: one line of Markdown prose whose every character shows as itself:
  CommonMark backslash escapes for what could open HTML, a link, an image, an
  autolink, an entity, emphasis, a table cell or (at a line's start) a block; closed
  `code spans` are kept, as their content is never interpreted.
- `md_code(text)`, `md_block(text, info)`: a code span, a fenced code block, with a
  fence that nothing inside can close.
- `html_text(text)`: `plain` and then `html.escape` (quotes included).
"""

from __future__ import annotations

import html
import re

from rich.markup import escape as _rich_escape
from rich.text import Text

# Cc (but tab and newline), Cf, Zl and Zp, as of Unicode 15 (the test
# `test_control_class_matches_unicodedata` checks this list against unicodedata).
_HIDDEN = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
_HIDDEN_RE = re.compile(f"[{_HIDDEN}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def plain(value: object) -> str:
    """str(value) with every control or invisible format character written as a
    visible escape; tab and newline are kept."""
    return _HIDDEN_RE.sub(_visible, str(value))


def one_line(value: object) -> str:
    """`plain`, with newlines and tabs as spaces and runs of spaces collapsed."""
    return " ".join(plain(value).split())


def term(value: object) -> str:
    """Text to embed in rich markup: `plain`, then rich's markup escape."""
    return _rich_escape(plain(value))


def text(value: object, style: str = "") -> Text:
    """A rich Text of `plain(value)` (rich never parses it as markup)."""
    return Text(plain(value), style=style)


# --------------------------------------------------------------------------- Markdown

# Characters that can start markup anywhere in a CommonMark/GFM line: raw HTML and
# autolinks (<), entities (&), links and images ([ ] !), emphasis (*), code spans (`),
# table cells (|), strikethrough (~), the escape character itself (\).
_MD_ALWAYS = re.compile(r"[\\`*\[\]<>&|~!]")
# `_` makes emphasis only at a word's edge; inside snake_case names it is literal, and
# leaving it unescaped there keeps the Markdown source readable.
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# What starts a block at the beginning of a line: heading, list, quote, setext rule.
_MD_LINE_START = re.compile(r"^([#+=-])|^(\d+)([.)])")


# A closed single-backtick code span: its content is never interpreted by a Markdown
# renderer, so the code names a model or a docstring writes as `name` stay code.
# (Not with `|` inside: a GFM table would split the cell there even within code.)
_MD_SPAN = re.compile(r"(`[^`|\s](?:[^`|]*[^`|\s])?`)")


def md_text(value: object, *, line_start: bool = False) -> str:
    """One line of Markdown prose that renders as exactly its characters (controls
    shown as escapes, whitespace collapsed), except that closed `code spans` stay code
    spans. Safe anywhere inline, table cells too. line_start: the text begins a line
    of the document, where `#`, `-`, `+`, `=` or `1.` would start a block."""
    pieces = _MD_SPAN.split(one_line(value))
    for i in range(0, len(pieces), 2):  # even pieces: prose around the code spans
        prose = _MD_ALWAYS.sub(lambda m: "\\" + m.group(), pieces[i])
        pieces[i] = _MD_UNDERSCORE.sub(r"\\_", prose)
    line = "".join(pieces)
    if not line_start:
        return line
    return _MD_LINE_START.sub(
        lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), line
    )


def md_code(value: object, *, table: bool = False) -> str:
    """An inline code span showing `value` on one line. The fence is one backtick
    longer than the longest run inside, padded when the text touches a backtick or a
    space (CommonMark strips one space each side). table: the span sits in a GFM
    table cell, where `|` must be escaped even inside code."""
    body = one_line(value)
    if not body:
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    if body.startswith(("`", " ")) or body.endswith(("`", " ")):
        body = f" {body} "
    if table:
        body = body.replace("|", "\\|")
    return f"{fence}{body}{fence}"


def md_block(value: object, info: str = "") -> str:
    """A fenced code block holding `value` (several lines), with a fence longer than
    any backtick run inside, so no line of it can close the block."""
    body = plain(value).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    info = re.sub(r"[^A-Za-z0-9_+-]", "", info)
    return f"{fence}{info}\n{body}\n{fence}"


# --------------------------------------------------------------------------- HTML


def html_text(value: object) -> str:
    """Text for an HTML element or attribute value: `plain`, then html.escape."""
    return html.escape(plain(value), quote=True)


def has_hidden(value: str) -> bool:
    """Whether value holds a character `plain` would rewrite (tab and newline apart)."""
    return _HIDDEN_RE.search(value) is not None


__all__ = [
    "has_hidden",
    "html_text",
    "md_block",
    "md_code",
    "md_text",
    "one_line",
    "plain",
    "term",
    "text",
]


def file_names(ids: list[str], folder: str, suffix: str) -> dict[str, str]:
    """id -> `<folder>/<name><suffix>`, in the order given: the id with every
    character a file name may not safely hold replaced by `_`, and numbered where two
    would meet on a case-insensitive disk."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for uid in ids:
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", uid) or "module"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.lower())
        names[uid] = f"{folder}/{name}{suffix}"
    return names
