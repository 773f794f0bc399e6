"""Whether the model stands by its answer: the greedy answer against answers sampled
from the same prompt (self-consistency).

A small model that knows what a piece of code is for says much the same thing however
its words are drawn; one that is guessing says something else each time. So after a
greedy answer passes the quality gate, SAMPLES answers are sampled from the same
prompt (Engine.sample: cheap, the shared part is still in the cache), and the greedy
answer is kept only when it agrees with them on average at least CONSISTENCY, where two
texts agree by the F1 of their longest common word subsequence (ROUGE-L). Below that
it is a guess, and a false sentence is worse than none: the caller asks the retry
prompt, then shows the static description.

Measured on the 72 greedy answers that passed the gate, of 100 documented units of
rich, pypdf, click and the test fixtures (docstrings hidden): the quarter with the lowest
agreement scored ROUGE-L 0.18 against the authors' first sentences, the top half 0.29
to 0.31; the low ones read "This block is used to predict the next token in the
sequence" for a gated attention block and "Encoder for the forward function" for an
image encoder.

Sampling answers to pick the best one instead, after a greedy answer failed, was
tried and dropped: of the 20 such answers read, most were wrong ("A linear layer which
can hold a small quantity of food"), and on the research fixtures all were.
"""

from __future__ import annotations

from collections.abc import Sequence

from localread.quality import split_words, stem

# Answers sampled to check a greedy answer, and the mean agreement it needs with them.
SAMPLES = 3
CONSISTENCY = 0.4


def agreement(a: str, b: str) -> float:
    """The F1 of the longest common subsequence of the two texts' word stems (0 when
    either has no word)."""
    return lcs_f1([stem(w) for w in split_words(a)], [stem(w) for w in split_words(b)])


def lcs_f1(x: Sequence[str], y: Sequence[str]) -> float:
    """ROUGE-L F1 (beta 1) of two word sequences: the F1 of their longest common
    subsequence; 0 when either is empty."""
    if not x or not y:
        return 0.0
    prev = [0] * (len(y) + 1)
    for word in x:
        cur = [0]
        for j, other in enumerate(y):
            cur.append(prev[j] + 1 if word == other else max(prev[j + 1], cur[j]))
        prev = cur
    common = prev[-1]
    if not common:
        return 0.0
    precision, recall = common / len(x), common / len(y)
    return 2 * precision * recall / (precision + recall)


def consistency(text: str, samples: Sequence[str]) -> float | None:
    """The mean agreement of text with the sampled answers; None when there are none
    (an engine that samples nothing leaves the answer unchecked)."""
    if not samples:
        return None
    return sum(agreement(text, s) for s in samples) / len(samples)


def unsure(text: str, samples: Sequence[str]) -> str | None:
    """Why text is a guess by its samples, in words for a reader; None when the model
    stands by it."""
    score = consistency(text, samples)
    if score is None or score >= CONSISTENCY:
        return None
    return (f"is a guess: the model's own answers sampled from the same prompt say something else "
            f"(agreement {score:.2f}, below {CONSISTENCY})")
