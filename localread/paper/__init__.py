"""Paper <-> code alignment: `localread paper`.

`read_paper(path)` (paper.text) sections a .pdf/.md/.txt/.tex paper; `code_view(repo)`
and `align(paper, view)` (paper.align) rank, for each section, the symbols that
implement it, and list what is only in the code or only in the paper. Terms shared by
both sides come from paper.tokens; the BM25 index over code from paper.index.
"""

from localread.paper.align import (
    Alignment,
    AlignWeights,
    CodeView,
    Match,
    SectionAlignment,
    align,
    code_view,
    core_symbols,
)
from localread.paper.text import Block, BlockKind, Paper, Section, read_paper

__all__ = [
    "AlignWeights",
    "Alignment",
    "Block",
    "BlockKind",
    "CodeView",
    "Match",
    "Paper",
    "Section",
    "SectionAlignment",
    "align",
    "code_view",
    "core_symbols",
    "read_paper",
]
