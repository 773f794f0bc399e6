"""Resolution gaps met in real research code (issue 13), each on its own small
fixture (tests/fixtures/tour_*): the step the tour now reaches and the reason it
gives, through the real pipeline (tree-sitter on the fixture's files)."""

from __future__ import annotations

import json
import os
import shutil
import time
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
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


def settle(root: Path) -> None:
    """Date every file a minute back: files edited just now are never cached
    (cache.RACY_SECONDS)."""
    when = time.time() - 60
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (when, when))


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


# ---- config-driven construction: YAML `target:` (issue 13, item 4) -------------------------

LATENT = "ldm.models.diffusion.LatentDiffusion"
UNET = "ldm.modules.unet.UNetModel"
ENCODER = "ldm.modules.encoders.FrozenCLIPEmbedder"


def yaml_variant(tmp_path: Path, files: dict[str, str]) -> Repo:
    """The tour_yaml repository copied, with files written over it."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "tour_yaml" / "repo", root)
    write_repo(root, files)
    return analyze(root)


def yaml_tour(repo: Repo) -> dict[str, str]:
    return reasons(build_tour(repo, pick_entry(repo, "scripts/sample.py")))


def test_a_yaml_target_names_the_class_instantiate_from_config_builds() -> None:
    repo = fixture("tour_yaml")
    site = next(s for s in repo.graph.calls["scripts.sample.main"] if s.text == "instantiate_from_config")
    # The graph (map, explain) has the helper's call and the class the config names.
    assert site.targets == (LATENT, "ldm.util.instantiate_from_config")
    assert site.configured == ((LATENT, "`target:` at configs/latent.yaml:2"),)
    assert repo.graph.facts[LATENT].constructed_by == ("scripts.sample.main",)
    found = reasons(tour_of("tour_yaml"))
    assert found[LATENT] == "named by `target:` at configs/latent.yaml:2, instantiated by `main` at scripts/sample.py:22"
    # What the model is, is known: its methods are what runs.
    assert found[f"{LATENT}.sample"] == "called by `main` at scripts/sample.py:24"
    # The helper's own `get_obj_from_str(config["target"])` is still no guess.
    helper = {s.text: s.targets for s in repo.graph.calls["ldm.util.instantiate_from_config"]}
    assert helper['get_obj_from_str(config["target"])'] == ()
    assert repo.graph.unresolved == []


def test_the_configs_nested_in_params_are_what_the_constructor_builds() -> None:
    repo = fixture("tour_yaml")
    sites = {s.line: s for s in repo.graph.calls[f"{LATENT}.__init__"]}
    assert sites[12].configured == ((UNET, "`target:` at configs/latent.yaml:7"),)
    assert sites[13].configured == ((ENCODER, "`target:` at configs/latent.yaml:13"),)
    found = reasons(tour_of("tour_yaml"))
    assert found[UNET] == (
        "named by `target:` at configs/latent.yaml:7, instantiated by `LatentDiffusion.__init__` at "
        "ldm/models/diffusion.py:12"
    )
    assert found[ENCODER] == (
        "named by `target:` at configs/latent.yaml:13, instantiated by `LatentDiffusion.__init__` at "
        "ldm/models/diffusion.py:13"
    )
    # `self.model = instantiate_from_config(unet_config)`, then `self.model(...)`.
    assert found[f"{UNET}.forward"] == (
        "runs when `self.model(...)` is called in `LatentDiffusion.sample` at ldm/models/diffusion.py:25 "
        "(for t in reversed(range(0, self.timesteps, self.timesteps // steps)))"
    )
    assert found[f"{ENCODER}.encode"] == (
        "called by `LatentDiffusion.get_learned_conditioning` at ldm/models/diffusion.py:18"
    )


def test_hydra_targets_nested_in_the_config_are_built_at_the_same_call() -> None:
    repo = fixture("tour_hydra")
    sites = {s.line: s for s in repo.graph.calls["train.main"]}
    assert sites[10].external == "hydra.utils.instantiate"
    assert sites[10].configured == (
        ("vqgan.model.Autoencoder", "`_target_:` at configs/autoencoder.yaml:3"),
        ("vqgan.modules.Encoder", "`_target_:` at configs/autoencoder.yaml:6"),
        ("vqgan.modules.Decoder", "`_target_:` at configs/autoencoder.yaml:10"),
    )
    # `_target_: torch.optim.Adam` names a library class: no step, nothing unresolved.
    assert sites[11].configured == () and sites[11].targets == ()
    assert repo.graph.unresolved == []
    found = reasons(tour_of("tour_hydra"))
    assert found["vqgan.modules.Encoder"] == (
        "named by `_target_:` at configs/autoencoder.yaml:6, instantiated by `main` at train.py:10"
    )
    # The constructor receives what Hydra built for `encoder:`; its forward runs.
    assert found["vqgan.modules.Encoder.forward"] == (
        "runs when `self.encoder(...)` is called in `Autoencoder.forward` at vqgan/model.py:15"
    )


def test_the_readme_command_names_the_config_to_read(tmp_path: Path) -> None:
    repo = yaml_variant(tmp_path, {
        "README.md": "# Small\n\n```\npython scripts/sample.py --config configs/small.yaml\n```\n",
        "configs/small.yaml": """
            model:
              target: ldm.models.diffusion.LatentDiffusion
              params:
                unet_config:
                  target: ldm.modules.tiny.TinyUNet
                cond_stage_config:
                  target: ldm.modules.encoders.FrozenCLIPEmbedder
        """,
        "ldm/modules/tiny.py": """
            import torch.nn as nn


            class TinyUNet(nn.Module):
                def forward(self, x, timesteps, context):
                    return x
        """,
    })
    found = yaml_tour(repo)
    assert found[LATENT] == "named by `target:` at configs/small.yaml:2, instantiated by `main` at scripts/sample.py:22"
    assert found["ldm.modules.tiny.TinyUNet"] == (
        "named by `target:` at configs/small.yaml:5, instantiated by `LatentDiffusion.__init__` at "
        "ldm/models/diffusion.py:12"
    )
    assert "ldm.modules.tiny.TinyUNet.forward" in found and UNET not in found


def test_with_no_flag_value_the_one_yaml_in_configs_is_read(tmp_path: Path) -> None:
    sample = (FIXTURES / "tour_yaml" / "repo" / "scripts" / "sample.py").read_text()
    no_default = sample.replace('default="configs/latent.yaml"', "required=True")
    repo = yaml_variant(tmp_path, {"scripts/sample.py": no_default})
    found = yaml_tour(repo)
    assert found[LATENT] == "named by `target:` at configs/latent.yaml:2, instantiated by `main` at scripts/sample.py:22"
    assert found[UNET].startswith("named by `target:` at configs/latent.yaml:7")
    # With two files there, which one runs is not known: nothing is guessed.
    write_repo(repo.root, {"configs/other.yaml": "model:\n  target: ldm.modules.unet.UNetModel\n"})
    found = yaml_tour(analyze(repo.root))
    assert LATENT not in found and UNET not in found
    assert "ldm.util.instantiate_from_config" in found


def test_a_file_opened_for_yaml_safe_load_is_read_as_the_config(tmp_path: Path) -> None:
    sample = (FIXTURES / "tour_yaml" / "repo" / "scripts" / "sample.py").read_text()
    with_yaml = sample.replace("from omegaconf import OmegaConf\n", "import yaml\n").replace(
        "    config = OmegaConf.load(opt.config)\n    model = instantiate_from_config(config.model)\n",
        '    with open(opt.config) as fh:\n        config = yaml.safe_load(fh)\n'
        '    model = instantiate_from_config(config["model"])\n',
    )
    assert with_yaml != sample
    found = yaml_tour(yaml_variant(tmp_path, {"scripts/sample.py": with_yaml}))
    assert found[LATENT] == "named by `target:` at configs/latent.yaml:2, instantiated by `main` at scripts/sample.py:23"
    assert found[UNET].startswith("named by `target:` at configs/latent.yaml:7")


def test_editing_the_yaml_is_a_cache_miss(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "tour_yaml" / "repo", root)
    settle(root)
    cache_dir = tmp_path / "cache"
    assert yaml_tour(analyze(root, cache_dir=cache_dir))[UNET].startswith("named by `target:` at configs/latent.yaml:7")
    config = root / "configs" / "latent.yaml"
    config.write_text(config.read_text().replace("ldm.modules.unet.UNetModel", "ldm.modules.unet.CrossAttention"))
    settle(root)
    found = yaml_tour(analyze(root, cache_dir=cache_dir))
    assert UNET not in found
    assert found["ldm.modules.unet.CrossAttention"].startswith("named by `target:` at configs/latent.yaml:7")


def test_a_target_naming_nothing_in_the_repo_is_unresolved_not_guessed(tmp_path: Path) -> None:
    latent = (FIXTURES / "tour_yaml" / "repo" / "configs" / "latent.yaml").read_text()
    repo = yaml_variant(tmp_path, {"configs/latent.yaml": latent.replace("unet.UNetModel", "unet.UNetModelV2")})
    # The builder's call is counted, and so is the call of what it would have built.
    assert [(s.caller, s.line, s.text, s.configured) for s in repo.graph.unresolved] == [
        (f"{LATENT}.__init__", 12, "instantiate_from_config", ()),
        (f"{LATENT}.sample", 25, "self.model", ()),
    ]
    found = yaml_tour(repo)
    assert UNET not in found and ENCODER in found


def _warning_and_tour(root: Path) -> tuple[list[str], dict[str, str]]:
    """The warning lines `localread tour` prints and the reasons of its steps."""
    result = CliRunner().invoke(app, ["tour", str(root), "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    return warnings, {s["id"]: s["reason"] for s in json.loads(result.stdout)["steps"]}


BILLION_LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{x}: &{x} [" + ", ".join([f"*{prev}"] * 9) + "]\n" for prev, x in zip("abcdefgh", "bcdefghi")
)


@pytest.mark.parametrize(("config", "why"), [
    ("model:\n  target: ldm.models.diffusion.LatentDiffusion\n params: [\n", "not valid YAML at line 3"),
    (BILLION_LAUGHS + "model:\n  target: ldm.models.diffusion.LatentDiffusion\n",
     "its aliases expand to more than 50,000 nodes"),
    ("model: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("model:\n  target: x\n" + "# padding\n" * 15_000, "over 128 KiB"),
], ids=["malformed", "alias-bomb", "deep", "huge"])
def test_a_config_that_cannot_be_read_is_one_warning_and_the_tour_goes_on(
        tmp_path: Path, config: str, why: str) -> None:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "tour_yaml" / "repo", root)
    (root / "configs" / "latent.yaml").write_text(config)
    warnings, found = _warning_and_tour(root)
    assert len(warnings) == 1
    assert f"configs/latent.yaml: {why}, not read as a config" in warnings[0]
    # The model is not known, the rest of the path is read as before.
    assert LATENT not in found
    assert found["ldm.util.instantiate_from_config"] == "called by `main` at scripts/sample.py:22"


def test_a_target_with_odd_characters_is_one_warning_and_followed_nowhere(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "tour_yaml" / "repo", root)
    latent = (root / "configs" / "latent.yaml").read_text()
    odd = 'target: "ldm.modules.unet.UNetModel; rm -rf ~ \\u202e\\x1b[31m"'
    (root / "configs" / "latent.yaml").write_text(latent.replace("target: ldm.modules.unet.UNetModel", odd))
    warnings, found = _warning_and_tour(root)
    assert len(warnings) == 1
    assert "configs/latent.yaml:7: the `target:` value is not a dotted name, not followed" in warnings[0]
    assert "rm -rf" not in warnings[0]
    assert UNET not in found
    assert found[ENCODER].startswith("named by `target:` at configs/latent.yaml:13")
    assert found[f"{ENCODER}.encode"] == "called by `LatentDiffusion.get_learned_conditioning` at ldm/models/diffusion.py:18"
