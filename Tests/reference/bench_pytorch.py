#!/usr/bin/env python3
"""PyTorch CPU fp32 throughput of one SimCLR training step, the reference for `simclr bench`.

    python Tests/reference/bench_pytorch.py [--batch 64] [--size 32] [--threads 2] [--warmup 3]
                                            [--steps 10] [--stem cifar] [--arch resnet18] [--channels-last]
                                            [--bf16] [--json]

One step, identical to what the Swift `simclr bench` does:
  * B images per step as `simclr bench --batch-size B` counts them: their 2B views [2B, 3, size, size]
    (random, fixed) through ResNet-18 (torchvision, CIFAR stem
    conv3x3 s1 p1 + no maxpool by default; --arch resnet34/resnet50 for those) and the projection head
    Linear(F,512)-ReLU-Linear(512,256), F the backbone's feature width (512; 2048 for ResNet-50), as
    `simclr bench --arch` builds it;
  * InfoNCE over the 2B rows: rows [0, B) are view 1 and [B, 2B) view 2; cosine similarity / tau
    (tau 0.07), diagonal masked out, the positive of row i is (i + B) mod 2B,
    loss = mean_i( -sim[i, pos(i)] + logsumexp_j sim[i, j] );
  * backward; SGD(lr 0.1, momentum 0.9) step.
Warm-up steps are not timed; then each of --steps steps is timed; prints the median ms/step and
img/s = B / median (images, as pretraining counts them) and views/s = 2B / median. --json prints a
single JSON line instead.
"""
import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def build_model(stem, arch):
    import torchvision
    m = getattr(torchvision.models, arch)()
    if stem == "cifar":
        m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        m.maxpool = nn.Identity()
    features = m.fc.in_features
    m.fc = nn.Sequential(nn.Linear(features, 512), nn.ReLU(), nn.Linear(512, 256))
    return m


def info_nce(z, tau):
    b = z.shape[0]
    z = F.normalize(z, dim=1)
    sim = (z @ z.t()) / tau
    eye = torch.eye(b, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    idx = torch.arange(b, device=z.device)
    pos = (idx + b // 2) % b
    return (-sim[idx, pos] + torch.logsumexp(sim, dim=1)).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64, help="B images per step (2B views)")
    ap.add_argument("--size", type=int, default=32, help="image side in pixels")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--stem", choices=["cifar", "imagenet"], default="cifar")
    ap.add_argument("--arch", choices=["resnet18", "resnet34", "resnet50"], default="resnet18")
    ap.add_argument("--tau", type=float, default=0.07)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (not the fp32 reference)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    assert args.batch >= 1

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(args.stem, args.arch).train()
    x = torch.rand(2 * args.batch, 3, args.size, args.size)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            z = model(x)
        loss = info_nce(z.float(), args.tau)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times, loss = [], None
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    res = {
        "impl": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "batch": args.batch, "size": args.size, "stem": args.stem, "arch": args.arch,
        "channels_last": args.channels_last, "bf16": args.bf16,
        "warmup": args.warmup, "steps": args.steps,
        "ms_per_step_median": round(med * 1e3, 2),
        "ms_per_step_min": round(min(times) * 1e3, 2),
        "ms_per_step_max": round(max(times) * 1e3, 2),
        "img_per_s": round(args.batch / med, 2),
        "views_per_s": round(2 * args.batch / med, 2),
        "last_loss": round(loss, 5), "cpu": platform.processor() or platform.machine(),
    }
    if args.json:
        print(json.dumps(res))
    else:
        print(f"PyTorch {res['torch']}, {res['threads']} threads, {args.arch} {args.stem} stem + head, "
              f"B={args.batch} images ({2 * args.batch} views), {args.size}px, fp32{' bf16-autocast' if args.bf16 else ''}"
              f"{', channels_last' if args.channels_last else ''}")
        print(f"median {res['ms_per_step_median']:.1f} ms/step (min {res['ms_per_step_min']:.1f}, "
              f"max {res['ms_per_step_max']:.1f}) over {args.steps} steps after {args.warmup} warm-up"
              f" -> {res['img_per_s']:.1f} img/s ({res['views_per_s']:.1f} views/s); last loss {res['last_loss']:.4f}")


if __name__ == "__main__":
    main()
