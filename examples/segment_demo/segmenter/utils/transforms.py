"""Resizing images and coordinates so that the longest side has a fixed length."""

import numpy as np
from PIL import Image


class ResizeLongestSide:
    def __init__(self, target_length: int):
        self.target_length = target_length

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        h, w = self.preprocess_shape(image.shape[0], image.shape[1])
        return np.asarray(Image.fromarray(image).resize((w, h)))

    def apply_coords(self, coords: np.ndarray, original_size) -> np.ndarray:
        old_h, old_w = original_size
        new_h, new_w = self.preprocess_shape(old_h, old_w)
        scaled = coords.astype(float).copy()
        scaled[..., 0] *= new_w / old_w
        scaled[..., 1] *= new_h / old_h
        return scaled

    def preprocess_shape(self, h: int, w: int):
        scale = self.target_length / max(h, w)
        return int(h * scale + 0.5), int(w * scale + 0.5)
