"""Words shared by papers and code: one tokeniser for both sides of the alignment.

`prose_terms(text)` turns paper prose (and docstrings, comments, summaries) into index
terms; `identifier_terms(name)` does the same for a code identifier; `math_terms(tex)`
maps paper notation (LaTeX or the Unicode a PDF gives) to the words code uses for it.
All three give lowercase stems with stop words removed, plus `a_b` bigram terms for
adjacent words, so that "mask decoder" in a paper meets `MaskDecoder` in code.
Abbreviations common in research code (`attn`, `proj`, `iou`) are expanded on both
sides, so `self.attn` meets "attention" and "IoU" meets `iou_head`; the others a
repository coins (`freq`, `blk`) are found per paper by `abbreviation_aliases`.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable
from functools import cache

# English function words, words every research paper uses without naming a part of
# the method, and words every Python file uses without saying what it does.
STOP_WORDS = frozenset(
    """
    a about above after again against all almost along already also although always am
    among an and another any are around as at be because been before being below between
    both but by can cannot could did do does doing done down during each either else
    etc even ever every few for from further had has have having he her here hers him his
    how however i if in into is it its itself just least less let like may me might more
    most much must my neither no nor not now of off often on once one only or other our
    ours out over own per rather same she should since so some such than that the their
    them then there these they this those though through thus to too two three under
    until up upon us very via was we were what when where whether which while who whom
    whose why will with within without would yet you your eg ie cf et al
    paper papers propose proposed proposes section sections figure figures fig table
    tables shown show shows use used uses using work works approach novel new first
    second third finally following follows respectively given denote denotes denoted
    note notes called call able make makes made well see e g simply simple way
    self cls def return none true false args kwargs init super isinstance len range
    print str int float bool list dict tuple import class lambda pass raise yield
    torch nn np numpy typing optional todo fixme
    """.split()  # noqa: SIM905 - a word list reads best as words
)

# Abbreviations of research code -> the words a paper writes. Applied on both sides.
ABBREVIATIONS: dict[str, str] = {
    "attn": "attention",
    "emb": "embedding",
    "embed": "embedding",
    "enc": "encoder",
    "dec": "decoder",
    "conv": "convolution",
    "norm": "normalization",
    "bn": "batch normalization",
    "ln": "layer normalization",
    "proj": "projection",
    "lr": "learning rate",
    "mlp": "multilayer perceptron",
    "ffn": "feed forward",
    "pos": "position",
    "img": "image",
    "imgs": "images",
    "feat": "feature",
    "feats": "features",
    "cfg": "configuration",
    "config": "configuration",
    "hid": "hidden",
    "qkv": "query key value",
    "ce": "cross entropy",
    "xent": "cross entropy",
    "kl": "kullback leibler divergence",
    "ckpt": "checkpoint",
    "seq": "sequence",
    "tok": "token",
    "toks": "tokens",
    "prob": "probability",
    "probs": "probabilities",
    "pred": "prediction",
    "preds": "predictions",
    "tgt": "target",
    "gt": "ground truth",
    "src": "source",
    "sched": "scheduler",
    "opt": "optimizer",
    "optim": "optimizer",
    "grad": "gradient",
    "grads": "gradients",
    "param": "parameter",
    "params": "parameters",
    "dim": "dimension",
    "dims": "dimensions",
    "ctx": "context",
    "rope": "rotary position embedding",
    "vit": "vision transformer",
    "nms": "non maximum suppression",
    "iou": "intersection over union",
    "temp": "temperature",
    "eps": "epsilon",
    "std": "standard deviation",
    "var": "variance",
    "avg": "average",
    "num": "number",
    "lstm": "long short term memory",
    "gru": "gated recurrent unit",
    "rnn": "recurrent neural network",
    "cnn": "convolutional neural network",
    "bbox": "bounding box",
    "bboxes": "bounding boxes",
    "ema": "exponential moving average",
    "knn": "nearest neighbors",
    "sim": "similarity",
    "cos": "cosine",
    "mse": "mean squared error",
    "relu": "rectified linear unit",
    "gelu": "gaussian error linear unit",
    "upsample": "upsampling",
    "downsample": "downsampling",
}

# Paper notation -> identifier words. Keys are LaTeX command names (without `\`) and
# the Unicode characters PDF text extraction yields for them.
NOTATION: dict[str, str] = {
    "mathcal{L}": "loss",
    "mathcal{N}": "normal gaussian noise",
    "mathbb{E}": "expectation mean",
    "sigma": "sigma sigmoid std",
    "theta": "theta parameters weights",
    "nabla": "gradient",
    "partial": "gradient",
    "eta": "learning rate",
    "lambda": "lambda weight",
    "epsilon": "epsilon noise",
    "varepsilon": "epsilon noise",
    "mu": "mu mean",
    "tau": "tau temperature",
    "alpha": "alpha",
    "beta": "beta",
    "gamma": "gamma",
    "delta": "delta",
    "omega": "omega",
    "phi": "phi",
    "psi": "psi",
    "pi": "pi policy",
    "odot": "multiply",
    "otimes": "outer product",
    "sum": "sum",
    "prod": "product",
    "log": "log",
    "exp": "exp",
    "max": "max",
    "min": "min",
    "argmax": "argmax",
    "argmin": "argmin",
    "top": "transpose",
    "softmax": "softmax",
    "tanh": "tanh",
    "cos": "cosine",
    "sqrt": "sqrt",
    "hat": "prediction",
    "varnothing": "null empty",
    "emptyset": "null empty",
    "lVert": "norm",
    "|": "norm",
    "σ": "sigma sigmoid std",
    "θ": "theta parameters weights",
    "∇": "gradient",
    "∂": "gradient",
    "η": "learning rate",
    "λ": "lambda weight",
    "ε": "epsilon noise",
    "ϵ": "epsilon noise",
    "μ": "mu mean",
    "τ": "tau temperature",
    "α": "alpha",
    "β": "beta",
    "γ": "gamma",
    "δ": "delta",
    "ω": "omega",
    "φ": "phi",
    "ϕ": "phi",
    "ψ": "psi",
    "π": "pi policy",
    "⊙": "multiply",
    "⊗": "outer product",
    "∑": "sum",
    "Σ": "sum",
    "∏": "product",
    "‖": "norm",
    "√": "sqrt",
    "𝔼": "expectation mean",
    "ℒ": "loss",
    "𝓛": "loss",
    "𝒩": "normal gaussian noise",
    "∅": "null empty",
}

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_']*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# `\mathcal{L}`, and `\mathcal L` (legal LaTeX, and what an algorithm listing keeps once
# its braces are gone), or any other command.
_MATH_COMMAND = re.compile(
    r"\\(mathcal|mathbb)\s*(?:\{\s*([A-Za-z])\s*\}|([A-Za-z])(?![A-Za-z]))|\\([A-Za-z]+)"
)
_MATH_MARKUP = frozenset(
    """
    mathrm mathbf mathit mathsf mathtt boldsymbol bm text textrm textbf operatorname
    left right big Big bigg Bigg frac cdot cdots ldots dots quad qquad in forall
    le leq ge geq neq approx sim equiv to mapsto rightarrow leftarrow times mid
    begin end label nonumber tag limits displaystyle rVert langle rangle
    tilde widetilde bar overline underline vec dot ddot gets
    """.split()  # noqa: SIM905
)


def split_identifier(word: str) -> list[str]:
    """`MaskDecoder` -> [mask, decoder]; `iou_pred_head` -> [iou, pred, head].

    Lowercase; digits dropped. A word that is a known abbreviation as a whole (`IoU`)
    is not split at its case changes.
    """
    out: list[str] = []
    for part in word.replace("'", "").split("_"):
        if not part:
            continue
        if part.lower() in ABBREVIATIONS:
            out.append(part.lower())
            continue
        out.extend(p.lower() for p in _CAMEL.findall(part) if not p.isdigit())
    return out


@cache
def stem(word: str) -> str:
    """A light suffix stripper, so that decoder/decoding/decode and mask/masks meet.

    Deliberately conservative (it only has to make both sides agree, not produce
    dictionary roots); words of four letters or fewer are kept as they are.
    """
    w = word
    if len(w) <= 4:
        return w
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ness", ""), ("ments", ""), ("ment", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + repl
            break
    else:
        if w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
    for suffix, repl in (
        ("ization", "iz"), ("isation", "iz"), ("ification", "ify"), ("ifier", "ify"),
        ("ational", ""), ("ation", ""), ("ator", ""), ("ction", "ct"),
        # British -ise- forms meet the -ize- ones: normalised/normalized, tokeniser/tokenizer
        ("ising", "iz"), ("ised", "iz"), ("iser", "iz"),
        ("ings", ""), ("ing", ""), ("ied", "y"), ("ed", ""), ("ers", ""), ("er", ""),
        ("ize", "iz"), ("ise", "iz"), ("ate", ""), ("ally", ""), ("ly", ""), ("ive", ""),
        # guidance/guided, distance/dist, inference/infer
        ("ance", ""), ("ence", ""),
        ("al", ""), ("e", ""),
    ):
        if w.endswith(suffix) and len(w) - len(suffix) >= (4 if suffix == "ed" else 3):
            w = w[: -len(suffix)] + repl
            break
    if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "lsz":
        w = w[:-1]  # embedd -> embed, runn -> run
    return w


def _expanded(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split abbreviations into their words; returns (sequence, extra unigrams)."""
    seq: list[str] = []
    extra: list[str] = []
    for w in words:
        full = ABBREVIATIONS.get(w)
        if full is None:
            seq.append(w)
        else:
            extra.append(w)
            seq.extend(full.split())
    return seq, extra


def _terms(words: list[str], *, bigrams: bool) -> list[str]:
    seq, extra = _expanded(words)
    kept = [stem(w) for w in seq if len(w) > 1 and w not in STOP_WORDS]
    out = kept + [w for w in extra if w not in STOP_WORDS]
    if bigrams:
        out.extend(f"{a}_{b}" for a, b in itertools.pairwise(kept) if a != b)
    return out


def identifier_terms(name: str, *, bigrams: bool = True) -> list[str]:
    """Index terms of one identifier: its parts, stemmed, plus bigrams of adjacent parts."""
    return _terms(split_identifier(name), bigrams=bigrams)


def prose_terms(text: str, *, bigrams: bool = True) -> list[str]:
    """Index terms of prose. Bigrams do not cross sentence or clause punctuation.

    Identifiers quoted in prose (`predict_masks`, MaskDecoder) are split as in code.
    """
    out: list[str] = []
    for clause in re.split(r"[.;:!?,()\[\]{}\n]+", text):
        words: list[str] = []
        for raw in _WORD.findall(clause):
            words.extend(split_identifier(raw))
        out.extend(_terms(words, bigrams=bigrams))
    return out


def math_terms(tex: str) -> list[str]:
    """Words for the notation in a formula: `\\mathcal{L}` -> loss, `\\tau` -> tau,
    temperature; `\\mathrm{softmax}(QK^\\top)` -> softmax, transpose. Single-letter
    variables say nothing on their own and are dropped; multi-letter words inside
    `\\mathrm{...}`/`\\text{...}` are kept as prose."""
    words: list[str] = []
    for match in _MATH_COMMAND.finditer(tex):
        if match.group(1):
            key = f"{match.group(1)}{{{match.group(2) or match.group(3)}}}"
        else:
            key = match.group(4)
        if key in _MATH_MARKUP:
            continue
        words.append(NOTATION.get(key, key if len(key) > 2 else ""))
    for char in tex:
        if char in NOTATION and not char.isascii():
            words.append(NOTATION[char])
    if "\\|" in tex or "||" in tex:
        words.append(NOTATION["|"])
    # What is left once commands are gone: \mathrm{softmax}, \text{Attention}, sum.
    plain = _MATH_COMMAND.sub(" ", tex)
    words.extend(w for w in _WORD.findall(plain) if len(w) > 2)
    return prose_terms(" ".join(w for w in words if w), bigrams=False)


_VOWELS = frozenset("aeiou")


def abbreviation_aliases(code_terms: Iterable[str], paper_terms: Iterable[str]) -> dict[str, str]:
    """Code terms that abbreviate exactly one paper term -> that term.

    Research code shortens the words a paper spells out, by truncation (`freq`, `fut`,
    `cond`) or by dropping vowels (`blk`, `nbr`, `tgt`), far beyond any fixed list.
    code_terms should be the terms of the names the code binds (index.index_code's
    names), not of the library names it calls: `log` and `cat` are words there.
    A code term (three letters or more, no digits, not a stop word, not in
    ABBREVIATIONS, and not used by the paper itself: a short form the paper writes is
    a word) abbreviates a paper term at least two letters longer that it is a prefix
    of, or, when it has no vowel at all, in which its letters occur in order from the
    same first letter. A code term with several readings in the paper (`cond`:
    condition and conductance) is left alone. Bigram terms (`a_b`) take no part.
    Deterministic: both sides are sorted.
    """
    words = sorted({t for t in paper_terms if "_" not in t and t.isalpha()})
    known = set(words)
    by_initial: dict[str, list[str]] = {}
    for word in words:
        by_initial.setdefault(word[0], []).append(word)
    aliases: dict[str, str] = {}
    for short in sorted(set(code_terms)):
        if (
            len(short) < 3
            or not short.isalpha()
            or short in known
            or short in STOP_WORDS
            or short in ABBREVIATIONS
        ):
            continue
        # Truncations: the paper words that start with `short`, a range of the sorted list.
        readings: set[str] = set()
        i = bisect.bisect_left(words, short)
        while i < len(words) and words[i].startswith(short):
            if len(words[i]) >= len(short) + 2:
                readings.add(words[i])
            i += 1
        if not _VOWELS & set(short):  # a skeleton: `blk` in block
            readings.update(
                w for w in by_initial.get(short[0], ()) if len(w) >= len(short) + 2 and _in_order(short, w)
            )
        if len(readings) == 1:
            aliases[short] = readings.pop()
    return aliases


def _in_order(letters: str, word: str) -> bool:
    """Whether the letters occur in word in this order (not necessarily adjacent)."""
    rest = iter(word)
    return all(c in rest for c in letters)
