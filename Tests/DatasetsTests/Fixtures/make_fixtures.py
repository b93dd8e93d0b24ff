#!/usr/bin/env python3
"""Golden values for the Datasets augmentations, from torchvision.transforms.functional on float tensors.

Run from this directory:  python3 make_fixtures.py   (writes golden_augmentations.json)
Needs torch, torchvision and numpy. The Swift tests read only the JSON; torchvision is never needed by them.

Every case applies one functional op (or a fixed chain of them) with fixed parameters to the same small
3x8x8 float image in [0, 1]. All argument values are lists of numbers so the Swift side decodes one shape.
"""
import json

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F


def make_input():
    img = np.random.default_rng(2024).random((3, 8, 8)).astype(np.float32)
    # Pixels that exercise HSV corner cases: gray (max == min), ties between channels, black, white.
    special = [(0.5, 0.5, 0.5), (1.0, 1.0, 0.0), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
               (0.3, 0.3, 0.8), (0.8, 0.3, 0.8), (0.2, 0.9, 0.9), (0.6, 0.6, 0.1)]
    for k, rgb in enumerate(special):
        img[:, 7, k] = rgb
    return torch.from_numpy(img)


JITTER_CODES = {"brightness": 0, "contrast": 1, "saturation": 2, "hue": 3}
JITTER_FNS = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast,
              "saturation": F.adjust_saturation, "hue": F.adjust_hue}


def pipeline(img, padding, box, size, flip, jitter, gray, sigma, kernel=9):
    """The order of the reference's Compose: crop -> flip -> ColorJitter (given order) -> grayscale -> blur."""
    if padding:
        img = F.pad(img, [padding], fill=0)
    top, left, h, w = box
    img = F.resized_crop(img, top, left, h, w, [size, size],
                         interpolation=F.InterpolationMode.BILINEAR, antialias=True)
    if flip:
        img = F.hflip(img)
    for name, factor in jitter:
        img = JITTER_FNS[name](img, factor)
    if gray:
        img = F.rgb_to_grayscale(img, num_output_channels=3)
    if sigma is not None:
        img = F.gaussian_blur(img, [kernel, kernel], [sigma, sigma])
    return img


def main():
    x = make_input()
    cases = []

    def add(name, op, args, out):
        out = out.contiguous()
        cases.append({"name": name, "op": op, "args": {k: [float(v) for v in vs] for k, vs in args.items()},
                      "shape": list(out.shape), "data": [float(v) for v in out.flatten().tolist()]})

    for f in (0.3, 1.0, 1.7):
        add(f"brightness {f}", "brightness", {"factor": [f]}, F.adjust_brightness(x, f))
    for f in (0.2, 1.8):
        add(f"contrast {f}", "contrast", {"factor": [f]}, F.adjust_contrast(x, f))
    for f in (0.0, 0.5, 1.8):
        add(f"saturation {f}", "saturation", {"factor": [f]}, F.adjust_saturation(x, f))
    for f in (-0.5, -0.2, 0.0, 0.15, 0.45):
        add(f"hue {f}", "hue", {"factor": [f]}, F.adjust_hue(x, f))
    add("grayscale", "grayscale", {}, F.rgb_to_grayscale(x, num_output_channels=3))
    for k, s in ((9, 0.7), (9, 1.9), (3, 0.5), (9, 0.1)):
        add(f"gaussian_blur k{k} s{s}", "blur", {"kernel": [k], "sigma": [s]}, F.gaussian_blur(x, [k, k], [s, s]))
    for box, size in (((1, 2, 5, 4), (16, 16)), ((0, 0, 8, 8), (13, 11)), ((2, 3, 3, 3), (32, 32)),
                      ((0, 1, 8, 7), (5, 3)), ((1, 0, 7, 8), (4, 4))):
        out = F.resized_crop(x, *box, list(size), interpolation=F.InterpolationMode.BILINEAR, antialias=True)
        add(f"resized_crop {box} -> {size}", "resized_crop", {"box": box, "size": size}, out)
    add("hflip", "hflip", {}, F.hflip(x))

    chains = [
        dict(padding=0, box=(1, 1, 6, 5), size=12, flip=True,
             jitter=[("hue", 0.1), ("contrast", 1.3), ("brightness", 0.7), ("saturation", 1.5)], gray=False, sigma=1.1),
        dict(padding=0, box=(0, 2, 7, 6), size=8, flip=False,
             jitter=[("saturation", 0.4), ("brightness", 1.6), ("hue", -0.15), ("contrast", 0.5)], gray=True, sigma=0.4),
        dict(padding=4, box=(3, 6, 8, 8), size=8, flip=True, jitter=[], gray=False, sigma=None),
    ]
    for i, c in enumerate(chains):
        out = pipeline(x, **c)
        args = {"padding": [c["padding"]], "box": c["box"], "size": [c["size"]], "flip": [1 if c["flip"] else 0],
                "jitter": [v for name, f in c["jitter"] for v in (JITTER_CODES[name], f)],
                "gray": [1 if c["gray"] else 0], "sigma": [] if c["sigma"] is None else [c["sigma"]]}
        add(f"pipeline {i}", "pipeline", args, out)

    doc = {"generator": "make_fixtures.py", "torch": torch.__version__, "torchvision": torchvision.__version__,
           "input": {"shape": list(x.shape), "data": [float(v) for v in x.flatten().tolist()]}, "cases": cases}
    with open("golden_augmentations.json", "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
