"""The summarize report as files: DIR/index.md, one page per module under
DIR/modules/, DIR/summary.json, and a marker listing what localread wrote there.

`claim_out_dir(out, repo_root)` refuses, before any work, a DIR that cannot be written
or that holds files localread did not write (or another repository's report), and
marks it as this repository's report folder.
`write_report(report, out)` writes every file atomically (a temporary file renamed
into place), so a kill or a full disk never leaves a half-written page; pages of
modules that no longer exist are removed.

Safety: every piece of text from the repository or the model (names, paths,
docstrings, summaries, commands) goes through `render.safe`: prose through `md_text`
(HTML, links, images and emphasis come out as the characters they are), names and
paths through `md_code`, signatures through `md_block`; so a docstring holding
`<script>` or `![](http://tracker/p.png)` cannot run or fetch anything when the
report is opened, and a backtick in a file name cannot break out of its code span.

Determinism: the Markdown pages depend only on the repository, the model, the
options and the summaries, never on time, paths outside the repository, or whether a
summary came from the model now or from the store; the same commit, model and options
give byte-identical pages. summary.json adds the run's own statistics and, per chunk,
where its summary came from this time ("model", "cache", "static", "pending").
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localread.data import Chunk, ChunkKind, FactsCard
from localread.errors import LocalreadError
from localread.grounding import repo_identifiers, unverified_names
from localread.render.diagram import tour_mermaid
from localread.render.safe import file_names, md_block, md_code, md_text
from localread.repo.rank import core_symbols
from localread.sentences import first_sentence
from localread.summarize import OVERVIEW_ID, PACKAGE_PREFIX, Report, Source

MARKER = ".localread-report.json"
GENERATOR = "localread summarize"
LOG_NAME = "summarize.log"
CORE_LISTED = 15


# --------------------------------------------------------------------------- out dir


def claim_out_dir(out: Path, repo_root: Path) -> None:
    """Make sure the report can be written to `out` (outside the repository, creatable,
    writable, and either empty or holding localread's own report of this repository),
    then mark it as localread's at once, so that a run killed before its first report
    (which leaves only its log there) is resumed, not refused. The mark is made
    atomically: of two runs claiming one empty folder, one wins and the other is told
    whose report it holds. Raises LocalreadError with what to do otherwise."""
    _refuse_inside(out, repo_root)
    if out.exists() and not out.is_dir():
        raise LocalreadError(f"--out {out}: is a file; pass a folder for the report")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalreadError(f"--out {out}: cannot be created ({exc.strerror})") from None
    claim = {"generator": GENERATOR, "repo": str(repo_root), "files": []}
    for _attempt in range(2):
        try:
            # Another run's claim in progress is not content: it is the marker to come.
            names = sorted(n for n in os.listdir(out) if not _CLAIM_TEMP.fullmatch(n))
        except OSError as exc:
            raise LocalreadError(f"--out {out}: cannot be read ({exc.strerror})") from None
        if MARKER in names:
            previous = _read_marker(out)
            if previous.get("repo") not in (None, str(repo_root)):
                raise LocalreadError(
                    f"--out {out}: holds the report of another repository ({previous.get('repo')}); "
                    "choose another folder"
                )
            claim["files"] = previous.get("files", [])
            break
        if names:
            raise LocalreadError(
                f"--out {out}: the folder is not empty and holds no localread report; "
                "choose a new or empty folder"
            )
        try:
            if _create_exclusive(out / MARKER, json.dumps(claim, indent=2) + "\n"):
                return
        except OSError as exc:
            raise LocalreadError(f"--out {out}: cannot be written ({exc.strerror})") from None
        # Another run marked the folder between our look and our mark: look again.
    try:
        _atomic_write(out / MARKER, json.dumps(claim, indent=2) + "\n")
    except OSError as exc:
        raise LocalreadError(f"--out {out}: cannot be written ({exc.strerror})") from None


def _refuse_inside(out: Path, repo_root: Path) -> None:
    """localread never writes into the repository it reads: not even its report."""
    try:
        where = out.resolve()
        root = repo_root.resolve()
    except (OSError, RuntimeError) as exc:
        raise LocalreadError(f"--out {out}: cannot be resolved ({exc})") from None
    if where == root or root in where.parents:
        raise LocalreadError(
            f"--out {out}: is inside the repository {root}, and localread never writes into "
            "the repository it reads; choose a folder outside it"
        )


# The temporary files of `_create_exclusive(out / MARKER, ...)`.
_CLAIM_TEMP = re.compile(re.escape(f".{MARKER}.") + r"\d+\.claim")


def _create_exclusive(path: Path, text: str) -> bool:
    """Create path holding text, complete or not at all; False when it already exists
    (linked from a finished temporary file, so no reader sees it half-written)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.claim")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:
            # No hard links on this file system: exclusive create, then write.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _read_marker(out: Path) -> dict[str, Any]:
    try:
        data = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("generator") == GENERATOR else {}


# --------------------------------------------------------------------------- writing


def write_report(report: Report, out: Path) -> list[Path]:
    """Write the report into `out` (claimed with claim_out_dir): the Markdown pages,
    summary.json and the HTML site (render.html); returns the files.

    Raises LocalreadError when the disk is full or the folder cannot be written; the
    summaries stay in the store, so the next run writes the report without model calls.
    """
    from localread.render import html

    pages = page_names(report)
    files: dict[str, str] = {}
    known = repo_identifiers(report.repo)
    for module_id, name in pages.items():
        files[name] = module_page(report, module_id, pages, known)
    files["index.md"] = index_page(report, pages)
    files["summary.json"] = json.dumps(summary_json(report), indent=2, ensure_ascii=False) + "\n"
    files.update(html.site_files(html.site_of_report(report)))
    return write_files(out, files, report.repo.root, replaces=_PAGES)


# The pages a new report replaces: those of modules (or steps) that are gone are removed.
_PAGES = re.compile(r"(modules|steps)/[^/]+\.(md|html)")


def write_files(out: Path, files: dict[str, str], repo_root: Path, *, replaces: re.Pattern[str]) -> list[Path]:
    """Write files (path relative to `out` -> text) atomically into the claimed folder
    `out`, remove the files of the previous write that match `replaces` and are not
    written now, and list in the marker every file localread wrote there. Raises
    LocalreadError when the disk is full or the folder cannot be written."""
    previous = set(_read_marker(out).get("files", []))
    written: list[Path] = []
    try:
        for folder in sorted({Path(name).parent for name in files}):
            (out / folder).mkdir(parents=True, exist_ok=True)
        for name in sorted(files):
            written.append(_atomic_write(out / name, files[name]))
        stale = {name for name in previous - set(files) if replaces.fullmatch(name)}
        for name in sorted(stale):
            (out / name).unlink(missing_ok=True)
        marker = {"generator": GENERATOR, "repo": str(repo_root),
                  "files": sorted((previous - stale) | set(files) | {LOG_NAME})}
        _atomic_write(out / MARKER, json.dumps(marker, indent=2) + "\n")
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise LocalreadError(
                f"disk full while writing the report in {out}; free some space and run again "
                "(the summaries are kept in the store, the next run only rewrites the report)"
            ) from None
        raise LocalreadError(f"cannot write the report in {out} ({exc.strerror or exc})") from None
    return written


def _atomic_write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def page_names(report: Report) -> dict[str, str]:
    """Module id -> page path under the report (`modules/<id>.md`), unique even on a
    case-insensitive file system."""
    return file_names([c.id for c in sorted(_modules(report), key=lambda c: c.path)], "modules", ".md")


def _modules(report: Report) -> list[Chunk]:
    return [c for c in report.repo.chunks.values() if c.kind is ChunkKind.MODULE]


# --------------------------------------------------------------------------- text bits


def _summary(report: Report, uid: str) -> str | None:
    result = report.results.get(uid)
    return result.summary if result is not None else None


def _one_line(report: Report, uid: str) -> str:
    result = report.results.get(uid)
    if result is None or result.summary is None:
        return "_pending_"
    return _inline(first_sentence(result.summary) or "(no summary)")


def _inline(text: str) -> str:
    """Prose that renders as exactly its characters, on one line, even in a table."""
    return md_text(text)


def _page_name(chunk: Chunk) -> str:
    """How the report names a chunk: its module id, `<module> __main__ block`, or its
    qualname."""
    if chunk.kind is ChunkKind.MODULE:
        return chunk.id
    if chunk.kind is ChunkKind.MAIN:
        return f"{chunk.module} __main__ block"
    return chunk.qualname


def _where(chunk: Chunk, *, table: bool = False) -> str:
    span = f"{chunk.path}:{chunk.start}" if chunk.start == chunk.end else f"{chunk.path}:{chunk.start}-{chunk.end}"
    return md_code(span, table=table)


def _link(report: Report, pages: dict[str, str], chunk_id: str, *, from_index: bool, table: bool = False) -> str:
    """A link to the chunk's place in the report (page names and anchors are made of
    [A-Za-z0-9_.-] only), its name as a code span."""
    chunk = report.repo.chunks.get(chunk_id)
    if chunk is None:
        return md_code(chunk_id, table=table)
    page = pages.get(chunk.module)
    if page is None:
        return md_code(_page_name(chunk), table=table)
    target = page if from_index else page.split("/", 1)[1]
    anchor = "" if chunk.kind is ChunkKind.MODULE else f"#{_anchor(chunk.id)}"
    return f"[{md_code(_page_name(chunk), table=table)}]({target}{anchor})"


def _anchor(chunk_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", chunk_id)


def _status(report: Report, uid: str) -> str:
    result = report.results.get(uid)
    if result is None or result.source is Source.PENDING:
        return "pending"
    if result.fallback:
        return "from the code: the model's answers failed the quality gate"
    if result.source is Source.STATIC:
        return "static (no model call)"
    if result.rejected:
        return "model, asked twice: its first answer failed the quality gate"
    return "model"


def _header_lines(report: Report) -> list[str]:
    h = report.header
    return [
        (
            f"> Generated by localread {h.localread_version} with model {md_code(h.model_name)} "
            f"(sha256 {md_code(h.model_sha256)}), context {h.n_ctx} tokens, prompt version "
            f"{md_code(h.prompt_version)}; static summaries for trivial code: {'on' if h.static else 'off'}."
        ),
        (
            "> Summaries are written by a small local model from the code and the facts found "
            "in it; names it uses that do not exist in the code are flagged."
        ),
    ]


def _coverage(report: Report) -> tuple[int, int, int, int]:
    """(units, by the model, static, pending) over every unit of the plan."""
    by_model = static = pending = 0
    for uid in report.plan.order:
        result = report.results.get(uid)
        if result is None or result.source is Source.PENDING:
            pending += 1
        elif result.source is Source.STATIC or result.fallback:
            static += 1
        else:
            by_model += 1
    return len(report.plan.order), by_model, static, pending


# --------------------------------------------------------------------------- index


def index_page(report: Report, pages: dict[str, str]) -> str:
    repo = report.repo
    name = repo.layout.project_name or repo.root.name
    lines = [f"# {md_text(name)}: code summary", ""]
    lines += _header_lines(report)
    lines.append("")
    total, by_model, static, pending = _coverage(report)
    coverage = f"**Coverage:** {total - pending} of {total} summaries ({by_model} by the model, {static} static)"
    if pending:
        coverage += f"; {pending} pending, marked _pending_: run `localread summarize` again to continue."
    else:
        coverage += "; complete."
    lines += [coverage, "", "## Overview", ""]
    overview = _summary(report, OVERVIEW_ID)
    lines.append(md_text(overview, line_start=True) if overview is not None else "_Pending: the overview is written once every module is summarized._")
    lines += ["", "## Install", ""]
    if repo.layout.install:
        lines.append(md_block(repo.layout.install, "bash"))
    else:
        lines.append("No packaging file or requirements found.")
    lines += ["", "## Entry points", ""]
    if repo.entries:
        lines += ["| # | file | how to run | evidence |", "|---|---|---|---|"]
        for n, entry in enumerate(repo.entries[:10], 1):
            command = md_code(entry.command, table=True) if entry.command else ""
            link = _link(report, pages, entry.chunk, from_index=True, table=True)
            lines.append(f"| {n} | {link} ({md_code(entry.path, table=True)}) | {command} | {md_text(', '.join(entry.kinds))} |")
    else:
        lines.append("No entry point found.")
    lines += ["", "## Where the core is", ""]
    core = core_symbols(repo.graph, repo.ranks, limit=CORE_LISTED)
    for cid in core:
        chunk = repo.chunks[cid]
        lines.append(f"- {_link(report, pages, cid, from_index=True)} ({chunk.kind}, {_where(chunk)}): {_one_line(report, cid)}")
    if not core:
        lines.append("No classes or functions found.")
    lines += ["", "## Reading tours", ""]
    if not report.tours:
        lines.append("No entry point to start a tour from.")
    for n, tour in enumerate(report.tours, 1):
        how = f" ({md_code(tour.entry.command)})" if tour.entry.command else ""
        lines += [f"### {n}. From {md_code(tour.entry.path)}{how}", ""]
        # Drawn from the tour's tree (render.diagram), which GitHub renders natively.
        lines += ["```mermaid", tour_mermaid(repo, tour), "```", ""]
        for i, step in enumerate(tour.steps, 1):
            chunk = repo.chunks[step.id]
            indent = "   " * min(step.depth, 6)
            lines.append(f"{indent}{i}. {_link(report, pages, step.id, from_index=True)} ({chunk.kind}, {_where(chunk)}): {_one_line(report, step.id)}")
            lines.append(f"{indent}   _{_inline(step.reason)}_")
        if tour.pruned:
            shown = ", ".join(_link(report, pages, p.id, from_index=True) for p in tour.pruned[:8])
            lines += ["", f"Further, left out by the depth and step limits: {shown}" + (" ..." if len(tour.pruned) > 8 else "")]
        lines.append("")
    packages = sorted(report.plan.packages)
    if packages:
        lines += ["## Packages", "", "| package | folder | summary |", "|---|---|---|"]
        for name in packages:
            folder = report.plan.packages[name] or "."
            lines.append(
                f"| [{md_code(name, table=True)}]({pages[name]}) | {md_code(folder + '/', table=True)} | "
                f"{_one_line(report, PACKAGE_PREFIX + name)} |"
            )
        lines.append("")
    lines += ["## Modules", "", "| module | file | chunks | pending | summary |", "|---|---|---|---|---|"]
    for module in sorted(_modules(report), key=lambda c: c.path):
        inside = [c for c in repo.chunks.values() if c.module == module.id and c.path == module.path]
        waiting = sum(1 for c in inside if _status(report, c.id) == "pending")
        lines.append(
            f"| [{md_code(module.id, table=True)}]({pages[module.id]}) | {md_code(module.path, table=True)} | "
            f"{len(inside)} | {waiting or ''} | {_one_line(report, module.id)} |"
        )
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- module page


def _facts(report: Report, chunk_id: str) -> FactsCard | None:
    """The facts card of a chunk (localread.facts), or None when it cannot be built."""
    from localread.facts import facts_card

    try:
        return facts_card(report.repo, chunk_id)
    except (OSError, KeyError, ValueError):
        return None


def module_page(report: Report, module_id: str, pages: dict[str, str], known: frozenset[str]) -> str:
    repo = report.repo
    module = repo.chunks[module_id]
    chunks = [c for c in repo.chunks.values() if c.module == module_id and c.path == module.path and c.id != module_id]
    lines = [f"# module {md_code(module.id)}", ""]
    lines.append(f"{_where(module)} · [index](../index.md)")
    lines.append("")
    lines += _header_lines(report)
    lines.append("")
    lines += _summary_block(report, module, known)
    outline = [f"- {_link(report, pages, c.id, from_index=False)} ({c.kind}, line {c.start}): {_one_line(report, c.id)}" for c in chunks]
    if outline:
        lines += ["", "## Contents", "", *outline]
    for chunk in chunks:
        lines += ["", f'<a id="{_anchor(chunk.id)}"></a>', "", f"## {md_code(_page_name(chunk))} ({chunk.kind})", ""]
        lines.append(_where(chunk))
        lines.append("")
        if chunk.signature and chunk.kind is not ChunkKind.MAIN:
            lines += [md_block(chunk.signature, "python"), ""]
        lines += _summary_block(report, chunk, known)
        facts = _fact_lines(report, chunk, pages, lambda cid: _link(report, pages, cid, from_index=False))
        if facts:
            lines += ["", "Facts:", "", *facts]
    return "\n".join(lines).rstrip("\n") + "\n"


def _summary_block(report: Report, chunk: Chunk, known: frozenset[str]) -> list[str]:
    result = report.results.get(chunk.id)
    if result is None or result.summary is None:
        return ["**Summary:** _pending: not explained yet; the next run continues here._"]
    lines = [f"**Summary** ({_status(report, chunk.id)}): {_inline(result.summary) or '(the model gave no summary)'}"]
    if result.source is not Source.STATIC and not result.fallback:
        unverified = unverified_names(result.summary, known)
        if unverified:
            lines += ["", "⚠ Unverified: " + ", ".join(md_code(n) for n in unverified) + " (not found in the code)"]
    return lines


def _fact_lines(
    report: Report, chunk: Chunk, pages: dict[str, str], link: Callable[[str], str]
) -> list[str]:
    card = _facts(report, chunk.id)
    if card is None:
        return []
    lines: list[str] = []
    if card.parameters:
        shown = []
        for p in card.parameters:
            text = p.name
            if p.annotation:
                text += f": {p.annotation}"
            if p.default is not None:
                text += f" = {p.default}"
            shown.append(md_code(text))
        lines.append("- parameters: " + ", ".join(shown))
    if card.returns:
        lines.append(f"- returns: {md_code(card.returns)}")
    if card.returned:
        lines.append("- returned: " + ", ".join(md_code(r) for r in card.returned[:6]))
    if card.raises:
        lines.append("- raises: " + ", ".join(md_code(r) for r in card.raises))
    if card.attributes_written:
        # Sorted here: the facts card's order of attributes is not stable between calls.
        lines.append("- sets: " + ", ".join(md_code(f"self.{a}") for a in sorted(card.attributes_written)))
    if card.callees:
        lines.append("- calls:")
        lines += [f"  - {link(c.id)}: {_one_line(report, c.id)}" for c in card.callees if c.id in report.repo.chunks]
    if card.callers:
        lines.append("- called by: " + ", ".join(f"{link(c.id)} ({md_code(c.at)})" for c in card.callers))
    outline = card.outline
    if outline:
        lines.append("- call outline:")
        lines += [f"  - {md_code(step)}" for step in outline[:20]]
        if len(outline) > 20:
            lines.append(f"  - ... {len(outline) - 20} more")
    return lines


# --------------------------------------------------------------------------- json


def summary_json(report: Report) -> dict[str, Any]:
    """The `summarize --json` / DIR/summary.json shape of DESIGN.md, plus the
    overview, packages and the run header."""
    h = report.header
    chunks = []
    for chunk in report.repo.chunks.values():
        result = report.results.get(chunk.id)
        chunks.append(
            {
                "id": chunk.id,
                "kind": str(chunk.kind),
                "path": chunk.path,
                "start": chunk.start,
                "end": chunk.end,
                "summary": result.summary if result is not None else None,
                "source": str(result.source) if result is not None else "pending",
                "rejected": list(result.rejected) if result is not None else [],
                "fallback": result.fallback if result is not None else False,
            }
        )
    overview = report.results.get(OVERVIEW_ID)
    return {
        "repo": str(report.repo.root),
        "model": {"name": h.model_name, "sha256": h.model_sha256, "n_ctx": h.n_ctx},
        "prompt_version": h.prompt_version,
        "localread_version": h.localread_version,
        "stats": report.stats.to_json(),
        "stopped": report.stopped,
        "overview": overview.summary if overview is not None else None,
        "packages": [
            {
                "name": name,
                "summary": _summary(report, PACKAGE_PREFIX + name),
                "source": str(report.results[PACKAGE_PREFIX + name].source)
                if PACKAGE_PREFIX + name in report.results
                else "pending",
            }
            for name in sorted(report.plan.packages)
        ],
        "chunks": chunks,
    }
