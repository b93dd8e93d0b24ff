#!/usr/bin/env python3
"""PyTorch reference for the Swift ResNet-34 / ResNet-50: writes their golden fixtures.

    python Tests/NeuralNetTests/Fixtures/make_resnet_fixtures.py

Same generator, protocol and file layout as make_fixtures.py (read its docstring first); this script
adds the architectures beyond ResNet-18. Deterministic (float32, one thread, deterministic algorithms).

MODEL
    torchvision.models.resnet.ResNet(block, layers) with a width multiplier w on the stage widths
    round(64w), round(128w), round(256w), round(512w):
      resnet34: BasicBlock, layers [3, 4, 6, 3]; features = round(512w)
      resnet50: Bottleneck (expansion 4), layers [3, 4, 6, 3]; features = 4 * round(512w)
        Bottleneck(inplanes, planes, stride): conv1 1x1 inplanes->planes, bn1, relu;
        conv2 3x3 planes->planes with the stride (torchvision v1.5), bn2, relu; conv3 1x1 planes->4*planes,
        bn3; + downsample(x) (1x1 conv with the stride, BN) when stride != 1 or inplanes != 4*planes; relu.
    The stems and the projection head fc = Sequential(Linear(features, 512), ReLU, Linear(512, 256)) are
    as in make_fixtures.py. At w=1 the script asserts that keys/shapes equal torchvision.models.resnet34()
    / resnet50() with conv1/maxpool/fc replaced, that the same torch seed gives the same default init
    (also with zero_init_residual=True), and that the same weights give bitwise identical outputs,
    gradients and buffers.

FILES (weights generated, not stored, unless the name says state_dict)
  bottleneck_block.safetensors       Bottleneck(16 -> planes 8 -> 32, stride 2) with downsample,
                                     input [4,16,8,8], output [4,32,4,4]; keys as basic_block.safetensors
  resnet34_cifar_w025.safetensors    w=0.25 cifar stem, input [2,3,16,16]
  resnet50_cifar_w025.safetensors    w=0.25 cifar stem, input [2,3,16,16]
  resnet50_imagenet_w025.safetensors w=0.25 imagenet stem, input [2,3,64,64]
      keys as resnet18_*.safetensors (gradients of tensors >= 4096 elements sampled)
      ResNet-50 only: after the generated weights are loaded, every "*.bn3.weight" is multiplied by 0.1
      (float32 * float32(0.1), one rounding). With the generated gammas near 1 the 16 Bottleneck branches
      make the gradients chaotic: a 1e-6 relative change of the input moved PyTorch's own gradients by
      3-34%, so no float32 implementation could match them. With the damped gammas that change moves
      them by < 1e-4. (A full-width ResNet-50 fixture stayed at 1e-2 even so and is not made.)
  torch_state_dict_resnet34_w00625.safetensors, torch_state_dict_resnet50_w00625.safetensors (+ _io)
      w=0.0625 cifar models with PyTorch's default init, as torch_state_dict_w025 for ResNet-18
"""
import os
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torchvision

sys.dont_write_bytecode = True  # keep __pycache__ out of the Swift test resources
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_fixtures import (BasicBlock, Bottleneck, ResNet, _apply_seed_surgery, assert_same,  # noqa: E402
                           conv1x1, gen_values, load_generated, make_resnet, make_torch_state_dict,
                           meta, run_protocol, save)


# Gradients of tensors this large are checked by 256 sampled entries and the norm (keeps the files small).
SAMPLE_ABOVE = 4096

ARCHS = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet34": (BasicBlock, (3, 4, 6, 3)),
         "resnet50": (Bottleneck, (3, 4, 6, 3))}


def builder(arch, zero_init_residual=False):
    """build(width, stem, hidden=512, out_dim=256) for `arch`, with the seed's stem and head surgery."""
    block, layers = ARCHS[arch]

    def build(width=1.0, stem="cifar", hidden=512, out_dim=256):
        model = ResNet(layers, width, block=block, zero_init_residual=zero_init_residual)
        c0, feat = int(round(64 * width)), int(round(512 * width)) * block.expansion
        return _apply_seed_surgery(model, stem, c0, feat, hidden, out_dim)
    return build


def build_torchvision(arch, stem="cifar", hidden=512, out_dim=256, zero_init_residual=False):
    """The genuine torchvision model (width 1) with the seed's replacements."""
    model = getattr(torchvision.models, arch)(zero_init_residual=zero_init_residual)
    feat = 512 * ARCHS[arch][0].expansion
    return _apply_seed_surgery(model, stem, 64, feat, hidden, out_dim)


def check_against_torchvision(arch, stem, input_shape):
    ours, tv = builder(arch)(1.0, stem), build_torchvision(arch, stem)
    sd_o, sd_t = ours.state_dict(), tv.state_dict()
    assert list(sd_o) == list(sd_t), arch
    for k in sd_o:
        assert sd_o[k].shape == sd_t[k].shape and sd_o[k].dtype == sd_t[k].dtype, (arch, k)
    tv_keys = [k for k in getattr(torchvision.models, arch)().state_dict() if not k.startswith("fc.")]
    assert [k for k in sd_o if not k.startswith("fc.")] == tv_keys, arch
    for zero in (False, True):
        torch.manual_seed(1234)
        a = builder(arch, zero)(1.0, stem).state_dict()
        torch.manual_seed(1234)
        b = build_torchvision(arch, stem, zero_init_residual=zero).state_dict()
        assert_same(a, b, f"default init {arch} {stem} zero_init_residual={zero}")
    load_generated(ours)
    tv.load_state_dict(ours.state_dict(), strict=True)
    x = gen_values("input", input_shape, "input")
    g = gen_values("grad_output", (input_shape[0], 256), "grad_output")
    assert_same(run_protocol(ours, x, g), run_protocol(tv, x, g), f"torchvision equivalence {arch} {stem}")


def damp_bottleneck_gammas(model):
    """Scales every Bottleneck's last BN gamma by 0.1 (see the docstring: keeps the fixture well-conditioned)."""
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if key.endswith("bn3.weight"):
                value.mul_(0.1)


def make_bottleneck_block():
    tvm = torchvision.models.resnet
    block = Bottleneck(16, 8, 2, nn.Sequential(conv1x1(16, 32, 2), nn.BatchNorm2d(32)))
    state = load_generated(block)
    x = gen_values("input", (4, 16, 8, 8), "input")
    g = gen_values("grad_output", (4, 32, 4, 4), "grad_output")
    res = run_protocol(block, x, g)
    tvb = tvm.Bottleneck(16, 8, 2, nn.Sequential(tvm.conv1x1(16, 32, 2), nn.BatchNorm2d(32)))
    tvb.load_state_dict(state, strict=True)
    assert_same(res, run_protocol(tvb, x, g), "torchvision Bottleneck")
    out = {"param." + k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    out.update({"input": x, "grad_output": g})
    out.update(res)
    return save(out, "bottleneck_block.safetensors",
                meta(kind="Bottleneck(16 -> 8 -> 32, stride 2, downsample)", input_shape="[4,16,8,8]"))


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for arch in ("resnet34", "resnet50"):
        check_against_torchvision(arch, "cifar", (2, 3, 32, 32))
        check_against_torchvision(arch, "imagenet", (2, 3, 64, 64))
    print("torchvision equivalence (keys, shapes, init incl. zero_init_residual, outputs, grads) OK")
    paths = [make_bottleneck_block(),
             make_resnet("resnet34_cifar_w025.safetensors", "cifar", 0.25, (2, 3, 16, 16),
                         build=builder("resnet34"), sample_above=SAMPLE_ABOVE),
             make_resnet("resnet50_cifar_w025.safetensors", "cifar", 0.25, (2, 3, 16, 16),
                         build=builder("resnet50"), sample_above=SAMPLE_ABOVE, adjust=damp_bottleneck_gammas),
             make_resnet("resnet50_imagenet_w025.safetensors", "imagenet", 0.25, (2, 3, 64, 64),
                         build=builder("resnet50"), sample_above=SAMPLE_ABOVE, adjust=damp_bottleneck_gammas)]
    for arch in ("resnet34", "resnet50"):
        paths += make_torch_state_dict(builder(arch), 0.0625, f"torch_state_dict_{arch}_w00625")
    for p in paths:
        print(f"{os.path.getsize(p):>10,d}  {p.name}")


if __name__ == "__main__":
    sys.exit(main())
