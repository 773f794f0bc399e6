"""summarize.plan: units bottom-up, cycles cut once and stably, the top tour first."""

from __future__ import annotations

from pathlib import Path

from localread.repo.analysis import analyze
from localread.summarize import OVERVIEW_ID, Options, build_plan, known_tours
from tests.summarize_helpers import SMALL, copy_repo


def test_plan_is_bottom_up_with_every_callee_before_its_caller() -> None:
    repo = analyze(SMALL)
    plan = build_plan(repo, known_tours(repo, Options()))
    position = {uid: i for i, uid in enumerate(plan.order)}
    assert sorted(plan.order) == sorted(plan.units)
    for uid, inputs in plan.inputs.items():
        assert all(position[d] < position[uid] for d in inputs), uid
    # Calls, methods, members, modules: each prompt carries what it is made of.
    assert plan.inputs["tinynet.train.Trainer.train_epoch"] == (
        "tinynet.data.batches", "tinynet.model.TinyNet.forward", "tinynet.train.cross_entropy"
    )
    assert set(plan.inputs["tinynet.model.TinyNet"]) == {
        f"tinynet.model.TinyNet.{m}" for m in ("__init__", "forward", "predict", "get_classes", "__repr__")
    }
    assert plan.inputs["tinynet.model"] == ("tinynet.model.softmax", "tinynet.model.TinyNet", "tinynet.model.build_model")
    assert plan.inputs["package:tinynet"] == ("tinynet", "tinynet.data", "tinynet.layers", "tinynet.model", "tinynet.train")
    assert set(plan.inputs[OVERVIEW_ID]) == {"package:tinynet", "scripts.evaluate", "scripts.train", "setup"}
    assert plan.order[-1] == OVERVIEW_ID


def test_call_cycles_are_cut_once_and_the_same_way_after_unrelated_edits(tmp_path: Path) -> None:
    root = copy_repo(SMALL, tmp_path)
    repo = analyze(root)
    plan = build_plan(repo, known_tours(repo, Options()))
    # is_even <-> is_odd: the post-order from the smaller id keeps is_even -> is_odd.
    assert plan.units["tinynet.data.is_odd"].deps == ("tinynet.data.is_even",)
    assert plan.inputs["tinynet.data.is_odd"] == ()
    assert plan.inputs["tinynet.data.is_even"] == ("tinynet.data.is_odd",)
    cut = {(u, d) for u, unit in plan.units.items() for d in unit.deps if d not in plan.inputs[u]}
    assert cut == {("tinynet.data.is_odd", "tinynet.data.is_even")}
    assert build_plan(repo, known_tours(repo, Options())).order == plan.order
    layers = root / "tinynet" / "layers.py"
    layers.write_text(layers.read_text().replace("0.044715", "0.0447"))
    repo2 = analyze(root)
    plan2 = build_plan(repo2, known_tours(repo2, Options()))
    assert plan2.inputs == plan.inputs


def test_the_top_tour_and_what_it_needs_come_first() -> None:
    repo = analyze(SMALL)
    tours = known_tours(repo, Options())
    assert tours[0].entry.path == "scripts/train.py"
    plan = build_plan(repo, tours)
    tiers = [plan.priority[uid][0] for uid in plan.order]
    assert tiers == sorted(tiers), "a less urgent unit ran before a more urgent one"
    for step in tours[0].steps:
        assert plan.priority[step.id][0] == 0, step.id
    position = {uid: i for i, uid in enumerate(plan.order)}
    assert position["scripts.train.main"] < position["scripts.evaluate.accuracy"]
    assert plan.priority["tinynet.layers.Identity"][0] == 2  # used by nothing
