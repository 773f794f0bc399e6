"""Resolution gaps met in real research code (issue 13), each on its own small
fixture (tests/fixtures/tour_*): the step the tour now reaches and the reason it
gives, through the real pipeline (tree-sitter on the fixture's files)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from localread.repo.analysis import Repo, analyze
from localread.repo.scan import rooted_packages, scan
from localread.repo.tour import Tour, build_tour, pick_entry
from tests.helpers import FIXTURES, write_repo


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


def test_a_package_below_namespace_folders_is_named_as_the_script_imports_it(tmp_path: Path) -> None:
    modules = {f.path: f.module for f in scan(FIXTURES / "tour_nspkg" / "repo").files}
    assert modules["ldm/models/diffusion/ddim.py"] == "ldm.models.diffusion.ddim"
    assert modules["ldm/modules/diffusionmodules/util.py"] == "ldm.modules.diffusionmodules.util"
    found = reasons(tour_of("tour_nspkg"))
    assert found["ldm.models.diffusion.ddim.DDIMSampler.sample"] == "called by `main` at scripts/sample.py:16"
    assert found["ldm.modules.diffusionmodules.util.make_ddim_timesteps"] == (
        "called by `DDIMSampler.sample` at ldm/models/diffusion/ddim.py:14"
    )
    # A package in a plain folder that its code imports by its own name keeps it.
    plain = write_repo(tmp_path, {
        "code/lib/__init__.py": "",
        "code/lib/core.py": "def run():\n    pass\n",
        "code/train.py": "from lib.core import run\nrun()\n",
    })
    assert rooted_packages(plain, {"code/lib/__init__.py", "code/lib/core.py", "code/train.py"}) == frozenset()
    assert {f.path: f.module for f in scan(plain).files}["code/lib/core.py"] == "lib.core"


def test_a_call_on_self_in_an_inherited_method_runs_the_subclass_override() -> None:
    repo = fixture("tour_override")
    base = "diffusion.gaussian_diffusion.GaussianDiffusion"
    sites = {s.text: s.targets for s in repo.graph.calls[f"{base}.p_sample"]}
    # The object built is a SpacedDiffusion: its override runs, not the base's.
    assert sites["self.p_mean_variance"] == ("diffusion.respace.SpacedDiffusion.p_mean_variance",)
    found = reasons(tour_of("tour_override"))
    assert found["diffusion.respace.SpacedDiffusion.p_mean_variance"] == (
        "called by `GaussianDiffusion.p_sample` at diffusion/gaussian_diffusion.py:18"
    )
    # ...which hands on to the base's through super().
    assert found[f"{base}.p_mean_variance"] == "called by `SpacedDiffusion.p_mean_variance` at diffusion/respace.py:17"


def test_self_in_a_method_no_call_reaches_is_its_class_and_the_subclasses_built(tmp_path: Path) -> None:
    repo = analyze(write_repo(tmp_path, {
        "trainer.py": """
            class Trainer:
                def on_step(self):
                    return self.loss()

                def loss(self):
                    return 0.0


            class DistillTrainer(Trainer):
                def loss(self):
                    return 1.0


            def build():
                return DistillTrainer()
        """,
    }))
    # Nothing calls on_step (a framework would): self is a Trainer or the subclass built.
    sites = {s.text: s.targets for s in repo.graph.calls["trainer.Trainer.on_step"]}
    assert sites["self.loss"] == ("trainer.DistillTrainer.loss", "trainer.Trainer.loss")


def test_a_module_function_bound_in_a_class_body_runs_as_a_method() -> None:
    found = reasons(tour_of("tour_alias"))
    # `decode = decode_function` in VQModel's body: `model.decode(codes)` runs it...
    assert found["vq.codec.decode_function"] == "called by `main` at reconstruct.py:9"
    # ...with self bound to the model, so what it calls on self resolves.
    assert found["vq.codec.Decoder.forward"] == (
        "runs when `self.decoder(...)` is called in `decode_function` at vq/codec.py:10"
    )


def test_the_entries_of_a_module_dict_built_with_dict_are_its_attributes() -> None:
    repo = fixture("tour_moduledict")
    sites = {s.text: s for s in repo.graph.calls["model.GPT.forward"]}
    # Each attribute is the entry of its key, not the union of the entries.
    assert sites["block"].targets == ("model.Block.forward",)
    assert sites["block"].context == "for block in self.transformer.h"
    assert sites["self.transformer.ln_f"].targets == ("model.LayerNorm.forward",)
    assert sites["self.transformer.wte"].external == "torch.nn.Embedding.__call__"
    assert sites["self.transformer.wte"].targets == ()
    found = reasons(tour_of("tour_moduledict"))
    assert found["model.Block.forward"] == (
        "runs when `block(...)` is called in `GPT.forward` at model.py:54 (for block in self.transformer.h)"
    )


def test_literal_keys_pick_one_entry_of_a_dict(tmp_path: Path) -> None:
    repo = analyze(write_repo(tmp_path, {
        "heads.py": """
            class BoxHead:
                def __call__(self, x):
                    return x


            class MaskHead:
                def __call__(self, x):
                    return x


            HEADS = {"box": BoxHead(), "mask": MaskHead()}
            OPTIONS = dict(box=BoxHead(), mask=MaskHead())


            def run(x, name):
                HEADS["box"](x)
                OPTIONS.get("mask")(x)
                HEADS[name](x)
        """,
    }))
    sites = [(s.text, s.targets) for s in repo.graph.calls["heads.run"]]
    assert sites == [
        ('HEADS["box"]', ("heads.BoxHead.__call__",)),
        ("OPTIONS.get", ()),
        ('OPTIONS.get("mask")', ("heads.MaskHead.__call__",)),
        ("HEADS[name]", ("heads.BoxHead.__call__", "heads.MaskHead.__call__")),
    ]


def test_a_registry_indexed_by_a_flag_follows_the_default_and_counts_the_others() -> None:
    repo = fixture("tour_registry")
    site = next(s for s in repo.graph.calls["train.main"] if s.text == "VIT_MODELS[args.model]")
    # The graph (what map and explain show) keeps every entry...
    assert site.targets == ("models.ViT_B_16", "models.ViT_H_14", "models.ViT_L_16", "models.ViT_S_16")
    assert [key for key, _ in site.keyed] == ["ViT-B/16", "ViT-H/14", "ViT-L/16", "ViT-S/16"]
    # ...the tour follows the argparse default's and says how many others there are.
    tour = tour_of("tour_registry")
    found = reasons(tour)
    assert found["models.ViT_B_16"] == (
        "called by `main` at train.py:11; entry `ViT-B/16` (the default of `--model`); or one of 3 others"
    )
    assert not {"models.ViT_S_16", "models.ViT_L_16", "models.ViT_H_14"} & set(found)


def test_the_readme_command_value_picks_the_registry_entry(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for path in ("models.py", "train.py"):
        write_repo(root, {path: (FIXTURES / "tour_registry" / "repo" / path).read_text()})
    write_repo(root, {"README.md": "# ViT\n\n```\npython train.py --model ViT-L/16 --steps 5\n```\n"})
    repo = analyze(root)
    tour = build_tour(repo, pick_entry(repo, "train.py"))
    found = reasons(tour)
    assert found["models.ViT_L_16"].endswith(
        "entry `ViT-L/16` (`--model ViT-L/16` in the README's command); or one of 3 others"
    )
    assert "models.ViT_B_16" not in found


def test_values_that_carry_calls_are_followed() -> None:
    repo = fixture("tour_callables")
    calls = repo.graph.calls

    def targets(caller: str, text: str) -> tuple[str, ...]:
        return next(s.targets for s in calls[caller] if s.text == text)

    # A callable bound through a lambda's default: `lambda x, t, m=model: m.forward_with_cfg(...)`.
    assert targets("sample.main", "m.forward_with_cfg") == ("models.Denoiser.forward_with_cfg",)
    # The lambda, wrapped in an object, runs when the wrapper's __call__ calls it.
    assert targets("sampling.TimestepRescaler.__call__", "self.model") == ("models.Denoiser.forward_with_cfg",)
    # The wrapper object passed as an argument: its __call__ runs inside the loop.
    assert targets("sampling.sample_loop", "model_fn") == ("sampling.TimestepRescaler.__call__",)
    # A returned closure, called later.
    assert targets("sampling.sample_loop", "schedule") == ("sampling.get_schedule.schedule",)
    # A lambda stored in a dict and passed on through **hooks.
    assert targets("sampling.sample_loop", "hook") == ("sampling.clamp_output",)
    found = reasons(tour_of("tour_callables"))
    assert found["sampling.TimestepRescaler.__call__"] == (
        "runs when `model_fn(...)` is called in `sample_loop` at sampling.py:40 (for i in reversed(range(steps)))"
    )
    assert found["sampling.get_schedule.schedule"] == (
        "called by `sample_loop` at sampling.py:39 (for i in reversed(range(steps)))"
    )


def test_a_literal_dotted_string_names_the_class_a_helper_returns() -> None:
    repo = fixture("tour_config")
    sites = {s.text: s.targets for s in repo.graph.calls["scripts.reconstruct.main"]}
    # `model_cls = get_obj_from_str("ldm.models.autoencoder.AutoencoderKL")`, then model_cls(...).
    assert sites["model_cls"] == ("ldm.models.autoencoder.AutoencoderKL",)
    assert sites["model.encode"] == ("ldm.models.autoencoder.AutoencoderKL.encode",)
    found = reasons(tour_of("tour_config"))
    assert found["ldm.models.autoencoder.AutoencoderKL"] == "instantiated by `main` at scripts/reconstruct.py:17"
    # The helper's own `get_obj_from_str(config["target"])` names no literal: left as it is.
    helper = {s.text: s.targets for s in repo.graph.calls["ldm.util.instantiate_from_config"]}
    assert helper['get_obj_from_str(config["target"])'] == ()
