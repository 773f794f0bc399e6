"""Mask decoder: prompt tokens attend to the image embedding."""

import torch
from torch import nn


class MaskDecoder(nn.Module):
    def __init__(self, width: int, num_masks: int = 3):
        super().__init__()
        self.mask_tokens = nn.Embedding(num_masks + 1, width)
        self.cross_attn = nn.MultiheadAttention(width, 8, batch_first=True)
        self.iou_head = nn.Linear(width, num_masks + 1)

    def forward(self, image_embedding, prompt_tokens, multimask: bool = True):
        """Predict low-resolution masks and their quality scores."""
        tokens = torch.cat([self.mask_tokens.weight[None], prompt_tokens], dim=1)
        b, c, h, w = image_embedding.shape
        keys = image_embedding.flatten(2).transpose(1, 2)
        tokens, _ = self.cross_attn(tokens, keys, keys)
        masks = self._masks_from_tokens(tokens, image_embedding)
        scores = self.iou_head(tokens[:, 0])
        if multimask:
            return masks[:, 1:], scores[:, 1:]
        return masks[:, :1], scores[:, :1]

    def _masks_from_tokens(self, tokens, image_embedding):
        n = self.mask_tokens.num_embeddings
        return torch.einsum("bnc,bchw->bnhw", tokens[:, :n], image_embedding)
