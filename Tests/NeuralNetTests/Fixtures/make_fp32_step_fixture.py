#!/usr/bin/env python3
"""How far one float32 training step lands from a float64 step, in PyTorch: the bar for our fp32 convolutions.

    python Tests/NeuralNetTests/Fixtures/make_fp32_step_fixture.py                  # the committed fixture
    python Tests/NeuralNetTests/Fixtures/make_fp32_step_fixture.py --width 1 --out /tmp/fp32_step_w1.safetensors

The first form writes fp32_step.safetensors (width 0.25, what CI checks). The second writes the same step for
the full-width network (46 MB, not committed); the Swift test reads it from SIMCLR_FP32_STEP_FIXTURE when set.
PyTorch is never needed by the Swift tests.

THE STEP (the same one FP32StepTests runs)
    model: ResNet-18 with the CIFAR stem and the 512-256 projection head at width w (make_fixtures.py's
        model), with its generated weights and running statistics (see that script).
    batch: N generated "input" images [N, 3, 32, 32] (value u), and the SAME images again as the second
        view: 2N rows [x; x]. Identical views make the gradient a small difference of large terms (the
        positive pair's cosine is 1 and its gradient vanishes in exact arithmetic), so rounding shows.
    loss: InfoNCE, cosine similarity / 0.07, diagonal masked, positive of row i is (i + N) mod 2N, mean over
        the 2N rows (BatchNorm in train mode over all 2N).
    update: one SGD step from zero momentum with lr 0.1 and no weight decay, i.e. -0.1 * gradient.

THE RUNS
    float64: the model, input and loss in float64: the reference.
    fp32:    float32 throughout (PyTorch's default CPU convolutions).
    deviation(run) = || update(run) - update(float64) ||_2 / || update(float64) ||_2 over all parameters
    (the flat concatenation), and the largest per-tensor value of the same ratio ("worst tensor").

FILE
    input [N,3,32,32] (one view); update64.<name> for every parameter (float64 values stored as float32, far
    below float32 training's deviation); deviation.fp32, deviation.fp32_max_tensor [1]; and per tensor
    deviation32.<name> [1] (PyTorch fp32's deviation of that tensor).
"""
import argparse
import sys
from collections import OrderedDict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402
import step_fixture as sf  # noqa: E402

TEMPERATURE = 0.07


def step_update(dtype, width, images):
    net = sf.model(width, dtype)
    x = mf.gen_values("input", (images, 3, 32, 32), "input")
    return sf.sgd_update(net, sf.info_nce(net(torch.cat([x, x]).to(dtype)), TEMPERATURE)), x


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--images", type=int, default=64, help="N: images per view (2N rows)")
    parser.add_argument("--out", default=None, help="output path (default: fp32_step.safetensors beside this script)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ref, x = step_update(torch.float64, args.width, args.images)
    fp32, _ = step_update(torch.float32, args.width, args.images)
    d32, per = sf.deviations(fp32, ref)
    worst = max(per, key=per.get)
    print(f"PyTorch {torch.__version__}, width {args.width}, {2 * args.images} rows: fp32 deviates {d32:.3e} from "
          f"float64 (worst tensor {per[worst]:.3e}, {worst})")
    out = OrderedDict(input=x.float())
    for k, v in ref.items():
        out["update64." + k] = v.float()
    out["deviation.fp32"] = torch.tensor([d32], dtype=torch.float32)
    out["deviation.fp32_max_tensor"] = torch.tensor([per[worst]], dtype=torch.float32)
    for k, v in per.items():
        out["deviation32." + k] = torch.tensor([v], dtype=torch.float32)
    metadata = mf.meta(protocol="one SGD step on identical views, see make_fp32_step_fixture.py",
                       temperature=TEMPERATURE, lr=sf.LR, width=args.width, images=args.images)
    if args.out is None:
        mf.save(out, "fp32_step.safetensors", metadata=metadata)
    else:
        from safetensors.torch import save_file
        save_file(OrderedDict((k, v.contiguous()) for k, v in out.items()), args.out, metadata=metadata)


if __name__ == "__main__":
    main()
