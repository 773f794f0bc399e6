"""Paper file -> sections of paragraphs, equations and algorithms.

`read_paper(path)` reads a .pdf (text layer, with pypdf), .md, .txt or .tex file and
splits it into `Section`s at its headings: Markdown `#`/setext headings, LaTeX
`\\section`-family commands, and in plain text and PDFs numbered headings
("3.1 Mask decoder", "II. METHOD") and the usual unnumbered ones ("Abstract",
"References"). Each section keeps its blocks: paragraphs, equations (`$$`, LaTeX
math environments, formula lines of a PDF) and algorithms (LaTeX `algorithm`,
fenced blocks, "Algorithm 1" listings). References and acknowledgements are
dropped. A paper without headings falls back to one section per paragraph.

Every bad input is a LocalreadError with one line that says what to do: missing
file, unknown extension, empty or huge paper, invalid UTF-8, and PDFs that are
encrypted, broken, decompression bombs or have no text layer (scanned); the PDF
limits are in paper.pdf.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from localread.errors import LocalreadError
from localread.paper.pdf import pdf_text

SUFFIXES = {".pdf": "pdf", ".md": "md", ".markdown": "md", ".txt": "txt", ".tex": "tex"}
MAX_PDF_BYTES = 64 << 20  # a long thesis with figures; a scanned book is larger
MAX_TEXT_BYTES = 8 << 20  # text formats: far beyond any paper
MAX_TEXT_CHARS = 2_000_000  # extracted text: about ten theses


class BlockKind(StrEnum):
    PARAGRAPH = "paragraph"
    EQUATION = "equation"
    ALGORITHM = "algorithm"
    CODE = "code"


@dataclass(frozen=True, slots=True)
class Block:
    kind: BlockKind
    text: str


@dataclass(frozen=True, slots=True)
class Section:
    """A heading and what follows it up to the next heading.

    title: as written in the paper (markup removed). level: 1 for top-level headings,
    deeper for subsections, 0 for a paragraph of a paper without headings.
    """

    title: str
    level: int
    blocks: tuple[Block, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)


@dataclass(frozen=True, slots=True)
class Paper:
    """path: as given. headings: False when sections are paragraphs (no headings).
    skipped: "page N: why" for each page of a PDF that could not be read."""

    path: str
    format: str
    title: str | None
    sections: tuple[Section, ...]
    headings: bool = True
    skipped: tuple[str, ...] = ()


def read_paper(path: Path) -> Paper:
    """Read and section a paper. Raises LocalreadError for every input it cannot use."""
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        given = path.suffix or "no extension"
        raise LocalreadError(f"{path}: unknown paper format ({given}); give a .pdf, .md, .txt or .tex file")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise LocalreadError(f"{path}: no such file") from None
    except OSError as exc:
        raise LocalreadError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise LocalreadError(f"{path}: not a file")
    size = st.st_size
    limit = MAX_PDF_BYTES if fmt == "pdf" else MAX_TEXT_BYTES
    if size == 0:
        raise LocalreadError(f"{path}: the paper is empty")
    if size > limit:
        raise LocalreadError(
            f"{path}: {size / (1 << 20):.1f} MiB is more than the {limit >> 20} MiB a paper may be; "
            "pass the paper alone, or only its method sections"
        )
    skipped: tuple[str, ...] = ()
    if fmt == "pdf":
        text, skipped = pdf_text(path, max_chars=MAX_TEXT_CHARS)
    else:
        text = _decode(path)
    if not re.search(r"[A-Za-z]{2,}", text):
        raise LocalreadError(f"{path}: the paper has no text")
    if len(text) > MAX_TEXT_CHARS:
        raise LocalreadError(
            f"{path}: {len(text):,} characters of text is more than {MAX_TEXT_CHARS:,}; "
            "pass the paper alone, or only its method sections"
        )
    title: str | None = None
    if fmt == "tex":
        title, text = latex_to_markdown(text)
    events = _markdown_events(text) if fmt in ("md", "tex") else _plain_events(text, pdf=fmt == "pdf")
    sections, headings = _sections(events)
    if not sections:
        raise LocalreadError(f"{path}: no paragraphs found outside references and acknowledgements")
    if title is None and headings and fmt == "md":
        title = next((t for kind, t, lvl in events if kind == "heading" and lvl == 1), None)
    return Paper(
        path=str(path), format=fmt, title=title, sections=tuple(sections), headings=headings, skipped=skipped
    )


# --- reading files ---------------------------------------------------------------------


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LocalreadError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LocalreadError(
            f"{path}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 and try again"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- events: ("heading", title, level) and ("block", Block, 0) -----------------------

Event = tuple[str, object, int]

_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^(```+|~~~+)\s*([\w-]*)")
_MATH_ENVS = "equation|align|alignat|gather|multline|eqnarray|displaymath|math|flalign"
_BEGIN_MATH = re.compile(rf"^\\begin\{{({_MATH_ENVS})\*?\}}")


def _markdown_events(text: str) -> list[Event]:
    """Markdown (and LaTeX converted to Markdown) -> headings and blocks in order."""
    lines = text.split("\n")
    events: list[Event] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            body = _clean_markdown(" ".join(para))
            if body.strip():
                events.append(("block", Block(BlockKind.PARAGRAPH, body), 0))
            para.clear()

    i = 0
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((j for j in range(1, len(lines)) if lines[j].strip() in ("---", "...")), 0)
        i = end + 1
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if fence := _FENCE.match(stripped):
            flush()
            marker = fence.group(1)
            body, i = _until(lines, i + 1, starts=(marker,))
            info = fence.group(2).lower()
            is_algo = info in ("algorithm", "pseudocode") or body.lstrip().lower().startswith("algorithm")
            kind = BlockKind.ALGORITHM if is_algo else BlockKind.CODE
            if body.strip():
                events.append(("block", Block(kind, body), 0))
            continue
        if stripped.startswith(("$$", "\\[")) or _BEGIN_MATH.match(stripped):
            flush()
            one_line = stripped.endswith("$$") if stripped.startswith("$$") else stripped.endswith("\\]")
            if one_line and len(stripped) > 4 and not _BEGIN_MATH.match(stripped):
                body, i = stripped[2:-2], i + 1
            else:
                closer = "$$" if stripped.startswith("$$") else "\\]" if stripped.startswith("\\[") else "\\end{"
                first = stripped[2:] if closer != "\\end{" else stripped
                rest, i = _until(lines, i + 1, starts=(closer,), ends=(closer,))
                body = re.sub(r"\\(begin|end)\{[^}]*\}", "", first + "\n" + rest).strip()
            if body.strip():
                events.append(("block", Block(BlockKind.EQUATION, body.strip()), 0))
            continue
        if stripped.startswith("<!--"):
            flush()
            _, i = _until(lines, i, ends=("-->",), inclusive=True)
            continue
        if atx := _ATX.match(stripped):
            flush()
            events.append(("heading", _clean_markdown(atx.group(2)), len(atx.group(1))))
            i += 1
            continue
        if (
            len(para) == 1
            and stripped
            and set(stripped) <= {"=", "-"}
            and len(set(stripped)) == 1
            and len(stripped) >= 3
        ):
            title = para.pop()
            flush()
            events.append(("heading", _clean_markdown(title), 1 if stripped[0] == "=" else 2))
            i += 1
            continue
        if not stripped:
            flush()
        else:
            para.append(stripped.lstrip("> ").strip() or stripped)
        i += 1
    flush()
    return events


def _until(
    lines: list[str],
    start: int,
    *,
    starts: tuple[str, ...] = (),
    ends: tuple[str, ...] = (),
    inclusive: bool = False,
) -> tuple[str, int]:
    """Lines from start up to the closing one, which starts with one of `starts` or
    ends with one of `ends` once stripped (excluded unless inclusive), and the index
    after it. Unclosed: to the end."""
    body: list[str] = []
    j = start
    while j < len(lines):
        s = lines[j].strip()
        if (starts and s.startswith(starts)) or (ends and s.endswith(ends)):
            if inclusive:
                body.append(lines[j])
            elif s not in ("$$", "\\]") and not s.startswith(("```", "~~~", "\\end{")):
                body.append(s.rstrip("$").removesuffix("\\]"))
            return "\n".join(body), j + 1
        body.append(lines[j])
        j += 1
    return "\n".join(body), j


def _clean_markdown(text: str) -> str:
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<https?://[^>]*>|https?://\S+", "", text)
    text = re.sub(r"<[^>\n]+>", "", text)
    text = re.sub(r"(\*\*|__|\*)(?=\S)(.+?)(?<=\S)\1", r"\2", text)
    return " ".join(text.split())


# Plain text and PDF text layers.
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(\S.*)$")
_ROMAN = re.compile(r"^([IVX]{1,5})\.\s+(\S.*)$")
_LETTERED = re.compile(r"^([A-H](?:\.\d{1,2}){0,3})\.?\s+(\S.*)$")
_NAMED = re.compile(
    r"^(abstract|introduction|related work|background|preliminaries|methods?|methodology|"
    r"approach|experiments|experimental setup|results|evaluation|discussion|conclusions?|"
    r"limitations|references|bibliography|acknowledge?ments?|appendix(?:\s+[a-h])?"
    r"(?:[:.]?\s+\S.*)?)$",
    re.IGNORECASE,
)
_ROMANS = {r: n for n, r in enumerate(("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"), 1)}
_ALGORITHM_START = re.compile(r"^Algorithm\s+\d+\b")
_ALGORITHM_STEP = re.compile(
    r"^(\d{1,3}[:.)]|require|ensure|input|output|for\b|while\b|if\b|else|end|return|repeat|until)",
    re.IGNORECASE,
)
_MATH_CHARS = set("=+-*/^_∑∏√∇∂σθλαβγμτεϵηωφψπ(){}[]|‖≤≥≈∈·×−⊙⊗")


def _plain_title(title: str) -> bool:
    """A heading's title: short, mostly letters, no sentence punctuation at its end."""
    words = title.split()
    if not 1 <= len(words) <= 12 or title[0].islower() or title.endswith((".", ",", ";", ":")):
        return False
    letters = sum(c.isalpha() for c in title)
    return letters >= 3 and letters >= 0.6 * len(title.replace(" ", ""))


class _HeadingState:
    """Numbered headings must follow each other (2.1 after 2 or 1.x, 3 after 2.x):
    that is what tells "3 Method" from a wrapped line "3 layers of the network"."""

    def __init__(self) -> None:
        self.number: tuple[int, ...] | None = None
        self.roman = 0
        self.back_matter = False

    def follows(self, n: tuple[int, ...]) -> bool:
        last = self.number
        if last is None:
            return len(n) == 1 and n[0] <= 2 or n == (1, 1)
        options = {last + (1,)}
        for i in range(len(last)):
            nxt = last[:i] + (last[i] + 1,)
            options.update({nxt, nxt + (1,)})
        return n in options

    def heading(self, line: str) -> tuple[str, int] | None:
        if len(line) > 90:
            return None
        if m := _NAMED.match(line):
            if line.split()[0].lower() in ("references", "bibliography", "appendix"):
                self.back_matter = True
            return line, 1
        if (m := _NUMBERED.match(line)) and _plain_title(m.group(2)):
            n = tuple(int(p) for p in m.group(1).split("."))
            if self.follows(n):
                self.number = n
                return line, len(n)
            return None
        if (m := _ROMAN.match(line)) and _plain_title(m.group(2)) and m.group(1) in _ROMANS:
            if _ROMANS[m.group(1)] == self.roman + 1:
                self.roman += 1
                return line, 1
            return None
        if self.back_matter and (m := _LETTERED.match(line)) and _plain_title(m.group(2)):
            return line, m.group(1).count(".") + 1
        return None


def _is_equation_line(line: str) -> bool:
    if re.search(r"\(\d{1,3}\)$", line) and ("=" in line or any(c in line for c in "∑∏∇∂‖")):
        return True
    if "=" not in line and not any(c in line for c in "∑∏∇∂‖"):
        return False
    compact = line.replace(" ", "")
    words = re.findall(r"[A-Za-z]{4,}", line)
    symbols = sum(c in _MATH_CHARS for c in compact)
    return len(words) <= 4 and symbols >= 0.15 * len(compact)


def _plain_events(text: str, *, pdf: bool) -> list[Event]:
    """Plain text or a PDF's text layer -> headings and blocks in order.

    Paragraphs end at blank lines; in PDF text, which has none, also at a line that
    ends a sentence well short of the usual line width.
    """
    lines = [ln.strip() for ln in text.split("\n")]
    lengths = sorted(len(ln) for ln in lines if len(ln) > 20)
    width = lengths[int(0.8 * (len(lengths) - 1))] if lengths else 80
    state = _HeadingState()
    events: list[Event] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            events.append(("block", Block(BlockKind.PARAGRAPH, _join_lines(para)), 0))
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if not line or (pdf and line.isdigit()):  # blank, or a page number
            if not pdf or not line:
                flush()
            i += 1
            continue
        if atx := _ATX.match(line):
            flush()
            events.append(("heading", atx.group(2), len(atx.group(1))))
            i += 1
            continue
        if (heading := state.heading(line)) is not None:
            flush()
            events.append(("heading", heading[0], heading[1]))
            i += 1
            continue
        if _ALGORITHM_START.match(line):
            flush()
            body = [line]
            i += 1
            while i < len(lines) and lines[i]:
                if pdf and not _ALGORITHM_STEP.match(lines[i]) and len(body) > 2:
                    break
                body.append(lines[i])
                i += 1
            events.append(("block", Block(BlockKind.ALGORITHM, "\n".join(body)), 0))
            continue
        if _is_equation_line(line):
            flush()
            body = [line]
            i += 1
            while i < len(lines) and lines[i] and _is_equation_line(lines[i]):
                body.append(lines[i])
                i += 1
            events.append(("block", Block(BlockKind.EQUATION, "\n".join(body)), 0))
            continue
        para.append(line)
        if pdf and line.endswith((".", "!", "?")) and len(line) < 0.85 * width:
            flush()
        i += 1
    flush()
    return events


def _join_lines(lines: list[str]) -> str:
    out = ""
    for line in lines:
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and line[:1].islower():
            out = out[:-1] + line  # de-hyphenate "decod-\ning"
        else:
            out = f"{out} {line}" if out else line
    return out


# --- events -> sections ------------------------------------------------------------------

_DROPPED = re.compile(r"^(\d+(\.\d+)*\.?\s+|[IVX]+\.\s+)?(references|bibliography|acknowledge?ments?)\b", re.IGNORECASE)


def _sections(events: list[Event]) -> tuple[list[Section], bool]:
    headings = [e for e in events if e[0] == "heading"]
    if not headings:
        return _paragraph_sections(events), False
    sections: list[Section] = []
    title: str | None = None
    level = 1
    blocks: list[Block] = []

    def close() -> None:
        if blocks and not (title is not None and _DROPPED.match(title)):
            name = title if title is not None else _opening(blocks[0].text)
            sections.append(Section(title=name, level=level, blocks=tuple(blocks)))

    for kind, value, lvl in events:
        if kind == "heading":
            close()
            title, level, blocks = str(value), lvl, []
        else:
            assert isinstance(value, Block)
            blocks.append(value)
    close()
    return sections, True


def _paragraph_sections(events: list[Event]) -> list[Section]:
    """No headings: each paragraph is a section, with the equations and algorithms that
    follow it; the title is the paragraph's opening words."""
    sections: list[Section] = []
    for _, value, _ in events:
        assert isinstance(value, Block)
        if value.kind is BlockKind.PARAGRAPH or not sections:
            sections.append(Section(title=_opening(value.text), level=0, blocks=(value,)))
        else:
            last = sections[-1]
            sections[-1] = Section(last.title, last.level, last.blocks + (value,))
    return sections


def _opening(text: str, words: int = 8) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


# --- LaTeX -------------------------------------------------------------------------------

_HEADING_LEVELS = {"chapter": 1, "section": 1, "subsection": 2, "subsubsection": 3, "paragraph": 4}


def latex_to_markdown(src: str) -> tuple[str | None, str]:
    """LaTeX source -> (title, Markdown with the same headings, `$$` equations and
    fenced algorithms). Only the document body is kept; figures and tables keep their
    captions; citations, labels and references are dropped."""
    src = re.sub(r"(?<!\\)%[^\n]*", "", src)
    title = None
    if (m := re.search(r"\\title\s*(?:\[[^\]]*\])?\s*\{", src)) is not None:
        title = _clean_latex(_braced(src, m.end() - 1)[0]) or None
    if (m := re.search(r"\\begin\{document\}", src)) is not None:
        src = src[m.end() :]
    src = src.split("\\end{document}")[0]

    def env(names: str, repl) -> None:
        nonlocal src
        pattern = re.compile(rf"\\begin\{{({names})(\*?)\}}(.*?)\\end\{{\1\2\}}", re.DOTALL)
        src = pattern.sub(lambda m: repl(m.group(3)), src)

    env("verbatim|lstlisting|minted", lambda body: f"\n```\n{body.strip()}\n```\n")
    env("algorithm2e|algorithm", lambda body: f"\n```algorithm\n{_clean_algorithm(body)}\n```\n")
    env("algorithmic", lambda body: f"\n```algorithm\n{_clean_algorithm(body)}\n```\n")
    env(_MATH_ENVS, lambda body: "\n$$\n" + _strip_labels(body).strip() + "\n$$\n")
    src = re.sub(r"\\\[(.*?)\\\]", lambda m: "\n$$\n" + m.group(1).strip() + "\n$$\n", src, flags=re.DOTALL)
    env("figure|table|wrapfigure", lambda body: "\n\n" + " ".join(_captions(body)) + "\n\n")
    env("abstract", lambda body: f"\n# Abstract\n\n{body.strip()}\n")
    src = re.sub(r"\\(maketitle|tableofcontents|appendix|newpage|clearpage)\b", "\n", src)
    src = re.sub(r"\\bibliography(style)?\{[^}]*\}", "\n", src)

    out: list[str] = []
    pos = 0
    heading = re.compile(r"\\(chapter|section|subsection|subsubsection|paragraph)\*?\s*(?:\[[^\]]*\])?\s*\{")
    for m in heading.finditer(src):
        if m.start() < pos:
            continue
        out.append(_clean_latex_blocks(src[pos : m.start()]))
        name, end = _braced(src, m.end() - 1)
        out.append(f"\n\n{'#' * _HEADING_LEVELS[m.group(1)]} {_clean_latex(name).rstrip('.')}\n\n")
        pos = end
    out.append(_clean_latex_blocks(src[pos:]))
    return title, "".join(out)


def _braced(text: str, start: int) -> tuple[str, int]:
    """The content of the brace group opening at text[start] and the index after it."""
    depth = 0
    for j in range(start, len(text)):
        c = text[j]
        if c == "\\":
            continue
        if c == "{" and (j == 0 or text[j - 1] != "\\"):
            depth += 1
        elif c == "}" and text[j - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : j], j + 1
    return text[start + 1 :], len(text)


def _captions(body: str) -> list[str]:
    found = []
    for m in re.finditer(r"\\caption\s*(?:\[[^\]]*\])?\s*\{", body):
        found.append(_clean_latex(_braced(body, m.end() - 1)[0]))
    return found


def _strip_labels(text: str) -> str:
    return re.sub(r"\\(label|tag|nonumber|notag)\b(\{[^}]*\})?", "", text)


def _clean_algorithm(body: str) -> str:
    body = re.sub(r"\\caption\s*\{([^}]*)\}", r"Algorithm: \1", body)
    body = _strip_labels(body)
    body = re.sub(r"\\begin\{algorithmic\}(\[[^\]]*\])?|\\end\{algorithmic\}", "", body)
    body = re.sub(r"\\(State|Statex|STATE)\b", "", body)
    body = re.sub(r"\\End[A-Za-z]*|\\END[A-Z]*", "end", body)
    body = re.sub(
        r"\\(For|ForAll|While|If|ElsIf|Else|Return|Require|Ensure|Function|Procedure|Repeat|Until|"
        r"FOR|WHILE|IF|ELSE|RETURN|REQUIRE|ENSURE)\b",
        lambda m: m.group(1).lower(),
        body,
    )
    body = re.sub(r"\\Comment\s*\{([^}]*)\}", r"# \1", body)
    lines = [" ".join(ln.replace("{", " ").replace("}", " ").split()) for ln in body.split("\n")]
    return "\n".join(ln for ln in lines if ln)


def _clean_latex_blocks(text: str) -> str:
    """Clean prose outside the `$$`/fenced blocks latex_to_markdown has made."""
    parts = re.split(r"(\n\$\$\n.*?\n\$\$\n|\n```.*?\n```\n)", text, flags=re.DOTALL)
    return "".join(p if i % 2 else _clean_latex(p, keep_lines=True) for i, p in enumerate(parts))


def _clean_latex(text: str, *, keep_lines: bool = False) -> str:
    """Inline LaTeX -> plain text: citations and labels go, formatting commands keep
    their argument, inline math `$...$` stays for the notation mapper."""
    text = re.sub(r"\\(cite[tp]?|citep|citet|ref|eqref|autoref|cref|Cref|label|url|href|footnotemark)\*?(\[[^\]]*\])*\{[^}]*\}", "", text)
    text = text.replace("\\\\", "\n" if keep_lines else " ").replace("~", " ")
    text = re.sub(r"\\([%&#_$])", r"\1", text)
    text = re.sub(r"\\(item)\b", "\n", text)
    text = re.sub(r"\\begin\{[^}]*\}|\\end\{[^}]*\}", "\n", text)

    # Commands outside inline math lose their name; their braces go below.
    pieces = re.split(r"(\$[^$]+\$)", text)
    cleaned = []
    for i, piece in enumerate(pieces):
        if i % 2:
            cleaned.append(piece)
            continue
        piece = re.sub(r"\\[A-Za-z]+\*?(\[[^\]]*\])?", "", piece)
        cleaned.append(piece.replace("{", "").replace("}", ""))
    text = "".join(cleaned)
    if keep_lines:
        return "\n".join(" ".join(line.split()) for line in text.split("\n"))
    return " ".join(text.split())
