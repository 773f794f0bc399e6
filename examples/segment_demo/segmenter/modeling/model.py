"""The full model: three parts wired together."""

from torch import nn

from .decoder import MaskDecoder
from .encoder import ImageEncoder, PromptEncoder


class PromptedSegmentationModel(nn.Module):
    def __init__(self, encoder: ImageEncoder, prompt_encoder: PromptEncoder, decoder: MaskDecoder):
        super().__init__()
        self.encoder = encoder
        self.prompt_encoder = prompt_encoder
        self.decoder = decoder

    def forward(self, image, points):
        """Encode the image and the points, then decode masks."""
        return self.decoder(self.encoder(image), self.prompt_encoder(points))
