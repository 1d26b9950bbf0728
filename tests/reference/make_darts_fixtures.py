#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures of the DARTS search network for `tests/darts_fixtures.rs`.

An independent float64 implementation of DARTS's search network (quark0/darts `model_search.py`:
stem conv + affine BN; cells with ReLU-conv-BN / FactorizedReduce preprocessing; on each of the 14
edges the 8 ops mixed by the relaxed weights, pools followed by a non-affine BN; reductions at 1/3 and
2/3 of the depth; global pool and a linear head), with its parameters named and ordered as
`src/net/darts/mod.rs`'s `search_specs`. It computes with *exact* second-order autograd:
  - T~ = ||grad_theta L||^2 (NASI eq. 12) and the exact NTK trace;
  - grad_alpha T~ at alpha = 0 by double backward (create_graph=True). PyTorch differentiates max
    pooling and ReLU with their argmax / mask held, which is what our finite-difference HVP replays.
Weights, inputs, labels and Gumbel noise are float32 values (so the Rust side loads them exactly).

Usage: python3 tests/reference/make_darts_fixtures.py   (needs torch; writes tests/reference/fixtures/)
"""
import json
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
       "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
NODES = 4


def is_reduction(i, layers):
    return i in (layers // 3, 2 * layers // 3)


def edges():
    """(row, to, from) in row order: node 2+i takes inputs 0..2+i."""
    out, row = [], 0
    for i in range(NODES):
        for j in range(2 + i):
            out.append((row, 2 + i, j))
            row += 1
    return out


def specs(C, layers, K, stem_mult=3):
    """Parameter names and PyTorch shapes, in search_specs() order."""
    s = [("stem.0.weight", (stem_mult * C, 3, 3, 3)), ("stem.1.weight", (stem_mult * C,)),
         ("stem.1.bias", (stem_mult * C,))]
    c_pp, c_p, c = stem_mult * C, stem_mult * C, C
    red_prev = False
    for i in range(layers):
        red = is_reduction(i, layers)
        if red:
            c *= 2
        p = f"cells.{i}"
        if red_prev:
            s += [(f"{p}.preprocess0.conv_1.weight", (c // 2, c_pp, 1, 1)),
                  (f"{p}.preprocess0.conv_2.weight", (c // 2, c_pp, 1, 1))]
        else:
            s += [(f"{p}.preprocess0.op.1.weight", (c, c_pp, 1, 1))]
        s += [(f"{p}.preprocess1.op.1.weight", (c, c_p, 1, 1))]
        for e, _, frm in edges():
            stride = 2 if red and frm < 2 else 1
            for k, op in enumerate(OPS):
                q = f"{p}._ops.{e}._ops.{k}"
                if op == "skip_connect" and stride == 2:
                    s += [(f"{q}.conv_1.weight", (c // 2, c, 1, 1)), (f"{q}.conv_2.weight", (c // 2, c, 1, 1))]
                elif op.startswith("sep_conv"):
                    kk = int(op[-1])
                    s += [(f"{q}.op.1.weight", (c, 1, kk, kk)), (f"{q}.op.2.weight", (c, c, 1, 1)),
                          (f"{q}.op.5.weight", (c, 1, kk, kk)), (f"{q}.op.6.weight", (c, c, 1, 1))]
                elif op.startswith("dil_conv"):
                    kk = int(op[-1])
                    s += [(f"{q}.op.1.weight", (c, 1, kk, kk)), (f"{q}.op.2.weight", (c, c, 1, 1))]
        red_prev = red
        c_pp, c_p = c_p, NODES * c
    s += [("classifier.weight", (K, c_p)), ("classifier.bias", (K,))]
    return s


def bn(x):
    return F.batch_norm(x, None, None, training=True, eps=1e-5)


def factorized_reduce(P, x, p):
    r = F.relu(x)
    return bn(torch.cat([F.conv2d(r, P[p + ".conv_1.weight"], stride=2),
                         F.conv2d(r[:, :, 1:, 1:], P[p + ".conv_2.weight"], stride=2)], dim=1))


def dw_pw(P, x, p, a, k, stride, dil):
    c = x.shape[1]
    y = F.conv2d(F.relu(x), P[f"{p}.op.{a}.weight"], stride=stride, padding=dil * (k // 2),
                 dilation=dil, groups=c)
    return bn(F.conv2d(y, P[f"{p}.op.{a + 1}.weight"]))


def op_out(P, x, op, p, stride):
    if op == "none":
        return None
    if op == "max_pool_3x3":
        return bn(F.max_pool2d(x, 3, stride, 1))
    if op == "avg_pool_3x3":
        return bn(F.avg_pool2d(x, 3, stride, 1, count_include_pad=False))
    if op == "skip_connect":
        return x if stride == 1 else factorized_reduce(P, x, p)
    if op.startswith("sep_conv"):
        k = int(op[-1])
        return dw_pw(P, dw_pw(P, x, p, 1, k, stride, 1), p, 5, k, 1, 1)
    k = int(op[-1])
    return dw_pw(P, x, p, 1, k, stride, 2)


def forward(params, names, x, w, layers):
    """Logits of x under the relaxed weights w [28, 8] (normal rows, then reduce rows)."""
    P = dict(zip(names, params))
    stem = bn(F.conv2d(x, P["stem.0.weight"], padding=1))
    stem = stem * P["stem.1.weight"].view(1, -1, 1, 1) + P["stem.1.bias"].view(1, -1, 1, 1)
    s0 = s1 = stem
    red_prev = False
    for i in range(layers):
        red = is_reduction(i, layers)
        W = w[14:] if red else w[:14]
        p = f"cells.{i}"
        a = factorized_reduce(P, s0, p + ".preprocess0") if red_prev else \
            bn(F.conv2d(F.relu(s0), P[p + ".preprocess0.op.1.weight"]))
        b = bn(F.conv2d(F.relu(s1), P[p + ".preprocess1.op.1.weight"]))
        states = [a, b]
        for node in range(NODES):
            acc = 0
            for e, to, frm in edges():
                if to != node + 2:
                    continue
                stride = 2 if red and frm < 2 else 1
                for k, op in enumerate(OPS):
                    y = op_out(P, states[frm], op, f"{p}._ops.{e}._ops.{k}", stride)
                    if y is not None:
                        acc = acc + W[e, k] * y
            states.append(acc)
        s0, s1 = s1, torch.cat(states[2:], dim=1)
        red_prev = red
    return s1.mean(dim=(2, 3)) @ P["classifier.weight"].t() + P["classifier.bias"]


def relaxed(alpha, g, tau, hard):
    soft = torch.softmax((alpha + g) / tau, dim=1)
    if not hard:
        return soft
    onehot = F.one_hot((alpha + g).argmax(dim=1), len(OPS)).to(soft.dtype)
    return onehot - soft.detach() + soft


def make(name, C, layers, K, size, b, tau, hard, seed):
    gen = torch.Generator().manual_seed(seed)
    sp = specs(C, layers, K)
    params = []
    for n, shape in sp:
        if n == "stem.1.weight":
            t = torch.ones(shape, dtype=torch.float32)
        elif n == "stem.1.bias":
            t = torch.zeros(shape, dtype=torch.float32)
        else:
            fan_in = sp[-2][1][1] if n == "classifier.bias" else int(torch.tensor(shape[1:]).prod())
            t = (torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) / fan_in ** 0.5
        params.append(t.double().requires_grad_(True))
    names = [n for n, _ in sp]
    x = torch.randn((b, 3, size, size), generator=gen, dtype=torch.float32).double()
    labels = torch.randint(0, K, (b,), generator=gen)
    u = torch.rand((28, len(OPS)), generator=gen, dtype=torch.float32).clamp(1e-6, 1 - 1e-6)
    g = (-torch.log(-torch.log(u.double()))).float().double()
    alpha = torch.zeros(28, len(OPS), requires_grad=True)
    w = relaxed(alpha, g, tau, hard)
    logits = forward(params, names, x, w, layers)
    loss = F.cross_entropy(logits, labels)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    trace = sum((gr ** 2).sum() for gr in grads)
    (grad_alpha,) = torch.autograd.grad(trace, alpha)
    w_val = w.detach()
    exact = 0.0
    for i in range(b):
        for k in range(K):
            out = forward(params, names, x, w_val, layers)[i, k]
            gs = torch.autograd.grad(out, params, allow_unused=True)
            exact += sum(float((gr ** 2).sum()) for gr in gs if gr is not None)
    fixture = {
        "config": {"channels": C, "layers": layers, "classes": K, "size": size, "batch": b,
                   "tau": tau, "hard": hard},
        "params": [{"name": n, "shape": list(s), "values": p.detach().float().flatten().tolist()}
                   for (n, s), p in zip(sp, params)],
        "x": x.float().flatten().tolist(),
        "labels": labels.tolist(),
        "gumbel": g.float().tolist(),
        "expected": {"loss": float(loss), "trace": float(trace), "exact_trace": exact,
                     "grad_trace": grad_alpha.tolist()},
        "made_by": f"tests/reference/make_darts_fixtures.py, torch {torch.__version__}, float64",
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(fixture, f)
    print(name, len(params), "tensors", sum(p.numel() for p in params), "params; T~ =", float(trace),
          "exact tr =", exact, "|grad| =", float(grad_alpha.norm()))


if __name__ == "__main__":
    # Every op on every edge; cells 1 and 2 of 3 reduce (strided ops, FactorizedReduce skips and a
    # FactorizedReduce preprocessing all run).
    make("darts_soft", C=4, layers=3, K=5, size=8, b=4, tau=1.0, hard=False, seed=11)
    make("darts_hard", C=4, layers=3, K=5, size=8, b=3, tau=0.5, hard=True, seed=12)
