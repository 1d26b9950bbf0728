"""Reads `nasi search --space darts --json` on stdin and checks what a DARTS user relies on:

1. the `genotype` text evaluates in DARTS's own terms (`Genotype` is the namedtuple of
   quark0/darts `cnn/genotypes.py`), with 8 pairs per cell and concat [2, 3, 4, 5];
2. DARTS's derivation rule (`model_search.py`'s `Network.genotype()._parse`), applied to the
   printed `alpha` (softmax per row, then for each node the 2 inputs with the largest non-`none`
   weight, each with its best non-`none` op), gives the same genotype.

Pure Python (no numpy, no torch): the rule is written out below in our own words. Prints one
line and exits 0 when both hold, 1 otherwise.
"""

import json
import math
import sys
from collections import namedtuple

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
PRIMITIVES = [
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
]


def softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    s = sum(e)
    return [v / s for v in e]


def parse(weights):
    """DARTS's rule on one cell's 14 rows of softmax weights."""
    gene, start, n = [], 0, 2
    for _ in range(4):
        rows = weights[start:start + n]
        strength = lambda j: max(rows[j][k] for k in range(len(rows[j])) if k != 0)
        # Python's sorted is stable: ties keep the lower input first, as in the reference.
        edges = sorted(range(n), key=lambda j: -strength(j))[:2]
        for j in edges:
            best = None
            for k in range(len(rows[j])):
                if k != 0 and (best is None or rows[j][k] > rows[j][best]):
                    best = k
            gene.append((PRIMITIVES[best], j))
        start += n
        n += 1
    return gene


def main():
    out = json.load(sys.stdin)
    g = eval(out["genotype"], {"Genotype": Genotype, "range": range})
    for cell, concat in ((g.normal, g.normal_concat), (g.reduce, g.reduce_concat)):
        assert len(cell) == 8, f"{len(cell)} pairs"
        assert list(concat) == [2, 3, 4, 5], concat
        assert all(op in PRIMITIVES[1:] for op, _ in cell), cell
    # The rule sees the weights as float32 softmax does; compare on the f32-rounded α as printed.
    normal = parse([softmax(r) for r in out["alpha"]["normal"]])
    reduce = parse([softmax(r) for r in out["alpha"]["reduce"]])
    derived = Genotype(normal, [2, 3, 4, 5], reduce, [2, 3, 4, 5])
    if derived != g:
        print(f"derived {derived}\nprinted {g}")
        sys.exit(1)
    print(f"ok: the genotype evaluates and DARTS's rule on the printed alpha gives it ({len(out['alpha']['normal'])}+{len(out['alpha']['reduce'])} rows)")


if __name__ == "__main__":
    main()
