"""Quick parsers: source text to `ast` nodes, without Python's parser where the text is
simple (a dotted name, plain arguments, plain parameters), since most of it is.

Pure functions over text; invalid text gives None (or nothing), never an exception.
"""

from __future__ import annotations

import ast
import re

DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
DOTTED_BYTES = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
SELF_ATTR = re.compile(r"([A-Za-z_]\w*)\s*\.\s*([A-Za-z_]\w*)\Z")
# An element of an unpacking target that is exactly `self.name`.
SELF_TARGET = re.compile(rb"(?<![\w.])self\s*\.\s*([A-Za-z_]\w*)(?=\s*(?:[,)\]=]|\Z))")
# `base[key]`, an item assignment's target.
SUBSCRIPT = re.compile(r"\s*([A-Za-z_][\w.]*)\s*\[(.*)\]\s*\Z", re.DOTALL)
# A name or dotted chain used as a value: not called, not a keyword, not a prefix.
REF_CHAIN = re.compile(
    rb"(?<![\w.])((?:[A-Za-z_]\w*\s*\.\s*)*([A-Za-z_]\w*))(?!\s*\(|\w|\s*\.|\s*=(?!=))"
)
STRINGS = re.compile(
    rb"[rbfuRBFU]{0,2}(?:\'\'\'.*?\'\'\'|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\")",
    re.DOTALL,
)

_PARAM_NESTED = re.compile(rb"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}|'[^']*'|\"[^\"]*\"")
_PARAM_NAME = re.compile(rb"(?:^|,)\s*\**\s*([A-Za-z_]\w*)")
_SIMPLE_DEFAULT = r"(?:[\w.]+|-?\d[\w.]*|'[^'\\,=]*'|\"[^\"\\,=]*\")"
_SIMPLE_PARAMS = re.compile(
    rf"\(\s*(?:\**[A-Za-z_]\w*\s*(?:=\s*{_SIMPLE_DEFAULT}\s*)?,\s*)*"
    rf"(?:\**[A-Za-z_]\w*\s*(?:=\s*{_SIMPLE_DEFAULT}\s*)?)?\)\Z"
)
_SIMPLE_ARGS = re.compile(
    r"\s*(?:(?:[A-Za-z_]\w*\s*=\s*)?(?:[A-Za-z_][\w.]*|-?\d[\w.]*|'[^'\\,=]*'|\"[^\"\\,=]*\")\s*"
    r"(?:,\s*(?:[A-Za-z_]\w*\s*=\s*)?(?:[A-Za-z_][\w.]*|-?\d[\w.]*|'[^'\\,=]*'|\"[^\"\\,=]*\")\s*)*,?\s*)?\Z"
)


def parse_expr(text: str) -> ast.expr | None:
    """An expression's text as an ast node (also when it spans lines unbracketed)."""
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    try:
        return ast.parse(f"(\n{text}\n)", mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def quick_expr(text: str) -> ast.expr | None:
    """A dotted name as an ast node, without the parser; None for anything else."""
    text = text.strip()
    if not DOTTED.match(text):
        return None
    parts = text.split(".")
    node: ast.expr = ast.Name(parts[0])
    for part in parts[1:]:
        node = ast.Attribute(node, part)
    return node


def quick_call(args: str) -> ast.Call | None:
    """`(a, b.c, k=v, 3, "s")` as an ast.Call of `_`, without the parser, when every
    argument is a dotted name, a number or a simple string; None otherwise."""
    if len(args) > 200 or args[:1] != "(" or args[-1:] != ")":
        return None
    inner = args[1:-1]
    if not _SIMPLE_ARGS.match(inner):
        return None
    call = ast.Call(ast.Name("_"), [], [])
    for piece in inner.split(","):
        piece = piece.strip()
        if not piece:
            continue
        name, eq, value_text = piece.partition("=")
        if not eq:
            name, value_text = "", name
        value_text = value_text.strip()
        first = value_text[:1]
        value: ast.expr | None
        if first.isdigit() or first == "-":
            value = ast.Constant(0)
        elif first in ("'", '"'):
            # The text itself: a dotted name in a string can name a class
            # (`get_obj_from_str("pkg.mod.Class")`, `getattr(m, "name")`).
            body = value_text[1:-1]
            value = ast.Constant(body if "\\" not in body else "")
        else:
            value = quick_expr(value_text)
            if value is None:
                return None
        if name:
            call.keywords.append(ast.keyword(name.strip(), value))
        elif call.keywords:
            return None
        else:
            call.args.append(value)
    return call


def scan_param_names(text: bytes) -> frozenset[str]:
    """Parameter names of `(a, b: Dict[str, int] = {}, *c, **d)` without parsing:
    bracketed and quoted parts are removed, then the name after each comma is taken."""
    inner = text[1:-1]
    while True:
        stripped = _PARAM_NESTED.sub(b"", inner)
        if stripped == inner:
            break
        inner = stripped
    return frozenset(m.group(1).decode() for m in _PARAM_NAME.finditer(inner))


def quick_params(text: str) -> ast.arguments | None:
    """`(self, x, k=1, *args, **kwargs)` as ast.arguments without the parser, when no
    parameter is annotated and every default is a name or a number."""
    if not _SIMPLE_PARAMS.match(text):
        return None
    args = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                         kwarg=None, defaults=[])
    keyword_only = False
    for piece in text[1:-1].split(","):
        piece = piece.strip()
        if not piece:
            continue
        name, _, default = piece.partition("=")
        name, default = name.strip(), default.strip()
        value: ast.expr | None = None
        if default:
            if default[0].isdigit() or default[0] == "-":
                value = ast.Constant(0)
            elif default[0] in ("'", '"'):
                value = ast.Constant("")
            else:
                value = quick_expr(default)
        if name.startswith("**"):
            args.kwarg = ast.arg(name[2:].strip())
        elif name.startswith("*"):
            args.vararg = ast.arg(name[1:].strip())
            keyword_only = True
        elif keyword_only:
            args.kwonlyargs.append(ast.arg(name))
            args.kw_defaults.append(value)
        else:
            args.args.append(ast.arg(name))
            if value is not None:
                args.defaults.append(value)
            elif args.defaults:
                return None  # a default before a non-default: let the parser judge
    return args


def parse_params(text: str) -> ast.arguments | None:
    """A parameter list `(a, b: int = 1, *c, **d)` as ast.arguments (None if invalid)."""
    return parse_def_params(f"def _{text}: pass")


def parse_def_params(text: str) -> ast.arguments | None:
    """The parameters of the function that `text`, a whole `def`, defines."""
    try:
        fn = ast.parse(text).body[0]
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # a default nested too deeply
        return None
    return fn.args if isinstance(fn, ast.FunctionDef) else None


def lambda_names(text: bytes) -> list[str]:
    """The names a lambda's parameter list (`x, y=1, *rest`) binds."""
    try:
        node = ast.parse(f"lambda {text.decode('utf-8', 'replace')}: 0", mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names


def span_text(source: bytes, start: int, end: int) -> str | None:
    """source[start:end] with whitespace collapsed; None when start is -1 (absent)."""
    if start < 0:
        return None
    return " ".join(source[start:end].decode("utf-8", "replace").split())
