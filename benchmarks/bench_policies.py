#!/usr/bin/env python
"""References per second for every reclaim policy on one trace, against clock and libCacheSim.

Run by hand (not a test):

    python benchmarks/bench_policies.py                    # 2M refs, Zipf(1.0) over 200k pages
    python benchmarks/bench_policies.py --refs 1e7 --pages 1e6 --kernel

The trace is bench_replay.py's (an oracleGeneral file cached under benchmarks/data/). Every
policy replays it in cache mode with frames = 10% of its distinct pages (``--kernel`` adds a
kernel-mode row per policy on the modern machine), warm (a small run compiles first), best of
``--repeat``. Where libCacheSim has the same algorithm it runs on the same file in the same
process, so its rate and misses stand next to ours. The ``x clock`` column is the policy's
rate over clock's: the issue's bound is that no policy is more than 3x slower than clock.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_replay import bench_traces, machine_info, trace_args  # noqa: E402

# rmapsim policy -> libCacheSim constructor name and keyword arguments
PEERS = {"fifo": ("FIFO", {}), "lru": ("LRU", {}), "clock": ("Clock", {"init_freq": 1}),
         "opt": ("Belady", {}), "arc": ("ARC", {}), "lirs": ("LIRS", {}),
         "s3fifo": ("S3FIFO", {}), "sieve": ("Sieve", {}), "clock-pro": ("ClockPro", {})}


def bench_peer(path: Path, frames: int, policy: str, repeat: int):
    try:
        import libcachesim as lcs
    except ImportError:
        return None
    name, kw = PEERS[policy]
    best = None
    for _ in range(repeat):
        reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE,
                                 lcs.ReaderInitParam(ignore_obj_size=True))
        cache = getattr(lcs, name)(frames, **kw)
        t0 = time.perf_counter()
        miss_ratio, _ = cache.process_trace(reader)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    n = reader.n_read_req
    return dict(rate=n / best, misses=int(round(miss_ratio * n)))


def bench_policy(path: Path, warm: Path, policy: str, repeat: int, **kw):
    import rmapsim
    rmapsim.run(str(warm), policy=policy, **kw)
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        d = rmapsim.run(str(path), policy=policy, **kw).to_dict()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return dict(rate=d["references"] / best, misses=d["misses"], faults=d["faults"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    trace_args(ap, 2_000_000, 200_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--policies", default=None, help="comma-separated (default: all)")
    ap.add_argument("--kernel", action="store_true", help="also time kernel mode")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    from rmapsim.mm.vmscan import POLICIES
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    path, meta, warm, frames = bench_traces(a, log)
    names = a.policies.split(",") if a.policies else list(POLICIES)
    if "clock" not in names:
        names.insert(0, "clock")
    rows = []
    for p in names:
        log(f"{p} ...")
        row = dict(policy=p, kind=POLICIES[p].KIND,
                   cache=bench_policy(path, warm, p, a.repeat, frames=frames, cache_mode=True))
        if a.kernel:
            row["kernel"] = bench_policy(path, warm, p, a.repeat, mem=f"{frames * 5 // 4 * 4}K")
        if p in PEERS:
            row["libcachesim"] = bench_peer(path, frames, p, a.repeat)
        rows.append(row)
    clock = next(r for r in rows if r["policy"] == "clock")["cache"]["rate"]
    for r in rows:
        r["x_clock"] = r["cache"]["rate"] / clock
    res = dict(machine=machine_info(), trace=meta, frames=frames, rows=rows)
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"trace {path.name}: {meta['refs']:,} refs, {meta['distinct_pages']:,} distinct pages; "
          f"cache mode, {frames:,} frames")
    head = f"{'policy':<12} {'kind':<9} {'M refs/s':>9} {'x clock':>8} {'misses':>10} " \
           f"{'lcs M refs/s':>12} {'lcs misses':>10}" + ("  kernel M refs/s" if a.kernel else "")
    print(head)
    for r in rows:
        peer = r.get("libcachesim") or {}
        line = (f"{r['policy']:<12} {r['kind']:<9} {r['cache']['rate'] / 1e6:>9.2f} "
                f"{r['x_clock']:>8.2f} {r['cache']['misses']:>10,} "
                f"{peer['rate'] / 1e6 if peer else float('nan'):>12.2f} "
                f"{peer.get('misses', '-'):>10}")
        if a.kernel:
            line += f"  {r['kernel']['rate'] / 1e6:>15.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
