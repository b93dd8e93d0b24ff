#!/usr/bin/env python3
"""Golden optimizer and schedule values for OptimizersTests (writes optimizers.json next to this script).

Parameters: three segments in one flat buffer, a 2x3 "weight" (decayed/adapted), a 3-element "bias" and a
4-element "bn" weight (both excluded from decay and adaptation). Every case runs four steps with the same
random gradients and per-step learning rates and records parameters and optimizer state after each step.

- SGD and AdamW: torch.optim.SGD / torch.optim.AdamW themselves (float32). "decayExcluded": false means a
  second parameter group with weight_decay=0 for the excluded segments.
- LARS: a float32 reference of the formula in Sources/Optimizers/LARS.swift (norms in float64):
      adapted:  g' = g + wd*w;  trust = eta*||w||/||g'|| (1 if either norm is 0)
      excluded: g' = g;         trust = 1
      v = m*v + (lr*trust)*g';  w -= v
- Schedule: torch SequentialLR([LinearLR(1/W, 1, W-1), CosineAnnealingLR(T-W, eta_min)], milestones=[W]).

Run: python3 make_fixtures.py   (PyTorch is not needed to run the Swift tests.)
"""
import json
import math
import os

import torch

SHAPES = {"weight": (2, 3), "bias": (3,), "bn": (4,)}
EXCLUDED = {"weight": False, "bias": True, "bn": True}
STEPS = 4
LRS = [0.1, 0.05, 0.2, 0.1]


def flat(tensors):
    return [float(v) for t in tensors for v in t.detach().flatten().tolist()]


def run_torch(make, initial, grads, lrs, decay_excluded, weight_decay):
    params = [t.clone().requires_grad_(True) for t in initial]
    if decay_excluded:
        groups = [{"params": params}]
    else:
        groups = [{"params": [p for p, n in zip(params, SHAPES) if not EXCLUDED[n]]},
                  {"params": [p for p, n in zip(params, SHAPES) if EXCLUDED[n]], "weight_decay": 0.0}]
    opt = make(groups, weight_decay)
    states = {"sgd": ["momentum_buffer"], "adamw": ["exp_avg", "exp_avg_sq"]}
    out = []
    for step in range(STEPS):
        for p, g in zip(params, grads[step]):
            p.grad = g.clone()
        for group in opt.param_groups:
            group["lr"] = lrs[step]
        opt.step()
        state = {}
        for key in ("momentum_buffer", "exp_avg", "exp_avg_sq"):
            if all(key in opt.state[p] and opt.state[p][key] is not None for p in params):
                state[key] = flat(opt.state[p][key] for p in params)
        out.append({"parameters": flat(params), "state": state})
    return out


def run_lars(initial, grads, lrs, momentum, weight_decay, eta):
    params = [t.clone() for t in initial]
    velocity = [torch.zeros_like(t) for t in initial]
    out = []
    for step in range(STEPS):
        for k, name in enumerate(SHAPES):
            w, g = params[k], grads[step][k]
            if EXCLUDED[name]:
                gp, trust = g, 1.0
            else:
                gp = g + weight_decay * w
                wn, gn = w.double().norm().item(), gp.double().norm().item()
                trust = eta * wn / gn if wn > 0 and gn > 0 else 1.0
            scale = torch.tensor(lrs[step] * trust, dtype=torch.float64).float()
            velocity[k] = momentum * velocity[k] + scale * gp
            params[k] = w - velocity[k]
        out.append({"parameters": flat(params), "state": {"momentum_buffer": flat(velocity)}})
    return out


def schedule(base, warmup, total, final):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0,
                                             total_iters=warmup - 1)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=final)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cosine], milestones=[warmup])
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return {"baseLR": base, "warmupSteps": warmup, "totalSteps": total, "finalLR": final, "lrs": lrs}


def main():
    torch.manual_seed(7)
    initial = [torch.randn(s).float() for s in SHAPES.values()]
    grads = [[torch.randn(s).float() for s in SHAPES.values()] for _ in range(STEPS)]
    zero_weight = [torch.zeros_like(initial[0])] + initial[1:]

    def sgd(momentum, nesterov):
        return lambda groups, wd: torch.optim.SGD(groups, lr=0.1, momentum=momentum, nesterov=nesterov,
                                                  weight_decay=wd)

    def adamw(b1, b2):
        return lambda groups, wd: torch.optim.AdamW(groups, lr=0.1, betas=(b1, b2), eps=1e-8, weight_decay=wd)

    cases = []

    def add(name, kind, settings, steps, start=initial):
        cases.append({"name": name, "optimizer": kind, "settings": settings, "initial": flat(start),
                      "steps": steps})

    for name, momentum, nesterov, wd, dx in [("sgd_plain", 0.0, False, 0.01, True),
                                              ("sgd_momentum", 0.9, False, 0.01, True),
                                              ("sgd_nesterov", 0.9, True, 0.01, True),
                                              ("sgd_momentum_decay_excluded", 0.9, False, 0.1, False)]:
        add(name, "sgd", {"momentum": momentum, "nesterov": nesterov, "weightDecay": wd, "decayExcluded": dx},
            run_torch(sgd(momentum, nesterov), initial, grads, LRS, dx, wd))
    for name, b1, b2, wd, dx in [("adamw", 0.9, 0.999, 0.01, True),
                                  ("adamw_decay_excluded", 0.8, 0.99, 0.1, False)]:
        add(name, "adamw", {"beta1": b1, "beta2": b2, "eps": 1e-8, "weightDecay": wd, "decayExcluded": dx},
            run_torch(adamw(b1, b2), initial, grads, LRS, dx, wd))
    # SimCLR's settings (eta 0.001) move adapted weights by ~1e-4 at these learning rates; the larger eta
    # makes the adapted update big enough that an error in the trust ratio shows in the parameters too.
    for name, momentum, wd, eta, start in [("lars_simclr", 0.9, 1e-6, 0.001, initial),
                                            ("lars_strong", 0.9, 0.05, 0.05, initial),
                                            ("lars_zero_weight", 0.9, 0.05, 0.05, zero_weight)]:
        add(name, "lars", {"momentum": momentum, "weightDecay": wd, "trustCoefficient": eta},
            run_lars(start, grads, LRS, momentum, wd, eta), start)

    out = {
        "segments": [{"name": n, "shape": list(s), "excluded": EXCLUDED[n]} for n, s in SHAPES.items()],
        "learningRates": LRS,
        "gradients": [flat(g) for g in grads],
        "cases": cases,
        "schedules": [schedule(0.3, 5, 20, 0.0), schedule(1.2, 3, 12, 0.01)],
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optimizers.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
