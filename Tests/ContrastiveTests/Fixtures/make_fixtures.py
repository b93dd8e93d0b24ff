#!/usr/bin/env python3
"""Golden InfoNCE values for ContrastiveTests (writes infonce.json next to this script).

The loss is the reference SimCLR notebook's formula (docs/reference-semantics.md), evaluated by PyTorch autograd in float64 from float32
embeddings, so the fixture holds the exact values our float32 code approximates:

    sim = cosine_similarity(z_i, z_j)        (or -||z_i - z_j||^2)
    sim[i, i] = -9e15                        (the diagonal leaves the logsumexp)
    pos(i) = (i + B) mod 2B
    loss = mean_i( -sim[i, pos]/tau + logsumexp_j(sim[i, j]/tau) )

Metrics as the notebook computes them (argsort of [positive, masked similarities]); the random
embeddings here have no ties, so the tie rule does not matter for these cases.

Run: python3 make_fixtures.py   (torch, no GPU needed). PyTorch is not needed to run the Swift tests.
"""
import json
import os

import torch
import torch.nn.functional as F


def seed_infonce(z, tau, similarity):
    """The seed notebook's loss and metrics over z [2B, D]; returns (loss, top1, top5, mean_rank)."""
    if similarity == "cosine":
        sim = F.cosine_similarity(z[:, None, :], z[None, :, :], dim=-1)
    else:
        sim = -((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    self_mask = torch.eye(sim.shape[0], dtype=torch.bool)
    sim = sim.masked_fill(self_mask, -9e15)
    pos_mask = self_mask.roll(shifts=sim.shape[0] // 2, dims=0)
    sim = sim / tau
    nll = -sim[pos_mask] + torch.logsumexp(sim, dim=-1)
    loss = nll.mean()
    comb = torch.cat([sim[pos_mask][:, None], sim.masked_fill(pos_mask, -9e15)], dim=-1)
    rank0 = comb.argsort(dim=-1, descending=True).argmin(dim=-1)
    return loss, (rank0 == 0).double().mean(), (rank0 < 5).double().mean(), 1 + rank0.double().mean()


def main():
    torch.manual_seed(20240607)
    batch, dim = 4, 8
    # Scaled down so -||z_i - z_j||^2 / tau stays in a range where the softmax is not one-hot.
    z32 = (0.35 * torch.randn(2 * batch, dim)).float()
    cases = []
    for similarity in ("cosine", "negativeSquaredL2"):
        for tau in (0.07, 0.5, 0.01):
            z = z32.double().clone().requires_grad_(True)
            loss, top1, top5, mean_rank = seed_infonce(z, tau, similarity)
            loss.backward()
            cases.append({
                "similarity": similarity,
                "temperature": tau,
                "loss": loss.item(),
                "gradient": z.grad.flatten().tolist(),
                "top1": top1.item(),
                "top5": top5.item(),
                "meanRank": mean_rank.item(),
            })
    out = {
        "batch": batch,
        "dim": dim,
        "embeddings": [float(v) for v in z32.flatten().tolist()],
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "infonce.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
