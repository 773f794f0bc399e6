"""`localread paper`: reading papers (PDF, Markdown, text, LaTeX), the shared
tokeniser, the BM25 alignment in both directions, bad inputs and the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fpdf import FPDF

from localread.data import Chunk, ChunkKind, Edge, EdgeKind
from localread.errors import LocalreadError
from localread.paper import (
    Block,
    BlockKind,
    CodeView,
    Section,
    align,
    code_view,
    core_symbols,
    read_paper,
)
from localread.paper import text as paper_text
from localread.paper.align import section_query, with_aliases
from localread.paper.explain import explain_matches, parse_answer, shared_prompt
from localread.paper.index import LexicalIndex, code_documents, index_code
from localread.paper.tokens import (
    abbreviation_aliases,
    identifier_terms,
    math_terms,
    prose_terms,
    split_identifier,
    stem,
)
from localread.repo.analysis import analyze
from localread.repo.chunks import extract_chunks, parse
from localread.repo.scan import scan

FIXTURE = Path(__file__).parent / "fixtures" / "paper_protomem"
REPO = FIXTURE / "repo"
PAPER = FIXTURE / "paper.md"
LABELS = json.loads((FIXTURE / "labels.json").read_text(encoding="utf-8"))


def static_view(root: Path) -> CodeView:
    """Chunks and documents without the graph: what the lexical stage sees."""
    result = scan(root)
    chunks: dict[str, Chunk] = {}
    for f in result.files:
        source = (result.root / f.path).read_bytes()
        for chunk in extract_chunks(parse(source), source, f.path, f.module).chunks:
            chunks[chunk.id] = chunk
    return CodeView(chunks=chunks, docs=code_documents(result.root, chunks))


def write_pdf(path: Path, lines: list[tuple[str, str]]) -> Path:
    """A real PDF with a text layer: (style, text) lines; style "h" bold, "p" prose."""
    pdf = FPDF()
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    for style, text in lines:
        pdf.set_font("Helvetica", "B" if style == "h" else "", 12 if style == "h" else 10)
        pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
        if style in ("h", "p"):
            pdf.ln(2)
    pdf.output(str(path))
    return path


# --- reading papers ------------------------------------------------------------------


def test_markdown_sections_keep_titles_equations_and_algorithms() -> None:
    paper = read_paper(PAPER)
    titles = [s.title for s in paper.sections]
    assert paper.title == "ProtoMem: Few-Shot Recognition with Gated Patch Encoders and Prototype Memories"
    assert titles[:4] == ["Abstract", "1 Introduction", "2 Method", "2.1 Patch tokenisation"]
    assert "References" not in titles  # back matter is not aligned
    by_title = {s.title: s for s in paper.sections}
    assert [b.kind for b in by_title["2.2 Gated attention encoder"].blocks] == [
        BlockKind.PARAGRAPH, BlockKind.EQUATION, BlockKind.PARAGRAPH,
    ]
    assert "\\sigma(W_g" in by_title["2.2 Gated attention encoder"].blocks[1].text
    algo = [b for b in by_title["2.6 Episodic training"].blocks if b.kind is BlockKind.ALGORITHM]
    assert algo and algo[0].text.startswith("Algorithm 1: Episodic training")
    assert by_title["2.1 Patch tokenisation"].level == 3


def test_markdown_setext_headings_front_matter_and_links(tmp_path: Path) -> None:
    md = tmp_path / "p.md"
    md.write_text(
        "---\ntitle: x\n---\nMethod\n======\n\nSee [the code](https://x.org/a) and "
        "https://example.org for **details**.\n\nLoss\n----\n\n$$ \\mathcal{L} = a + b $$\n",
        encoding="utf-8",
    )
    paper = read_paper(md)
    assert [s.title for s in paper.sections] == ["Method", "Loss"]
    assert paper.sections[0].text == "See the code and for details."
    assert paper.sections[1].blocks[0].kind is BlockKind.EQUATION


def test_latex_sections_math_algorithms_and_citations(tmp_path: Path) -> None:
    tex = tmp_path / "p.tex"
    tex.write_text(
        r"""\documentclass{article}
\title{Gated \emph{Prototype} Memories}
\begin{document}
\maketitle
\begin{abstract}We keep prototypes.\end{abstract}
\section{Introduction}
Few-shot learning \cite{snell2017} matters. % a comment that must go
\subsection{Prototype memory}\label{sec:mem}
Prototypes are an \textbf{exponential moving average} with momentum $m$:
\begin{equation}\label{eq:ema}
p_c \leftarrow m p_c + (1-m) \mu_c
\end{equation}
\begin{algorithm}
\caption{Episodic training}
\begin{algorithmic}
\For{each episode}
\State update the memory
\EndFor
\end{algorithmic}
\end{algorithm}
\begin{figure}\includegraphics{a.png}\caption{Overview of the memory.}\end{figure}
\section*{Acknowledgements}
We thank everyone.
\bibliography{refs}
\end{document}
""",
        encoding="utf-8",
    )
    paper = read_paper(tex)
    assert paper.title == "Gated Prototype Memories"
    assert [s.title for s in paper.sections] == ["Abstract", "Introduction", "Prototype memory"]
    intro = paper.sections[1].text
    assert "snell2017" not in intro and "comment" not in intro and "Few-shot learning matters." in intro
    kinds = [b.kind for b in paper.sections[2].blocks]
    assert kinds.count(BlockKind.EQUATION) == 1 and kinds.count(BlockKind.ALGORITHM) == 1
    memory = paper.sections[2]
    assert "exponential moving average" in memory.text and "label" not in memory.blocks[1].text
    assert "for each episode" in next(b for b in memory.blocks if b.kind is BlockKind.ALGORITHM).text
    assert "Overview of the memory." in memory.text


def test_plain_text_numbered_headings_follow_each_other(tmp_path: Path) -> None:
    txt = tmp_path / "p.txt"
    txt.write_text(
        "A Paper Title\n\nAbstract\n\nWe do things.\n\n1 Introduction\n\nText of the intro.\n"
        "3 layers of the network are frozen in this setting.\n\n"  # not a heading: lower case
        "2 Method\n\nThe method.\n\n2.1 Mask decoder\n\nThe decoder maps tokens to masks.\n\n"
        "L = CE(p, y) + lambda * D(q, p)   (1)\n\n"
        "7 Unrelated Numbered Line\n\n"  # out of sequence: not a heading
        "Algorithm 1 Training\n1: for each episode do\n2: update the memory\n3: end for\n\n"
        "II. NOT A HEADING HERE\n\nReferences\n\n[1] Someone. A paper. 2020.\n",
        encoding="utf-8",
    )
    paper = read_paper(txt)
    assert [s.title for s in paper.sections] == ["A Paper Title", "Abstract", "1 Introduction", "2 Method", "2.1 Mask decoder"]
    decoder = paper.sections[-1]
    assert [b.kind for b in decoder.blocks] == [
        BlockKind.PARAGRAPH, BlockKind.EQUATION, BlockKind.PARAGRAPH, BlockKind.ALGORITHM, BlockKind.PARAGRAPH,
    ]
    assert "3 layers of the network" in paper.sections[2].text


def test_pdf_sections_paragraphs_equations_and_algorithms(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "paper.pdf",
        [
            ("h", "Prototype Memories for Few-Shot Learning"),
            ("h", "1 Introduction"),
            ("p", "Few-shot learners compare a new image with a handful of labelled examples. " * 3),
            ("h", "2 Method"),
            ("h", "2.1 Prototype memory"),
            ("p", "Each class keeps a prototype that is refreshed as an exponential moving average "
                  + "of the support embeddings, with a momentum coefficient close to one."),
            ("e", "p_c = m p_c + (1 - m) mean_c (1)"),
            ("p", "The memory is cleared at the start of every evaluation run."),
            ("h", "Algorithm 1 Episodic training"),
            ("e", "1: for each episode do"),
            ("e", "2: update the prototype memory"),
            ("e", "3: end for"),
            ("h", "3 Experiments"),
            ("p", "We evaluate on three benchmarks and report mean accuracy over six hundred episodes."),
            ("h", "References"),
            ("p", "[1] J. Snell. Prototypical networks for few-shot learning. 2017."),
        ],
    )
    paper = read_paper(pdf)
    assert paper.format == "pdf"
    titles = [s.title for s in paper.sections]
    assert titles[1:] == ["1 Introduction", "2.1 Prototype memory", "3 Experiments"]
    memory = paper.sections[2]
    kinds = [b.kind for b in memory.blocks]
    assert BlockKind.EQUATION in kinds and BlockKind.ALGORITHM in kinds
    assert "exponential moving average" in memory.text


def test_paper_without_headings_falls_back_to_paragraphs(tmp_path: Path) -> None:
    txt = tmp_path / "notes.txt"
    txt.write_text(
        "we keep one prototype per class and refresh it with a moving average.\n\n"
        "queries are classified by cosine similarity to the prototypes.\n",
        encoding="utf-8",
    )
    paper = read_paper(txt)
    assert not paper.headings
    assert [s.title for s in paper.sections] == [
        "we keep one prototype per class and refresh ...",
        "queries are classified by cosine similarity to the ...",
    ]
    assert all(s.level == 0 for s in paper.sections)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("paper.docx", b"PK\x03\x04", "unknown paper format (.docx)"),
        ("paper", b"text", "unknown paper format (no extension)"),
        ("empty.md", b"", "the paper is empty"),
        ("blank.txt", b"  \n\n 42 \n", "the paper has no text"),
        ("latin1.md", "# Méthode\n\nUn réseau.".encode("latin-1"), "not valid UTF-8 (byte 0xe9 at offset 3)"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "cannot be read as a PDF"),
    ],
)
def test_bad_papers_are_one_clear_error(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LocalreadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_paper(path)


def test_missing_paper(tmp_path: Path) -> None:
    with pytest.raises(LocalreadError, match="no such file"):
        read_paper(tmp_path / "nope.pdf")


def test_scanned_pdf_has_no_text(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 150, style="F")  # a page that is only a picture
    pdf.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(LocalreadError, match=r"no extractable text .*a scan.*OCR.*pass the \.txt"):
        read_paper(tmp_path / "scan.pdf")


def test_encrypted_pdf(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "A secret paper about prototype memories. " * 20)
    pdf.set_encryption(owner_password="owner", user_password="user")
    pdf.output(str(tmp_path / "locked.pdf"))
    with pytest.raises(LocalreadError, match="the PDF is encrypted; export its text"):
        read_paper(tmp_path / "locked.pdf")


def test_huge_papers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.txt"
    big.write_text("word " * 3000, encoding="utf-8")
    monkeypatch.setattr(paper_text, "MAX_TEXT_BYTES", 10_000)
    with pytest.raises(LocalreadError, match="MiB is more than"):
        read_paper(big)
    monkeypatch.setattr(paper_text, "MAX_TEXT_BYTES", 1 << 20)
    monkeypatch.setattr(paper_text, "MAX_TEXT_CHARS", 10_000)
    with pytest.raises(LocalreadError, match="15,000 characters of text is more than 10,000"):
        read_paper(big)


# --- tokens ----------------------------------------------------------------------------


def test_identifiers_and_prose_meet() -> None:
    assert split_identifier("MaskDecoder") == ["mask", "decoder"]
    assert split_identifier("iou_pred_head") == ["iou", "pred", "head"]
    assert split_identifier("IoU") == ["iou"]
    assert {stem(w) for w in ("decoder", "decoding", "decode", "decoders")} == {"decod"}
    assert stem("embeddings") == stem("embed") == "embed"
    assert "mask_decod" in identifier_terms("MaskDecoder")
    assert "mask_decod" in prose_terms("The mask decoder predicts masks.")
    assert "mask_decod" not in prose_terms("a mask. Decoder")  # bigrams stop at sentences
    assert "attention" in identifier_terms("self_attn")  # abbreviations expand
    assert "self" not in identifier_terms("self_attn")


def test_notation_maps_to_identifier_words() -> None:
    terms = set(math_terms(r"\mathcal{L} = \mathcal{L}_{CE} + \lambda \|\theta\|^2, \quad s / \tau"))
    assert {"loss", "weight", "norm", "temperatur", "paramet"} <= terms
    assert {"sigmoid", "softmax"} <= set(math_terms("σ(x) softmax(QK)"))


def test_british_spellings_and_noun_suffixes_meet_code_words() -> None:
    assert stem("normalised") == stem("normalized") == stem("normalising") == stem("normalise")
    assert stem("tokeniser") == stem("tokenizer") == stem("tokenisers")
    assert stem("guidance") == stem("guided") == stem("guide")
    assert stem("distance") == stem("dist")  # `dist = torch.cdist(...)`
    assert stem("inference") == stem("inferences") != stem("infant")
    assert stem("noised") == stem("noise")  # too short to lose -ised
    assert stem("fence") != stem("f")  # -ence needs a stem of three letters


def test_notation_without_braces_decorations_and_the_empty_set() -> None:
    # Algorithm listings lose their braces: \mathcal N is \mathcal{N}.
    assert math_terms(r"y \sim \mathcal N(0, I)") == math_terms(r"y \sim \mathcal{N}(0, I)")
    assert "gaussian" in math_terms(r"\mathcal N") and "mathcal" not in math_terms(r"\mathcal N")
    # Accents and arrows are typography, not words the code could share.
    terms = math_terms(r"\tilde{\epsilon} \gets \bar{x} + \vec{v}")
    assert not {"tild", "tilde", "bar", "get", "gets", "vec"} & set(terms)
    assert "epsilon" in terms
    # Conditioning on nothing: the null context of classifier-free guidance.
    assert {"null", "empty"} <= set(math_terms(r"\epsilon(x, t, \varnothing)"))
    assert {"null", "empty"} <= set(math_terms("ε(x, t, ∅)"))


def test_algorithm_steps_read_their_inline_math_as_notation() -> None:
    algo = Block(BlockKind.ALGORITHM, "Algorithm: sampling\ndraw $y \\sim \\mathcal N (0, I)$\nreturn $y$")
    query = section_query(Section("Sampling", 2, (algo,)))
    assert query["gaussian"] and query["sampl"] and query["draw"]
    assert "mathcal" not in query and "sim" not in query


def test_code_abbreviations_read_as_the_papers_words() -> None:
    paper = set(prose_terms(
        "The conditional network embeds each frequency of the future block. Neighbours "
        "interact. We take the log of the logits and of the logarithm. Each category."
    ))
    code = {"freq", "cond", "fut", "blk", "nbr", "log", "cat", "ab", "x0", "self", "attn", "embed"}
    aliases = abbreviation_aliases(code, paper)
    assert aliases == {
        "blk": "block",  # consonant skeleton
        "cond": "condition",  # truncation
        "cat": "category",
        "freq": "frequency",
        "fut": "futur",
        "nbr": "neighbour",
    }
    # `log`: the paper writes it, so it is a word there; `ab`: too short; `x0`: digits;
    # `self`: a stop word; `attn`: a known abbreviation, expanded already; `embed`: a
    # paper word itself.
    assert abbreviation_aliases({"lgt"}, {"logit", "legit"}) == {}  # two readings: none
    assert abbreviation_aliases({"eps"}, {"episode"}) == {}  # vowels: not a skeleton
    assert abbreviation_aliases({"frequ"}, {"frequ"}) == {}  # the same word
    assert abbreviation_aliases(set(), paper) == {}


def test_only_names_the_code_binds_are_abbreviations(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import math\n\n\n"
        "class Blk:\n"
        "    def __init__(self, dim, n_heads=4):\n"
        "        self.freq_scale = dim\n\n"
        "    def forward(self, x, *rest, cond: int = 0, **kw):\n"
        "        for i, tgt in enumerate(x):\n"
        "            fut = math.log(i)\n"
        "        return foo(x, prepend=cond, val=self.other)\n",
        encoding="utf-8",
    )
    source = (tmp_path / "m.py").read_bytes()
    chunks = {c.id: c for c in extract_chunks(parse(source), source, "m.py", "m").chunks}
    names = index_code(tmp_path, chunks).names
    assert {"blk", "dim", "head", "freq", "scal", "rest", "cond", "kw", "tgt", "fut", "forward"} <= names
    # library attributes, keyword-argument names, attributes read and imports bind nothing
    assert not {"log", "math", "prepend", "val", "other", "foo", "enumerate"} & names
    assert code_documents(tmp_path, chunks) == index_code(tmp_path, chunks).docs


def test_abbreviations_take_part_in_alignment_only_through_bound_names(tmp_path: Path) -> None:
    md = tmp_path / "p.md"
    md.write_text("# Step embedding\n\nSines at geometric frequencies.\n", encoding="utf-8")
    paper = read_paper(md)
    chunks = {
        "m": _chunk("m", ChunkKind.MODULE, "m", None, 1),
        "m.sinus": _chunk("m.sinus", ChunkKind.FUNCTION, "sinus", "m", 2),
        "m.load": _chunk("m.load", ChunkKind.FUNCTION, "load", "m", 8),
    }
    docs = {"m.sinus": identifier_terms("sinus") * 3 + identifier_terms("freqs"), "m.load": ["load"] * 3}
    without = align(paper, CodeView(chunks=chunks, docs=docs), graph=False)
    assert without.sections[0].matches == ()
    view = CodeView(chunks=chunks, docs=docs, names=frozenset({"freq", "sinus"}))
    found = align(paper, view, graph=False).sections[0].matches
    assert [m.id for m in found] == ["m.sinus"] and found[0].evidence == ("frequencies",)
    aliased = with_aliases({"a": ["freq", "freq_band", "band"]}, ["frequency"], ["freq"])
    assert aliased == {"a": ["freq", "freq_band", "band", "frequency", "frequency_band"]}


# --- alignment -------------------------------------------------------------------------


def gold_hits(alignment, k: int) -> dict[str, bool]:
    return {
        s.title: any(m.id in LABELS["sections"][s.title] for m in s.matches[:k])
        for s in alignment.sections
        if s.title in LABELS["sections"]
    }


def test_lexical_alignment_finds_each_labelled_section() -> None:
    alignment = align(read_paper(PAPER), static_view(REPO), top=3, graph=False)
    assert all(gold_hits(alignment, 1).values()), gold_hits(alignment, 1)
    assert "5 Human study" in alignment.unmatched_sections
    labelled = set(LABELS["sections"])
    assert not labelled & set(alignment.unmatched_sections)
    patch = next(s for s in alignment.sections if s.title == "2.1 Patch tokenisation")
    assert "patch" in patch.matches[0].evidence
    assert all(m.why is None for s in alignment.sections for m in s.matches)


HARD = Path(__file__).parent / "fixtures" / "paper_trajdiff"
HARD_LABELS = json.loads((HARD / "labels.json").read_text(encoding="utf-8"))


def recall_at_1(alignment, gold: dict[str, list[str]]) -> float:
    first = {s.title: s.matches[0].id for s in alignment.sections if s.matches}
    return sum(first.get(title) in ids for title, ids in gold.items()) / len(gold)


def test_harder_fixture_labels_name_real_sections_and_symbols() -> None:
    paper = read_paper(HARD / HARD_LABELS["paper"])
    repo = analyze(HARD / HARD_LABELS["repo"])
    gold: dict[str, list[str]] = HARD_LABELS["sections"]
    assert len(gold) >= 10
    assert set(gold) | set(HARD_LABELS["unmatched"]) <= {s.title for s in paper.sections}
    assert {cid for ids in gold.values() for cid in ids} <= set(repo.chunks)


def test_harder_fixture_recall_floor() -> None:
    """Paraphrased sections (`benchmarks/paper_recall.py` prints the figures): the
    lexical stage alone reaches 5 in 6 at rank 1, and the unimplemented section is not
    found."""
    paper = read_paper(HARD / HARD_LABELS["paper"])
    view = code_view(analyze(HARD / HARD_LABELS["repo"]))
    gold: dict[str, list[str]] = HARD_LABELS["sections"]
    for graph in (False, True):
        alignment = align(paper, view, top=3, graph=graph)
        assert recall_at_1(alignment, gold) >= 0.8, graph
        assert "One-step distillation" in alignment.unmatched_sections
    by_title = {s.title: s for s in align(paper, view, top=3).sections}
    # "guidance" meets `_guided_eps`, the empty-set context meets `null`
    assert by_title["Guidance"].matches[0].id == "trajdiff.sampling.DDIMSampler._guided_eps"
    assert "guidance" in by_title["Guidance"].matches[0].evidence


def test_alignment_json_shape_and_determinism() -> None:
    paper = read_paper(PAPER)
    first = align(paper, static_view(REPO), top=2).to_json()
    second = align(paper, static_view(REPO), top=2).to_json()
    assert first == second
    assert set(first) == {"paper", "sections", "uncovered_symbols", "unmatched_sections"}
    assert first["paper"] == str(PAPER)
    section = first["sections"][3]
    assert section["title"] == "2.1 Patch tokenisation"
    assert len(section["matches"]) == 2
    assert set(section["matches"][0]) == {"id", "score", "why"}
    assert isinstance(section["matches"][0]["score"], float)


def test_unrelated_paper_is_not_found_in_the_code(tmp_path: Path) -> None:
    md = tmp_path / "folding.md"
    md.write_text(
        "# 1 Monte Carlo sampling\n\nWe run replica exchange Monte Carlo with pull moves on the "
        "cubic lattice, recording the energy of each protein conformation.\n\n"
        "# 2 Results\n\nFolding times grow exponentially with chain length.\n",
        encoding="utf-8",
    )
    alignment = align(read_paper(md), static_view(REPO))
    assert alignment.unmatched_sections == ("1 Monte Carlo sampling", "2 Results")


def _chunk(cid: str, kind: ChunkKind, name: str, parent: str | None, line: int, path: str = "m.py") -> Chunk:
    return Chunk(
        id=cid, kind=kind, path=path, start=line, end=line + 1, name=name, signature="",
        docstring=None, source_hash="", parent=parent, module="m",
    )


def tiny_view(edges: list[Edge]) -> CodeView:
    """A decoder class whose forward calls a helper with no words in common with the
    paper, and an unrelated data loader."""
    chunks = {
        "demo": _chunk("demo", ChunkKind.MODULE, "demo", None, 1, "demo.py"),
        "demo.main": _chunk("demo.main", ChunkKind.FUNCTION, "main", "demo", 2, "demo.py"),
        "m": _chunk("m", ChunkKind.MODULE, "m", None, 1),
        "m.MaskDecoder": _chunk("m.MaskDecoder", ChunkKind.CLASS, "MaskDecoder", "m", 2),
        "m.MaskDecoder.forward": _chunk("m.MaskDecoder.forward", ChunkKind.METHOD, "forward", "m.MaskDecoder", 4),
        "m.upscale_bilinear": _chunk("m.upscale_bilinear", ChunkKind.FUNCTION, "upscale_bilinear", "m", 8),
        "m.load_images": _chunk("m.load_images", ChunkKind.FUNCTION, "load_images", "m", 12),
    }
    docs = {
        "m.MaskDecoder": identifier_terms("MaskDecoder") * 3 + prose_terms("predicts masks from tokens"),
        "m.MaskDecoder.forward": identifier_terms("forward") * 3,
        "m.upscale_bilinear": identifier_terms("upscale_bilinear") * 3,
        "m.load_images": identifier_terms("load_images") * 3 + prose_terms("reads files from disk"),
    }
    return CodeView(chunks=chunks, docs=docs, edges=edges, ranks={"m.load_images": 0.5, "m.MaskDecoder": 0.3})


def test_graph_expansion_reaches_forward_and_its_helpers(tmp_path: Path) -> None:
    md = tmp_path / "p.md"
    md.write_text("# Mask decoder\n\nThe mask decoder predicts masks from the tokens.\n", encoding="utf-8")
    paper = read_paper(md)
    edges = [Edge("m.MaskDecoder.forward", "m.upscale_bilinear", EdgeKind.CALLS, "m.py", 5)]
    lexical = align(paper, tiny_view(edges), top=5, graph=False)
    assert [m.id for m in lexical.sections[0].matches] == ["m.MaskDecoder"]
    expanded = align(paper, tiny_view(edges), top=5, graph=True)
    ids = [m.id for m in expanded.sections[0].matches]
    assert ids == ["m.MaskDecoder", "m.MaskDecoder.forward", "m.upscale_bilinear"]
    helper = expanded.sections[0].matches[2]
    assert helper.via == "called by MaskDecoder.forward" and helper.evidence == ()
    assert expanded.sections[0].matches[1].via == "method of MaskDecoder"


def test_index_on_degenerate_inputs() -> None:
    empty = LexicalIndex({})
    assert len(empty) == 0 and empty.scores(["mask"]).size == 0 and empty.max_idf == 0.0
    one = LexicalIndex({"a": [], "b": ["mask"]})
    assert list(one.scores(["mask", "unknown"]) > 0) == [False, True]
    assert one.idf("unknown") == 0.0
    view = CodeView(chunks={}, docs={})
    md_paper = read_paper(PAPER)
    nothing = align(md_paper, view)
    assert all(not s.matches for s in nothing.sections)
    assert len(nothing.unmatched_sections) == len(md_paper.sections)


def test_core_symbols_and_uncovered(tmp_path: Path) -> None:
    view = tiny_view([])
    chunks = view.chunks
    path = ["demo", "demo.main", "m.load_images", "m.MaskDecoder", "m.MaskDecoder.forward"]
    # the entry script's own code is not core; ties by id
    assert core_symbols(chunks, view.ranks, path) == ["m.load_images", "m.MaskDecoder", "m.MaskDecoder.forward"]
    assert core_symbols(chunks, view.ranks, [], limit=2) == ["m.load_images", "m.MaskDecoder"]
    md = tmp_path / "p.md"
    md.write_text("# Mask decoder\n\nThe mask decoder predicts masks from the tokens.\n", encoding="utf-8")
    covered = CodeView(chunks=chunks, docs=view.docs, ranks=view.ranks, core=("m.load_images", "m.MaskDecoder.forward"))
    alignment = align(read_paper(md), covered)
    # forward is covered through its class; the data loader is in the code only
    assert alignment.uncovered_symbols == ("m.load_images",)
    assert alignment.unmatched_sections == ()


# --- the model step ---------------------------------------------------------------------


def test_parse_answer() -> None:
    assert parse_answer(" strong\nWhy: `f` pads the image so that patches tile it. More.") == (
        2, "`f` pads the image so that patches tile it.",
    )
    assert parse_answer(" Weak\nWhy: `pkg/mod.py:12`") == (0, None)  # a path is no reason
    assert parse_answer(" maybe") == (None, None)


def test_explain_matches_reranks_and_grounds_with_any_completion_function() -> None:
    paper = read_paper(PAPER)
    view = static_view(REPO)
    pool = align(paper, view, top=5)
    calls: list[tuple[str, str]] = []

    def complete(shared: str, text: str) -> str:
        calls.append((shared, text))
        if "`protomem.modeling.patch_embed.PatchEmbed._pad_to_patch`" in text:
            return " strong\nWhy: `_pad_to_patch` pads the image with zeros to whole patches, as the section says."
        if "`protomem.modeling.patch_embed.PatchEmbed.forward`" in text:
            return " weak\nWhy: `forward` calls `make_tokens`, which cuts the image into patches."
        return " partial\nWhy: it helps with part of the section."

    result = explain_matches(pool, paper, view, complete, top=3, known=frozenset({"_pad_to_patch", "forward"}), model="fake")
    matched = [s for s in pool.sections if s.matched]
    firsts = [text for shared, text in calls if shared == shared_prompt()]
    retries = [text for shared, text in calls if shared == shared_prompt(retry=True)]
    assert len(firsts) == sum(len(s.matches) for s in matched)  # unmatched sections: no call
    assert len(firsts) + len(retries) == len(calls) and "kettle" not in shared_prompt(retry=True)
    # "it helps with part of the section" names nothing of the code: asked again, then dropped.
    assert retries and all("_pad_to_patch`" not in t for t in retries)
    patch = next(s for s in result.sections if s.title == "2.1 Patch tokenisation")
    ids = [m.id for m in patch.matches]
    static_ids = [m.id for m in next(s for s in pool.sections if s.title == "2.1 Patch tokenisation").matches]
    assert ids[0] == "protomem.modeling.patch_embed.PatchEmbed._pad_to_patch" != static_ids[0]
    assert len(ids) == 3
    whys = {m.id: m.why for m in patch.matches}
    assert whys[ids[0]].startswith("`_pad_to_patch` pads the image")
    forward = whys.get("protomem.modeling.patch_embed.PatchEmbed.forward")
    assert forward is None or forward.endswith("[unverified: make_tokens]")
    human = next(s for s in result.sections if s.title == "5 Human study")
    assert all(m.why is None for m in human.matches) and len(human.matches) == 3
    assert result.model == "fake" and result.to_json()["sections"][3]["matches"][0]["why"]
    top = patch.matches[0].to_json()
    assert top["why_source"] == "model" and top["rejected"] == []
    vague = next(m for s in result.sections for m in s.matches if m.why_source == "static")
    assert vague.why is None and vague.rejected[0].startswith("off topic")
    assert vague.to_json()["rejected"] == list(vague.rejected)


def test_a_why_line_its_samples_do_not_bear_out_is_a_guess_and_asked_again() -> None:
    paper = read_paper(PAPER)
    view = static_view(REPO)
    pool = align(paper, view, top=5)
    pad = "`protomem.modeling.patch_embed.PatchEmbed._pad_to_patch`"
    said = " strong\nWhy: `_pad_to_patch` pads the image with zeros to whole patches, as the section says."
    drawn: list[tuple[str, str]] = []

    def complete(shared: str, text: str) -> str:
        return said if pad in text else " partial\nWhy: it helps with part of the section."

    def sample(shared: str, text: str) -> list[str]:
        drawn.append((shared, text))
        if shared == shared_prompt(retry=True):  # asked again: the samples agree
            return [said] * 3
        return [" weak\nWhy: `_pad_to_patch` logs the learning rate of every epoch to a file."] * 3

    known = frozenset({"_pad_to_patch", "forward"})
    result = explain_matches(pool, paper, view, complete, top=3, known=known, model="fake", sample=sample)
    patch = next(s for s in result.sections if s.title == "2.1 Patch tokenisation")
    top = next(m for m in patch.matches if m.id.endswith("_pad_to_patch"))
    assert top.why_source == "retry" and top.why.startswith("`_pad_to_patch` pads the image")
    assert len(top.rejected) == 1 and top.rejected[0].startswith("is a guess: the model's own answers")
    # Only a sentence that passed the gate is checked: the vague one draws no samples.
    assert all(pad in text for _, text in drawn)
    unsampled = explain_matches(pool, paper, view, complete, top=3, known=known, model="fake")
    assert next(m for s in unsampled.sections for m in s.matches if m.id == top.id).why_source == "model"


@pytest.mark.model
def test_real_model_writes_grounded_reasons(tmp_path: Path) -> None:
    from localread.agreement import SAMPLES
    from localread.config import load_settings
    from localread.llm.engine import Prompt, open_engine
    from localread.llm.models import ChatStyle
    from localread.paper.explain import MAX_TOKENS, STOPS

    md = tmp_path / "p.md"
    md.write_text(
        "# Prototype memory\n\nEach class keeps one prototype, refreshed as an exponential moving "
        "average of its support embeddings with momentum m.\n",
        encoding="utf-8",
    )
    paper = read_paper(md)
    view = static_view(REPO)
    pool = align(paper, view, top=3)
    answers: list[str] = []
    with open_engine(load_settings()) as engine:

        def complete(shared: str, text: str) -> str:
            prompt = Prompt(shared=shared, text=text, style=ChatStyle.COMPLETION)
            answers.append(engine.complete(prompt, max_tokens=MAX_TOKENS, stop=STOPS).text)
            return answers[-1]

        def sample(shared: str, text: str) -> list[str]:
            prompt = Prompt(shared=shared, text=text, style=ChatStyle.COMPLETION)
            samples.append([c.text for c in engine.sample(prompt, MAX_TOKENS, SAMPLES, stop=STOPS)])
            return samples[-1]

        samples: list[list[str]] = []
        known = frozenset(w for terms in view.docs.values() for w in terms)
        first = explain_matches(pool, paper, view, complete, top=2, known=known, model="gemma", sample=sample)
        again = explain_matches(pool, paper, view, complete, top=2, known=known, model="gemma", sample=sample)
    assert first == again  # greedy answers and seeded samples: the same every time
    assert len(answers) >= 6 and all(isinstance(a, str) for a in answers)  # twice 3, and retries
    assert all(len(drawn) == SAMPLES for drawn in samples)
    for match in first.sections[0].matches:  # a kept sentence passed both checks; else the static reason
        assert match.why_source in ("model", "retry", "static")
        assert (match.why is None) == (match.why_source == "static")
    assert {m.id for m in first.sections[0].matches} <= {m.id for m in pool.sections[0].matches}
    assert len(first.sections[0].matches) == 2


# --- the command ------------------------------------------------------------------------


def paper_app():
    """The `paper` command on an app of its own, as `localread.cli` registers it."""
    import typer

    from localread.commands import paper as paper_cmd

    app = typer.Typer()

    @app.callback()
    def main() -> None:  # a group, so that `paper` is a subcommand as in localread.cli
        pass

    paper_cmd.register(app)
    return app


def run_paper(*args: str):
    from typer.testing import CliRunner

    # a wide terminal, so that the table does not fold the words the test looks for
    return CliRunner(env={"COLUMNS": "200"}).invoke(paper_app(), ["paper", *args], catch_exceptions=False)


def test_command_json_both_directions() -> None:
    result = run_paper(str(REPO), str(PAPER), "--no-llm", "--json", "--top", "2")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["paper"] == PAPER.as_posix()  # outside REPO: as given
    titles = [s["title"] for s in data["sections"]]
    assert "2.2 Gated attention encoder" in titles and "References" not in titles
    for section in data["sections"]:
        assert len(section["matches"]) <= 2
        gold = LABELS["sections"].get(section["title"])
        if gold:
            assert section["matches"][0]["id"] in gold, section
            assert section["matches"][0]["why"] is None
    assert "5 Human study" in data["unmatched_sections"]
    assert not set(LABELS["sections"]) & set(data["unmatched_sections"])
    # in the code, not in the paper: core code no convincing match covers, such as
    # the model builders and the weight download
    uncovered = set(data["uncovered_symbols"])
    assert uncovered and all(cid.startswith("protomem.") for cid in uncovered)
    shown = {m["id"] for s in data["sections"] for m in s["matches"] if s["title"] not in data["unmatched_sections"]}
    assert not uncovered & shown
    code_only = {"protomem.build.build_protomem", "protomem.build._build", "protomem.build.build_base",
                 "protomem.utils.checkpoint.download_weights", "protomem.utils.checkpoint.load_checkpoint"}
    assert uncovered & code_only


def test_command_one_positional_is_the_paper_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    repo = shutil.copytree(REPO, tmp_path / "repo")
    (repo / "docs").mkdir()
    shutil.copy(PAPER, repo / "docs" / "paper.md")
    monkeypatch.chdir(repo)
    result = run_paper("docs/paper.md", "--no-llm", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["paper"] == "docs/paper.md"  # relative to REPO


def test_command_markdown_and_table() -> None:
    md = run_paper(str(REPO), str(PAPER), "--no-llm", "--markdown")
    assert md.exit_code == 0, md.output
    assert "## 2.3 Prototype memory" in md.stdout
    assert "| `protomem.modeling.memory.PrototypeMemory.update` | protomem/modeling/memory.py:" in md.stdout
    assert "## In the code, not in the paper" in md.stdout and "- 5 Human study" in md.stdout
    table = run_paper(str(REPO), str(PAPER), "--no-llm")
    assert table.exit_code == 0, table.output
    assert "2.6 Episodic training" in table.stdout and "no convincing match" in table.stdout
    assert "In the paper, not found in the code" in table.stdout


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("paper.docx", b"PK", "unknown paper format (.docx)"),
        ("empty.pdf", b"", "the paper is empty"),
        ("bad.txt", b"\xff\xfe\x00text", "not valid UTF-8"),
    ],
)
def test_command_bad_input_is_one_line(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    result = run_paper(str(REPO), str(tmp_path / name), "--no-llm")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_command_rejects_json_with_markdown() -> None:
    result = run_paper(str(REPO), str(PAPER), "--json", "--markdown")
    assert result.exit_code == 1 and "choose one" in result.stderr
