"""Model construction: a registry of sizes."""

import functools

import torch

from .decoder import MaskDecoder
from .encoder import ImageEncoder, PromptEncoder
from .model import PromptedSegmentationModel


def _build(depth: int, width: int, checkpoint=None) -> PromptedSegmentationModel:
    model = PromptedSegmentationModel(
        encoder=ImageEncoder(depth=depth, width=width),
        prompt_encoder=PromptEncoder(width),
        decoder=MaskDecoder(width),
    )
    if checkpoint is not None:
        model.load_state_dict(torch.load(checkpoint, map_location="cpu"))
    return model


build_small = functools.partial(_build, 4, 256)
build_large = functools.partial(_build, 12, 768)

MODEL_REGISTRY = {"vit_s": build_small, "vit_l": build_large}


def build_model(name: str, checkpoint=None) -> PromptedSegmentationModel:
    """Build a registered model by name and optionally load weights."""
    if name not in MODEL_REGISTRY:
        raise KeyError(f"unknown model {name!r}; choose one of {sorted(MODEL_REGISTRY)}")
    return MODEL_REGISTRY[name](checkpoint=checkpoint)
