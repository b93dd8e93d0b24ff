#!/usr/bin/env python3
"""Reference distributions of torchvision's random augmentation parameters, for the statistical tests of
our samplers (Tests/DatasetsTests/SamplerDistributionTests.swift).

Run from this directory:  python3 make_sampler_reference.py   (writes sampler_reference.json, ~3 min)
Needs torch, torchvision and numpy. The Swift tests read only the JSON.

RandomResizedCrop.get_params makes up to 10 attempts: target area = H*W*s with s ~ U(scale), aspect
r = exp(t) with t ~ U(log ratio), w = round(sqrt(area*r)), h = round(sqrt(area/r)); the first attempt with
0 < w <= W and 0 < h <= H is kept, otherwise the central crop clamped to the ratio range. For one attempt,
the probability of each (h, w) is computed exactly in s for every t of a fine grid: w and h are step
functions of s with steps at s = (k + 1/2)^2 / (H*W*r) and s = (k + 1/2)^2 * r / (H*W). With p the
probability that an attempt fits, the fallback rate is (1 - p)^10 and a kept box has the distribution of a
fitting attempt. Each configuration is then checked against torchvision's own get_params (simulated; the
fallbacks counted as the calls that never draw a position), and the chi-square of that simulation against
the exact distribution is stored with it.

ColorJitter, RandomGrayscale and GaussianBlur draw their parameters from uniform distributions and fair
coins; the ranges are read from torchvision's transform objects, and the order of ColorJitter's four
adjustments (torch.randperm(4)) is checked against the uniform distribution on the 24 orders.
"""
import json
import math

import numpy as np
import torch
import torchvision.transforms as T
from scipy import stats

CONFIGS = [
    # name, height, width, scale, ratio
    ("simclr32", 32, 32, (0.08, 1.0), (3 / 4, 4 / 3)),     # the SimCLR setting at CIFAR size
    ("tiny8", 8, 8, (0.08, 1.0), (3 / 4, 4 / 3)),          # coarse rounding on a small image
    ("smallcrop32", 32, 32, (0.05, 0.14), (3 / 4, 4 / 3)),  # small crops (multi-crop's scale): never falls back
    ("fallback16", 16, 16, (0.9, 1.0), (0.5, 2.0)),        # about half of the crops fall back to the whole image
    ("wide12x30", 12, 30, (0.08, 1.0), (3 / 4, 4 / 3)),     # a rare fallback, clamped to ratio 4/3
]
T_POINTS = 200_000      # midpoints in log-ratio
SIMULATED = 400_000     # torchvision get_params calls per configuration


def attempt_cells(height, width, scale, ratio):
    """{(h, w): probability that one attempt gives this box size} over all (h, w), fitting or not."""
    area = height * width
    s0, s1 = scale
    t0, t1 = math.log(ratio[0]), math.log(ratio[1])
    ts = t0 + (np.arange(T_POINTS) + 0.5) * (t1 - t0) / T_POINTS
    r = np.exp(ts)[:, None]
    kmax = int(math.ceil(math.sqrt(area * s1 * max(ratio[1], 1 / ratio[0])))) + 2
    k = (np.arange(kmax) + 0.5)[None, :] ** 2
    breaks = np.concatenate([k / (area * r), k * r / area,
                             np.full((T_POINTS, 1), s0), np.full((T_POINTS, 1), s1)], axis=1)
    breaks = np.sort(np.clip(breaks, s0, s1), axis=1)
    lengths = np.diff(breaks, axis=1)
    mids = 0.5 * (breaks[:, 1:] + breaks[:, :-1])
    w = np.rint(np.sqrt(area * mids * r)).astype(np.int64)      # ties have probability 0
    h = np.rint(np.sqrt(area * mids / r)).astype(np.int64)
    weight = lengths / (s1 - s0) / T_POINTS
    table = np.zeros((h.max() + 1, w.max() + 1))
    np.add.at(table, (h.ravel(), w.ravel()), weight.ravel())
    return {(int(a), int(b)): float(table[a, b]) for a, b in zip(*np.nonzero(table))}


def fallback_box(height, width, ratio):
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        h, w = height, width
    return h, w


def simulate(height, width, scale, ratio, n):
    """Counts of kept (h, w) from torchvision's get_params, and how many calls fell back."""
    calls = {"randint": 0}
    real_randint = torch.randint

    def counting_randint(*args, **kwargs):
        calls["randint"] += 1
        return real_randint(*args, **kwargs)

    image = torch.empty(3, height, width)
    counts, fallbacks = {}, 0
    torch.randint = counting_randint
    try:
        for _ in range(n):
            before = calls["randint"]
            i, j, h, w = T.RandomResizedCrop.get_params(image, list(scale), list(ratio))
            if calls["randint"] == before:
                fallbacks += 1
            else:
                counts[(h, w)] = counts.get((h, w), 0) + 1
    finally:
        torch.randint = real_randint
    return counts, fallbacks


def chi_square(counts, probabilities, total):
    """Pearson's statistic over the cells of `probabilities`, cells with expected count < 5 pooled."""
    observed, expected, pooled_o, pooled_e = [], [], 0, 0.0
    for cell, p in probabilities.items():
        e = p * total
        if e < 5:
            pooled_o += counts.get(cell, 0)
            pooled_e += e
        else:
            observed.append(counts.get(cell, 0))
            expected.append(e)
    extra = total - sum(observed) - pooled_o     # outcomes outside every cell (there should be none)
    pooled_o += extra
    if pooled_e > 0 or pooled_o > 0:
        observed.append(pooled_o)
        expected.append(max(pooled_e, 1e-12))
    x = sum((o - e) ** 2 / e for o, e in zip(observed, expected))
    df = len(observed) - 1
    return x, df, float(stats.chi2.sf(x, df))


def crop_reference(name, height, width, scale, ratio):
    cells = attempt_cells(height, width, scale, ratio)
    fitting = {c: p for c, p in cells.items() if 0 < c[0] <= height and 0 < c[1] <= width}
    p_fit = sum(fitting.values())
    fallback_rate = (1 - p_fit) ** 10
    kept = {c: p / p_fit for c, p in fitting.items()}
    counts, fallbacks = simulate(height, width, scale, ratio, SIMULATED)
    x, df, p_value = chi_square(counts, kept, SIMULATED - fallbacks)
    z = (fallbacks - SIMULATED * fallback_rate) / math.sqrt(SIMULATED * fallback_rate * (1 - fallback_rate) + 1e-300)
    print(f"{name}: attempt fits {p_fit:.6f}, fallback rate {fallback_rate:.3e}; torchvision {SIMULATED} calls: "
          f"{fallbacks} fallbacks (z = {z:.2f}), kept sizes chi2 = {x:.1f} on {df} df (p = {p_value:.3f})")
    return {
        "name": name, "height": height, "width": width, "scale": list(scale), "ratio": list(ratio),
        "attempt_fit_probability": p_fit, "fallback_rate": fallback_rate,
        "fallback_box": list(fallback_box(height, width, ratio)),
        # (h, w, probability) of a kept box, given that some attempt fitted
        "kept_sizes": [[h, w, p] for (h, w), p in sorted(kept.items())],
        "torchvision_simulation": {"calls": SIMULATED, "fallbacks": fallbacks, "fallback_z": z,
                                   "kept_chi_square": x, "df": df, "p_value": p_value},
    }


def jitter_reference():
    jitter = T.ColorJitter(0.8, 0.8, 0.8, 0.2)
    n = 120_000
    orders = {}
    for _ in range(n):
        order = tuple(int(v) for v in T.ColorJitter.get_params(None, None, None, None)[0])
        orders[order] = orders.get(order, 0) + 1
    x = sum((c - n / 24) ** 2 / (n / 24) for c in orders.values()) + (24 - len(orders)) * n / 24
    p_value = float(stats.chi2.sf(x, 23))
    print(f"ColorJitter order: {len(orders)} orders in {n} draws, chi2 = {x:.1f} on 23 df (p = {p_value:.3f})")
    return {
        "strength": [0.8, 0.8, 0.8, 0.2],
        "brightness": list(jitter.brightness), "contrast": list(jitter.contrast),
        "saturation": list(jitter.saturation), "hue": list(jitter.hue),
        "orders": 24,
        "torchvision_order_simulation": {"draws": n, "chi_square": x, "df": 23, "p_value": p_value},
    }


def main():
    torch.manual_seed(0)
    blur = T.GaussianBlur(9, (0.1, 2.0))
    reference = {
        "color_jitter": jitter_reference(),
        "grayscale_probability": T.RandomGrayscale(0.2).p,
        "flip_probability": T.RandomHorizontalFlip().p,
        "blur_sigma": list(blur.sigma),
        "blur_kernel": list(blur.kernel_size),
        "crops": [crop_reference(*c) for c in CONFIGS],
    }
    with open("sampler_reference.json", "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
