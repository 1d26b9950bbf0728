#!/usr/bin/env python3
# Code size of a .wasm by crate, from its function-name section: run it on the wasm *before*
# wasm-opt (target/wasm32-unknown-unknown/wasm-release/nasi-web.wasm keeps the names; dist/'s does
# not). Usage: scripts/wasm_size.py FILE.wasm [TOP]
import sys, re, collections
data = open(sys.argv[1], 'rb').read()
def leb(b, i):
    r = s = 0
    while True:
        x = b[i]; i += 1
        r |= (x & 0x7f) << s; s += 7
        if x < 0x80: return r, i
i = 8
sections = []
nimports = 0
while i < len(data):
    sid = data[i]; i += 1
    size, i = leb(data, i)
    sections.append((sid, i, size)); i += size
sizes = {}
names = {}
for sid, off, size in sections:
    if sid == 2:  # imports
        n, j = leb(data, off)
        for _ in range(n):
            l, j = leb(data, j); j += l
            l, j = leb(data, j); j += l
            kind = data[j]; j += 1
            if kind == 0: _, j = leb(data, j); nimports += 1
            elif kind == 1: j += 1; fl = data[j]; j += 1; _, j = leb(data, j); j = leb(data, j)[1] if fl & 1 else j
            elif kind == 2: fl = data[j]; j += 1; _, j = leb(data, j); j = leb(data, j)[1] if fl & 1 else j
            elif kind == 3: j += 2
    if sid == 10:
        n, j = leb(data, off)
        for k in range(n):
            l, j2 = leb(data, j)
            sizes[nimports + k] = l + (j2 - j)
            j = j2 + l
    if sid == 0:
        l, j = leb(data, off); nm = data[j:j+l]; j += l
        if nm == b'name':
            end = off + size
            while j < end:
                sub = data[j]; j += 1
                ss, j = leb(data, j)
                if sub == 1:
                    n, k = leb(data, j)
                    for _ in range(n):
                        idx, k = leb(data, k); l, k = leb(data, k)
                        names[idx] = data[k:k+l].decode('utf8', 'replace'); k += l
                j += ss
agg = collections.Counter()
def crate(n):
    m = re.match(r'_ZN\d+(_?\$LT\$)?([A-Za-z][A-Za-z0-9_]*)', n)
    if m:
        c = m.group(2)
        c = re.split(r'\d', c)[0].split('..')[0]
        return c
    return 'unmangled:' + n[:20]
for idx, s in sizes.items():
    agg[crate(names.get(idx, '?'))] += s
tot = sum(sizes.values())
top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
print(f'code section: {tot / 1e6:.2f} MB in {len(sizes)} functions')
for k, v in agg.most_common(top):
    print(f'{k:30s} {v / 1e6:7.2f} MB  {100 * v / tot:5.1f} %')
