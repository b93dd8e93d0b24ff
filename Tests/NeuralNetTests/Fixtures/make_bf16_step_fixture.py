#!/usr/bin/env python3
"""How far one bf16 training step lands from a float64 step, in PyTorch: the bar for our bf16 path.

    python Tests/NeuralNetTests/Fixtures/make_bf16_step_fixture.py      # needs torch, numpy, safetensors

Writes bf16_step.safetensors. PyTorch is never needed by the Swift tests; they read the committed file.

THE STEP (the same one the Swift test runs)
    model: the width-0.25 ResNet-18 with the CIFAR stem and the 512-256 projection head of
        make_fixtures.py, with its generated weights and running statistics (see that script).
    batch: 2N = 16 views [16, 3, 16, 16] = generated "input" values, laid out [view 1 of 8; view 2 of 8].
    loss: InfoNCE, cosine similarity / 0.2, diagonal masked, positive of row i is (i + 8) mod 16, mean
        over the 16 rows (BatchNorm in train mode over all 16).
    update: one SGD step from zero momentum with lr 0.1 and no weight decay, i.e. -0.1 * gradient.

THE THREE RUNS
    float64: the model, input and loss in float64: the reference.
    fp32:    float32 throughout.
    bf16:    float32 weights under torch.autocast("cpu", dtype=torch.bfloat16); the embeddings are cast
             to float32 before the loss (what the trainer does).
    deviation(run) = || update(run) - update(float64) ||_2 / || update(float64) ||_2 over all parameters
    (the flat concatenation), and the largest per-tensor value of the same ratio.

FILE
    input [16,3,16,16]; update64.<name> for every parameter (float64 values stored as float32, far below
    bf16's error); deviation.bf16, deviation.bf16_max_tensor, deviation.fp32, deviation.fp32_max_tensor [1].
"""
import sys
from collections import OrderedDict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402
import step_fixture as sf  # noqa: E402

TEMPERATURE = 0.2
SHAPE = (16, 3, 16, 16)


def step_update(dtype, autocast):
    net = sf.model(0.25, dtype)
    x = mf.gen_values("input", SHAPE, "input").to(dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        z = net(x)
    return sf.sgd_update(net, sf.info_nce(z.to(dtype), TEMPERATURE)), x


def deviation(update, reference):
    """The whole update's deviation and its worst tensor's."""
    total, per = sf.deviations(update, reference)
    return total, max(per.values())


def main():
    torch.set_num_threads(1)
    ref, x = step_update(torch.float64, autocast=False)
    fp32, _ = step_update(torch.float32, autocast=False)
    bf16, _ = step_update(torch.float32, autocast=True)
    d32, d32max = deviation(fp32, ref)
    d16, d16max = deviation(bf16, ref)
    print(f"PyTorch {torch.__version__}: deviation from float64, fp32 {d32:.3e} (worst tensor {d32max:.3e}), "
          f"bf16 autocast {d16:.3e} (worst tensor {d16max:.3e})")
    out = OrderedDict(input=x.float())
    for k, v in ref.items():
        out["update64." + k] = v.float()
    for key, value in [("bf16", d16), ("bf16_max_tensor", d16max), ("fp32", d32), ("fp32_max_tensor", d32max)]:
        out["deviation." + key] = torch.tensor([value], dtype=torch.float32)
    mf.save(out, "bf16_step.safetensors", metadata=mf.meta(protocol="one SGD step, see make_bf16_step_fixture.py",
                                                         temperature=TEMPERATURE, lr=sf.LR, input=list(SHAPE)))


if __name__ == "__main__":
    main()
