#!/usr/bin/env python3
"""Check that a safetensors file written by our Swift code loads into the PyTorch reference model.

    python Tests/NeuralNetTests/Fixtures/check_torch_load.py PATH [--arch resnet18|resnet34|resnet50]
                          [--stem cifar|imagenet] [--width 1.0] [--out-dim 256] [--hidden 512]

Width 1.0: the genuine torchvision.models.resnet18() (or resnet34/resnet50) with conv1/maxpool (cifar stem)
and fc replaced by the projection head Sequential(Linear(features, hidden), ReLU, Linear(hidden, out_dim));
other widths: the re-implementation in make_fixtures.py. Loads with load_state_dict(strict=True) after checking that every
dtype matches exactly (load_state_dict would silently convert e.g. float64 or int32), then runs one
eval-mode forward to make sure the result is finite. Prints "OK <n> keys" and exits 0; otherwise prints
the reason to stderr and exits 1. PyTorch is only needed by hand, never in CI.
"""
import argparse
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # keep __pycache__ out of the Swift test resources
sys.path.insert(0, str(Path(__file__).resolve().parent))


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--arch", choices=["resnet18", "resnet34", "resnet50"], default="resnet18")
    ap.add_argument("--stem", choices=["cifar", "imagenet"], default="cifar")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--out-dim", type=int, default=256, help="fc.2 outputs (256 projection, 10 classifier)")
    ap.add_argument("--hidden", type=int, default=512)
    args = ap.parse_args()

    import torch
    from safetensors.torch import load_file
    from make_resnet_fixtures import build_torchvision, builder

    try:
        sd = load_file(args.path)
    except Exception as e:  # noqa: BLE001
        fail(f"cannot read {args.path} as safetensors: {e}")

    if args.width == 1.0:
        model = build_torchvision(args.arch, args.stem, args.hidden, args.out_dim)
    else:
        model = builder(args.arch)(args.width, args.stem, args.hidden, args.out_dim)
    ref = model.state_dict()

    missing = [k for k in ref if k not in sd]
    unexpected = [k for k in sd if k not in ref]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {unexpected[:8]}"
                        f"{' ...' if len(unexpected) > 8 else ''}")
    for k in ref:
        if k in sd:
            if tuple(sd[k].shape) != tuple(ref[k].shape):
                problems.append(f"{k}: shape {list(sd[k].shape)} != expected {list(ref[k].shape)}")
            elif sd[k].dtype != ref[k].dtype:
                problems.append(f"{k}: dtype {sd[k].dtype} != expected {ref[k].dtype}")
    if problems:
        if len(problems) > 12:
            problems = problems[:12] + [f"... and {len(problems) - 12} more"]
        w = sd.get("conv1.weight")
        if w is not None and w.dim() == 4:
            guess = "cifar" if w.shape[-1] == 3 else "imagenet" if w.shape[-1] == 7 else "?"
            problems.append(f"hint: conv1.weight {list(w.shape)} suggests --stem {guess} "
                            f"--width {w.shape[0] / 64:g}")
        fail(f"{args.path} does not match {args.arch}(stem={args.stem}, width={args.width}, "
             f"head 512w->{args.hidden}->{args.out_dim}):\n  " + "\n  ".join(problems))
    try:
        model.load_state_dict(sd, strict=True)
    except Exception as e:  # noqa: BLE001
        fail(f"load_state_dict(strict=True) failed: {e}")
    for k, v in sd.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            fail(f"{k} contains non-finite values")
    size = 32 if args.stem == "cifar" else 64
    model.eval()
    with torch.no_grad():
        y = model(torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)))
    if not torch.isfinite(y).all():
        fail("eval forward produced non-finite output")
    print(f"OK {len(sd)} keys ({args.path}, arch={args.arch}, stem={args.stem}, width={args.width})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
