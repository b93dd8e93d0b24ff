#!/usr/bin/env python3
"""PyTorch reference for the Swift ResNet-18 / SimCLR implementation: writes the golden fixtures.

Run from anywhere (CPU, ~1 minute, needs torch, torchvision, safetensors, numpy):

    python Tests/NeuralNetTests/Fixtures/make_fixtures.py

It regenerates every *.safetensors file in this folder, deterministically (float32, one thread,
torch.use_deterministic_algorithms(True)); rerunning gives byte-identical files on the same torch build.
PyTorch is never needed by the Swift tests: they only read the committed files.

MODEL (reference semantics, docs/reference-semantics.md, note 'Model')
    torchvision ResNet-18 (BasicBlock, [2,2,2,2]) with a width multiplier w: stage channels
    round(64w), round(128w), round(256w), round(512w) (w=0.25 -> 16/32/64/128). All convs bias=False.
    BatchNorm2d eps 1e-5, momentum 0.1 (train: normalize with the biased batch variance, update
    running_var with the unbiased one; eval: running stats).
      stem "cifar":    conv1 = Conv2d(3, C, 3, stride 1, pad 1), bn1, relu, maxpool = Identity
      stem "imagenet": conv1 = Conv2d(3, C, 7, stride 2, pad 3), bn1, relu, maxpool = MaxPool2d(3, 2, 1)
    layer1..4, each two BasicBlocks; the first block of layer2..4 has stride 2 (in conv1, 3x3) and a
    downsample = Sequential(Conv2d 1x1 stride 2, BatchNorm2d). Block: out = relu(bn1(conv1(x)));
    out = bn2(conv2(out)); out += downsample(x) or x; out = relu(out).
    avgpool = AdaptiveAvgPool2d(1), flatten -> "features" [N, 512w];
    fc = projection head Sequential(Linear(512w, 512), ReLU, Linear(512, 256)) -> "output" [N, 256].
    State-dict keys are torchvision's: conv1.weight, bn1.{weight,bias,running_mean,running_var,
    num_batches_tracked}, layer1.0.conv1.weight, layer1.0.bn1.*, layer1.0.conv2.weight, layer1.0.bn2.*,
    layer2.0.downsample.0.weight, layer2.0.downsample.1.*, ..., fc.0.weight, fc.0.bias, fc.2.weight,
    fc.2.bias. Conv weights [out, in, kh, kw], Linear weights [out, in]. At w=1 the script asserts that
    keys/shapes equal torchvision.models.resnet18() with conv1/maxpool/fc replaced, and that with the
    same weights the outputs, gradients and updated buffers are bitwise identical.

GENERATED WEIGHTS (so the Swift side can rebuild them; all integer arithmetic is mod 2^64)
    splitmix64(x): x = x + 0x9E3779B97F4A7C15; z = x;
                   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
                   z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
                   return z ^ (z >> 31)
    seed(name)   = FNV-1a 64 of the UTF-8 bytes of name: h = 0xcbf29ce484222325;
                   for each byte b: h = (h ^ b) * 0x100000001b3
    u(name, i)   = Double(splitmix64(seed(name) + i) >> 40) / 2^24    (in [0,1), exact in float32)
                   i = flat element index in row-major (C) order of the tensor's shape.
    value(name, i), computed in float64 in exactly this order, then ONE cast to float32 (round to
    nearest even; do not fuse multiply-add):
        conv weight [o,c,kh,kw]   : (2*u - 1) * sqrt(3 / fan_in), fan_in = c*kh*kw
        Linear weight [o,in]      : (2*u - 1) * sqrt(3 / fan_in), fan_in = in
                                    (s = sqrt(3.0 / Double(fan_in)) is computed first, in float64)
        Linear bias               : (2*u - 1) * 0.1
        BN weight                 : 1 + (2*u - 1) * 0.1
        BN bias                   : (2*u - 1) * 0.1
        BN running_mean           : (2*u - 1) * 0.1
        BN running_var            : 1 + 0.25 * u
        BN num_batches_tracked    : 0 (int64)
      Name-based kind rule (equivalent for this model): 4-D "*.weight" = conv, 2-D "*.weight" = Linear,
      1-D "*.weight" = BN weight, "fc.*.bias" = Linear bias, any other "*.bias" = BN bias.
      The name hashed is the full state-dict key (e.g. "layer2.0.downsample.1.running_var"); inside the
      basic-block fixture it is the block-local key (e.g. "downsample.0.weight").
    input        : name "input",       value u           (images in [0,1))
    grad_output  : name "grad_output", value 2*u - 1     (the upstream gradient dL/d(output))
    The backward pass uses loss = sum(output * grad_output), so dL/d(output) = grad_output exactly.

PROTOCOL of every model fixture: load the generated parameters and running buffers
(num_batches_tracked = 0); TRAIN mode forward of `input` (BN uses batch statistics and updates the
running stats once), backward of sum(output * grad_output) (no optimizer step, weights unchanged),
then an EVAL mode forward of the same input (uses the updated running stats) -> eval_output.

FILES AND KEYS (all float32 unless noted; <name> is a state-dict key as above)
  basic_block.safetensors  -- one torchvision BasicBlock(16 -> 32, stride 2) with downsample,
                              input [4,16,8,8], output [4,32,4,4]. Generated with block-local names.
      param.<name>   every parameter AND the initial running_mean/running_var (the generated values)
      input, grad_output, output, eval_output
      grad.input     dL/d(input)
      grad.<name>    dL/d(param) for every parameter
      after.<name>   every running_mean / running_var after the train forward
  resnet18_cifar_w1.safetensors     -- w=1, stem cifar,    input [2,3,32,32]
  resnet18_imagenet_w1.safetensors  -- w=1, stem imagenet, input [2,3,64,64]
  resnet18_cifar_w025.safetensors   -- w=0.25, stem cifar, input [4,3,16,16] (all gradients full)
      (weights NOT stored: rebuild them with the generator)
      input, grad_output [N,256], output [N,256], features [N,512w], eval_output [N,256]
      grad.input
      grad.<name>       full gradient of every parameter with < 100000 elements (w=0.25: every one)
      gradindex.<name>  int64 [256], sorted distinct flat indices (numpy default_rng(0), drawn in
                        parameter order), for parameters with >= 100000 elements
      gradsample.<name> [256] the gradient at those flat indices
      gradnorm.<name>   [1] L2 norm of the whole gradient (accumulated in float64, stored float32)
      after.<name>      every running_mean / running_var after the train forward
      check.<name>      the first 8 generated values (flat order) of every parameter and of every
                        running_mean / running_var (fewer if the tensor is smaller); verify the
                        generator with these first.
  torch_state_dict_w025.safetensors -- w=0.25 cifar model with PyTorch's own init (torch.manual_seed(0),
      torchvision construction order, see build_resnet18), after one train-mode forward of
      `train_input`; written exactly as safetensors.torch.save_file(model.state_dict(), path):
      every key of the state dict, num_batches_tracked int64 [] (value 1), no extra keys.
  torch_state_dict_w025_io.safetensors
      train_input [4,3,16,16]  the batch of that single train forward (torch.rand after the init)
      input [2,3,16,16]        generated ("input", value u)
      eval_output [2,256]      the eval-mode output of the model above on `input`
      Loading torch_state_dict_w025 and running `input` in eval mode must reproduce eval_output.

Each generated file also carries safetensors metadata {"info": <JSON: stem, width, input shape,
torch version, ...>} (informative only).
"""
import json
import math
import os
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

HERE = Path(__file__).resolve().parent
MASK64 = (1 << 64) - 1

# --------------------------------------------------------------------------------------------------
# Deterministic generator
# --------------------------------------------------------------------------------------------------


def splitmix64_py(x: int) -> int:
    """Reference (pure Python ints) splitmix64 finalizer-with-increment, as documented above."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def fnv1a64(name: str) -> int:
    h = 0xCBF29CE484222325
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def u_py(name: str, i: int) -> float:
    return (splitmix64_py((fnv1a64(name) + i) & MASK64) >> 40) / float(1 << 24)


def splitmix64_np(x: np.ndarray) -> np.ndarray:
    assert x.dtype == np.uint64
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        z = x
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def u_np(name: str, n: int) -> np.ndarray:
    """u(name, i) for i in 0..<n, float64 (each value exact in float32)."""
    with np.errstate(over="ignore"):
        x = np.uint64(fnv1a64(name)) + np.arange(n, dtype=np.uint64)
    z = splitmix64_np(x)
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def gen_values(name: str, shape, kind: str, fan_in: int = 0) -> torch.Tensor:
    """Generated float32 tensor for `name` (see the docstring for the recipe)."""
    n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    u = u_np(name, n)
    if kind in ("conv", "linear_weight"):
        s = math.sqrt(3.0 / float(fan_in))  # float64, correctly rounded
        v = (2.0 * u - 1.0) * s
    elif kind in ("linear_bias", "bn_bias", "bn_running_mean"):
        v = (2.0 * u - 1.0) * 0.1
    elif kind == "bn_weight":
        v = 1.0 + (2.0 * u - 1.0) * 0.1
    elif kind == "bn_running_var":
        v = 1.0 + 0.25 * u
    elif kind == "input":
        v = u
    elif kind == "grad_output":
        v = 2.0 * u - 1.0
    else:
        raise ValueError(kind)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def self_test_generator():
    names = ["input", "grad_output", "conv1.weight", "layer4.1.bn2.running_var", "fc.2.bias", ""]
    for name in names:
        vec = u_np(name, 37)
        for i in range(37):
            assert vec[i] == u_py(name, i), (name, i)
    # wrap-around of seed + i near 2^64
    x = np.array([MASK64 - 2, MASK64, 0, 1, 0x0123456789ABCDEF], dtype=np.uint64)
    for a, b in zip(splitmix64_np(x), x):
        assert int(a) == splitmix64_py(int(b))
    with np.errstate(over="ignore"):
        wrapped = splitmix64_np(np.array([MASK64], dtype=np.uint64) + np.arange(3, dtype=np.uint64))
    assert [int(v) for v in wrapped] == [splitmix64_py((MASK64 + i) & MASK64) for i in range(3)]
    # Known-answer values (the standard splitmix64 sequence from state 0: next() = splitmix64(k*golden))
    assert splitmix64_py(0) == 0xE220A8397B1DCDAF
    assert fnv1a64("") == 0xCBF29CE484222325
    assert fnv1a64("a") == 0xAF63DC4C8601EC8C
    # float64 pipeline -> one float32 cast, checked element-wise against pure Python
    t = gen_values("layer1.0.conv1.weight", (4, 2, 3, 3), "conv", fan_in=18)
    flat = t.flatten().tolist()
    for i in range(len(flat)):
        ref = float(np.float32((2.0 * u_py("layer1.0.conv1.weight", i) - 1.0) * math.sqrt(3.0 / 18)))
        assert flat[i] == ref


# --------------------------------------------------------------------------------------------------
# Model: faithful re-implementation of torchvision.models.resnet (BasicBlock) with a width multiplier
# --------------------------------------------------------------------------------------------------


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, groups=1,
                     bias=False, dilation=1)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, eps=1e-5, momentum=0.1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5, momentum=0.1)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision.models.resnet.ResNet(block, layers) with channel width multiplier `width`.

    Modules are created and initialized in torchvision's order so that the same torch seed gives the
    same initial weights as torchvision at width 1."""

    def __init__(self, layers=(2, 2, 2, 2), width=1.0, num_classes=1000, block=BasicBlock,
                 zero_init_residual=False):
        super().__init__()
        self.block = block
        c = [int(round(64 * width)), int(round(128 * width)), int(round(256 * width)),
             int(round(512 * width))]
        self.inplanes = c[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(c[0], layers[0])
        self.layer2 = self._make_layer(c[1], layers[1], stride=2)
        self.layer3 = self._make_layer(c[2], layers[2], stride=2)
        self.layer4 = self._make_layer(c[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:  # the last BN of each residual branch, after the other init (torchvision's order)
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, planes, blocks, stride=1):
        block = self.block
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def _apply_seed_surgery(model, stem, c0, feat, hidden, out_dim):
    """What the reference does to torchvision's resnet18(): replace conv1/maxpool (cifar), then fc."""
    if stem == "cifar":
        model.conv1 = nn.Conv2d(3, c0, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif stem != "imagenet":
        raise ValueError(f"unknown stem {stem!r}")
    model.fc = nn.Sequential(nn.Linear(feat, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
    return model


def build_resnet18(width=1.0, stem="cifar", hidden=512, out_dim=256):
    """Our ResNet-18 (PyTorch default init, torchvision construction order)."""
    model = ResNet((2, 2, 2, 2), width=width)
    return _apply_seed_surgery(model, stem, int(round(64 * width)), int(round(512 * width)), hidden,
                               out_dim)


def build_torchvision_resnet18(stem="cifar", hidden=512, out_dim=256):
    """The genuine torchvision.models.resnet18() with the reference's replacements (width 1 only)."""
    import torchvision
    return _apply_seed_surgery(torchvision.models.resnet18(), stem, 64, 512, hidden, out_dim)


def param_kind(model, key):
    """(kind, fan_in) from the module type; asserts the name-based rule of the docstring agrees."""
    mod_name, _, attr = key.rpartition(".")
    mod = model.get_submodule(mod_name)
    if isinstance(mod, nn.Conv2d):
        assert attr == "weight"
        kind, fan_in = "conv", mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
    elif isinstance(mod, nn.Linear):
        kind, fan_in = ("linear_weight", mod.in_features) if attr == "weight" else ("linear_bias", 0)
    elif isinstance(mod, nn.BatchNorm2d):
        kind, fan_in = {"weight": "bn_weight", "bias": "bn_bias", "running_mean": "bn_running_mean",
                        "running_var": "bn_running_var",
                        "num_batches_tracked": "bn_num_batches_tracked"}[attr], 0
    else:
        raise TypeError(f"{key}: {type(mod)}")
    # name-based rule (documented for the Swift side)
    ndim = model.state_dict()[key].dim()
    if attr == "weight":
        by_name = {4: "conv", 2: "linear_weight", 1: "bn_weight"}[ndim]
    elif attr == "bias":
        by_name = "linear_bias" if key.startswith("fc.") else "bn_bias"
    else:
        by_name = "bn_" + attr
    assert by_name == kind, (key, kind, by_name)
    return kind, fan_in


def generated_state(model):
    """OrderedDict key -> generated tensor for every state-dict entry."""
    out = OrderedDict()
    for key, t in model.state_dict().items():
        kind, fan_in = param_kind(model, key)
        if kind == "bn_num_batches_tracked":
            out[key] = torch.zeros((), dtype=torch.int64)
        else:
            out[key] = gen_values(key, tuple(t.shape), kind, fan_in)
    return out


def load_generated(model):
    state = generated_state(model)
    model.load_state_dict(state, strict=True)
    return state


# --------------------------------------------------------------------------------------------------
# Fixture protocol
# --------------------------------------------------------------------------------------------------


def run_protocol(model, x, gout):
    """Train forward + backward of sum(out*gout), then eval forward. Returns a dict of tensors."""
    feats = {}
    h = None
    if hasattr(model, "fc"):
        h = model.fc.register_forward_hook(lambda m, inp, out: feats.__setitem__("f", inp[0].detach()))
    model.train()
    model.zero_grad(set_to_none=True)
    xin = x.clone().requires_grad_(True)
    out = model(xin)
    loss = (out * gout).sum()
    loss.backward()
    res = {"output": out.detach().clone(), "grad.input": xin.grad.detach().clone()}
    if "f" in feats:
        res["features"] = feats["f"].clone()
    for name, p in model.named_parameters():
        res["grad." + name] = p.grad.detach().clone()
    for name, b in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            res["after." + name] = b.detach().clone()
    model.eval()
    with torch.no_grad():
        res["eval_output"] = model(x).clone()
    if h is not None:
        h.remove()
    return res


def assert_same(a: dict, b: dict, what: str):
    assert a.keys() == b.keys(), (what, set(a) ^ set(b))
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, (what, k)
        assert torch.equal(a[k], b[k]), f"{what}: {k} differs (max {(a[k] - b[k]).abs().max()})"


def meta(**kw):
    d = {"generator": "Tests/NeuralNetTests/Fixtures/make_fixtures.py", "torch": torch.__version__,
         "bn_eps": "1e-5", "bn_momentum": "0.1", "loss": "sum(output * grad_output)"}
    d.update({k: str(v) for k, v in kw.items()})
    # safetensors keeps metadata in a hash map (random order on write): one key keeps files byte-stable
    return {"info": json.dumps(d, sort_keys=True)}


def save(tensors: dict, name: str, metadata=None):
    path = HERE / name
    clean = OrderedDict((k, v.detach().contiguous()) for k, v in tensors.items())
    save_file(clean, str(path), metadata=metadata)
    # round-trip check
    back = load_file(str(path))
    assert back.keys() == clean.keys()
    for k in clean:
        assert torch.equal(back[k], clean[k]) and back[k].dtype == clean[k].dtype, k
    return path


# --------------------------------------------------------------------------------------------------
# Checks against torchvision
# --------------------------------------------------------------------------------------------------


def check_against_torchvision(stem, input_shape):
    import torchvision  # noqa: F401
    tv_ref = torchvision.models.resnet18()
    ours = build_resnet18(1.0, stem)
    tv = build_torchvision_resnet18(stem)
    sd_o, sd_t, sd_ref = ours.state_dict(), tv.state_dict(), tv_ref.state_dict()
    # keys/shapes equal torchvision's resnet18 with conv1/maxpool/fc replaced
    expect = OrderedDict()
    for k, v in sd_ref.items():
        if k.startswith("fc."):
            continue
        expect[k] = tuple(v.shape)
    if stem == "cifar":
        expect["conv1.weight"] = (64, 3, 3, 3)
    for k, s in [("fc.0.weight", (512, 512)), ("fc.0.bias", (512,)), ("fc.2.weight", (256, 512)),
                 ("fc.2.bias", (256,))]:
        expect[k] = s
    assert list(sd_o.keys()) == list(expect.keys()) == list(sd_t.keys())
    for k in expect:
        assert tuple(sd_o[k].shape) == expect[k] == tuple(sd_t[k].shape), k
        assert sd_o[k].dtype == sd_t[k].dtype, k
    assert str(ours.maxpool) == str(tv.maxpool)
    # same torch seed -> same default init
    torch.manual_seed(1234)
    a = build_resnet18(1.0, stem).state_dict()
    torch.manual_seed(1234)
    b = build_torchvision_resnet18(stem).state_dict()
    assert_same(a, b, f"default init {stem}")
    # same weights -> bitwise identical outputs, gradients, buffers
    load_generated(ours)
    tv.load_state_dict(ours.state_dict(), strict=True)
    x = gen_values("input", input_shape, "input")
    with torch.no_grad():
        out_shape = (input_shape[0], 256)
    g = gen_values("grad_output", out_shape, "grad_output")
    ro = run_protocol(ours, x, g)
    rt = run_protocol(tv, x, g)
    assert_same(ro, rt, f"torchvision equivalence {stem}")


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


def make_basic_block():
    import torchvision
    block = BasicBlock(16, 32, 2, nn.Sequential(conv1x1(16, 32, 2), nn.BatchNorm2d(32)))
    state = load_generated(block)
    x = gen_values("input", (4, 16, 8, 8), "input")
    g = gen_values("grad_output", (4, 32, 4, 4), "grad_output")
    res = run_protocol(block, x, g)
    # the same with torchvision's own BasicBlock
    tvb = torchvision.models.resnet.BasicBlock(
        16, 32, 2, nn.Sequential(torchvision.models.resnet.conv1x1(16, 32, 2), nn.BatchNorm2d(32)))
    tvb.load_state_dict(state, strict=True)
    assert_same(res, run_protocol(tvb, x, g), "torchvision BasicBlock")
    out = OrderedDict()
    for k, v in state.items():
        if not k.endswith("num_batches_tracked"):
            out["param." + k] = v
    out["input"] = x
    out["grad_output"] = g
    out.update(res)
    return save(out, "basic_block.safetensors",
                meta(kind="BasicBlock(16->32, stride 2, downsample)", input_shape="[4,16,8,8]"))


def make_resnet(fname, stem, width, input_shape, full_grads=False, tv_check=False, build=None,
                sample_above=100000, adjust=None):
    model = (build or build_resnet18)(width, stem)
    state = load_generated(model)
    if adjust:
        adjust(model)
    x = gen_values("input", input_shape, "input")
    g = gen_values("grad_output", (input_shape[0], 256), "grad_output")
    res = run_protocol(model, x, g)
    out = OrderedDict()
    out["input"] = x
    out["grad_output"] = g
    out["output"] = res["output"]
    out["features"] = res["features"]
    out["eval_output"] = res["eval_output"]
    out["grad.input"] = res["grad.input"]
    rng = np.random.default_rng(0)
    for name, _ in model.named_parameters():
        grad = res["grad." + name]
        n = grad.numel()
        if full_grads or n < sample_above:
            out["grad." + name] = grad
        else:
            idx = np.sort(rng.choice(n, size=256, replace=False)).astype(np.int64)
            flat = grad.reshape(-1)
            out["gradindex." + name] = torch.from_numpy(idx)
            out["gradsample." + name] = flat[torch.from_numpy(idx)].clone()
            norm = np.sqrt(np.sum(np.square(flat.numpy().astype(np.float64))))
            out["gradnorm." + name] = torch.tensor([norm], dtype=torch.float32)
    for k in res:
        if k.startswith("after."):
            out[k] = res[k]
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            continue
        out["check." + k] = v.reshape(-1)[:8].clone()
    return save(out, fname, meta(stem=stem, width=width, input_shape=list(input_shape),
                                 weights="generated (not stored), see docstring"))


def make_torch_state_dict(build=None, width=0.25, prefix="torch_state_dict_w025"):
    build = build or build_resnet18
    torch.manual_seed(0)
    model = build(width, "cifar")
    train_input = torch.rand(4, 3, 16, 16)
    model.train()
    with torch.no_grad():
        model(train_input)
    sd = model.state_dict()
    assert all(int(v) == 1 for k, v in sd.items() if k.endswith("num_batches_tracked"))
    p1 = HERE / f"{prefix}.safetensors"
    save_file(sd, str(p1))
    x = gen_values("input", (2, 3, 16, 16), "input")
    model.eval()
    with torch.no_grad():
        y = model(x)
    # reload into a fresh model (strict) and reproduce
    fresh = build(width, "cifar")
    fresh.load_state_dict(load_file(str(p1)), strict=True)
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(x), y)
    p2 = save(OrderedDict([("train_input", train_input), ("input", x), ("eval_output", y)]),
              f"{prefix}_io.safetensors",
              meta(stem="cifar", width=width, state_dict=f"{prefix}.safetensors",
                   init="torch.manual_seed(0), PyTorch/torchvision default init"))
    return [p1, p2]


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    self_test_generator()
    print("generator self-test OK")
    check_against_torchvision("cifar", (2, 3, 32, 32))
    check_against_torchvision("imagenet", (2, 3, 64, 64))
    print("torchvision equivalence (keys, shapes, init, outputs, grads, buffers) OK")
    paths = [make_basic_block(),
             make_resnet("resnet18_cifar_w1.safetensors", "cifar", 1.0, (2, 3, 32, 32)),
             make_resnet("resnet18_imagenet_w1.safetensors", "imagenet", 1.0, (2, 3, 64, 64)),
             make_resnet("resnet18_cifar_w025.safetensors", "cifar", 0.25, (4, 3, 16, 16),
                         full_grads=True)]
    paths += make_torch_state_dict()
    total = 0
    for p in paths:
        sz = os.path.getsize(p)
        total += sz
        print(f"{sz:>10,d}  {p.name}")
    print(f"{total:>10,d}  total")


if __name__ == "__main__":
    sys.exit(main())
