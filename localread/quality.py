"""The quality gate: every model text (a tour or explain narrative, a summary, a paper
"why" line) is checked here before a reader sees it.

`check(text, subject, examples=..., shown=..., prefix=...)` returns the reasons the
text fails, in words for the reader (empty: it passes). A text fails when it

- is empty or trivially short;
- shares no content word with the unit (its name's words, parameters, callees,
  attributes, docstring, what it returns or raises);
- restates the unit's name or the reason line and adds nothing;
- repeats most of a worked example or of a summary the prompt showed;
- uses content words of the prompt's worked examples that occur nowhere in the unit
  or its facts (leakage: the answer describes the example, not the code);
- asserts a call relation the facts contradict (`X` calls `Y` when the graph says
  `Y` calls `X`, a callee that appears nowhere in the unit's code) or calls the unit
  a kind of thing it is not (a function "is a `torch.Tensor` object");
- degenerates (a phrase that comes round again and again, runaway identifiers such
  as `a.a.a.a` or `pkg.pkg`, a loop the tidier had to cut, code instead of a sentence);
- echoes its prompt's heading (the layout's "documented:", or the unit's own full
  dotted id).

A `Subject` is what the gate knows of the unit, built once per text by `subject_for`
from the chunk, its facts card and the repository's call graph (`Relations`). Both
live in localread.claims with the rules on calls, files and kinds. Callers ask again
once with another prompt when a text fails, then show the static description
(localread.describe) instead, and say so. Everything here is deterministic and
needs no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from itertools import pairwise
from typing import TYPE_CHECKING

from localread.claims import (
    Subject,
    invented_calls,
    invented_files,
    relations,
    wrong_kind,
    wrong_relations,
)
from localread.data import Chunk, ChunkKind, EdgeKind, FactsCard
from localread.grounding import REPEAT_NGRAM, find_repeat

if TYPE_CHECKING:
    from localread.repo.analysis import Repo

# A text needs at least this many words of its own (beyond the words the prompt put
# in the model's mouth) to say anything.
MIN_WORDS = 4
# A word n-gram that occurs this often is a loop, whatever the length of the text.
LOOP_NGRAM = 3
LOOP_TIMES = 3
# A text of at least DIVERSE_MIN words whose distinct words are fewer than this share
# of them goes round in circles ("the mask of the mask of the mask").
DIVERSE_MIN = 12
DIVERSE_SHARE = 0.35
# An identifier with a part repeated this often, or longer than this, ran away.
RUNAWAY_REPEATS = 3
RUNAWAY_CHARS = 80
# A text needs this many words outside the code it names (`Style.on(cls, meta)`,
# `tqdm_auto.tqdm_discord`): a bare name or a signature is not an explanation.
MIN_PROSE_WORDS = 3
# A name the text says this often (a class "combines the base class `X` with the
# class `X`") goes round in circles.
NAME_TIMES = 3

# Function words: never content, and never "new" when a text restates a name.
_FUNCTION_WORDS = frozenset(["a", "an", "the", "and", "or", "but", "nor", "so", "yet", "of", "in", "on", "at", "by", "for", "to", "from", "with", "without", "into", "onto", "over", "under", "is", "are", "was", "were", "be", "been", "being", "am", "it", "its", "it's", "this", "that", "these", "those", "which", "who", "whom", "whose", "what", "when", "where", "while", "whether", "if", "then", "than", "else", "as", "also", "too", "very", "just", "only", "not", "no", "each", "every", "all", "any", "some", "such", "both", "either", "neither", "there", "here", "their", "they", "them", "we", "our", "you", "your", "he", "she", "his", "her", "i", "me", "my", "one", "ones", "do", "does", "did", "done", "has", "have", "had", "having", "can", "could", "may", "might", "must", "shall", "should", "will", "would", "about", "above", "after", "before", "between", "through", "during", "against", "within", "via", "per", "up", "down", "out", "off", "again", "further", "once", "more", "most", "much", "many", "other", "another", "same", "own", "how", "why", "because", "new"])

# Words that say nothing about a particular piece of code: a text made only of these
# (and function words) is off topic, and the examples' use of them is no leak.
GENERIC = _FUNCTION_WORDS | frozenset(["function", "functions", "method", "methods", "class", "classes", "module", "modules", "object", "objects", "instance", "instances", "code", "piece", "pieces", "value", "values", "variable", "variables", "argument", "arguments", "parameter", "parameters", "param", "params", "result", "results", "return", "returns", "returned", "returning", "output", "outputs", "input", "inputs", "call", "calls", "called", "calling", "caller", "callee", "run", "runs", "running", "execute", "executes", "executed", "use", "uses", "used", "using", "make", "makes", "made", "making", "take", "takes", "taken", "taking", "give", "gives", "given", "get", "gets", "set", "sets", "setting", "new", "list", "lists", "dict", "dictionary", "tuple", "string", "strings", "number", "numbers", "int", "integer", "float", "bool", "boolean", "true", "false", "none", "null", "type", "types", "name", "names", "line", "lines", "file", "files", "first", "last", "next", "previous", "step", "steps", "part", "parts", "thing", "things", "way", "example", "examples", "simple", "small", "large", "main", "helper", "helpers", "default", "defaults", "optional", "option", "options", "data", "item", "items", "element", "elements", "key", "keys", "index", "indices", "count", "size", "length", "order", "set", "of", "one", "two", "three", "create", "creates", "created", "build", "builds", "built", "return", "apply", "applies", "applied", "applying", "turn", "turns", "turned", "keep", "keeps", "kept", "hold", "holds", "held", "store", "stores", "stored", "contain", "contains", "containing", "include", "includes", "including", "provide", "provides", "provided", "check", "checks", "checked", "convert", "converts", "converted", "compute", "computes", "computed", "implementation", "implements", "implemented", "define", "defines", "defined", "definition", "given", "specified", "specific", "based", "current", "currently", "well", "like", "need", "needs", "needed", "want", "wants", "able", "allows", "allow", "called", "via", "whole", "entire", "self", "cls", "def", "pass", "none", "args", "kwargs", "otherwise", "instead", "together"]) | frozenset([
    # words of the prompts' instructions, and everyday words the examples use
    "document", "documented", "docstring", "few", "init", "inside", "open", "opens", "package",
    "packages", "row", "rows", "second", "seconds", "until", "wide", "fill", "fills", "written",
    "shown", "plain", "word", "words", "author", "authors", "describe", "describes", "described",
    # the paper prompt's note format
    "match", "matches", "section", "sections", "shared", "strong", "partial", "weak", "rate", "rates",
    "pair", "pairs", "note", "notes", "paper", "papers",
])

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A comment to the end of its line, past any one-line string before it (kept, group 1):
# a word of a comment ("# the BM25 score of each token") is nothing the code calls.
_COMMENT = re.compile(r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|#[^\n]*""")
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Words too plain to make a text about a unit ("returns the value"): everything else,
# even a generic word of the unit's own name (`main`, `get`), counts as on topic.
_PLAIN = _FUNCTION_WORDS | frozenset([
    "function", "method", "class", "module", "code", "object", "value", "values", "return",
    "returns", "call", "calls", "called", "self", "cls", "given", "used", "uses", "use",
])


# --------------------------------------------------------------------------- words


def split_words(text: str) -> list[str]:
    """The words of text, identifiers split at `_`, `.` and inner capitals, lower-cased
    (`MaskDecoder.forward` -> mask, decoder, forward)."""
    return [w.lower() for w in _WORDS.findall(text)]


@cache
def stem(word: str) -> str:
    """A light stem, so that `masks`, `masking` and `mask` meet; not a dictionary.
    "es" goes only where English adds it (`boxes`, `matches`): `nodes` is `node`, as
    `images` is `image`."""
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"), ("xes", "x"),
                         ("ing", ""), ("ed", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + repl
    return word


def content_words(text: str, ignore: frozenset[str] = GENERIC) -> set[str]:
    """Stems of the words of text that are not in `ignore` and have 3 letters or more."""
    return {stem(w) for w in split_words(text)
            if len(w) >= 3 and not w.isdigit() and w not in ignore and stem(w) not in ignore}


@cache
def example_vocabulary(examples: tuple[str, ...]) -> frozenset[str]:
    """The domain words of the worked examples: their content words beyond GENERIC.
    A template block's instructions (before its first `# ---` or `## ` example) are
    not an example: their words are how any answer may speak."""
    texts = []
    for text in examples:
        start = re.search(r"^(?:# ---|## )", text, re.MULTILINE)
        texts.append(text[start.start():] if start else text)
    return frozenset(content_words(" ".join(texts)))


# A word meets another that begins with it (`coord` and `coordinate`, `img` no): at
# least this many letters in common.
PREFIX_LETTERS = 4


def overlap(words: set[str], vocabulary: frozenset[str]) -> set[str]:
    """The words that are in vocabulary, or begin a word of it, or are begun by one
    (PREFIX_LETTERS letters at least): abbreviations meet what they abbreviate."""
    found = words & vocabulary
    for word in words - found:
        if len(word) >= PREFIX_LETTERS and any(
            len(v) >= PREFIX_LETTERS and (v.startswith(word) or word.startswith(v)) for v in vocabulary
        ):
            found.add(word)
    return found


# --------------------------------------------------------------------------- subject




def _card_text(card: FactsCard) -> str:
    """Every name and phrase of the card that says what the unit is."""
    # The id: a method is about its class too, and a module about its package. Not
    # the top package's name, which every unit of the package shares: "the tqdm
    # discord" is not on topic for `tqdm.contrib.discord.tqdm_discord.close` because
    # of `tqdm` (its own name words still count when they are the package's too).
    package, _, rest = card.id.partition(".")
    parts = [rest or package, card.docstring or ""]
    parts += [p.name for p in card.parameters]
    parts += [p.annotation or "" for p in card.parameters]
    parts += [c.id.rsplit(".", 1)[-1] for c in card.callees]
    parts += list(card.outline) + list(card.attributes_read) + list(card.attributes_written)
    parts += [card.returns or "", *card.returned, *card.raises]
    parts += [*(card.bases or ()), *(card.methods or ()), *(card.defines or ())]
    return " ".join(parts)


# Words that add nothing to a unit's name: "`f` is called and used" says no more
# than "`f`"; a constructor that "sets up the parser" says no more than its class.
_EMPTY_VERBS = frozenset({"call", "used", "use", "instantiat", "creat", "built", "build", "defin", "implement",
                          "provid", "simple", "helper", "piece", "code"})
_CONSTRUCTOR_WORDS = frozenset({"set", "up", "constructor", "initializ", "initialis", "init", "instance", "object",
                                "new", "setup"})


def subject_for(
    repo: Repo,
    chunk: Chunk,
    card: FactsCard,
    *,
    reason: str | None = None,
    shown: Iterable[str] = (),
    source: str | None = None,
) -> Subject:
    """The Subject of a text about chunk. reason: the tour's reason line for it;
    shown: the summaries its prompt showed; source: its source text (read when None)."""
    code = source if source is not None else repo.chunk_source(chunk)
    card_text = _card_text(card)
    kind_words = {"class", "method", "function", "module", "script", "block", str(chunk.kind)} | _EMPTY_VERBS
    if chunk.name == "__init__":
        kind_words |= _CONSTRUCTOR_WORDS
    # The file's name too: "Main function for cli.py" says no more than the tour's heading.
    restated = {stem(w) for w in split_words(f"{chunk.qualname} {chunk.path} {reason or ''}")} | kind_words
    ids = {chunk.id}
    if chunk.kind is ChunkKind.CLASS:
        ids.add(f"{chunk.id}.__init__")
    callers = {e.source for e in repo.graph.callers(chunk.id) if e.kind in (EdgeKind.CALLS, EdgeKind.INSTANTIATES)}
    for other in ids:
        callers |= {e.source for e in repo.graph.callers(other) if e.kind in (EdgeKind.CALLS, EdgeKind.INSTANTIATES)}
    return Subject(
        name=chunk.name if chunk.kind is not ChunkKind.MODULE else chunk.id.rsplit(".", 1)[-1],
        ids=frozenset(ids),
        kind=str(chunk.kind),
        vocabulary=frozenset(content_words(card_text, _PLAIN)),
        context=frozenset(content_words(" ".join([code, card_text, reason or "", chunk.path, *shown]))),
        restated=frozenset(restated),
        source_names=frozenset(_IDENT.findall(_COMMENT.sub(lambda m: m.group(1) or "", code))) | {chunk.name},
        callers=frozenset(callers),
        relations=relations(repo),
        bases=_written_bases(code, chunk.name) | {b.rsplit(".", 1)[-1] for b in card.bases or ()}
        if chunk.kind is ChunkKind.CLASS else None,
        lineage=_lineage(repo, chunk, code) if chunk.kind is ChunkKind.CLASS else frozenset(),
    )


def _lineage(repo: Repo, chunk: Chunk, code: str) -> frozenset[str]:
    """The bases of a class as written, and those of the repository's classes it
    derives from, up the INHERITS edges (each class once: a cycle ends). A base from
    PyTorch's `nn` (`nn.Sequential`, `torch.nn.Linear`) brings `Module`, which every
    class there derives from."""
    found: set[str] = set()
    seen = {chunk.id}
    todo = [(chunk, code)]
    while todo:
        current, text = todo.pop()
        written = _written_bases(text, current.name, dotted=True)
        found |= {b.rsplit(".", 1)[-1] for b in written}
        if any(b.startswith(("nn.", "torch.nn.")) for b in written):
            found.add("Module")
        for edge in repo.graph.callees(current.id):
            parent = repo.chunks.get(edge.target)
            if edge.kind is EdgeKind.INHERITS and parent is not None and parent.id not in seen:
                seen.add(parent.id)
                found.add(parent.name)
                todo.append((parent, repo.chunk_source(parent)))
    return frozenset(found)


def _written_bases(code: str, name: str, *, dotted: bool = False) -> frozenset[str]:
    """The base classes in a class statement's parentheses, last part of each name
    (`nn.Module` -> `Module`; all of it when dotted; keywords such as `metaclass=`
    left out)."""
    match = re.search(rf"\bclass\s+{re.escape(name)}\s*\(", code)
    if match is None:
        return frozenset()
    depth, end = 1, match.end()
    while end < len(code) and depth:
        depth += {"(": 1, ")": -1}.get(code[end], 0)
        end += 1
    found = set()
    for part in code[match.end() : end - 1].split(","):
        written = re.match(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\[|$)", part)
        if written is not None and "=" not in part:
            found.add(written.group(1) if dotted else written.group(1).rsplit(".", 1)[-1])
    return frozenset(found)


def subject_of_names(name: str, kind: str, parts: Iterable[str], context: Iterable[str] = ()) -> Subject:
    """The Subject of a text about something that is not one chunk (a package, the
    repository): what it is made of (parts: names and their summaries)."""
    vocabulary = content_words(" ".join([name, *parts]), _PLAIN)
    return Subject(
        name=name,
        ids=frozenset(),
        kind=kind,
        vocabulary=frozenset(vocabulary),
        context=frozenset(content_words(" ".join([name, *parts, *context]))),
        restated=frozenset({stem(w) for w in split_words(name)} | {kind}),
    )


# --------------------------------------------------------------------------- the gate


def check(
    text: str,
    subject: Subject,
    *,
    examples: Sequence[str] = (),
    shown: Mapping[str, str] | None = None,
    prefix: str = "",
) -> tuple[str, ...]:
    """Why `text` must not be shown as a text about `subject`, in words for a reader;
    empty when it passes. examples: the worked examples of the prompt (their whole
    text: code and answers); shown: label -> summary for the summaries the prompt
    showed (a text that repeats one copied it); prefix: the words the prompt put in
    the model's mouth (the unit's name), which are not the model's own."""
    answer = text.strip()
    own = answer.removeprefix(prefix.strip()).strip() if prefix.strip() else answer
    words = split_words(own)
    if not own:
        return ("empty",)
    if len(words) < MIN_WORDS:
        return (f"too short ({len(words)} word{'s' if len(words) != 1 else ''})",)
    reasons: list[str] = []
    degenerate = _degenerate(own, words)
    if degenerate is not None:
        return (degenerate,)
    if len(split_words(_prose(own))) < MIN_PROSE_WORDS:
        return ("names code and says nothing about it",)
    copy = _repeated(own, examples, shown or {})
    if copy is not None:
        return (copy,)
    found = content_words(own)
    borrowed = found & example_vocabulary(tuple(examples))
    leaked = sorted(borrowed - overlap(borrowed, subject.context))
    if leaked:
        reasons.append("took " + _names(leaked) + " from a worked example of the prompt, not from the code")
    if subject.vocabulary and not overlap(content_words(own, _PLAIN), subject.vocabulary):
        reasons.append("off topic: it shares no word with the code's names, parameters, callees or docstring")
    elif not {stem(w) for w in words if w not in _FUNCTION_WORDS and not w.isdigit()} - subject.restated:
        reasons.append("restates the name" + (" and the reason line" if subject.kind not in ("package", "repository") else "")
                       + " and adds nothing")
    reasons += wrong_kind(answer, subject)
    reasons += wrong_bases(answer, subject)
    reasons += wrong_relations(answer, subject)
    reasons += invented_calls(answer, subject)
    reasons += invented_files(answer, subject)
    echo = _echo(own, subject)
    if echo is not None and not reasons:
        reasons.append(echo)
    return tuple(reasons)


# The prompts' own layout ("# Code: `x` (function), documented:"), which a small model
# writes back ("Edge_bfs.edge_bfs() function, documented: 1.", read in networkx's).
_LAYOUT = re.compile(r"\bdocumented\s*:|(?:^|\s)(?:#\s*)?Code:\s", re.IGNORECASE)


def _echo(text: str, subject: Subject) -> str | None:
    """Why text echoes its prompt's heading instead of saying something: the layout's
    words, or a function's or class's own full dotted id (the heading shows it;
    "Test the `test_empty` method is called on `networkx....TestIntervalGraph.test_empty`")."""
    if _LAYOUT.search(text):
        return "echoes the prompt's layout (“documented:”), not the code"
    if subject.kind not in ("function", "method", "class"):
        return None  # a module is rightly named by its dotted id ("The module `pkg.io.read` ...")
    for uid in subject.ids:
        if uid.count(".") >= 2 and re.search(rf"(?<![\w.]){re.escape(uid)}(?![\w])", text):
            return f"echoes the prompt's heading: it spells out its own id `{uid}`"
    return None


def _names(words: Sequence[str]) -> str:
    return ", ".join(f"“{w}”" for w in words[:4]) + (f" and {len(words) - 4} more" if len(words) > 4 else "")


# Code in a text: a span in backticks, a call with its arguments, a dotted name, a
# snake_case or CamelCase identifier.
_CODE_NAME = re.compile(
    r"`[^`\n]+`|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?:\(\))?|[A-Za-z0-9]*_[A-Za-z0-9_]+(?:\(\))?"
    r"|\b[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*\b"
)
_CODE_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\([^()]*\)")


def _prose(text: str) -> str:
    """text without the code it names: what it says in words of its own."""
    return _CODE_NAME.sub(" ", _CODE_CALL.sub(" ", text))


def _repeated(text: str, examples: Sequence[str], shown: Mapping[str, str]) -> str | None:
    repeat = find_repeat(text, [*examples, *shown.values()])
    if repeat is None:
        return None
    share = f"{repeat.share:.0%} of its {REPEAT_NGRAM}-word phrases"
    said = next((label for label, summary in shown.items() if summary == repeat.reference), None)
    if said is not None and repeat.reference not in examples:
        return f"repeated what the prompt said about {said} ({share})"
    return f"repeated a worked example of the prompt ({share})"


def _degenerate(text: str, words: list[str]) -> str | None:
    for token in re.findall(r"[A-Za-z0-9_.]+", text):
        parts = [p for p in re.split(r"[._]", token) if p]
        dotted = [p for p in token.split(".") if p]
        # `a.a`, or a pair of parts said again (`MarkdownIt.main.MarkdownIt.main.py`,
        # read in markdown-it's tour).
        pairs = list(pairwise(dotted))
        stutters = any(a == b for a, b in pairs) or len(set(pairs)) < len(pairs)
        if len(token) > RUNAWAY_CHARS or stutters or any(parts.count(p) >= RUNAWAY_REPEATS for p in set(parts)):
            return f"degenerate: a runaway identifier ({token[:40]}{'...' if len(token) > 40 else ''})"
    prose = re.sub(r"`[^`]*`", " ", text)
    if re.search(r"\s=\s|==|\)\s*:|^\s*(?:def|class|return|import)\s", prose):
        return "degenerate: it is code, not a sentence"
    said: dict[str, int] = {}
    for mention in _CODE_NAME.findall(text):
        name = mention.strip("`").removesuffix("()")
        said[name] = said.get(name, 0) + 1
        if said[name] >= NAME_TIMES:
            return f"degenerate: it names `{name}` {NAME_TIMES} times"
    grams: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - LOOP_NGRAM + 1):
        gram = tuple(words[i : i + LOOP_NGRAM])
        grams[gram] = grams.get(gram, 0) + 1
        if grams[gram] >= LOOP_TIMES:
            return f"degenerate: “{' '.join(gram)}” comes round {LOOP_TIMES} times"
    if len(words) >= DIVERSE_MIN and len(set(words)) < DIVERSE_SHARE * len(words):
        return "degenerate: it repeats the same few words"
    if text.endswith(" ..."):
        return "degenerate: it went round in a loop and was cut"
    return None


# A lookahead, so that claims may overlap ("a subclass of the base class `X`").
_BASE_CLAIM = re.compile(
    r"\b(?=(?:sub-?class\s+of|inherits\s+from|derived\s+from|extends|base\s+class(?:\s+is)?)\s+"
    r"(?:the\s+)?(?:`(?P<quoted>[A-Za-z_][A-Za-z0-9_.]*)`|(?P<base>[A-Z][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)))",
    re.IGNORECASE,
)


def wrong_bases(text: str, subject: Subject) -> list[str]:
    """A class said to derive from a class that is not among its bases, or from itself."""
    if subject.bases is None:
        return []
    for match in _BASE_CLAIM.finditer(text):
        quoted, bare = match.group("quoted"), match.group("base")
        # A word in plain prose ("extends the mask") is no class name: only code is.
        if quoted is None and not bare[0].isupper():
            continue
        written = quoted or bare
        if text[match.end("quoted" if quoted else "base"):].startswith(("'s", "’s")):  # "PyTorch's `Module`"
            continue
        base = written.rsplit(".", 1)[-1]
        if base.lower() in GENERIC or base in subject.bases or base in subject.lineage:
            continue
        if base == subject.name:
            return [f"calls `{subject.name}` its own base class"]
        known = ", ".join(f"`{b}`" for b in sorted(subject.bases)) or "none"
        return [f"says `{subject.name}` derives from `{base}`; its bases are {known}"]
    return []
