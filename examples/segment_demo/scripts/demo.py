"""Segment the object under a clicked point and save the mask."""

import argparse

import numpy as np
from PIL import Image

from segmenter import Segmenter, build_model


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", required=True)
    parser.add_argument("--point", type=int, nargs=2, required=True)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--model", default="vit_s")
    return parser.parse_args()


def main():
    args = parse_args()
    model = build_model(args.model, checkpoint=args.checkpoint)
    segmenter = Segmenter(model)
    image = np.asarray(Image.open(args.image).convert("RGB"))
    segmenter.set_image(image)
    masks, scores = segmenter.predict(point=np.array([args.point]))
    best = masks[int(scores.argmax())]
    Image.fromarray((best * 255).astype(np.uint8)).save("mask.png")
    print(f"saved mask.png (score {scores.max():.3f})")


if __name__ == "__main__":
    main()
