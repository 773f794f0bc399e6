"""The `segment-demo` console command: print the masks' scores for one click."""

import argparse

import numpy as np
from PIL import Image

from .modeling import build_model
from .predictor import Segmenter


def main():
    parser = argparse.ArgumentParser(prog="segment-demo")
    parser.add_argument("image")
    parser.add_argument("x", type=int)
    parser.add_argument("y", type=int)
    args = parser.parse_args()
    segmenter = Segmenter(build_model("vit_s"))
    segmenter.set_image(np.asarray(Image.open(args.image).convert("RGB")))
    _, scores = segmenter.predict(point=np.array([[args.x, args.y]]))
    print(" ".join(f"{s:.3f}" for s in scores))
