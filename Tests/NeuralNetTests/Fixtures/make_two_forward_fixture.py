#!/usr/bin/env python3
"""PyTorch reference for ResNetTwin (docs/multi-crop.md, note 'Two forwards'): one module run on two batches of
different resolutions in one training step, as multi-crop does with its global and small views.

    python Tests/NeuralNetTests/Fixtures/make_two_forward_fixture.py

Model, generated weights and conventions are those of make_fixtures.py (ResNet-18, cifar stem, width 0.0625,
head Linear(32, 16), ReLU, Linear(16, 8)). In train mode:

    out_g = model(x_g)        x_g [4, 3, 16, 16]   (first: the running statistics see this batch first)
    out_s = model(x_s)        x_s [6, 3, 8, 8]
    loss  = sum(out_g * grad_g) + sum(out_s * grad_s)
    loss.backward()           parameter gradients are the sum of both passes' gradients

FILE two_forward.safetensors: input_global, input_small, grad_global, grad_small, output_global, output_small,
grad.<param> for every parameter, after.<buffer> (running mean/var after both passes), and
num_batches_tracked (2 for every BatchNorm, checked here).
"""
import sys
from pathlib import Path

import torch

sys.dont_write_bytecode = True  # keep __pycache__ out of the Swift test resources
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_fixtures import build_resnet18, gen_values, load_generated, meta, save  # noqa: E402


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    model = build_resnet18(width=0.0625, stem="cifar", hidden=16, out_dim=8)
    load_generated(model)
    xg = gen_values("input_global", (4, 3, 16, 16), "input")
    xs = gen_values("input_small", (6, 3, 8, 8), "input")
    gg = gen_values("grad_global", (4, 8), "grad_output")
    gs = gen_values("grad_small", (6, 8), "grad_output")
    model.train()
    model.zero_grad(set_to_none=True)
    out_g = model(xg)
    out_s = model(xs)
    ((out_g * gg).sum() + (out_s * gs).sum()).backward()
    res = {"input_global": xg, "input_small": xs, "grad_global": gg, "grad_small": gs,
           "output_global": out_g.detach().clone(), "output_small": out_s.detach().clone()}
    for name, p in model.named_parameters():
        res["grad." + name] = p.grad.detach().clone()
    for name, b in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            res["after." + name] = b.detach().clone()
        elif name.endswith("num_batches_tracked"):
            assert int(b) == 2, name
    path = save(res, "two_forward.safetensors",
                meta(kind="ResNet-18 w0.0625 cifar, two forwards then one backward",
                     loss="sum(out_g * grad_global) + sum(out_s * grad_small)"))
    print(path.stat().st_size, path.name)


if __name__ == "__main__":
    sys.exit(main())
