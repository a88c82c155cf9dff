"""build: a parallel build, ``make -j4`` of a C program -- fork/exec/exit churn.

Modelled on building a mid-size C program with gcc 2.7/2.8 in 1997-1999: for each source file
make forks a shell, which execs the ``gcc`` driver; the driver forks and execs ``cpp`` (reads
the source and the headers it includes, writes the preprocessed ``.i`` to /tmp), then ``cc1``
(reads the ``.i``, builds its trees in a heap that grows by obstack as it goes, writes the
assembler ``.s``), then ``as`` (reads the ``.s``, writes the ``.o``); each exits in turn and the
driver and shell follow. ``JOBS`` compilations run at once, interleaved in time slices. At the
end ``ld`` reads every ``.o`` and writes the executable. Every process lives a fraction of a
second; almost every one is born by fork + exec and dies by exit, and the written files are
dirty page cache that reclaim must write back.

Sizes (4 KiB pages) -- assumptions stated, from the sizes of the binaries of a gcc 2.7.2 /
binutils 2.8 installation and typical C sources:

===============  ======  ==========================================================
image            text    notes
===============  ======  ==========================================================
libc             145     libc.so.5 (disk), 6 data pages
make             30      GNU make 3.76, heap 60 pages (the dependency graph)
sh (bash)        70      heap 25 pages
gcc              20      the driver, heap 8 pages
cpp              25      heap 40 pages (macro tables, include stack)
cc1              300     ~1.2 MB; heap log-normal, median 1 MiB, at most 4 MiB
as               45      heap 30 pages (symbol table)
ld               60      heap 80 pages + the output
headers          60      files of 1-12 pages; each cpp reads 10-40 of them (Zipf)
sources          -       log-normal, median 4 pages (16 KB), at most 40
.i / .s / .o     -       3x / 2x / 1x the source's pages
===============  ======  ==========================================================

Default machine: ``modern`` preset with 12 MiB (a 1998 developer's box). ``COMPILES`` (x scale)
compilations, about 2 M references at scale 1; six processes per compilation.
"""
from __future__ import annotations

import numpy as np

from rmapsim.scenarios._common import (Gen, Image, Region, read_into, scaled, write_out, zipf)
from rmapsim.trace.events import DEV_DISK

NAME = "build"
DESCRIPTION = ("a parallel build (make -j4 with gcc: sh, gcc, cpp, cc1, as per file, then ld): "
               "short-lived processes, fork/exec/exit churn, written files")
DEFAULTS = {"machine": "modern", "mem": "12M"}

JOBS = 4
COMPILES = 150
SLICE = 150                        # runs of references per time slice
LIBC = Image("libc", 1, 145, 6, 4, DEV_DISK)
MAKE = Image("make", 2, 30, 2, 2, DEV_DISK)
SH = Image("sh", 3, 70, 3, 2, DEV_DISK)
GCC = Image("gcc", 4, 20, 1, 1, DEV_DISK)
CPP = Image("cpp", 5, 25, 1, 1, DEV_DISK)
CC1 = Image("cc1", 6, 300, 8, 4, DEV_DISK)
AS = Image("as", 7, 45, 2, 1, DEV_DISK)
LD = Image("ld", 8, 60, 2, 1, DEV_DISK)
IMAGES = (LIBC, MAKE, SH, GCC, CPP, CC1, AS, LD)
HEADERS, HEADER_FID0 = 60, 100
SRC_FID0, I_FID0, S_FID0, O_FID0, EXE_FID = 1000, 3000, 5000, 7000, 9000

STACK = ("stack", 1, 0.6, 0.5)
PROG = [("text", 4, 0, 1.0), ("libc", 2, 0, 1.2), ("heap", 3, 0.4, 0.9), STACK]
CC1_WORK = [("text", 5, 0, 0.9), ("libc", 1, 0, 1.2), ("live", 5, 0.35, 1.0), STACK]


def generate(seed: int = 1, scale: float = 1.0) -> np.ndarray:
    g = Gen(seed)
    rng = g.rng
    n = scaled(COMPILES, scale)
    src = np.clip(np.round(rng.lognormal(np.log(4), 0.8, n)), 1, 40).astype(int)
    cc1_heap = np.clip(np.round(rng.lognormal(np.log(256), 0.6, n)), 64, 1024).astype(int)
    hdr = rng.integers(1, 13, HEADERS)
    for img in IMAGES:
        g.image(img)
    for h in range(HEADERS):
        g.file(HEADER_FID0 + h, int(hdr[h]), DEV_DISK)
    for i in range(n):
        s = int(src[i])
        g.file(SRC_FID0 + i, s, DEV_DISK)
        g.file(I_FID0 + i, 3 * s, DEV_DISK)
        g.file(S_FID0 + i, 2 * s, DEV_DISK)
        g.file(O_FID0 + i, s, DEV_DISK)
    exe_pages = int(src.sum())
    g.file(EXE_FID, exe_pages, DEV_DISK)

    pids = iter(range(2, 1 << 30))
    init = g.spawn_init(1)
    g.exec(init, SH, (LIBC,), heap=25, fresh=True)      # the user's shell
    make = g.fork(init, next(pids))
    g.exec(make, MAKE, (LIBC,), heap=60)
    g.seq(make, "heap", 0, 60, write=True)              # reads the Makefile, builds the graph
    g.touch(make, PROG, 400)

    def run(p, mix, runs):
        """``runs`` runs of p in slices, yielding between them."""
        while runs > 0:
            k = min(SLICE, runs)
            g.touch(p, mix, k)
            runs -= k
            yield

    def child(parent, img, heap):
        c = g.fork(parent, next(pids))
        g.exec(c, img, (LIBC,), heap=heap)
        return c

    def compile_job(i):
        s = int(src[i])
        sh = child(make, SH, 25)
        yield from run(sh, PROG, 60)
        gcc = child(sh, GCC, 8)
        yield from run(gcc, PROG, 80)
        # cpp: the source and its headers in, the .i out
        cpp = child(gcc, CPP, 40)
        read_into(g, cpp, SRC_FID0 + i, 0, s, dest="heap")
        for h in np.unique(zipf(rng, HEADERS, int(rng.integers(10, 41)), 1.0)):
            read_into(g, cpp, HEADER_FID0 + int(h), 0, int(hdr[h]), dest="heap")
            yield from run(cpp, PROG, 20)
        yield from run(cpp, PROG, 40 * s)
        write_out(g, cpp, I_FID0 + i, 0, 3 * s, src="heap")
        g.exit(cpp)
        yield from run(gcc, PROG, 10)
        # cc1: the .i in, a growing heap, the .s out
        cc1 = child(gcc, CC1, int(cc1_heap[i]))
        heap = cc1.regions["heap"]
        steps = 10
        for k in range(steps):
            read_into(g, cc1, I_FID0 + i, (3 * s * k) // steps,
                      (3 * s * (k + 1)) // steps - (3 * s * k) // steps)
            used = max(1, heap.pages * (k + 1) // steps)
            g.seq(cc1, "heap", heap.pages * k // steps, used - heap.pages * k // steps,
                  write=True)
            cc1.regions["live"] = Region(heap.base, used, True, np.arange(used)[::-1].copy())
            yield from run(cc1, CC1_WORK, 25 * s + 80)
        write_out(g, cc1, S_FID0 + i, 0, 2 * s, src="heap")
        g.exit(cc1)
        yield from run(gcc, PROG, 10)
        # as: the .s in, the .o out
        as_ = child(gcc, AS, 30)
        read_into(g, as_, S_FID0 + i, 0, 2 * s, dest="heap")
        yield from run(as_, PROG, 30 * s)
        write_out(g, as_, O_FID0 + i, 0, s, src="heap")
        g.exit(as_)
        g.exit(gcc)
        yield from run(sh, PROG, 10)
        g.exit(sh)

    pending = list(range(n))
    running = []
    while pending or running:
        while pending and len(running) < JOBS:
            g.touch(make, PROG, 30)
            running.append(compile_job(pending.pop(0)))
        for job in list(running):
            try:
                next(job)
            except StopIteration:
                running.remove(job)
                g.touch(make, PROG, 20)
    # link
    ld = child(make, LD, 80 + exe_pages)
    for i in range(n):
        read_into(g, ld, O_FID0 + i, 0, int(src[i]), dest="heap", dest_first=80)
        g.touch(ld, PROG, 20)
    write_out(g, ld, EXE_FID, 0, exe_pages, src="heap")
    g.exit(ld)
    g.exit(make)
    return g.array()
