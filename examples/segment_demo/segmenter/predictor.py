"""Segmenter: turns an image and clicked points into masks with a trained model."""

import numpy as np
import torch

from .modeling import PromptedSegmentationModel
from .utils.transforms import ResizeLongestSide


class Segmenter:
    """Holds the image embedding so that many prompts can be tried cheaply."""

    def __init__(self, model: PromptedSegmentationModel, image_size: int = 1024):
        self.model = model.eval()
        self.transform = ResizeLongestSide(image_size)
        self.features = None

    @torch.no_grad()
    def set_image(self, image: np.ndarray) -> None:
        """Resize and normalise the image, then compute its embedding once."""
        pixels = self.transform.apply_image(image)
        tensor = torch.as_tensor(pixels).permute(2, 0, 1)[None].float()
        self.original_size = image.shape[:2]
        self.features = self.model.encoder(self._normalize(tensor))

    def predict(self, point: np.ndarray, multimask: bool = True):
        """Masks and quality scores for one clicked point."""
        if self.features is None:
            raise RuntimeError("call set_image() before predict()")
        coords = self.transform.apply_coords(point, self.original_size)
        sparse = self.model.prompt_encoder(torch.as_tensor(coords)[None])
        low_res, scores = self.model.decoder(self.features, sparse, multimask=multimask)
        masks = self._postprocess(low_res)
        return masks[0].numpy(), scores[0].numpy()

    def _normalize(self, tensor):
        mean = torch.tensor([123.7, 116.3, 103.5]).view(-1, 1, 1)
        std = torch.tensor([58.4, 57.1, 57.4]).view(-1, 1, 1)
        return (tensor - mean) / std

    def _postprocess(self, low_res):
        upscaled = torch.nn.functional.interpolate(low_res, self.original_size, mode="bilinear")
        return upscaled > 0.0
