from localread.data import ChunkKind
from localread.repo.chunks import extract_chunks, parse, sha256

SOURCE = b'''"""Module doc."""
import torch


def plain(a, b=2, *args, c: int = 3, **kw) -> int:
    """Add things.

    More text.
    """
    def nested(x):
        return x
    return nested(a) + b


@torch.no_grad()
@other
class Model(Base, metaclass=Meta):
    """A model."""

    async def run(self, x):
        return x

    @property
    def size(self):
        return 1

    @size.setter
    def size(self, value):
        pass


if __name__ == "__main__":
    plain(1)
'''


def chunks_of(source: bytes, path: str = "pkg/mod.py", module: str = "pkg.mod"):
    return extract_chunks(parse(source), source, path, module)


def test_kinds_ids_spans_and_parents() -> None:
    result = chunks_of(SOURCE)
    assert result.errors == 0
    rows = [(c.id, c.kind, c.start, c.end, c.parent) for c in result.chunks]
    assert rows == [
        ("pkg.mod", ChunkKind.MODULE, 1, 33, None),
        ("pkg.mod.plain", ChunkKind.FUNCTION, 5, 12, "pkg.mod"),
        ("pkg.mod.plain.nested", ChunkKind.FUNCTION, 10, 11, "pkg.mod.plain"),
        ("pkg.mod.Model", ChunkKind.CLASS, 15, 29, "pkg.mod"),
        ("pkg.mod.Model.run", ChunkKind.METHOD, 20, 21, "pkg.mod.Model"),
        ("pkg.mod.Model.size", ChunkKind.METHOD, 23, 25, "pkg.mod.Model"),
        ("pkg.mod.Model.size#2", ChunkKind.METHOD, 27, 29, "pkg.mod.Model"),
        ("pkg.mod.__main__", ChunkKind.MAIN, 32, 33, "pkg.mod"),
    ]


def test_signature_docstring_decorators_async_hash() -> None:
    by_id = {c.id: c for c in chunks_of(SOURCE).chunks}
    assert by_id["pkg.mod"].docstring == "Module doc."
    plain = by_id["pkg.mod.plain"]
    assert plain.signature == "def plain(a, b=2, *args, c: int = 3, **kw) -> int"
    assert plain.docstring == "Add things.\n\nMore text."
    model = by_id["pkg.mod.Model"]
    assert model.signature == "class Model(Base, metaclass=Meta)"
    assert model.decorators == ("torch.no_grad()", "other")
    assert model.qualname == "Model"
    assert by_id["pkg.mod.Model.run"].is_async
    assert by_id["pkg.mod.Model.run"].qualname == "Model.run"
    assert by_id["pkg.mod.Model.size"].decorators == ("property",)
    lines = SOURCE.split(b"\n")
    assert plain.source_hash == sha256(b"\n".join(lines[4:12]))
    assert by_id["pkg.mod.__main__"].signature == 'if __name__ == "__main__":'


def test_syntax_errors_keep_the_chunks_that_parse() -> None:
    source = b"def good():\n    return 1\n\ndef bad(:\n    pass\n\nclass Fine:\n    def m(self):\n        pass\n"
    result = chunks_of(source)
    assert result.errors >= 1
    ids = [c.id for c in result.chunks]
    assert "pkg.mod.good" in ids
    assert "pkg.mod.Fine.m" in ids


def test_multiline_signature_is_one_line() -> None:
    source = b"def f(\n    a,\n    b: int = 1,\n):\n    pass\n"
    (chunk,) = [c for c in chunks_of(source).chunks if c.kind is ChunkKind.FUNCTION]
    assert chunk.signature == "def f(a, b: int = 1)"


def test_invalid_utf8_still_chunks() -> None:
    source = b"# caf\xe9\ndef f():\n    return '\xff'\n"
    ids = [c.id for c in chunks_of(source).chunks]
    assert ids == ["pkg.mod", "pkg.mod.f"]
