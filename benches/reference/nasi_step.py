#!/usr/bin/env python3
"""One NASI step in PyTorch with exact second-order autograd, for comparison with `nasi bench`.

Same supernet as src/supernet.rs (the model code is shared with tests/reference/make_fixtures.py),
same step: forward, grad_theta L with create_graph, T~ = ||grad||^2, and grad_alpha T~ by double
backward, at alpha = 0 with fresh Gaussian inputs, random labels and Gumbel noise. float32, CPU.

Usage: nasi_step.py --channels 16 --cells 1 --batch 64 [--size 32] [--repeats 5] [--json]
Prints the median seconds per step (after one warm-up step) and peak RSS.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
from make_fixtures import forward, relaxed, specs  # noqa: E402
from timing import time_and_report  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    for name, default in [("channels", 8), ("cells", 1), ("batch", 32), ("size", 16), ("classes", 10),
                          ("repeats", 5), ("seed", 0)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--tau", type=float, default=1.0)
    ap.add_argument("--hard", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(a.seed)
    sp = specs(a.channels, a.cells, a.classes)
    names = [n for n, _ in sp]
    params = []
    for _, shape in sp:
        fan_in = (shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1)) if len(shape) > 1 else sp[-2][1][1]
        b = fan_in ** -0.5
        params.append(((torch.rand(shape) * 2 - 1) * b).requires_grad_(True))

    def step():
        x = torch.randn(a.batch, 3, a.size, a.size)
        y = torch.randint(0, a.classes, (a.batch,))
        u = torch.rand(6, 5).clamp(1e-6, 1 - 1e-6)
        g = -torch.log(-torch.log(u))
        alpha = torch.zeros(6, 5, requires_grad=True)
        w = relaxed(alpha, g, a.tau, a.hard)
        loss = F.cross_entropy(forward(params, names, x, w, a.cells), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        trace = sum((gr ** 2).sum() for gr in grads)
        (ga,) = torch.autograd.grad(trace, alpha)
        return float(trace.detach()), ga

    time_and_report(step, a.repeats, a.json, f"C={a.channels} N={a.cells} b={a.batch} size={a.size}")


if __name__ == "__main__":
    main()
