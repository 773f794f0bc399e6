"""Choosing among a model's answers to one prompt: the one the others agree with.

A small model's greedy answer is one draw among the answers it finds likely. With a
few sampled answers beside it (Engine.sample), the answer that shares the most with
the others is what they agree on: a purpose that comes back in most draws is less
likely to be the slip of one. This is minimum-Bayes-risk selection, with the F1 of
the longest common word subsequence (ROUGE-L) as the measure of agreement. The
unit's name, split into words, takes part as one more voice: of two answers the
draws agree on equally, the one that speaks of what the code is called wins.

Only answers that passed the quality gate (localread.quality) are chosen; the
rejected ones still vote, as evidence of what the model had in mind. Deterministic:
ties go to the earlier answer (the greedy one comes first).
"""

from __future__ import annotations

from collections.abc import Sequence

from localread.quality import split_words, stem


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


def most_agreed(candidates: Sequence[str], voices: Sequence[str]) -> int:
    """The index of the candidate with the highest total agreement with the voices
    (every answer drawn, passing or not, and the unit's name), not counting its own
    text once; the first of equals."""
    best, best_score = 0, -1.0
    for i, text in enumerate(candidates):
        others = list(voices)
        if text in others:
            others.remove(text)
        score = sum(agreement(text, other) for other in others if other.strip())
        if score > best_score + 1e-9:
            best, best_score = i, score
    return best
