#!/usr/bin/env python
"""One billion references from a compressed file, in bounded memory.

Run by hand (not a test; about 4 GB of disk and several minutes):

    python benchmarks/bench_scale.py                      # 1e9 refs
    python benchmarks/bench_scale.py --refs 1e8           # quicker

1. Writes (once; cached under benchmarks/data/) a bare trace of ``--refs`` references in the
   native format compressed with zstd, chunk by chunk, so the generator never holds more than
   one chunk: pages drawn Zipf(``--alpha``) over ``--pages`` pages scattered by a fixed
   permutation, 30% writes, seeded per chunk.
2. Replays it with ``rmapsim run TRACE --mem SIZE`` (kernel mode, modern machine) in a child
   process, and reports wall time, references per second and the child's peak resident set
   (``getrusage(RUSAGE_CHILDREN).ru_maxrss``). The trace streams in chunks of 2^20 events, so
   the peak is the simulated machine plus a few chunks, whatever the trace's length. Run the
   command yourself in a terminal to see the progress bar.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
CHUNK = 1 << 22


def chunks(refs: int, pages: int, alpha: float, seed: int):
    from rmapsim.trace.events import events_from_refs
    cdf = np.cumsum(np.arange(1, pages + 1, dtype=np.float64) ** -alpha)
    cdf /= cdf[-1]
    perm = np.random.default_rng(seed).permutation(pages).astype(np.uint64)
    for k, start in enumerate(range(0, refs, CHUNK)):
        rng = np.random.default_rng([seed, k])
        n = min(CHUNK, refs - start)
        rank = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), pages - 1)
        w = (rng.random(n) < 0.3).astype(np.uint64)
        yield events_from_refs((perm[rank] << np.uint64(1)) | w)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--refs", type=lambda s: int(float(s)), default=1_000_000_000)
    ap.add_argument("--pages", type=lambda s: int(float(s)), default=1 << 20)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--mem", default="2G", help="RAM of the simulated machine")
    a = ap.parse_args(argv)
    from rmapsim.trace import write_trace
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    path = data / f"scale_r{a.refs}_p{a.pages}_a{a.alpha:g}_s{a.seed}.rmt.zst"
    if not path.exists():
        t0 = time.perf_counter()
        write_trace(path, chunks(a.refs, a.pages, a.alpha, a.seed), bare=True)
        print(f"wrote {path.name}: {path.stat().st_size / 2**30:.2f} GiB in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    cmd = [sys.executable, "-m", "rmapsim", "run", str(path), "--mem", a.mem, "--json"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        return out.returncode
    import json
    d = json.loads(out.stdout)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**10
    print(f"{d['references']:,} references ({path.stat().st_size / 2**30:.2f} GiB zstd) on "
          f"{a.mem}: {wall:.0f} s, {d['references'] / wall / 1e6:.2f} M refs/s, "
          f"peak RSS {peak:.0f} MiB; faults {d['faults']:,}, swap-outs {d['swap_outs']:,}, "
          f"integrity errors {d['integrity_errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
