"""summarize.static: trivial chunks get a sentence without the model, real code none."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from localread.data import ChunkKind
from localread.repo.chunks import extract_chunks, parse
from localread.summarize import static_summary


def chunk_of(source: str, kind: ChunkKind, tmp_name: str = "m.py") -> tuple[Any, str, bool]:
    data = textwrap.dedent(source).encode()
    chunks = extract_chunks(parse(data), data, tmp_name, "m").chunks
    chunk = next(c for c in chunks if c.kind is kind)
    text = "\n".join(data.decode().split("\n")[chunk.start - 1 : chunk.end])
    has_children = any(c.parent == chunk.id for c in chunks)
    if kind is ChunkKind.MODULE:
        text = data.decode()
    return chunk, text, has_children


@pytest.mark.parametrize(
    ("source", "kind", "expected"),
    [
        ("def f(x):\n    pass\n", ChunkKind.FUNCTION, "Does nothing (a placeholder with no code)."),
        ('def f(x):\n    """Compute the loss."""\n    ...\n', ChunkKind.FUNCTION, "Compute the loss. (no code: a placeholder)"),
        ("class A:\n    def f(self):\n        raise NotImplementedError\n", ChunkKind.METHOD, "Abstract: subclasses must implement it."),
        ("class A:\n    @property\n    def size(self):\n        return self._size\n", ChunkKind.METHOD, "Returns `self._size`."),
        ("class A:\n    def __repr__(self):\n        return f'A({self.x!r})'\n", ChunkKind.METHOD, "Returns a readable text form of `A`."),
        ("class A:\n    def set(self, v):\n        self.v = v\n", ChunkKind.METHOD, "Sets `self.v` to `v`."),
        ('def g():\n    """Twice x."""\n    return 2 * x\n', ChunkKind.FUNCTION, "Twice x."),
        ("class Oops(ValueError):\n    pass\n", ChunkKind.CLASS, "An exception type (a subclass of `ValueError`) with no code of its own."),
        ("def main():\n    pass\n\nif __name__ == '__main__':\n    main()\n", ChunkKind.MAIN, "Runs `main()` when the file is executed as a script."),
        ("import sys\nif __name__ == '__main__':\n    sys.exit(main(sys.argv))\n", ChunkKind.MAIN, "Runs `main(sys.argv)` when the file is executed as a script."),
        ('"""Models."""\nfrom .a import A, B\nfrom .c import C\n__all__ = ["A", "B", "C"]\n', ChunkKind.MODULE, "Models. Re-exports `A`, `B`, `C` from `.a`, `.c`."),
        ("", ChunkKind.MODULE, "An empty module."),
    ],
)
def test_trivial_chunks_get_a_static_summary(source: str, kind: ChunkKind, expected: str) -> None:
    chunk, text, has_children = chunk_of(source, kind)
    assert static_summary(chunk, text, has_children) == expected


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("def f(x):\n    y = x + 1\n    return y * 2\n", ChunkKind.FUNCTION),
        ("def f(x):\n    return [g(v) for v in x if v]\n", ChunkKind.FUNCTION),
        ("def f(x):\n    return some_function_with_a_long_name(x, another_argument, third_argument_here)\n", ChunkKind.FUNCTION),
        ("class A:\n    x: int = 1\n", ChunkKind.CLASS),
        ("class A:\n    def f(self):\n        pass\n", ChunkKind.CLASS),
        ("if __name__ == '__main__':\n    a = 1\n    main(a)\n", ChunkKind.MAIN),
        ("import os\nprint(os.getcwd())\n", ChunkKind.MODULE),
    ],
)
def test_real_code_is_left_to_the_model(source: str, kind: ChunkKind) -> None:
    chunk, text, has_children = chunk_of(source, kind)
    assert static_summary(chunk, text, has_children) is None
