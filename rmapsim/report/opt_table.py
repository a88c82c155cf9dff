"""Misses of every policy as a multiple of opt's, on the scenarios and on the real traces.

    python -m rmapsim.report.opt_table [--data DIR] [--jobs N] [-o FILE.md]

Belady's MIN (``opt``) is the floor on misses (faults that bring a page into memory) at a given
memory size, so ``misses / opt's`` says how far a policy is from what any policy could do.
Workloads:

- every built-in scenario, in kernel mode on its own machine preset and memory size (minor
  faults on pages still in memory are left out: no reclaim policy causes them);
- every real trace of the test data directory (``--data``; the libCacheSim sample, the LIRS
  traces and the SPEC2000 page traces), in cache mode with frames = 10% of the trace's
  distinct pages (at least 8), as libCacheSim counts misses.

Runs are independent and go to a pool of ``--jobs`` processes; the table does not depend on
their order. A workload whose file is missing is left out, and the table says so.
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path("/work/shared/data")
TRACES = ("libcachesim/cloudPhysicsIO.oracleGeneral.bin", "lirs/*.trace.gz", "spec2000/*.pages.gz")


def workloads(data: Path) -> tuple[list[tuple], list[str]]:
    """[(label, kind, source, options)], and the patterns that matched no file."""
    from rmapsim.scenarios import SCENARIOS
    out = [(name, "scenario", name, {}) for name in SCENARIOS]
    missing = []
    for pattern in TRACES:
        files = sorted(data.glob(pattern))
        if not files:
            missing.append(str(data / pattern))
        for f in files:
            out.append((f.name.split(".")[0], "trace", str(f), {}))
    return out, missing


def _distinct_pages(path: str) -> int:
    from rmapsim.trace import open_trace
    seen = np.empty(0, np.uint64)
    for refs in open_trace(path).ref_chunks():
        seen = np.union1d(seen, refs >> np.uint64(1))
    return len(seen)


def _misses(job) -> tuple[str, str, int, int]:
    label, kind, source, policy = job
    import rmapsim
    if kind == "scenario":
        from rmapsim.scenarios import SCENARIOS, scenario_trace
        d = SCENARIOS[source].DEFAULTS
        r = rmapsim.run(scenario_trace(source), policy=policy, machine=d.get("machine", "modern"),
                        mem=d.get("mem"))
        size = r.machine.frames
    else:
        size = max(8, _distinct_pages(source) // 10)
        r = rmapsim.run(source, policy=policy, frames=size, cache_mode=True)
    return label, policy, size, r.counters["misses"]


def table(data: Path = DEFAULT_DATA, jobs: int = 2, policies=None, log=None) -> str:
    from rmapsim.mm.vmscan import POLICIES
    names = list(policies or POLICIES)
    if "opt" not in names:
        names.append("opt")
    work, missing = workloads(data)
    todo = [(label, kind, src, p) for label, kind, src, _ in work for p in names]
    misses, sizes = {}, {}
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for label, policy, size, n in pool.map(_misses, todo):
            misses[label, policy] = n
            sizes[label] = size
            if log:
                log(f"{label:>14} {policy:<12} {n:>10,}")
    labels = [w[0] for w in work]
    head = "| policy | kind | " + " | ".join(labels) + " |"
    lines = [head, "|" + "---|" * (len(labels) + 2)]
    for p in names:
        cells = [f"{misses[lb, p] / misses[lb, 'opt']:.2f}" if misses[lb, 'opt'] else "-"
                 for lb in labels]
        lines.append(f"| {p} | {POLICIES[p].KIND} | " + " | ".join(cells) + " |")
    lines.append("| *opt misses* | | " + " | ".join(f"{misses[lb, 'opt']:,}" for lb in labels) + " |")
    lines.append("| *frames* | | " + " | ".join(f"{sizes[lb]:,}" for lb in labels) + " |")
    if missing:
        lines.append("")
        lines.append("Not found, left out: " + ", ".join(missing))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rmapsim.report.opt_table",
                                 description="misses of every policy relative to opt")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="test data directory")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--policies", default=None, help="comma-separated (default: all)")
    ap.add_argument("-o", "--output", help="write the markdown table here")
    a = ap.parse_args(argv)
    from rmapsim.fileio import write_atomic
    text = table(a.data, a.jobs, a.policies.split(",") if a.policies else None,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    if a.output:
        write_atomic(a.output, text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
