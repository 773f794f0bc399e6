"""The reading path as a picture, drawn from the tour's tree (never from model text).

A `Tour` is a connected tree: each step hangs under the step that calls it
(`tour.parents`), its children in call-site order. Both drawings here read only that
tree and the chunks' names, so what they show is right by construction:

- `tour_svg(repo, tour, href)`: an SVG (drawn in Python, no script) with one row per
  step in reading order, indented by depth, each node a link (`href(i, step)`), each
  edge from a step to the one it calls, labelled with the call's place among that
  step's calls (1, 2, ...). Every text goes through `safe.html_text`.
- `tour_mermaid(repo, tour)`: the same tree as a Mermaid `flowchart TD`, for the
  Markdown report (GitHub renders it). Labels keep letters, digits and a few plain
  punctuation marks as they are and write every other character as a Mermaid entity
  code (`#60;`), so no name can end a label, open markup or break the diagram.
"""

from __future__ import annotations

from collections.abc import Callable

from localread.data import ChunkKind, Step
from localread.render.safe import html_text, one_line
from localread.repo.model import Repo
from localread.repo.tour import Tour

ROW = 30  # px between rows
INDENT = 26  # px per depth level
NODE_H = 22
CHAR_W = 7.2  # px per character of the 12px monospace labels
META_W = 6.7  # ...and of the 11px ones after each box
PAD = 10


def step_label(repo: Repo, step: Step) -> str:
    """How a diagram names a step: the qualname, `<module> __main__` for a main block,
    the module id for a module."""
    chunk = repo.chunks.get(step.id)
    if chunk is None:
        return step.id
    if chunk.kind is ChunkKind.MAIN:
        return f"{chunk.module} __main__"
    return chunk.qualname


def call_orders(tour: Tour) -> dict[str, int]:
    """Each non-entry step's place (1-based) among the steps its parent calls, in
    reading order, which is call-site order (repo.reading follows calls as written)."""
    seen: dict[str | None, int] = {}
    order: dict[str, int] = {}
    for step in tour.steps:
        parent = tour.parents.get(step.id)
        if parent is None:
            continue
        seen[parent] = seen.get(parent, 0) + 1
        order[step.id] = seen[parent]
    return order


def tour_svg(repo: Repo, tour: Tour, href: Callable[[int, Step], str], *, title: str = "reading path") -> str:
    """The tour as an inline SVG element: rows in reading order, x by depth, a link per
    node, elbow edges parent -> child labelled with the call order."""
    index = {s.id: i for i, s in enumerate(tour.steps)}
    orders = call_orders(tour)
    labels = [f"{i}. {one_line(step_label(repo, s))}" for i, s in enumerate(tour.steps, 1)]
    widths = [len(label) * CHAR_W + 2 * PAD for label in labels]
    metas = [f"{s.kind} · depth {s.depth} · {one_line(s.path)}:{s.start}" for s in tour.steps]
    width = max(
        (_x(s) + w + 8 + len(m) * META_W + PAD for s, w, m in zip(tour.steps, widths, metas, strict=True)), default=200
    )
    height = ROW * len(tour.steps) + 2 * PAD
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="tour" role="img" width="{width:.0f}" '
        f'height="{height}" viewBox="0 0 {width:.0f} {height}">'),
        f"<title>{html_text(title)}</title>",
    ]
    for i, step in enumerate(tour.steps):
        parent = tour.parents.get(step.id)
        if parent is None or parent not in index:
            continue
        j = index[parent]
        px = _x(tour.steps[j]) + INDENT / 2
        py = _y(j) + NODE_H
        cy = _y(i) + NODE_H / 2
        parts.append(
            f'<path class="edge" d="M{px:.0f},{py:.0f} V{cy:.0f} H{_x(step):.0f}" />'
            f'<text class="order" x="{px + 3:.0f}" y="{cy - 3:.0f}">{orders.get(step.id, "")}</text>'
        )
    for i, (step, label, w) in enumerate(zip(tour.steps, labels, widths, strict=True)):
        x, y = _x(step), _y(i)
        kind = html_text(metas[i])
        parts.append(
            f'<a class="node" href="{html_text(href(i + 1, step))}" data-step="{i + 1}">'
            f'<rect x="{x:.0f}" y="{y}" rx="4" width="{w:.0f}" height="{NODE_H}" class="{html_text(step.kind)}" />'
            f'<text x="{x + PAD:.0f}" y="{y + 15}">{html_text(label)}</text>'
            f'<text class="meta" x="{x + w + 8:.0f}" y="{y + 15}">{kind}</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _x(step: Step) -> float:
    return PAD + step.depth * INDENT


def _y(i: int) -> int:
    return PAD + i * ROW


# --------------------------------------------------------------------------- Mermaid

_MERMAID_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_. ,:/-")


def mermaid_label(text: str) -> str:
    """A Mermaid label body (to sit inside double quotes): plain characters kept,
    every other one written as an entity code `#<decimal>;`."""
    return "".join(c if c in _MERMAID_PLAIN else f"#{ord(c)};" for c in one_line(text))


def tour_mermaid(repo: Repo, tour: Tour) -> str:
    """The tour as Mermaid flowchart source (no fence): a node per step, numbered in
    reading order, an edge parent -> child labelled with the call order."""
    index = {s.id: i for i, s in enumerate(tour.steps, 1)}
    orders = call_orders(tour)
    lines = ["flowchart TD"]
    for i, step in enumerate(tour.steps, 1):
        lines.append(f'    s{i}["{mermaid_label(f"{i}. {step_label(repo, step)}")}"]')
    for i, step in enumerate(tour.steps, 1):
        parent = tour.parents.get(step.id)
        if parent in index:
            lines.append(f'    s{index[parent]} -->|"{orders[step.id]}"| s{i}')
    return "\n".join(lines)
