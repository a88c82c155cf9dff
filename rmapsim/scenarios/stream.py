"""stream: a reader passes over a file much larger than RAM while a small working set must
survive.

A nightly job (``grep`` over a log archive, then a ``cp`` of it for a backup) streams a 128 MiB
file on the local disk, four times the 32 MiB of RAM, through the page cache (read(2) modelled
as short mmap windows: the file's pages end up in the page cache, unmapped, each read once per
pass); the copy also writes a second file of the same size, dirty pages that reclaim must write
back. Meanwhile an interactive program -- an editor or a small database: text shared with
libc, a 4 MiB heap whose hot 2 MiB it touches every few milliseconds -- keeps working. A
policy that lets the use-once stream push the working set out makes the interactive program
fault over and over; one that recognises the stream keeps it.

Sizes (4 KiB pages), assumptions: libc 300 text pages (glibc), the program 60 text pages and a
1024-page heap (hot set 512 pages, Zipf within it, plus a uniform cold rest); the big file
32768 pages; between two windows of the stream (``WINDOW`` pages) the interactive program
makes ``BURST`` runs of references. Passes: ``grep`` reads the file twice (two patterns), then
``cp`` reads it once more and writes the copy. About 1.8 M references at scale 1; ``scale``
scales the file (and so the length of the run), not the working set.

Default machine: ``modern`` preset with 32 MiB.
"""
from __future__ import annotations

import numpy as np

from rmapsim.scenarios._common import Gen, Image, Region, read_into, scaled, write_out
from rmapsim.trace.events import DEV_DISK

NAME = "stream"
DESCRIPTION = ("a reader streams a 128 MiB file (4x RAM) twice, then copies it, while an "
               "interactive program's 2 MiB hot working set must stay in memory")
DEFAULTS = {"machine": "modern", "mem": "32M"}

FILE_PAGES = 32768
WINDOW = 16
BURST = 60
LIBC = Image("libc", 1, 300, 8, 6, DEV_DISK)
APP = Image("app", 2, 60, 4, 2, DEV_DISK)
GREP = Image("grep", 3, 20, 1, 1, DEV_DISK)
CP = Image("cp", 4, 8, 1, 1, DEV_DISK)
BIG_FID, COPY_FID = 10, 11
HEAP, HOT = 1024, 512

STACK = ("stack", 1, 0.6, 0.5)
APP_MIX = [("text", 3, 0, 1.0), ("libc", 2, 0, 1.2), ("hot", 8, 0.3, 0.6), ("heap", 0.5, 0.2, 0),
           STACK]
READER = [("text", 3, 0, 1.0), ("libc", 2, 0, 1.2), ("heap", 1, 0.3, 0.5), STACK]


def generate(seed: int = 1, scale: float = 1.0) -> np.ndarray:
    g = Gen(seed)
    file_pages = scaled(FILE_PAGES, scale, least=4 * WINDOW)
    for img in (LIBC, APP, GREP, CP):
        g.image(img)
    g.file(BIG_FID, file_pages, DEV_DISK)
    g.file(COPY_FID, file_pages, DEV_DISK)

    pids = iter(range(2, 1 << 30))
    init = g.spawn_init(1)
    g.exec(init, APP, (LIBC,), heap=8, fresh=True)
    app = g.fork(init, next(pids))
    g.exec(app, APP, (LIBC,), heap=HEAP, stack=8)
    g.seq(app, "heap", 0, HEAP, write=True)             # loads its data
    heap = app.regions["heap"]
    app.regions["hot"] = Region(heap.base, HOT, True, g.rng.permutation(HOT))
    g.touch(app, APP_MIX, 3000)

    def stream(reader, copy_to=None):
        for first in range(0, file_pages, WINDOW):
            n = min(WINDOW, file_pages - first)
            read_into(g, reader, BIG_FID, first, n, dest="heap" if copy_to else None,
                      window=WINDOW)
            g.touch(reader, READER, 8)
            if copy_to:
                write_out(g, reader, copy_to, first, n, src="heap", window=WINDOW)
            g.touch(app, APP_MIX, BURST)

    for _ in range(2):
        grep = g.fork(init, next(pids))
        g.exec(grep, GREP, (LIBC,), heap=16)
        stream(grep)
        g.exit(grep)
    cp = g.fork(init, next(pids))
    g.exec(cp, CP, (LIBC,), heap=WINDOW)
    stream(cp, copy_to=COPY_FID)
    g.exit(cp)
    g.touch(app, APP_MIX, 3000)
    g.exit(app)
    return g.array()
