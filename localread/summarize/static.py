"""Static summaries: what a trivial chunk does, written without a model.

`static_summary(chunk, source, has_children)` reads the chunk's own source with
Python's `ast` (never running it) and returns a sentence for a placeholder, an
abstract method, a getter or setter, `__repr__`, a one-line return, a `__main__`
block that only calls one function, an import-only module or a plain setup.py;
None for code that needs the model. A docstring's first sentence is preferred to a
generated phrase.
"""

from __future__ import annotations

import ast
import textwrap

from localread.data import Chunk, ChunkKind
from localread.sentences import first_sentence


def _strip_docstring(body: list[ast.stmt]) -> tuple[str | None, list[ast.stmt]]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.value.value, body[1:]
    return None, body


def _is_placeholder(stmts: list[ast.stmt]) -> bool:
    return all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in stmts
    )


def _raises_not_implemented(stmts: list[ast.stmt]) -> bool:
    if len(stmts) != 1 or not isinstance(stmts[0], ast.Raise) or stmts[0].exc is None:
        return False
    exc = stmts[0].exc
    name = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(name, ast.Name) and name.id == "NotImplementedError"


def _short(node: ast.AST, limit: int = 60) -> str | None:
    text = ast.unparse(node)
    return text if len(text) <= limit and "\n" not in text else None


def _static_function(chunk: Chunk, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    doc, body = _strip_docstring(node.body)
    said = first_sentence(doc)
    if not body or _is_placeholder(body):
        return f"{said} (no code: a placeholder)" if said else "Does nothing (a placeholder with no code)."
    if _raises_not_implemented(body):
        return f"{said} (abstract: subclasses implement it)" if said else "Abstract: subclasses must implement it."
    if len(body) != 1:
        return None
    stmt = body[0]
    if chunk.name in ("__repr__", "__str__") and isinstance(stmt, ast.Return):
        owner = chunk.qualname.rsplit(".", 1)[0] if "." in chunk.qualname else "the object"
        return said or f"Returns a readable text form of `{owner}`."
    if isinstance(stmt, ast.Return) and stmt.value is not None:
        value = stmt.value
        if isinstance(value, ast.Lambda | ast.JoinedStr | ast.ListComp | ast.DictComp | ast.GeneratorExp):
            return None
        text = _short(value)
        if text is None:
            return None
        return said or f"Returns `{text}`."
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = _short(stmt.targets[0], 40), _short(stmt.value, 40)
        if target is not None and value is not None and target.startswith("self."):
            return said or f"Sets `{target}` to `{value}`."
    return None


def _static_class(node: ast.ClassDef) -> str | None:
    doc, body = _strip_docstring(node.body)
    if body and not _is_placeholder(body):
        return None
    said = first_sentence(doc)
    bases = [ast.unparse(b) for b in node.bases]
    if said:
        return said
    if any(b.endswith(("Error", "Exception", "Warning")) for b in bases):
        return f"An exception type (a subclass of `{bases[0]}`) with no code of its own."
    if bases:
        return f"An empty subclass of `{bases[0]}`."
    return "An empty class (a placeholder with no code)."


def _static_main(node: ast.If) -> str | None:
    body = node.body
    if len(body) != 1 or not isinstance(body[0], ast.Expr | ast.Raise):
        return None
    value = body[0].value if isinstance(body[0], ast.Expr) else body[0].exc
    # `main()`, `main(args)`, `sys.exit(main())`, `raise SystemExit(main())`
    call = value
    if isinstance(call, ast.Call) and ast.unparse(call.func) in ("sys.exit", "exit", "SystemExit") and call.args:
        call = call.args[0]
    if not isinstance(call, ast.Call):
        return None
    text = _short(call)
    return f"Runs `{text}` when the file is executed as a script." if text else None


def _static_setup(body: list[ast.stmt]) -> str | None:
    """setup.py that only imports and calls setup(...): packaging, not code to read."""
    calls = [s for s in body if not isinstance(s, ast.Import | ast.ImportFrom)]
    if len(calls) != 1 or not isinstance(calls[0], ast.Expr) or not isinstance(calls[0].value, ast.Call):
        return None
    call = calls[0].value
    if ast.unparse(call.func).rsplit(".", 1)[-1] != "setup":
        return None
    name = next(
        (k.value.value for k in call.keywords
         if k.arg == "name" and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)),
        None,
    )
    what = f"the `{name}` project" if name else "the project"
    return f"Packaging script: declares {what} to setuptools, which installs it."


def _static_module(source: str, path: str = "") -> str | None:
    """An import-only (or empty) module: what it re-exports; a plain setup.py."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    doc, body = _strip_docstring(tree.body)
    if path == "setup.py":
        return _static_setup(body)
    names: list[str] = []
    sources: list[str] = []
    for stmt in body:
        if isinstance(stmt, ast.ImportFrom):
            sources.append("." * stmt.level + (stmt.module or ""))
            names += [a.asname or a.name for a in stmt.names]
        elif isinstance(stmt, ast.Import):
            names += [a.asname or a.name for a in stmt.names]
        elif isinstance(stmt, ast.Assign | ast.AnnAssign) and "__all__" in ast.unparse(stmt).split("=")[0] or isinstance(stmt, ast.Pass):
            continue
        else:
            return None
    said = first_sentence(doc)
    if not names:
        return said or "An empty module."
    shown = ", ".join(f"`{n}`" for n in names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    where = ", ".join(f"`{s}`" for s in dict.fromkeys(sources)) if sources else None
    made = f"Re-exports {shown}" + (f" from {where}." if where else ".")
    return f"{said} {made}" if said else made


def static_summary(chunk: Chunk, source: str, has_children: bool) -> str | None:
    """A summary written without a model for a trivial chunk, or None.

    Trivial: a setup.py that only calls setup(...); a function or method whose body is empty, `pass`, `...`, a docstring or
    `raise NotImplementedError`, or a single short `return expr` / `self.x = y`;
    `__repr__`/`__str__` with one return; a class with no body of its own and no
    members; a `__main__` block that only calls one function; a module of imports
    only. A docstring's first sentence is preferred to a generated phrase."""
    if chunk.kind is ChunkKind.MODULE:
        return None if has_children else _static_module(source, chunk.path)
    try:
        tree = ast.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) != 1:
        return None
    node = tree.body[0]
    if chunk.kind is ChunkKind.MAIN and isinstance(node, ast.If):
        return _static_main(node)
    if chunk.kind in (ChunkKind.FUNCTION, ChunkKind.METHOD) and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return _static_function(chunk, node)
    if chunk.kind is ChunkKind.CLASS and isinstance(node, ast.ClassDef) and not has_children:
        return _static_class(node)
    return None
