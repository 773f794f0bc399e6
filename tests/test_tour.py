"""The reading tour through the real pipeline (tree-sitter on the fixture repositories
and on small ones written here): a connected tree, the budget spent on the spine,
the depth rule, rare branches read after the main path, reasons that cite the site
on the path, and --all."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from localread.repo.analysis import Repo, analyze
from localread.repo.tour import Tour, build_tour, pick_entry
from tests.helpers import EXAMPLE, FIXTURES, write_repo

TOUR_FIXTURES = sorted(p.name for p in FIXTURES.glob("tour_*") if (p / "repo").is_dir())


@cache
def fixture(name: str) -> Repo:
    return analyze(FIXTURES / name / "repo")


def tour_of(repo: Repo, entry: str | None = None, **limits) -> Tour:
    return build_tour(repo, pick_entry(repo, entry), **limits)


def ids(tour: Tour) -> list[str]:
    return [s.id for s in tour.steps]


def assert_connected(repo: Repo, tour: Tour) -> None:
    """Every step but the entry hangs under a step shown before it, at one level deeper,
    and a step reached by a call is called by that step."""
    position = {s.id: n for n, s in enumerate(tour.steps)}
    depth = {s.id: s.depth for s in tour.steps}
    assert tour.parents[tour.steps[0].id] is None
    for n, step in enumerate(tour.steps[1:], 1):
        parent = tour.parents[step.id]
        assert parent in position, f"{step.id}: its caller {parent} is not in the tour"
        assert position[parent] < n
        assert depth[step.id] == depth[parent] + 1
        if step.reason.startswith("called by"):
            assert any(step.id in site.targets for site in repo.graph.calls.get(parent, []))


@pytest.mark.parametrize("name", TOUR_FIXTURES)
@pytest.mark.parametrize("limits", [{}, {"max_steps": 8}, {"max_depth": 2}, {"max_lines": 150}, {"everything": True}])
def test_every_step_hangs_under_the_step_that_calls_it(name: str, limits: dict) -> None:
    repo = fixture(name)
    tour = tour_of(repo, **limits)
    assert_connected(repo, tour)
    assert len(set(ids(tour))) == len(tour.steps)


def steps_counted(tour: Tour) -> int:
    """Steps of the budget: a class and the constructor under it are one."""
    pairs = sum(
        1 for s in tour.steps if s.reason.startswith("constructor of") and tour.parents[s.id] == s.id.rsplit(".", 1)[0]
    )
    return len(tour.steps) - pairs


@pytest.mark.parametrize("steps", [1, 5, 12, 40])
def test_the_step_budget_holds_and_what_it_cuts_is_listed_heaviest_first(steps: int) -> None:
    repo = fixture("tour_detr")
    tour = tour_of(repo, max_steps=steps)
    assert steps_counted(tour) <= steps
    whole = tour_of(repo, everything=True)
    assert {s.id for s in tour.steps} | {p.id for p in tour.pruned} == {s.id for s in whole.steps}
    weights = [p.weight for p in tour.pruned]
    assert weights == sorted(weights, reverse=True)
    assert all(p.reason.endswith(f"cut by the {steps}-step budget") for p in tour.pruned)


def test_a_line_budget_holds_with_the_step_budget() -> None:
    repo = fixture("tour_automask")
    tour = tour_of(repo, max_lines=120)
    code = sum(s.end - s.start + 1 for s in tour.steps if s.kind in ("function", "method"))
    assert code <= 120
    assert tour.pruned[0].reason.endswith("cut by the 40-step budget and the 120-line budget")
    assert len(tour.steps) < len(tour_of(repo).steps)


def test_the_budget_is_spent_on_the_spine_first() -> None:
    """The issue's mask generator: main -> generate -> _generate_masks -> _process_crop
    -> _process_batch -> predict_torch survives even a 12-step budget, and none of the
    small helpers the old tour kept instead (crop_len, uncrop_points, MaskData.cat)."""
    tour = tour_of(fixture("tour_automask"), max_steps=12)
    spine = [
        "scripts.amg.main",
        "maskgen.automatic_mask_generator.AutoMaskGenerator.generate",
        "maskgen.automatic_mask_generator.AutoMaskGenerator._generate_masks",
        "maskgen.automatic_mask_generator.AutoMaskGenerator._process_crop",
        "maskgen.automatic_mask_generator.AutoMaskGenerator._process_batch",
        "maskgen.predictor.Predictor.predict_torch",
    ]
    shown = ids(tour)
    assert [s for s in shown if s in spine] == spine
    for helper in ("generate_crop_boxes.crop_len", "uncrop_points", "MaskData.cat", "box_xyxy_to_xywh"):
        assert not any(s.endswith(helper) for s in shown)
    # The helpers are still listed, as cut.
    assert any(p.id.endswith("uncrop_points") for p in tour.pruned)


def test_the_default_tour_of_a_training_script_reaches_the_model_and_the_loss() -> None:
    """DETR: the old tour dropped main, build_model, build_backbone, build_dataset,
    train_one_epoch and evaluate, and kept the image-transform classes."""
    tour = tour_of(fixture("tour_detr"))
    shown = ids(tour)
    for required in (
        "main.main", "models.build_model", "models.backbone.build_backbone", "datasets.build_dataset",
        "engine.train_one_epoch", "engine.evaluate", "models.detr.DETR.forward",
        "models.transformer.TransformerEncoder.forward", "models.matcher.HungarianMatcher.forward",
    ):
        assert required in shown
    transforms = [s for s in shown if s.startswith("datasets.transforms.")]
    assert transforms == []
    # Scaffolding does not use up depth: the core runs several calls below main().
    calls = tour.calls
    assert calls["main"] == calls["main.main"] == 0
    assert calls["models.transformer.TransformerEncoder.forward"] == 4


def test_the_core_ten_calls_below_the_entry_is_reached_by_default() -> None:
    tour = tour_of(fixture("tour_diffusion"), "sample.py")
    step = next(s for s in tour.steps if s.id == "models.Attention.forward")
    assert step.depth == 10  # module, __main__, main, p_sample_loop, ..., DiTBlock.forward
    assert tour.calls[step.id] == 8
    # The old limit (6 levels from the module) would have stopped at p_mean_variance.
    old = tour_of(fixture("tour_diffusion"), "sample.py", max_depth=3)
    assert "models.Attention.forward" not in ids(old)
    assert any(p.id == "models.Attention.forward" and "beyond depth 3" in p.reason for p in old.pruned)


def test_a_union_callee_is_read_under_the_target_that_calls_it() -> None:
    """`model(x)` resolves to both forward_with_cfg and forward (the training path
    passes the model itself); forward_with_cfg calls forward, so forward is read there."""
    tour = tour_of(fixture("tour_diffusion"), "sample.py")
    assert tour.parents["models.DiT.forward"] == "models.DiT.forward_with_cfg"
    assert tour.parents["models.DiT.forward_with_cfg"] == "diffusion.gaussian_diffusion.GaussianDiffusion.p_mean_variance"


# ---- rare branches and the depth rule ------------------------------------------------

RENDER = {
    "run.py": """
        def render(rays):
            return march(rays)

        def march(rays):
            return integrate(rays)

        def integrate(rays):
            return rays

        def render_path(poses):
            return [render(p) for p in poses]

        def render_only(args, poses):
            return render_path(poses)

        def train(args):
            poses = []
            if args.render_only:
                render_only(args, poses)
                return
            for i in range(10):
                render(i)
            render_path(poses)

        if __name__ == "__main__":
            train(None)
        """,
}


def test_a_function_first_met_on_a_rare_branch_is_read_on_the_main_path(tmp_path: Path) -> None:
    repo = analyze(write_repo(tmp_path, RENDER))
    tour = tour_of(repo)
    # render_path is met first in `if args.render_only:` (through render_only), and
    # render inside render_path; the training loop calls both directly.
    assert tour.parents["run.render_path"] == "run.train"
    assert tour.parents["run.render"] == "run.train"
    assert tour.calls["run.render"] == 1
    order = ids(tour)
    assert order.index("run.render_only") < order.index("run.render") < order.index("run.render_path")
    assert "for i in range(10)" in next(s.reason for s in tour.steps if s.id == "run.render")


def test_a_depth_limit_counts_calls_below_the_main_code_on_the_shallowest_path(tmp_path: Path) -> None:
    repo = analyze(write_repo(tmp_path, RENDER))
    tour = tour_of(repo, max_depth=2)
    # The module, its __main__ block and train() use no depth.
    assert tour.calls["run"] == tour.calls["run.__main__"] == tour.calls["run.train"] == 0
    assert "run.march" in ids(tour)  # train -> render -> march: 2 calls
    assert "run.integrate" not in ids(tour)
    assert any(p.id == "run.integrate" and p.reason.endswith("beyond depth 2") for p in tour.pruned)
    one = tour_of(repo, max_depth=1)
    assert {"run.render", "run.render_path", "run.render_only"} <= set(ids(one))
    assert "run.march" not in ids(one)


# ---- classes and reasons -------------------------------------------------------------


def test_a_constructor_cites_the_site_on_the_path_not_the_first_one_in_the_repo() -> None:
    """The old reason read "runs when it is built at benchmarks/bench_predictor.py:11"
    (the first instantiation anywhere); on this path the generator builds it."""
    tour = tour_of(fixture("tour_automask"))
    reasons = {s.id: s.reason for s in tour.steps}
    assert reasons["maskgen.predictor.Predictor"] == (
        "instantiated by `AutoMaskGenerator.__init__` at maskgen/automatic_mask_generator.py:79"
    )
    assert reasons["maskgen.predictor.Predictor.__init__"] == (
        "constructor of `Predictor`, runs when it is built at maskgen/automatic_mask_generator.py:79"
    )
    assert not any("benchmarks/" in r or "notebooks/" in r for r in reasons.values())


def test_a_class_is_introduced_where_it_is_built_and_its_methods_where_they_run() -> None:
    tour = tour_of(fixture("tour_nerf"))
    assert tour.parents["renderer.VolumeRenderer"] == "run_nerf.create_nerf"
    assert tour.parents["renderer.VolumeRenderer.render"] == "run_nerf.train"
    order = ids(tour)
    assert order.index("renderer.VolumeRenderer.__init__") < order.index("renderer.VolumeRenderer.render")


CLASSES = {
    "app.py": """
        class Base:
            def __init__(self, size):
                self.size = size

        class Child(Base):
            def __init__(self, size):
                super().__init__(size)

            def run(self):
                return self.size

        class Loader:
            def __init__(self, root):
                self.root = root

            def load(self):
                return self.root

        def main(loader: Loader):
            loader.load()
            child = Child(3)
            child.run()
            later = Loader("data")
            return later

        if __name__ == "__main__":
            main(None)
        """,
}


def test_a_class_met_first_through_its_method_says_where_the_path_builds_it(tmp_path: Path) -> None:
    repo = analyze(write_repo(tmp_path, CLASSES))
    tour = tour_of(repo)
    reasons = {s.id: s.reason for s in tour.steps}
    assert reasons["app.Loader"] == "defines `Loader.load`, used by `main` at app.py:20"
    assert reasons["app.Loader.__init__"] == "constructor of `Loader`; `main` builds it at app.py:23"
    order = ids(tour)
    assert order.index("app.Loader") < order.index("app.Loader.load")
    # A base class constructor runs through super().__init__(...).
    assert reasons["app.Base.__init__"] == (
        "constructor of `Base`, runs when `super().__init__(...)` is called in `Child.__init__` at app.py:7"
    )


def test_a_package_init_is_shown_only_for_names_imported_through_it() -> None:
    example = analyze(EXAMPLE)
    order = ids(tour_of(example))
    assert order.index("segmenter") < order.index("segmenter.predictor.Segmenter")
    # `diffusion.p_sample_loop(...)` is a method of an object, not a name imported
    # through the `diffusion` package.
    diffusion = tour_of(fixture("tour_diffusion"), "sample.py")
    assert "diffusion" not in ids(diffusion)


# ---- the whole tree and degenerate repositories ----------------------------------------


def test_all_is_the_whole_tree() -> None:
    repo = fixture("tour_detr")
    whole = tour_of(repo, everything=True)
    assert whole.pruned == []
    assert set(ids(tour_of(repo))) < set(ids(whole))
    assert len(whole.steps) > 100


def test_an_entry_that_calls_nothing_is_one_step_and_recursion_ends(tmp_path: Path) -> None:
    repo = analyze(write_repo(tmp_path, {
        "quiet.py": "x = 1\n",
        "loop.py": """
            def ping(n):
                return pong(n - 1) if n else 0

            def pong(n):
                return ping(n)

            def fact(n):
                return n * fact(n - 1) if n else 1

            ping(3)
            fact(4)
            """,
    }))
    assert ids(tour_of(repo, "quiet.py")) == ["quiet"]
    tour = tour_of(repo, "loop.py")
    assert ids(tour) == ["loop", "loop.ping", "loop.pong", "loop.fact"]
    assert_connected(repo, tour)
