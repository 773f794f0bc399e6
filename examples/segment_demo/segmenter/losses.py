"""Training losses."""

import torch


def focal_dice_loss(logits, targets, alpha: float = 0.25, gamma: float = 2.0):
    """Focal loss plus Dice loss, 20:1, as in the paper's section 3.4."""
    probs = logits.sigmoid()
    ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    focal = (alpha * (1 - probs) ** gamma * ce).mean()
    dice = 1 - (2 * (probs * targets).sum() + 1) / (probs.sum() + targets.sum() + 1)
    return 20 * focal + dice
