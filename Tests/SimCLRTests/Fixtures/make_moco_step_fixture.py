#!/usr/bin/env python3
"""Two whole MoCo v2 training steps in PyTorch, the reference MoCoStepFixtureTests checks our MoCoStep against.

    python Tests/SimCLRTests/Fixtures/make_moco_step_fixture.py

ContrastiveTests check MoCo's pieces one at a time (the loss and its gradient, the momentum update, the
enqueue). This fixture checks how the step puts them together, as MoCo v2's official code does
(moco/builder.py, with the queue kept as rows [K, D] as ours keeps it):

    q = normalize(query(view1))                         query encoder, train mode, gets the gradient
    key.param = m * key.param + (1 - m) * query.param    no gradient; parameters only, not BatchNorm buffers
    k = normalize(key(view2))                            key encoder in train mode: batch statistics, and its
                                                         own running statistics updated
    logits = [q . k, q . queue^T] / T;  loss = cross_entropy(logits, 0)    mean over the batch
    loss.backward(); SGD step (lr 0.1, momentum 0.9, no weight decay, torch.optim.SGD)
    queue[ptr:ptr + B] = k;  ptr = (ptr + B) % K

run twice on two batches, so the second step's momentum update starts from a key encoder that differs from
the query encoder (at the first step they are equal copies).

Model: make_fixtures.py's ResNet-18 (CIFAR stem) at width 0.0625 with the head Linear(32, 16), ReLU,
Linear(16, 8), its generated weights and running statistics; B = 8 images of 16 x 16 per view; K = 16; m = 0.9;
T = 0.2. The reference runs in float64 (model, inputs, queue); a float32 run of the same steps gives PyTorch
fp32's own deviation from it, the bar for ours.

FILE moco_step.safetensors (everything float32):
    init.<name>                 the starting state_dict (parameters, BatchNorm buffers, counters as int64)
    view1.step{1,2}, view2.step{1,2}   [8, 3, 16, 16]
    queue.init                  [16, 8] unit rows
    loss [2]                    the two steps' losses (float64 run)
    query.change.<param>, key.change.<param>   parameters after step 2 minus init.<param> (float64 run; the
                                change is rounded to float32, not the parameter, whose rounding would bury it)
    key.<buffer>, query.<buffer>   running mean/var after step 2
    queue.after [16, 8]         the queue after step 2 (the pointer is back at 0: 2 x 8 = 16)
    deviation.fp32 [1]          PyTorch fp32's deviation from float64: || d32 - d64 || / || d64 || over the
                                concatenated changes (after - init) of query and key parameters
PyTorch is never needed by the Swift tests.
"""
import copy
import sys
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "NeuralNetTests" / "Fixtures"))
import make_fixtures as mf  # noqa: E402

B, K, D, M, T, LR, SIZE = 8, 16, 8, 0.9, 0.2, 0.1, 16


def run(dtype, views, queue0):
    query = mf.build_resnet18(width=0.0625, stem="cifar", hidden=16, out_dim=D)
    mf.load_generated(query)
    query = query.to(dtype).train()
    key = copy.deepcopy(query)
    for p in key.parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.SGD(query.parameters(), lr=LR, momentum=0.9, weight_decay=0)
    queue, ptr, losses = queue0.to(dtype).clone(), 0, []
    for v1, v2 in views:
        q = F.normalize(query(v1.to(dtype)), dim=1)
        with torch.no_grad():
            for pk, pq in zip(key.parameters(), query.parameters()):
                pk.data = pk.data * M + pq.data * (1.0 - M)
            k = F.normalize(key(v2.to(dtype)), dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], dim=1) / T
        loss = F.cross_entropy(logits, torch.zeros(B, dtype=torch.long))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        queue[ptr:ptr + B] = k
        ptr = (ptr + B) % K
        losses.append(loss.item())
    assert ptr == 0
    return query, key, queue, losses


def changes(model, init):
    return torch.cat([(p.detach().double() - init[n].double()).flatten() for n, p in model.named_parameters()])


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    views = [(mf.gen_values(f"view1.step{s}", (B, 3, SIZE, SIZE), "input"),
              mf.gen_values(f"view2.step{s}", (B, 3, SIZE, SIZE), "input")) for s in (1, 2)]
    queue0 = F.normalize(mf.gen_values("queue.init", (K, D), "grad_output"), dim=1)
    init = mf.generated_state(mf.build_resnet18(width=0.0625, stem="cifar", hidden=16, out_dim=D))
    q64, k64, queue64, losses = run(torch.float64, views, queue0)
    q32, k32, _, _ = run(torch.float32, views, queue0)
    d64 = torch.cat([changes(q64, init), changes(k64, init)])
    d32 = torch.cat([changes(q32, init), changes(k32, init)])
    deviation = ((d32 - d64).norm() / d64.norm()).item()
    print(f"PyTorch {torch.__version__}: losses {losses}; fp32 deviates {deviation:.3e} from float64")

    out = OrderedDict()
    for name, value in init.items():
        out["init." + name] = value if name.endswith("num_batches_tracked") else value.float()
    for s, (v1, v2) in enumerate(views, start=1):
        out[f"view1.step{s}"], out[f"view2.step{s}"] = v1, v2
    out["queue.init"] = queue0.float()
    out["loss"] = torch.tensor(losses, dtype=torch.float32)
    for prefix, model in (("query.", q64), ("key.", k64)):
        params = dict(model.named_parameters())
        for name, value in model.state_dict().items():
            if name in params:  # the change, taken in float64 before rounding (the values would bury it)
                out[prefix + "change." + name] = (value.double() - init[name].double()).float()
            elif not name.endswith("num_batches_tracked"):
                out[prefix + name] = value.float()
    out["queue.after"] = queue64.float()
    out["deviation.fp32"] = torch.tensor([deviation], dtype=torch.float32)
    path = Path(__file__).resolve().parent / "moco_step.safetensors"
    clean = OrderedDict((k, v.detach().contiguous()) for k, v in out.items())
    save_file(clean, str(path), metadata=mf.meta(protocol="two MoCo v2 steps, see make_moco_step_fixture.py",
                                                 width=0.0625, batch=B, queue=K, momentum=M, temperature=T, lr=LR))
    back = load_file(str(path))
    assert all(torch.equal(back[k], clean[k]) for k in clean)
    print(path.stat().st_size, path.name)


if __name__ == "__main__":
    sys.exit(main())
