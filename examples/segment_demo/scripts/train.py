"""Fine-tune the mask decoder on a folder of images and masks."""

import argparse

import torch

from segmenter.modeling import build_model
from segmenter.losses import focal_dice_loss

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--epochs", type=int, default=12)
args = parser.parse_args()

model = build_model("vit_s")
optimizer = torch.optim.AdamW(model.decoder.parameters(), lr=1e-4)
for epoch in range(args.epochs):
    for images, points, targets in torch.load(args.data):
        embeddings = model.encoder(images)
        logits, _ = model.decoder(embeddings, model.prompt_encoder(points))
        loss = focal_dice_loss(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
