#!/usr/bin/env python
"""Generation speed of scenario files (docs/scenario-format.md): references per second.

Run by hand (not a test):

    python benchmarks/bench_scenario.py                    # 100 M references, masim-like file
    python benchmarks/bench_scenario.py --refs 1e7         # quicker
    python benchmarks/bench_scenario.py --builtin x11-486 --refs 1e8   # a built-in, scaled up
    python benchmarks/bench_scenario.py --json

What it does: generates the scenario's events chunk by chunk (``Scenario.chunks``: a few million
events at a time, as ``rmapsim scenario -o`` writes them) and counts them, without writing
them anywhere, so the figure is the generator's alone. The default workload is a masim-style
file written by this script: four processes forked by init, each with a 64 MiB anonymous
region and a shared file mapping, running phases of Zipf, hot/cold, uniform, sequential, stride
and loop patterns with read/write mixes, in time slices of 4,000 references. ``--builtin NAME``
times a built-in scenario instead, at the scale that gives about ``--refs`` references (the
built-ins cut their runs into much smaller slices, so they plan more per reference).
The requirement (the issue): 100 M references in under a minute.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rmapsim.scenarios import SCENARIOS, load_scenario  # noqa: E402

MASIM = """
[scenario]
name = "bench"
description = "masim-like: four processes, big regions, long phases of every pattern"
slice = 4000
run = 2

[params]
per_proc = "round({refs} / 4)"

[[files]]
name = "data"
pages = 16384

[[processes]]
name = "init"
phases = [ {{ fork = "worker", count = 4, wait = true }} ]

[[processes]]
name = "worker"
mappings = [ {{ name = "heap", pages = 16384, write = true }},
             {{ name = "shm", file = "data", shared = true, write = true }} ]
phases = [
  {{ repeat = 10, phases = [
    {{ refs = "per_proc * 0.05", access = [
                  {{ region = "heap", pattern = "zipf", alpha = 1.0, weight = 4, write = 0.3 }},
                  {{ region = "shm", pattern = "hotcold", hot = 0.1, hot_prob = 0.9, write = 0.1 }},
                  {{ region = "heap", pattern = "uniform", first = 8192, weight = 1 }} ] }},
    {{ pattern = "sequential", region = "heap", write = 1.0, refs = "per_proc * 0.02" }},
    {{ pattern = "stride", region = "shm", stride = 16, refs = "per_proc * 0.01" }},
    {{ pattern = "loop", region = "heap", count = 2048, refs = "per_proc * 0.01" }},
    {{ pattern = "zipf", region = "shm", alpha = 0.8, refs = "per_proc * 0.01" }},
  ] }},
]
"""


def measure(sc, scale=1.0, seed=1):
    t0 = time.perf_counter()
    events = refs = 0
    for chunk in sc.chunks(seed, scale):
        events += len(chunk)
        refs += int((chunk["op"] <= 1).sum())
    dt = time.perf_counter() - t0
    return {"scenario": sc.name, "scale": scale, "events": events, "references": refs,
            "seconds": round(dt, 2), "refs_per_s": round(refs / dt)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=float, default=1e8, help="references to generate (1e8)")
    ap.add_argument("--builtin", metavar="NAME", help="time a built-in scenario instead")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.builtin:
        sc = SCENARIOS[a.builtin]
        one = measure(sc, 1.0, a.seed)          # references per unit of scale
        scale = min(100.0, a.refs / one["references"])
        r = measure(sc, scale, a.seed)
    else:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bench.toml")
            with open(path, "w") as f:
                f.write(MASIM.format(refs=int(a.refs)))
            r = measure(load_scenario(path), 1.0, a.seed)
    if a.json:
        print(json.dumps(r))
    else:
        print(f"{r['scenario']} (scale {r['scale']:g}): {r['references']:,} references, "
              f"{r['events']:,} events in {r['seconds']:.2f} s = "
              f"{r['refs_per_s'] / 1e6:.2f} M references/s")


if __name__ == "__main__":
    main()
