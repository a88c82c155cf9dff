#!/usr/bin/env python
"""Instructions per replay, two source trees side by side, counted by valgrind's callgrind: a
measure of a hot-path change that the wall clock of a shared 2-core machine (+-30% from run to
run) cannot give.

Run by hand (not a test; about 3 minutes per tree):

    python benchmarks/bench_instructions.py OLD_TREE NEW_TREE [--mode kernel|cache]
        [--refs 100000] [--policy clock] [--rmap pte-chain]

``git worktree add /tmp/old REV`` makes an old tree. Each tree replays the same Zipf(1.2)
page trace over 20,000 pages on 2,000 frames once unmeasured (its compiled code is then in its
own cache, ``XDG_CACHE_HOME`` per tree) and once with callgrind's instrumentation switched on
around ``rmapsim.run`` only (``--instr-atstart=no`` and ``callgrind_control -i``). Reported:
all instructions of the measured run, and those in numba's compiled code (callgrind's
anonymous ``???:0x...`` functions), which exclude the run's fixed Python set-up.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r'''
import os, sys, time
tree, mode, n, policy, rmap, flag = sys.argv[1:7]
sys.path.insert(0, tree)
import numpy as np, rmapsim
from rmapsim.trace import from_pages
pages = (np.random.default_rng(7).zipf(1.2, int(n)) % 20000).astype(np.int64)
kw = dict(frames=2000, policy=policy, cache_mode=mode == "cache", rmap=rmap)
rmapsim.run(from_pages(pages[:2000]), **kw)
print("READY", flush=True)
while not os.path.exists(flag):
    time.sleep(0.1)
r = rmapsim.run(from_pages(pages), **kw)
print("DONE", r["misses"], flush=True)
while os.path.exists(flag):
    time.sleep(0.1)
'''


def _wait_for(path: Path, word: str, proc) -> str:
    while True:
        text = path.read_text() if path.exists() else ""
        if word in text:
            return text
        if proc.poll() is not None:
            sys.exit(f"bench_instructions: the replay exited early:\n{text}")
        time.sleep(0.5)


def measure(tree: str, a, work: Path) -> dict:
    name = Path(tree).resolve().name
    env = dict(os.environ, XDG_CACHE_HOME=str(work / f"cache-{name}"))
    child = work / "child.py"
    child.write_text(CHILD)
    flag, log, out = work / f"flag-{name}", work / f"log-{name}", work / f"cg-{name}"
    args = [tree, a.mode, str(a.refs), a.policy, a.rmap, str(flag)]
    with open(log, "w") as f:
        p = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                              f"--callgrind-out-file={out}", sys.executable, str(child), *args],
                             stdout=f, stderr=subprocess.STDOUT, env=env)
    _wait_for(log, "READY", p)
    subprocess.run(["callgrind_control", "-i", "on", str(p.pid)], capture_output=True)
    flag.touch()
    done = _wait_for(log, "DONE", p)
    subprocess.run(["callgrind_control", "-i", "off", str(p.pid)], capture_output=True)
    flag.unlink()
    p.wait()
    ann = subprocess.run(["callgrind_annotate", "--threshold=100", str(out)],
                         capture_output=True, text=True).stdout
    total = jit = 0
    for line in ann.splitlines():
        m = re.match(r"\s*([\d,]+) \(", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = n
        elif "???:0x" in line:
            jit += n
    misses = int(re.search(r"DONE (\d+)", done).group(1))
    return {"tree": tree, "total": total, "compiled": jit, "misses": misses}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--mode", choices=("kernel", "cache"), default="kernel")
    p.add_argument("--refs", type=int, default=100_000)
    p.add_argument("--policy", default="clock")
    p.add_argument("--rmap", default="pte-chain")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        rows = [measure(t, a, Path(d)) for t in (a.old, a.new)]
    old, new = rows
    if old["misses"] != new["misses"]:
        print(f"note: the trees disagree on misses ({old['misses']} / {new['misses']})")
    print(f"{a.refs:,} references, {a.mode} mode, {a.policy}, {a.rmap}")
    print(f"{'tree':40s} {'instructions':>14s} {'compiled code':>14s}")
    for r in rows:
        print(f"{r['tree']:40s} {r['total']:>14,} {r['compiled']:>14,}")
    print(f"{'new / old':40s} {new['total'] / old['total']:>14.3f} "
          f"{new['compiled'] / old['compiled']:>14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
