#!/usr/bin/env python3
"""Golden multi-crop loss values for ContrastiveTests (writes multicrop.json next to this script).

The multi-crop contrastive loss of docs/multi-crop.md (note 'Loss'), by PyTorch autograd in float64 from
float32 embeddings. Global rows g [2B, D] laid out [view1 of B images; view2 of B images]; small rows
s [N*B, D] laid out [crop 1 of the B images; ...; crop N of them], so small row k*B + i belongs to image i:

    global rows: -sim(g_i, g_pos(i))/tau + logsumexp_{j != i} sim(g_i, g_j)/tau      (today's InfoNCE)
    small rows, two terms each (v = 0, 1):
                 -sim(s, g_(i + v*B))/tau + logsumexp_j sim(s, g_j)/tau over all 2B global rows j
    loss = (sum of the 2B + 2NB terms) / (2B + 2NB)

Run: python3 make_multicrop_fixture.py   (torch, no GPU needed). The Swift tests do not need PyTorch.
"""
import json
import os

import torch
import torch.nn.functional as F


def similarity(a, b, kind):
    if kind == "cosine":
        return F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)
    return -((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def multicrop_loss(g, s, batch, tau, kind):
    m = g.shape[0]
    sim = similarity(g, g, kind) / tau
    eye = torch.eye(m, dtype=torch.bool)
    sim = sim.masked_fill(eye, float("-inf"))
    pos = (torch.arange(m) + batch) % m
    global_terms = -sim[torch.arange(m), pos] + torch.logsumexp(sim, dim=-1)
    small = similarity(s, g, kind) / tau                      # [N*B, 2B]
    image = torch.arange(s.shape[0]) % batch
    lse = torch.logsumexp(small, dim=-1)
    rows = torch.arange(s.shape[0])
    small_terms = (lse - small[rows, image]) + (lse - small[rows, image + batch])
    count = m + 2 * s.shape[0]
    return (global_terms.sum() + small_terms.sum()) / count


def main():
    torch.manual_seed(20261203)
    batch, crops, dim = 3, 2, 8
    g32 = (0.35 * torch.randn(2 * batch, dim)).float()
    s32 = (0.35 * torch.randn(crops * batch, dim)).float()
    cases = []
    for kind in ("cosine", "negativeSquaredL2"):
        for tau in (0.5, 0.07):
            g = g32.double().clone().requires_grad_(True)
            s = s32.double().clone().requires_grad_(True)
            loss = multicrop_loss(g, s, batch, tau, kind)
            loss.backward()
            cases.append({"similarity": kind, "temperature": tau, "loss": loss.item(),
                          "globalGradient": g.grad.flatten().tolist(), "smallGradient": s.grad.flatten().tolist()})
    out = {"batch": batch, "crops": crops, "dim": dim,
           "global": [float(v) for v in g32.flatten().tolist()],
           "small": [float(v) for v in s32.flatten().tolist()], "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multicrop.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
