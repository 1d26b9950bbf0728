#!/usr/bin/env python3
"""One NASI step on DARTS's search network in PyTorch with exact second-order autograd, for
comparison with `nasi bench --space darts`.

The network is tests/reference/make_darts_fixtures.py's (quark0/darts `model_search.py`, parameters
as src/net/darts/mod.rs names them), run in float32 on the CPU; the step as benches/reference/
nasi_step.py: forward, grad_theta L with create_graph, T~ = ||grad||^2 and grad_alpha T~ by double
backward at alpha = 0 ([28, 8]: normal and reduce rows), fresh Gaussian inputs, random labels and
Gumbel noise each step.

Usage: darts_step.py --channels 8 --cells 5 --batch 16 [--size 32] [--repeats 5] [--json]
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
from make_darts_fixtures import OPS, forward, relaxed, specs  # noqa: E402
from timing import time_and_report  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    for name, default in [("channels", 16), ("cells", 8), ("batch", 64), ("size", 32), ("classes", 10),
                          ("repeats", 5), ("seed", 0)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--tau", type=float, default=2.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(a.seed)
    sp = specs(a.channels, a.cells, a.classes)
    names = [n for n, _ in sp]
    params = []
    for n, shape in sp:
        if n.startswith("stem.1."):
            t = torch.ones(shape) if n.endswith("weight") else torch.zeros(shape)
        else:
            fan_in = sp[-2][1][1] if n == "classifier.bias" else int(torch.tensor(shape[1:]).prod())
            t = (torch.rand(shape) * 2 - 1) / fan_in ** 0.5
        params.append(t.requires_grad_(True))

    def step():
        x = torch.randn(a.batch, 3, a.size, a.size)
        y = torch.randint(0, a.classes, (a.batch,))
        u = torch.rand(28, len(OPS)).clamp(1e-6, 1 - 1e-6)
        g = -torch.log(-torch.log(u))
        alpha = torch.zeros(28, len(OPS), requires_grad=True)
        w = relaxed(alpha, g, a.tau, False)
        loss = F.cross_entropy(forward(params, names, x, w, a.cells), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        trace = sum((gr ** 2).sum() for gr in grads)
        (ga,) = torch.autograd.grad(trace, alpha)
        return float(trace.detach()), ga

    time_and_report(step, a.repeats, a.json, f"DARTS C={a.channels} cells={a.cells} b={a.batch} size={a.size}")


if __name__ == "__main__":
    main()
