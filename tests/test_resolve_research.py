"""Resolution gaps met in real research code (issue 13), each on its own small
fixture (tests/fixtures/tour_*): the step the tour now reaches and the reason it
gives, through the real pipeline (tree-sitter on the fixture's files)."""

from __future__ import annotations

from functools import cache

from localread.repo.analysis import Repo, analyze
from localread.repo.tour import Tour, build_tour, pick_entry
from tests.helpers import FIXTURES


@cache
def fixture(name: str) -> Repo:
    return analyze(FIXTURES / name / "repo")


def tour_of(name: str, entry: str | None = None) -> Tour:
    repo = fixture(name)
    return build_tour(repo, pick_entry(repo, entry))


def reasons(tour: Tour) -> dict[str, str]:
    return {s.id: s.reason for s in tour.steps}


def test_a_local_variable_named_like_a_package_shadows_it() -> None:
    tour = tour_of("tour_shadow")
    found = reasons(tour)
    # `diffusion.p_sample_loop(...)` in main() is a method of the local `diffusion`...
    assert found["diffusion.gaussian.GaussianDiffusion.p_sample_loop"] == "called by `main` at sample.py:12"
    # ...so the package __init__ is no step that re-exports it.
    assert "diffusion" not in found
    assert fixture("tour_shadow").graph.shadowed["sample.main"] == ("diffusion",)
    # Where the import is not shadowed, `diffusion.create_diffusion` is the package's.
    assert found["diffusion.create_diffusion"] == "called by `diffusion_from` at sample.py:17"
