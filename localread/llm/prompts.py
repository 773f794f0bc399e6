"""Prompts for the local model: versioned templates, chat vs completion style, and a
token budget that every prompt is held to.

Templates live in `localread/prompts/completion.txt` (base models: the chunk as code,
then opened again with a docstring's opening quotes for the model to write its one-line docstring: the
purpose the static description cannot give) and `localread/prompts/chat.txt`
(instruct models: a system message and a user message), read by `localread.prompts`.
The style follows the model: `engine.model.chat_style`. The two files are one prompt
in two styles and carry one version, `prompt_version()`.

Every prompt puts the shared instructions and examples first (`Prompt.shared`), so
the engine evaluates them once and reuses them across calls; only the part about the
current chunk changes.

Retry: a small model sometimes answers with a worked example of the prompt (or with a
summary the prompt showed) instead of explaining the chunk. `BudgetedPrompt.references`
names those texts so that the caller can tell (`grounding.find_repeat`); the prompt
built with `retry=True` has nothing to copy: the template's `retry_shared` block (the
instructions without worked examples; `shared` when there is none) and no callee or
already-read summaries.

Budget: the prompt, counted with the engine's own tokenizer, must fit
`engine.n_ctx - max_tokens`. When it does not, the prompt is made smaller in steps,
never cut silently: the source is condensed (signature, docstring, the lines that call
other repository symbols, and `# ... N lines elided ...` markers), then callee
summaries are dropped from the end, then already-read steps from the oldest, then
call lines from the end. `BudgetedPrompt` reports what was done; a chunk that cannot
fit even then is a LocalreadError.
"""

from __future__ import annotations

import re
import tokenize
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from string import Template

from localread.errors import LocalreadError
from localread.llm.engine import Completion, Engine, Prompt
from localread.llm.models import ChatStyle
from localread.prompts import load

# How many docstring lines a condensed chunk keeps.
DOCSTRING_LINES = 6
# Where a completion-style answer ends: the docstring's closing quotes, a blank line
# (the rest of a docstring: parameters, examples), the next note.
_COMPLETION_STOPS = ('"""', "\n\n", "\n# ")
# A worked example's answer in a template's shared block (completion style): the
# one-line docstring it is opened again with.
_EXAMPLE_ANSWER = re.compile(r'^\s*"""(.+)"""\s*$', re.MULTILINE)
# Facts a completion-style prompt leaves out: the source shown below says them.
_SAID_BY_SOURCE = ("- signature:", "- docstring:", "- decorators:")


@dataclass(frozen=True, slots=True)
class Summary:
    """A repository symbol and what it does in one line (a callee, or a tour step
    already read)."""

    id: str
    summary: str


@dataclass(frozen=True, slots=True)
class BudgetedPrompt:
    """A prompt that fits: prompt_tokens + max_tokens <= the engine's n_ctx.

    answer_prefix: the words the prompt already put in the model's mouth (none in
    the current templates); `narrative()` prepends them.
    condensed / elided_lines: whether and how much of the source was left out.
    version: the prompt version of the templates it was made from.
    callees_dropped / already_read_dropped / call_lines_dropped: summaries, tour steps
    and call lines left out to fit.
    examples: the answers of the worked examples in the prompt; shown: the callee and
    already-read summaries in the prompt. A narrative that repeats one of them has
    copied instead of explained (see `references`). retry: built with retry=True.
    example_text: the whole text of the worked examples the prompt showed ("" when
    none): a word of theirs that the chunk does not have was borrowed (the quality
    gate's leakage rule).
    """

    prompt: Prompt
    prompt_tokens: int
    max_tokens: int
    answer_prefix: str
    condensed: bool
    elided_lines: int
    version: str
    callees_dropped: int = 0
    already_read_dropped: int = 0
    call_lines_dropped: int = 0
    examples: tuple[str, ...] = ()
    shown: tuple[Summary, ...] = ()
    retry: bool = False
    example_text: str = ""

    @property
    def references(self) -> tuple[str, ...]:
        """The texts of the prompt a narrative must not repeat: worked examples, then
        the summaries shown."""
        return self.examples + tuple(s.summary for s in self.shown)

    def narrative(self, completion: Completion | str) -> str:
        """The model's answer as text a reader sees: answer_prefix + completion."""
        text = completion.text if isinstance(completion, Completion) else completion
        # The model usually continues with a space; when it does not, add one rather
        # than glue the name to the next word.
        if self.answer_prefix and text and text[0].isalnum():
            text = " " + text
        return (self.answer_prefix + text).strip()


def templates(style: ChatStyle) -> Mapping[str, str]:
    """The template blocks of a style, by name."""
    return load(style.value).blocks


def prompt_version() -> str:
    """The version of the explain prompts (chat.txt and completion.txt declare the same
    one): what an Explanation records, also when no prompt was built."""
    return load(ChatStyle.COMPLETION.value).version


def worked_examples(style: ChatStyle, *, retry: bool = False) -> tuple[str, ...]:
    """The answers of the worked examples in the shared block of a style (of the
    retry_shared block with retry=True), in order; empty when it has none."""
    blocks = templates(style)
    shared = blocks.get("retry_shared", blocks["shared"]) if retry else blocks["shared"]
    return tuple(m.group(1).strip() for m in _EXAMPLE_ANSWER.finditer(shared))


# --------------------------------------------------------------------------- condensing


@dataclass(frozen=True, slots=True)
class Condensed:
    text: str
    elided_lines: int


_DEF = re.compile(r"\s*(async\s+def|def|class)\b")
_DOC_OPEN = re.compile(r"\s*[rRuUbB]{0,2}(\"\"\"|''')")


def _signature_end(lines: list[str]) -> int:
    """Index of the line that ends the first def/class header, or -1 (a module)."""
    for i, line in enumerate(lines):
        if _DEF.match(line):
            for j in range(i, len(lines)):
                code = lines[j].split("#", 1)[0].rstrip()
                if code.endswith(":"):
                    return j
            return i
        if line.strip() and not line.lstrip().startswith(("@", "#")):
            return -1  # code before any def: a module or main block
    return -1


def _docstring_span(lines: list[str], after: int) -> tuple[int, int] | None:
    """(first, last) line indices of the docstring right after index `after`."""
    i = after + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        return None
    m = _DOC_OPEN.match(lines[i])
    if m is None:
        return None
    quote = m.group(1)
    rest = lines[i][m.end() :]
    if quote in rest:
        return (i, i)
    for j in range(i + 1, len(lines)):
        if quote in lines[j]:
            return (i, j)
    return (i, len(lines) - 1)


# A kept line inside a longer statement (a call spread over several lines) brings
# the whole statement along, up to this many lines; a longer one keeps just the line.
STATEMENT_LINES = 6


def _statements(lines: list[str]) -> dict[int, tuple[int, int]]:
    """Line index -> (first, last) index of the logical statement it belongs to, for
    statements spanning several lines. Empty when the source does not tokenize."""
    spans: dict[int, tuple[int, int]] = {}
    readline = iter(line + "\n" for line in lines).__next__
    first: int | None = None
    try:
        for tok in tokenize.generate_tokens(readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
                continue
            if first is None:
                first = tok.start[0] - 1
            if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                last = tok.start[0] - 1
                if first is not None and last > first:
                    for k in range(first, last + 1):
                        spans[k] = (first, last)
                first = None
    except (tokenize.TokenError, SyntaxError):
        return {}
    return spans


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _enclosing_headers(lines: list[str], k: int, stop: int) -> list[int]:
    """Indices of the block headers (`for ...:`, `if ...:`, `with ...:`) that enclose
    line k, innermost first, found by indentation, not going above index `stop`."""
    found: list[int] = []
    depth = _indent(lines[k])
    for i in range(k - 1, stop, -1):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if _indent(line) < depth:
            if line.split("#", 1)[0].rstrip().endswith(":"):
                found.append(i)
            depth = _indent(line)
            if depth == 0:
                break
    return found


def condense_source(
    source: str, start: int, keep_lines: Collection[int], *, docstring_lines: int = DOCSTRING_LINES
) -> Condensed:
    """Shorten a chunk's source to what a reader needs to follow it: decorators and
    signature, the first `docstring_lines` of the docstring, and the lines in
    `keep_lines` (1-based file line numbers; `start` is the number of the first source
    line), each with the rest of its statement when that spans at most
    STATEMENT_LINES lines and with the block headers (`for`, `if`, `with`...) that
    enclose it. Every run of two or more other lines becomes one `# ... N lines elided ...`
    line, indented like the code it replaces; a single line is kept as is, since the
    marker would be no shorter."""
    lines = source.splitlines()
    keep = {n - start for n in keep_lines if start <= n < start + len(lines)}
    spans = _statements(lines)
    for k in list(keep):
        first, last = spans.get(k, (k, k))
        if last - first < STATEMENT_LINES:
            keep.update(range(first, last + 1))
    sig_end = _signature_end(lines)
    keep.update(range(sig_end + 1))
    for k in sorted(keep):
        keep.update(_enclosing_headers(lines, k, sig_end))
    doc = _docstring_span(lines, sig_end)
    if doc is not None:
        first, last = doc
        keep.update(range(first, min(last, first + docstring_lines - 1) + 1))
        keep.add(last)
    out: list[str] = []
    elided = 0
    i = 0
    while i < len(lines):
        if i in keep:
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and j not in keep:
            j += 1
        run = j - i
        if run == 1:
            out.append(lines[i])
        else:
            nxt = lines[j] if j < len(lines) else lines[i - 1] if i else ""
            body = [ln for ln in lines[i:j] if ln.strip()]
            ref = body[0] if body else nxt
            indent = ref[: len(ref) - len(ref.lstrip())]
            out.append(f"{indent}# ... {run} lines elided ...")
            elided += run
        i = j
    return Condensed(text="\n".join(out), elided_lines=elided)


def opening_of(source: str) -> str:
    """How a completion-style prompt opens the chunk again for its docstring: the
    first def or class header as written (decorators left out) and the indentation
    of its body; "" for a module or a main block (the docstring opens the file)."""
    lines = source.splitlines()
    end = _signature_end(lines)
    if end < 0:
        return ""
    start = next(i for i, line in enumerate(lines) if _DEF.match(line))
    header = lines[start : end + 1]
    indent = header[0][: len(header[0]) - len(header[0].lstrip())] + "    "
    return "\n".join(header) + "\n" + indent


# --------------------------------------------------------------------------- rendering


def _fill(block: str, fields: dict[str, str], verbatim: dict[str, str]) -> str:
    """Substitute a template block. Optional sections that are empty leave blank
    lines; runs of them collapse to one. `verbatim` values (source, facts) are put in
    after that, so their own blank lines are kept exactly."""
    marks = {k: f"\x00{k}\x00" for k in verbatim}
    text = Template(block).substitute({**fields, **marks})
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    for key, value in verbatim.items():
        text = text.replace(marks[key], value.replace("\x00", ""))
    return text


def _items(blocks: dict[str, str], section: str, entries: Sequence[Summary]) -> str:
    if not entries:
        return ""
    items = "\n".join(
        Template(blocks["item"]).substitute(id=e.id, summary=" ".join(e.summary.split()))
        for e in entries
    )
    return Template(blocks[section]).substitute(items=items)


@dataclass(frozen=True, slots=True)
class _Variant:
    source: Condensed
    callees: int
    already_read: int
    call_lines_dropped: int

    @property
    def condensed(self) -> bool:
        return self.source.elided_lines > 0


def _variants(
    source: str,
    start: int,
    call_lines: Collection[int],
    n_callees: int,
    n_already: int,
) -> Iterator[_Variant]:
    """Ever smaller versions of the variable content, most faithful first."""
    yield _Variant(Condensed(source, 0), n_callees, n_already, 0)
    ordered = sorted(n for n in set(call_lines) if start <= n < start + len(source.splitlines()))
    condensed = condense_source(source, start, ordered)
    if condensed.elided_lines:
        yield _Variant(condensed, n_callees, n_already, 0)
    for k in range(n_callees - 1, -1, -1):
        yield _Variant(condensed, k, n_already, 0)
    for k in range(n_already - 1, -1, -1):
        yield _Variant(condensed, 0, k, 0)
    keep = len(ordered)
    while keep > 0:
        keep //= 2
        yield _Variant(condense_source(source, start, ordered[:keep]), 0, 0, len(ordered) - keep)


def _budget(
    engine: Engine,
    task: str,
    *,
    chunk_id: str,
    kind: str,
    path: str,
    start: int,
    facts: str,
    source: str,
    callees: Sequence[Summary],
    call_lines: Collection[int],
    already_read: Sequence[Summary],
    extra: dict[str, str],
    max_tokens: int,
    retry: bool,
) -> BudgetedPrompt:
    style = engine.model.chat_style
    blocks = templates(style)
    end = start + max(len(source.splitlines()), 1) - 1
    name = chunk_id.rsplit(".", 1)[-1]
    # A retry shows no summary the answer could copy; a block without a section
    # (completion style's tour_step has no $already_read) shows none either.
    if retry or "$callees" not in blocks[task]:
        callees = ()
    if retry or "$already_read" not in blocks[task]:
        already_read = ()
    shared = (blocks.get("retry_shared", blocks["shared"]) if retry else blocks["shared"]) + ("\n\n" if style is ChatStyle.COMPLETION else "")
    if style is ChatStyle.COMPLETION:
        # Facts as comments above the code, as a reader's notes would put them.
        facts = "\n".join(f"# {line}" for line in facts.splitlines() if not line.startswith(_SAID_BY_SOURCE))
    opening = opening_of(source)
    stop = _COMPLETION_STOPS if style is ChatStyle.COMPLETION else ()
    answer_prefix = Template(blocks["answer_prefix"]).substitute(name=name)
    limit = engine.n_ctx - max_tokens
    if limit <= 0:
        raise LocalreadError(
            f"the answer budget ({max_tokens} tokens) leaves no room in the model context "
            f"({engine.n_ctx} tokens); lower max_tokens or raise LOCALREAD_N_CTX"
        )
    smallest = None
    for v in _variants(source, start, call_lines, len(callees), len(already_read)):
        condensed_note = (
            Template(blocks["condensed"]).substitute(elided=v.source.elided_lines)
            if v.condensed
            else ""
        )
        # Drop the oldest steps already read: the latest say most about this one.
        read = already_read[len(already_read) - v.already_read :] if v.already_read else []
        shown = (*callees[: v.callees], *read)
        text = _fill(
            blocks[task],
            {
                "kind": kind,
                "Kind": kind[:1].upper() + kind[1:],
                "id": chunk_id,
                "name": name,
                "path": path,
                "start": str(start),
                "end": str(end),
                "condensed": condensed_note,
                "callees": _items(blocks, "callees", callees[: v.callees]),
                "already_read": _items(blocks, "already_read", read),
                **extra,
            },
            {"facts": facts.strip("\n"), "source": v.source.text.rstrip("\n"), "opening": opening},
        )
        prompt = Prompt(shared=shared, text=text, style=style, stop=stop)
        tokens = engine.count_tokens(prompt)
        smallest = tokens if smallest is None else min(smallest, tokens)
        if tokens <= limit:
            return BudgetedPrompt(
                prompt=prompt,
                prompt_tokens=tokens,
                max_tokens=max_tokens,
                answer_prefix=answer_prefix,
                condensed=v.condensed,
                elided_lines=v.source.elided_lines,
                version=load(style.value).version,
                callees_dropped=len(callees) - v.callees,
                already_read_dropped=len(already_read) - v.already_read,
                call_lines_dropped=v.call_lines_dropped,
                examples=worked_examples(style, retry=retry),
                example_text=shared if _EXAMPLE_ANSWER.search(shared) else "",
                shown=shown,
                retry=retry,
            )
    raise LocalreadError(
        f"the prompt for {chunk_id} needs {smallest} tokens even condensed, but only {limit} "
        f"of the {engine.n_ctx}-token context are left after the answer budget; raise "
        "LOCALREAD_N_CTX"
    )


def chunk_prompt(
    engine: Engine,
    *,
    chunk_id: str,
    kind: str,
    path: str,
    start: int,
    facts: str,
    source: str,
    max_tokens: int,
    callees: Sequence[Summary] = (),
    call_lines: Collection[int] = (),
    retry: bool = False,
) -> BudgetedPrompt:
    """The prompt that asks for an explanation of one chunk.

    chunk_id: dotted id (`pkg.core.Generator.generate`); kind: "function", "method",
    "class", "module"...; path: repo-relative; start: the file line number of the
    first line of `source`; facts: the facts card as text; callees: one-line
    summaries of the repository symbols it calls, most important first (dropped from
    the end when space runs out); call_lines: file line numbers of the lines that call
    repository symbols (kept when the source is condensed); retry: the prompt to ask
    again with when the answer repeated what the prompt showed (see the module
    docstring). Raises LocalreadError when even the smallest version does not fit
    engine.n_ctx - max_tokens.
    """
    return _budget(
        engine,
        "chunk",
        chunk_id=chunk_id,
        kind=kind,
        path=path,
        start=start,
        facts=facts,
        source=source,
        callees=callees,
        call_lines=call_lines,
        already_read=(),
        extra={},
        max_tokens=max_tokens,
        retry=retry,
    )


def tour_step_prompt(
    engine: Engine,
    *,
    step: int,
    reason: str,
    chunk_id: str,
    kind: str,
    path: str,
    start: int,
    facts: str,
    source: str,
    max_tokens: int,
    already_read: Sequence[Summary] = (),
    callees: Sequence[Summary] = (),
    call_lines: Collection[int] = (),
    retry: bool = False,
) -> BudgetedPrompt:
    """The prompt for step `step` (1-based) of a reading tour: like chunk_prompt, plus
    why the step comes next (`reason`) and the steps already read, oldest first (the
    oldest are dropped first when space runs out)."""
    return _budget(
        engine,
        "tour_step",
        chunk_id=chunk_id,
        kind=kind,
        path=path,
        start=start,
        facts=facts,
        source=source,
        callees=callees,
        call_lines=call_lines,
        already_read=already_read,
        extra={"step": str(step), "reason": " ".join(reason.split())},
        max_tokens=max_tokens,
        retry=retry,
    )
