#!/usr/bin/env python
"""Compile time: a cold first run, a first run of a second policy, a user's policy file after an
edit, and a warm start, each a fresh `rmapsim run` process (CPU seconds, user + system, of the
process and its children).

Run by hand (not a test):

    python benchmarks/bench_compile.py            # prints a table; --json for JSON

1. cold: an empty NUMBA_CACHE_DIR, `rmapsim run SMALL --frames 64 --cache-mode` (clock): the
   kernel and one policy compile;
2. second policy: the same cache, `--policy arc`: arc's hooks compile, the kernel is loaded;
3. user policy: `--policy` a copy of docs/examples/twoq.py, first run; then the file edited
   (a constant changed) and run again: the policy alone recompiles;
4. warm: clock again, everything loaded from the cache.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(args, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "rmapsim", *args], cwd=REPO, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"bench_compile: rmapsim {' '.join(args)} failed: {p.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rmapsim-bench-compile."))
    try:
        trace = work / "small.txt"
        trace.write_text("".join(f"{(i * 7919) % 500}\n" for i in range(20000)))
        user = work / "twoq.py"
        user.write_text((REPO / "docs" / "examples" / "twoq.py").read_text())
        env = dict(os.environ, NUMBA_CACHE_DIR=str(work / "cache"))
        base = ["run", str(trace), "--frames", "64", "--cache-mode"]
        rows = [("cold (kernel + clock)", _run(base, env)),
                ("second policy (arc)", _run(base + ["--policy", "arc"], env)),
                ("user policy, first run", _run(base + ["--policy", str(user)], env))]
        user.write_text(user.read_text().replace('(0.25, "A1in', '(0.30, "A1in'))
        rows.append(("user policy, after an edit", _run(base + ["--policy", str(user)], env)))
        rows.append(("warm (clock)", _run(base, env)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        print(json.dumps({k: v for k, v in rows}, indent=1))
        return
    print(f"{'run':30s} {'CPU s':>8s} {'wall s':>8s}")
    for name, r in rows:
        print(f"{name:30s} {r['cpu_seconds']:8.2f} {r['wall_seconds']:8.2f}")


if __name__ == "__main__":
    main()
