"""Generated hostile inputs and the stages they are fed to, shared by the `fuzz` tests
(tests/test_fuzz.py, a few hundred inputs in `make test`) and benchmarks/fuzz.py
(10^5 inputs, figures printed).

Every input is decoded from one hypothesis byte string (`Choices`, as atheris's
FuzzedDataProvider does): one draw is cheap, and hypothesis still mutates and
shrinks it. The decoders build Python-like source from research-code fragments
with deep nesting, long chains, odd names, control characters and random bytes;
pyproject.toml / setup.cfg / setup.py with wrong types, deep nesting and junk;
notebooks whose cells hold anything JSON can; PDFs made with fpdf2 or by hand
(random filters and streams, bombs), then cut and mutated; and text papers.

Each target returns normally or raises `Refused` (the stage's documented one-line
refusal, LocalreadError); anything else is a crash. The invariants checked besides
"no exception": a chunk's lines lie inside its file, and nothing rendered for the
terminal carries a control character of the input.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from hypothesis import strategies as st

from localread.errors import LocalreadError

T = TypeVar("T")


class Choices:
    """Decisions read from a byte string; past its end every decision is 0 (the
    smallest, which is what hypothesis shrinks towards)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            return 0
        self.at += 1
        return self.data[self.at - 1]

    def int(self, low: int, high: int) -> int:
        """A whole number in [low, high]."""
        span = high - low + 1
        value = self.byte() if span <= 256 else (self.byte() << 8) | self.byte()
        return low + value % span

    def pick(self, options: Sequence[T]) -> T:
        return options[self.int(0, len(options) - 1)]

    def chance(self, one_in: int) -> bool:
        return self.int(0, one_in - 1) == 0

    def raw(self, most: int) -> bytes:
        n = self.int(0, most)
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def text(self, most: int) -> str:
        return self.raw(most).decode("utf-8", errors="replace")


def decoded(build: Callable[[Choices], T], size: int = 600) -> st.SearchStrategy[T]:
    """The strategy of build(Choices(bytes)) over byte strings of up to size bytes."""
    return st.binary(max_size=size).map(lambda data: build(Choices(data)))


# --------------------------------------------------------------------------- source

NAMES = ["model", "encoder", "Decoder", "forward", "self", "x", "_helper", "build", "cfg", "__init__",
         "nn", "torch", "Block", "layers", "main", "run", "mask", "é_name", "Σ", "a" * 40, "print"]
CONTROL = ["\x1b[2J", "\x1b]0;t\x07", "\x1b[31m", "\u202e", "\x00", "\r", "\u2028", "\ufeff"]


def dotted(c: Choices) -> str:
    return ".".join(c.pick(NAMES) for _ in range(c.int(1, 4)))


def literal_text(c: Choices) -> str:
    return c.pick(CONTROL) if c.chance(3) else c.text(12)


def expression(c: Choices, depth: int = 0, big: bool = False) -> str:
    """A Python-ish expression: names, calls, attributes, literals; with big, also
    brackets nested up to 1,200 levels and chains of up to 3,000 terms."""
    kind = c.int(0, 9 if depth < 3 else 4)
    if kind == 0:
        return dotted(c)
    if kind == 1:
        return repr(literal_text(c))
    if kind == 2:
        return str(c.int(-40000, 40000))
    if kind == 3:
        n = c.pick([2, 50, 250, 1200] if big else [2, 5, 30])
        opener, closer = c.pick([("(", ")"), ("[", "]"), ("{", "}")])
        return opener * n + dotted(c) + closer * c.pick([n, n - 1, 0])
    if kind == 4:
        terms = c.pick([2, 40, 3000] if big else [2, 5, 20])
        return c.pick(["+", " and ", ".", "*"]).join([dotted(c)] * terms)
    if kind == 5:
        args = [expression(c, depth + 1, big) for _ in range(c.int(0, 3))]
        return f"{dotted(c)}({', '.join(args)})"
    if kind == 6:
        return f"[{expression(c, depth + 1, big)} for {c.pick(NAMES)} in {expression(c, depth + 1, big)}]"
    if kind == 7:
        return f"lambda {c.pick(NAMES)}: {expression(c, depth + 1, big)}"
    if kind == 8:
        return f"{dotted(c)}[{expression(c, depth + 1, big)}]"
    return f"{{{expression(c, depth + 1, big)!r}: {dotted(c)}}}"


def source_lines(c: Choices, big: bool = False) -> list[str]:
    lines: list[str] = []
    indent = 0
    for _ in range(c.int(1, 25)):
        pad = "    " * indent
        kind = c.int(0, 11)
        if kind == 0:
            lines.append(f"{pad}import {dotted(c)}" + (f" as {c.pick(NAMES)}" if c.chance(2) else ""))
        elif kind == 1:
            lines.append(f"{pad}from {'.' * c.int(0, 3)}{dotted(c)} import {c.pick(NAMES)}")
        elif kind == 2:
            bases = ", ".join(expression(c) for _ in range(c.int(0, 2)))
            lines.append(f"{pad}class {c.pick(NAMES)}({bases}):")
            indent += 1
        elif kind == 3:
            params = ", ".join(f"{c.pick(NAMES)}={expression(c, big=big)}" for _ in range(c.int(0, 3)))
            ann = f" -> {expression(c, big=big)}" if c.chance(2) else ""
            lines.append(f"{pad}{'async ' if c.chance(4) else ''}def {c.pick(NAMES)}(self, {params}){ann}:")
            lines.append(f"{pad}    {literal_text(c)!r}")
            indent += 1
        elif kind == 4:
            lines.append(f"{pad}{dotted(c)} = {expression(c, big=big)}")
        elif kind == 5:
            lines.append(f"{pad}return {expression(c, big=big)}")
        elif kind == 6:
            lines.append(f"{pad}{expression(c, big=big)}")
        elif kind == 7:
            lines.append(f"{pad}for {c.pick(NAMES)} in {expression(c, big=big)}:")
            indent += 1
        elif kind == 8:
            lines.append(f"{pad}@{dotted(c)}")
        elif kind == 9:
            lines.append('if __name__ == "__main__":')
            indent = 1
        elif kind == 10:
            indent = max(0, indent - c.int(1, 3))
        else:
            lines.append(pad + c.text(20))
    return lines


def mutate(c: Choices, data: bytes) -> bytes:
    """data with a few bytes flipped, inserted or cut away, or as it is."""
    out = bytearray(data)
    for _ in range(c.int(0, 3)):
        if not out:
            break
        at = c.int(0, len(out) - 1)
        action = c.int(0, 3)
        if action == 0:
            out[at] = c.byte()
        elif action == 1:
            out[at:at] = c.raw(8) or b"\x00"
        elif action == 2:
            del out[at : at + c.int(1, 16)]
        else:
            del out[at:]
    return bytes(out)


def python_source(c: Choices) -> bytes:
    """Bytes of a .py file: mostly Python-like, sometimes mutated or plain junk."""
    if c.chance(10):
        return c.raw(400)
    big = c.chance(20)  # one source in twenty is huge or deeply nested
    data = "\n".join(source_lines(c, big)).encode("utf-8", errors="surrogatepass")
    return mutate(c, data)


# --------------------------------------------------------------------------- packaging


def jsonish(c: Choices, depth: int = 0) -> object:
    """A JSON value of any shape: what a hostile file puts where a table or a string
    belongs."""
    kind = c.int(0, 7 if depth < 3 else 4)
    if kind == 0:
        return None
    if kind == 1:
        return c.chance(2)
    if kind == 2:
        return c.int(-5, 5)
    if kind in (3, 4):
        return literal_text(c)
    if kind == 5 or kind == 6:
        return [jsonish(c, depth + 1) for _ in range(c.int(0, 3))]
    return {c.text(8): jsonish(c, depth + 1) for _ in range(c.int(0, 3))}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '""'
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def pyproject(c: Choices) -> bytes:
    tables = ["project", "project.scripts", "project.gui-scripts", "tool.poetry", "tool.poetry.scripts", "build-system", "tool"]
    lines = []
    for _ in range(c.int(0, 4)):
        key = c.pick(["name", "scripts", "project", "tool", "poetry", "version", "requires", "x"])
        if c.chance(2):
            lines.append(f"[{c.pick(tables)}]")
        lines.append(f"{json.dumps(key)} = {_toml_value(jsonish(c))}")
    if c.chance(5):
        n = c.pick([10, 500, 5000])
        lines.append("deep = " + "[" * n + "]" * n)
    return mutate(c, "\n".join(lines).encode())


def setup_cfg(c: Choices) -> bytes:
    lines = []
    for _ in range(c.int(0, 5)):
        lines.append(f"[{c.pick(['metadata', 'options', 'options.entry_points', 'x'])}]")
        key = c.pick(["name", "console_scripts", "gui_scripts", "%(x)s", "packages"])
        lines.append(f"{key} = {c.text(20)}")
        if c.chance(2):
            lines.append(f"    {c.text(20)} = {dotted(c)}:{c.pick(NAMES)}")
    return mutate(c, "\n".join(lines).encode("utf-8", errors="replace"))


def setup_py(c: Choices) -> bytes:
    kwargs = []
    for _ in range(c.int(0, 4)):
        key = c.pick(["name", "entry_points", "version", "packages"])
        value = c.int(0, 2)
        if value == 0:
            kwargs.append(f"{key}={jsonish(c)!r}")
        elif value == 1:
            kwargs.append(f"{key}={expression(c)}")
        else:
            kwargs.append(f"{key}=" + "+".join(["1"] * c.pick([2, 1000, 60000])))
    text = f"from setuptools import setup\n\nsetup({', '.join(kwargs)})\n"
    return mutate(c, text.encode("utf-8", errors="replace"))


def packaging_files(c: Choices) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name, build in (("pyproject.toml", pyproject), ("setup.cfg", setup_cfg), ("setup.py", setup_py)):
        if c.chance(2):
            files[name] = build(c)
    if c.chance(3):
        files["README.md"] = f"```\npython {c.text(60)}\n```\n".encode("utf-8", "replace")
    return files


# --------------------------------------------------------------------------- notebooks


def notebook(c: Choices) -> bytes:
    if c.chance(10):
        return c.raw(200)
    cells = []
    for _ in range(c.int(0, 6)):
        source: object
        pick = c.int(0, 4)
        if pick == 0:
            source = [line + "\n" for line in source_lines(c)]
        elif pick == 1:
            source = "\n".join(source_lines(c))
        else:
            source = jsonish(c)
        cell: object = {"cell_type": c.pick(["code", "markdown", "raw", 3]), "source": source}
        if c.chance(10):
            cell = jsonish(c)
        cells.append(cell)
    document: object = jsonish(c) if c.chance(10) else {"cells": cells, "nbformat": 4}
    text = "[" * 5000 + "]" * 5000 if c.chance(20) else json.dumps(document)
    return mutate(c, text.encode())


# --------------------------------------------------------------------------- PDFs

PAPER_WORDS = ["encoder", "mask", "loss", "Method", "decoder", "3.1", "∑", "=", "x", "é", "\x1b[2J", "attention"]


def words(c: Choices) -> str:
    return " ".join(c.pick(PAPER_WORDS) for _ in range(c.int(20, 90)))


def _fpdf_bytes(text: str, pages: int) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for _ in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, text.encode("latin-1", errors="replace").decode("latin-1"))
    return bytes(pdf.output())


def _hand_pdf(streams: list[tuple[bytes, str | None]]) -> bytes:
    from tests.hostile import write_pdf

    folder = tempfile.mkdtemp(prefix="localread-fuzz-pdf-")
    try:
        return write_pdf(Path(folder, "p.pdf"), streams).read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pdf(c: Choices) -> tuple[str, bytes]:
    if c.chance(2):
        data = _fpdf_bytes(words(c), c.int(1, 3))
    else:
        streams: list[tuple[bytes, str | None]] = []
        for _ in range(c.int(1, 3)):
            filt = c.pick([None, "FlateDecode", "LZWDecode", "ASCIIHexDecode", "RunLengthDecode", "Bogus"])
            body = f"BT /F1 11 Tf 72 720 Td ({words(c)}) Tj ET".encode("latin-1", errors="replace")
            if filt == "FlateDecode":
                body = zlib.compress(body * c.pick([1, 1000, 30_000]), 1)
            elif filt is not None:
                body = c.raw(64)
            streams.append((body, filt))
        data = _hand_pdf(streams)
    return ".pdf", mutate(c, data)


def text_paper(c: Choices) -> tuple[str, bytes]:
    suffix = c.pick([".md", ".tex", ".txt"])
    parts = []
    for _ in range(c.int(1, 12)):
        parts.append(c.pick([
            "# Method", "## 3.1 Encoder", "\\section{Loss}", "\\begin{equation}", "\\end{equation}", "$$", "```",
            "\\begin{algorithm}", "Algorithm 1 Train", "1: for x do", "---", "<!--", "-->", "\\title{",
            "References", "II. METHOD", "\\caption{a", "}", "{", "\\\\",
        ]))
        parts.append(words(c))
    return suffix, mutate(c, "\n".join(parts).encode("utf-8"))


REPO_PATHS = ["pkg/__init__.py", "pkg/core.py", "pkg/sub/__init__.py", "pkg/sub/deep.py", "scripts/demo.py",
              "train.py", "src/lib/__init__.py", "src/lib/x.py", "a\x1b[31mb.py", "weird name.py"]


def repo_files(c: Choices) -> dict[str, bytes]:
    return {c.pick(REPO_PATHS): python_source(c) for _ in range(c.int(1, 4))}


# --------------------------------------------------------------------------- targets


class Refused(Exception):
    """A stage's documented refusal (one line for the user): not a crash."""


class Hang(BaseException):
    """A stage gave no result within the time limit: a crash too. A BaseException, so
    that no `except Exception` of a stage can take it for a bad input."""


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise Hang in the block after `seconds` (POSIX alarm; elsewhere no limit)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(_signum: int, _frame: object) -> None:
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _visible(text: str) -> None:
    """Nothing rendered for the terminal may carry a control character of the input."""
    from localread.render.safe import has_hidden

    printed = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "\x1b" not in printed and not has_hidden(printed), printed[:200]


def run_chunker(source: bytes, notebook: bool = False) -> None:
    """repo/chunks.py and the graph's per-file extraction on one file's bytes."""
    from localread.repo.analysis import FileRead, extract_file
    from localread.repo.scan import SourceFile

    path = "explore.ipynb" if notebook else "pkg/mod.py"
    read = extract_file(source, SourceFile(path, "pkg.mod", len(source)))
    if isinstance(read, FileRead):
        lines = max(1, source.count(b"\n") + 1)
        for chunk in read.chunks:
            assert 1 <= chunk.start <= chunk.end, chunk
            if not notebook:
                assert chunk.end <= lines + 1, (chunk, lines)


def run_notebook(data: bytes) -> None:
    """The notebook reader, then the chunker on what it made."""
    from localread.repo.scan import read_notebook

    try:
        read_notebook(data)
    except ValueError as exc:
        assert str(exc), "a refusal says why"
        return
    run_chunker(data, notebook=True)


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def run_packaging(files: dict[str, bytes]) -> None:
    """The scanner (layout, install command, project name) and the entry points on a
    repository made of these packaging files and one module."""
    from localread.repo.entries import console_scripts
    from localread.repo.scan import scan

    root = Path(tempfile.mkdtemp(prefix="localread-fuzz-"))
    try:
        _write(root, {**files, "pkg/__init__.py": b"def main():\n    pass\n"})
        result = scan(root)
        console_scripts(result.root, result.layout.packaging)
        assert result.layout.install is None or isinstance(result.layout.install, str)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_resolver(files: dict[str, bytes]) -> None:
    """The whole static reader (scan, chunks, imports, graph and its resolver, entries,
    ranks), then the facts card of every chunk, a tour and its terminal rendering."""
    from rich.console import Console

    from localread.config import Settings
    from localread.facts import facts_card
    from localread.render import terminal
    from localread.repo.analysis import analyze
    from localread.repo.tour import default_tour

    root = Path(tempfile.mkdtemp(prefix="localread-fuzz-"))
    try:
        _write(root, files)
        try:
            repo = analyze(root, jobs=1)
        except LocalreadError as exc:
            raise Refused(str(exc)) from None
        tour = default_tour(repo, Settings())
        for chunk_id in list(repo.chunks)[:40]:
            facts_card(repo, chunk_id, tour)
        buffer = io.StringIO()
        saved = terminal.stdout
        terminal.stdout = Console(file=buffer, force_terminal=True, width=120, soft_wrap=False, highlight=False)
        try:
            terminal.render_map(repo, 10)
            if tour is not None:
                terminal.render_tour(repo, tour)
            if repo.chunks:
                terminal.render_facts(facts_card(repo, next(reversed(repo.chunks)), tour).to_json())
        finally:
            terminal.stdout = saved
        _visible(buffer.getvalue())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_paper(suffix: str, data: bytes) -> None:
    """The paper reader on one file (PDF through pypdf and its limits, or text)."""
    from localread.paper.text import read_paper

    folder = Path(tempfile.mkdtemp(prefix="localread-fuzz-"))
    try:
        path = folder / f"paper{suffix}"
        path.write_bytes(data)
        try:
            paper = read_paper(path)
        except LocalreadError as exc:
            raise Refused(str(exc)) from None
        assert paper.sections
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# name -> (strategy, runner, share of the inputs): the shares of benchmarks/fuzz.py.
TARGETS: dict[str, tuple[st.SearchStrategy, Callable[..., None], float]] = {
    "chunker: source bytes": (decoded(python_source), run_chunker, 0.45),
    "notebooks": (decoded(notebook), run_notebook, 0.20),
    "scanner: packaging files": (decoded(packaging_files), run_packaging, 0.15),
    "resolver: small repositories": (decoded(repo_files, 1200), run_resolver, 0.05),
    "paper reader: PDFs": (decoded(pdf), lambda a: run_paper(*a), 0.10),
    "paper reader: text papers": (decoded(text_paper), lambda a: run_paper(*a), 0.05),
}
