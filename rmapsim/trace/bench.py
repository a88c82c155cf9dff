"""Reader throughput: ``python -m rmapsim.trace.bench [N] [DIR]``.

Writes N (default 10,000,000) Zipf-ish page references in the txt, rwpages, lirs, oracleGeneral,
vscsi, native and text formats to DIR (default a temporary directory), then times a full
``chunks()`` pass of each (best of two, after a warm-up that compiles the kernels) and prints
references per second.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rmapsim.trace import from_pages, open_trace, write_trace
from rmapsim.trace.libcachesim_formats import ORACLE_GENERAL, VSCSI1


def make_files(n: int, root: Path) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    pages = (rng.zipf(1.2, n) % 5_000_000).astype(np.uint64) + np.uint64(0x10000)
    writes = rng.random(n) < 0.3
    files = {}
    dec = "\n".join(map(str, pages.tolist())) + "\n"
    for name, fname, body in (("txt", "t.txt", dec), ("lirs", "t.trace", dec)):
        (root / fname).write_text(body)
        files[name] = root / fname
    rw = np.where(writes, "W", "R")
    (root / "t.pages").write_text("".join(f"{o} {p:x}\n" for o, p in zip(rw, pages.tolist())))
    files["rwpages"] = root / "t.pages"
    og = np.zeros(n, ORACLE_GENERAL)
    og["id"], og["size"], og["next"] = pages, 4096, -1
    og.tofile(root / "t.oracleGeneral.bin")
    files["oracleGeneral"] = root / "t.oracleGeneral.bin"
    vs = np.zeros(n, VSCSI1)
    vs["lbn"], vs["cmd"], vs["ver"], vs["len"] = pages, np.where(writes, 0x2A, 0x28), 0x100, 512
    vs.tofile(root / "t.vscsi")
    files["vscsi"] = root / "t.vscsi"
    trace = from_pages(pages, writes)
    write_trace(root / "t.rmt", trace)
    files["native"] = root / "t.rmt"
    write_trace(root / "t.rmtxt", trace, format="text")
    files["text"] = root / "t.rmtxt"
    return files


def time_pass(path: Path) -> tuple[int, float]:
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        count = sum(len(c) for c in open_trace(path).chunks())
        best = min(best, time.perf_counter() - t0)
    return count, best


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 10_000_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(argv[1]) if len(argv) > 1 else Path(tmp)
        files = make_files(n, root)
        for name, path in files.items():
            count, seconds = time_pass(path)
            print(f"{name:14s} {count:>11,d} refs  {seconds:7.3f} s  {count / seconds / 1e6:7.1f} M refs/s"
                  f"  ({path.stat().st_size / seconds / 1e6:.0f} MB/s)")


if __name__ == "__main__":
    main()
