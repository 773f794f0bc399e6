"""Prompted segmentation: an image encoder, a prompt encoder and a mask decoder."""

from .modeling import PromptedSegmentationModel, build_model
from .predictor import Segmenter

__all__ = ["PromptedSegmentationModel", "Segmenter", "build_model"]
