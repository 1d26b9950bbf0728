"""What the PyTorch step benchmarks share: the timing loop (one warm-up step, then the median of
`repeats`) and the report (`--json` as `nasi bench --json` writes it, or one line)."""
import json
import resource
import statistics
import time

import torch


def time_and_report(step, repeats, as_json, label):
    step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if as_json:
        print(json.dumps({"sec_per_step": med, "peak_rss_bytes": rss, "times": times,
                          "threads": torch.get_num_threads(), "torch": torch.__version__}))
    else:
        print(f"{label}: {med:.4f} s/step (median of {repeats}), peak RSS {rss / 2**20:.1f} MiB, "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads")
