#!/usr/bin/env python3
"""Golden MoCo v2 values for ContrastiveTests (writes moco.json next to this script).

MoCo v2's loss as the official code computes it (moco/builder.py), evaluated by PyTorch autograd in float64
from float32 inputs:

    q = normalize(q_raw, dim=1);  k = normalize(k_raw, dim=1)      (k is a constant: no gradient)
    l_pos = (q * k).sum(1, keepdim=True);  l_neg = q @ queue        (queue kept as [D, K], as MoCo keeps it)
    logits = cat([l_pos, l_neg], 1) / T;  loss = cross_entropy(logits, zeros)   (mean over the batch)

plus the two other pieces of MoCo's step, in float32 as MoCo runs them:
    momentum update:  param_k = param_k * m + param_q * (1. - m)
    enqueue:          queue[:, ptr:ptr + B] = keys.T;  ptr = (ptr + B) % K   (twice, so the pointer wraps)

Metrics: the positive's rank among the 1 + K logits (no ties in these random inputs).

Run: python3 make_moco_fixtures.py   (torch, no GPU needed). PyTorch is not needed to run the Swift tests.
"""
import json
import os

import torch
import torch.nn.functional as F

B, D, K = 4, 8, 16


def case(q_raw, k_unit, queue_dk, tau):
    q = q_raw.double().clone().requires_grad_(True)
    qn = F.normalize(q, dim=1)
    l_pos = (qn * k_unit.double()).sum(1, keepdim=True)
    l_neg = qn @ queue_dk.double()
    logits = torch.cat([l_pos, l_neg], dim=1) / tau
    loss = F.cross_entropy(logits, torch.zeros(B, dtype=torch.long))
    loss.backward()
    ranks = 1 + (logits.detach()[:, 1:] >= logits.detach()[:, :1]).sum(1)
    return {
        "temperature": tau,
        "loss": loss.item(),
        "gradient": q.grad.flatten().tolist(),
        "top1": (ranks == 1).double().mean().item(),
        "top5": (ranks <= 5).double().mean().item(),
        "meanRank": ranks.double().mean().item(),
    }


def main():
    g = torch.Generator().manual_seed(12)
    q_raw = torch.randn(B, D, generator=g)
    # Keys close to their queries (as a trained key encoder gives), so the positive is not always last.
    k_unit = F.normalize(q_raw + 0.8 * torch.randn(B, D, generator=g), dim=1)
    queue_dk = F.normalize(torch.randn(D, K, generator=g), dim=0)

    m = 0.99
    param_q = torch.randn(20, generator=g)
    param_k = torch.randn(20, generator=g)
    ema = param_k * m + param_q * (1.0 - m)

    queue = queue_dk.clone()
    ptr = 8
    batches = [F.normalize(torch.randn(B, D, generator=g), dim=1) for _ in range(2)]
    pointers = []
    for keys in batches:
        queue[:, ptr:ptr + B] = keys.T
        ptr = (ptr + B) % K
        pointers.append(ptr)

    out = {
        "batch": B, "dim": D, "queueSize": K,
        "queries": q_raw.flatten().tolist(),
        "keys": k_unit.flatten().tolist(),
        "queue": queue_dk.T.contiguous().flatten().tolist(),  # [K, D]: our layout
        "cases": [case(q_raw, k_unit, queue_dk, tau) for tau in (0.2, 0.07, 1.0)],
        "momentum": m,
        "paramQ": param_q.tolist(), "paramK": param_k.tolist(), "paramKAfter": ema.tolist(),
        "enqueueStart": 8,
        "enqueued": [b.flatten().tolist() for b in batches],
        "pointersAfter": pointers,
        "queueAfter": queue.T.contiguous().flatten().tolist(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "moco.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("wrote", path)


if __name__ == "__main__":
    main()
