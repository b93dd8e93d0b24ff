"""What make_fp32_step_fixture.py and make_bf16_step_fixture.py share: the model, the seed's InfoNCE, one SGD
update and its deviation from a reference update. Not a script; the two fixture scripts import it."""
import sys
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402

LR = 0.1


def model(width, dtype):
    """make_fixtures.py's ResNet-18 (CIFAR stem, 512-256 head) with its generated weights, in train mode."""
    torch.manual_seed(0)
    net = mf.build_resnet18(width=width, stem="cifar")
    mf.load_generated(net)
    return net.to(dtype).train()


def info_nce(z, temperature):
    """Cosine similarity / T, diagonal masked, positive of row i is (i + n/2) mod n, mean over the n rows."""
    z = F.normalize(z, dim=1, eps=1e-8)
    sim = z @ z.t() / temperature
    n = z.shape[0]
    sim = sim.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))
    idx = torch.arange(n)
    pos = (idx + n // 2) % n
    return (-sim[idx, pos] + torch.logsumexp(sim, dim=1)).mean()


def sgd_update(net, loss):
    """-LR * gradient of every parameter, in float64, after loss.backward()."""
    loss.backward()
    return OrderedDict((name, (-LR * p.grad).double()) for name, p in net.named_parameters())


def deviations(update, reference):
    """|update - reference| / |reference| over the flat concatenation, and per tensor (name -> ratio)."""
    num = sum(((update[k] - reference[k]) ** 2).sum() for k in reference)
    den = sum((reference[k] ** 2).sum() for k in reference)
    per = OrderedDict((k, ((update[k] - reference[k]).norm() / reference[k].norm()).item())
                      for k in reference if reference[k].norm() > 0)
    return (num / den).sqrt().item(), per
