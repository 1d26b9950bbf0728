#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures for `tests/fixtures.rs`.

Builds the same NB201 supernet as `src/supernet.rs` (same parameter order, non-affine batch-stat
BN, PyTorch conv layouts), in float64, and computes with *exact* second-order autograd:
  - T~ = ||grad_theta L||^2                      (NASI eq. 12),
  - the exact NTK trace sum_i sum_k ||grad_theta f_k(x_i)||^2,
  - grad_alpha T~ at alpha = 0 by double backward (create_graph=True), soft and hard Gumbel.
Weights, inputs, labels and Gumbel noise are float32 values (so the Rust side loads them
exactly); the expected numbers are float64.

Usage: python3 tests/reference/make_fixtures.py   (needs torch; writes tests/reference/fixtures/)
"""
import json
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
EDGES = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def specs(C, N, K):
    """Parameter names and shapes, in the order of Supernet::specs()."""
    s = [("stem.conv", (C, 3, 3, 3))]
    ch = C
    for stage in range(3):
        if stage > 0:
            s += [(f"reduce{stage}.conv_a", (2 * ch, ch, 3, 3)),
                  (f"reduce{stage}.conv_b", (2 * ch, 2 * ch, 3, 3)),
                  (f"reduce{stage}.down", (2 * ch, ch, 1, 1))]
            ch *= 2
        for cell in range(N):
            for e in range(6):
                p = f"stage{stage}.cell{cell}.edge{e}"
                s += [(p + ".conv1x1", (ch, ch, 1, 1)), (p + ".conv3x3", (ch, ch, 3, 3))]
    s += [("head.weight", (K, ch)), ("head.bias", (K,))]
    return s


def bn(x):
    return F.batch_norm(x, None, None, training=True, eps=1e-5)


def forward(params, names, x, w, N):
    P = dict(zip(names, params))
    h = bn(F.conv2d(x, P["stem.conv"], padding=1))
    for stage in range(3):
        if stage > 0:
            p = f"reduce{stage}"
            a = bn(F.conv2d(F.relu(h), P[p + ".conv_a"], stride=2, padding=1))
            b = bn(F.conv2d(F.relu(a), P[p + ".conv_b"], padding=1))
            h = b + F.conv2d(F.avg_pool2d(h, 2, 2), P[p + ".down"])
        for cell in range(N):
            nodes = [h]
            for to in range(1, 4):
                acc = 0
                for e, (t, frm) in enumerate(EDGES):
                    if t != to:
                        continue
                    xin = nodes[frm]
                    q = f"stage{stage}.cell{cell}.edge{e}"
                    r = F.relu(xin)
                    acc = acc + w[e, 1] * xin \
                        + w[e, 2] * bn(F.conv2d(r, P[q + ".conv1x1"])) \
                        + w[e, 3] * bn(F.conv2d(r, P[q + ".conv3x3"], padding=1)) \
                        + w[e, 4] * F.avg_pool2d(xin, 3, 1, 1, count_include_pad=False)
                nodes.append(acc)
            h = nodes[3]
    h = F.relu(bn(h))
    return h.mean(dim=(2, 3)) @ P["head.weight"].t() + P["head.bias"]


def relaxed(alpha, g, tau, hard):
    soft = torch.softmax((alpha + g) / tau, dim=1)
    if not hard:
        return soft
    onehot = F.one_hot((alpha + g).argmax(dim=1), 5).to(soft.dtype)
    return onehot - soft.detach() + soft


def make(name, C, N, K, size, b, tau, hard, seed):
    gen = torch.Generator().manual_seed(seed)
    sp = specs(C, N, K)
    params = []
    for n, shape in sp:
        fan_in = shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1) if len(shape) > 1 else sp[-2][1][1]
        bound = 1.0 / fan_in ** 0.5
        t = (torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) * bound
        params.append(t.double().requires_grad_(True))
    names = [n for n, _ in sp]
    x = torch.randn((b, 3, size, size), generator=gen, dtype=torch.float32).double()
    labels = torch.randint(0, K, (b,), generator=gen)
    u = torch.rand((6, 5), generator=gen, dtype=torch.float32).clamp(1e-6, 1 - 1e-6)
    g = (-torch.log(-torch.log(u.double()))).float().double()
    alpha = torch.zeros(6, 5, requires_grad=True)
    w = relaxed(alpha, g, tau, hard)
    logits = forward(params, names, x, w, N)
    loss = F.cross_entropy(logits, labels)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    trace = sum((gr ** 2).sum() for gr in grads)
    (grad_alpha,) = torch.autograd.grad(trace, alpha)
    # Exact NTK trace from per-output gradients (batch statistics included).
    with torch.no_grad():
        w_val = w.detach()
    exact = 0.0
    for i in range(b):
        for k in range(K):
            out = forward(params, names, x, w_val, N)[i, k]
            gs = torch.autograd.grad(out, params, allow_unused=True)
            exact += sum(float((gr ** 2).sum()) for gr in gs if gr is not None)
    fixture = {
        "config": {"channels": C, "cells": N, "classes": K, "size": size, "batch": b,
                   "tau": tau, "hard": hard},
        "params": [{"name": n, "shape": list(s), "values": p.detach().float().flatten().tolist()}
                   for (n, s), p in zip(sp, params)],
        "x": x.float().flatten().tolist(),
        "labels": labels.tolist(),
        "gumbel": g.float().tolist(),
        "expected": {"loss": float(loss), "trace": float(trace), "exact_trace": exact,
                     "grad_trace": grad_alpha.tolist()},
        "made_by": f"tests/reference/make_fixtures.py, torch {torch.__version__}, float64",
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(fixture, f)
    print(name, "T~ =", float(trace), "exact tr =", exact, "|grad| =", float(grad_alpha.norm()))


if __name__ == "__main__":
    make("tiny_soft", C=4, N=1, K=5, size=8, b=6, tau=1.0, hard=False, seed=1)
    make("tiny_hard", C=4, N=1, K=5, size=8, b=6, tau=0.5, hard=True, seed=2)
    make("tiny_n2", C=3, N=2, K=4, size=8, b=4, tau=2.0, hard=False, seed=3)
