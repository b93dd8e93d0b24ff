#!/usr/bin/env python3
"""Short MoCo v2 and SimCLR runs in PyTorch on the synthetic shapes, with the settings of README's examples.

docs/moco.md ("Short runs") reports that our MoCo examples do not learn in five epochs while SimCLR's do. This
script asks whether MoCo v2 itself learns there: the same data (the CIFAR-format synthetic set the tool caches,
`simclr synth` or any `--data synthetic` run writes it), the same network (make_fixtures.py's ResNet-18, CIFAR
stem, width 0.25, head 512-256), the settings of `--recipe quick` (AdamW lr 1e-3, weight decay 1e-6, half an
epoch of linear warm-up then cosine to 0, T 0.2, RandomResizedCrop 0.2-1, flip, ColorJitter 0.4/0.4/0.4/0.1,
grayscale 0.2, no blur), batch 128, five epochs, MoCo v2's step as make_moco_step_fixture.py writes it (queue
1024, momentum 0.99). Then the kNN monitor of `simclr knn` (cosine on the pooled backbone features, k 200,
votes exp(sim / 0.1), all 5000 training labels, the 1000 test images) and the projections' mean pairwise
cosine on the test images.

    python3 Tests/reference/short_runs_pytorch.py --method moco|simclr|random [--queue 1024] [--m 0.99]
        [--head-bn none|hidden|both] [--symmetric] [--optimizer adamw|sgd --lr 0.001] [--seed 0]

Not a reproduction of our runs bit for bit (PyTorch's augmentation and initialization draw other numbers), a
second implementation of the same method on the same problem. PyTorch is never needed by the Swift tests.
"""
import argparse
import copy
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2 as T

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "NeuralNetTests" / "Fixtures"))
import make_fixtures as mf  # noqa: E402

DEFAULT_DATA = Path.home() / ".cache/simclr/synthetic-0-5000/cifar-10-batches-bin"


def load(directory, name):
    raw = np.fromfile(directory / name, dtype=np.uint8).reshape(-1, 3073)
    images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(raw[:, 0].astype(np.int64))


def build_network(head_bn):
    net = mf.build_resnet18(width=0.25, stem="cifar", hidden=512, out_dim=256)
    if head_bn != "none":  # MoCo v3's head has BatchNorm after its hidden layer and (without affine) its output
        layers = [torch.nn.Linear(128, 512), torch.nn.BatchNorm1d(512), torch.nn.ReLU(), torch.nn.Linear(512, 256)]
        if head_bn == "both":
            layers.append(torch.nn.BatchNorm1d(256, affine=False))
        net.fc = torch.nn.Sequential(*layers)
    return net.train()


def learning_rate(base, step, warm_up, total):
    if step < warm_up:
        return base * (step + 1) / warm_up
    return base * 0.5 * (1 + math.cos(math.pi * (step - warm_up) / max(1, total - warm_up)))


def simclr_loss(net, v1, v2, temperature):
    z = F.normalize(net(torch.cat([v1, v2])), dim=1)
    n = len(v1)
    similarity = (z @ z.t() / temperature).fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(similarity, target), (similarity.argmax(1) == target).float().mean().item(), []


def moco_loss(net, key, queue, v1, v2, args):
    with torch.no_grad():  # the momentum update, then the keys (parameters only, not BatchNorm buffers)
        for pk, pq in zip(key.parameters(), net.parameters()):
            pk.mul_(args.m).add_(pq.detach(), alpha=1 - args.m)
    pairs = [(v1, v2), (v2, v1)] if args.symmetric else [(v1, v2)]
    loss, keys, top1 = 0.0, [], 0.0
    for query_view, key_view in pairs:
        q = F.normalize(net(query_view), dim=1)
        with torch.no_grad():
            k = F.normalize(key(key_view), dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / args.temperature
        loss = loss + F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long)) / len(pairs)
        top1 = (logits.argmax(1) == 0).float().mean().item()
        keys.append(k)
    return loss, top1, keys


def pooled_features(net, images):
    """The head's input (the pooled backbone features), rows normalized, in eval mode."""
    captured = []
    hook = net.fc[0].register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    for i in range(0, len(images), 500):
        net(images[i:i + 500].float() / 255 - 0.5)
    hook.remove()
    return F.normalize(torch.cat(captured), dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", default="moco", choices=["moco", "simclr", "random"])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--queue", type=int, default=1024)
    ap.add_argument("--m", type=float, default=0.99)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--symmetric", action="store_true", help="MoCo: both views as queries (MoCo v3's loss)")
    ap.add_argument("--head-bn", default="none", choices=["none", "hidden", "both"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    train_images, train_labels = load(args.data, "data_batch_1.bin")
    test_images, test_labels = load(args.data, "test_batch.bin")
    augment = T.Compose([T.RandomResizedCrop(32, scale=(0.2, 1.0), antialias=True), T.RandomHorizontalFlip(),
                         T.ColorJitter(0.4, 0.4, 0.4, 0.1), T.RandomGrayscale(0.2),
                         T.ToDtype(torch.float32, scale=True)])
    net = build_network(args.head_bn)
    key = copy.deepcopy(net)
    for p in key.parameters():
        p.requires_grad_(False)
    queue, pointer = F.normalize(torch.randn(args.queue, 256), dim=1), 0
    if args.optimizer == "adamw":
        optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-6)
    else:
        optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = len(train_images) // args.batch
    total, warm_up = steps_per_epoch * args.epochs, max(1, round(0.5 * steps_per_epoch))
    step, start = 0, time.time()
    for _ in range(args.epochs if args.method != "random" else 0):
        order = torch.randperm(len(train_images))
        for s in range(steps_per_epoch):
            batch = order[s * args.batch:(s + 1) * args.batch]
            v1 = torch.stack([augment(train_images[i]) for i in batch]) - 0.5
            v2 = torch.stack([augment(train_images[i]) for i in batch]) - 0.5
            lr = learning_rate(args.lr, step, warm_up, total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if args.method == "simclr":
                loss, top1, keys = simclr_loss(net, v1, v2, args.temperature)
            else:
                loss, top1, keys = moco_loss(net, key, queue, v1, v2, args)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for k in keys:  # enqueue after the update, as MoCo does
                queue[pointer:pointer + len(k)] = k
                pointer = (pointer + len(k)) % args.queue
            step += 1
            if step % 13 == 0 or step == total:
                print(f"step {step}/{total} loss {loss.item():.4f} top1 {top1:.3f} lr {lr:.2e} "
                      f"{time.time() - start:.0f}s", flush=True)
    net.eval()
    with torch.no_grad():
        train_features, test_features = pooled_features(net, train_images), pooled_features(net, test_images)
        weights, neighbours = (test_features @ train_features.t()).topk(200, dim=1)
        votes = torch.zeros(len(test_images), 10).scatter_add_(1, train_labels[neighbours], (weights / 0.1).exp())
        accuracy = (votes.argmax(1) == test_labels).float().mean().item()
        z = F.normalize(net(test_images.float() / 255 - 0.5), dim=1)
        mean_cosine = ((z @ z.t()).sum() - len(z)) / (len(z) * (len(z) - 1))
    print(f"RESULT method={args.method} symmetric={args.symmetric} head_bn={args.head_bn} K={args.queue} m={args.m} "
          f"{args.optimizer} lr={args.lr} T={args.temperature} epochs={args.epochs} seed={args.seed}: "
          f"kNN top-1 {accuracy:.3f}, projections' mean pairwise cosine {mean_cosine:.2f}")


if __name__ == "__main__":
    main()
