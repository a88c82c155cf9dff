"""prefork: a pre-forking web server, hundreds of processes sharing most of their pages.

Modelled on Apache 1.3's prefork model (its defaults: ``MaxClients 256``,
``MaxRequestsPerChild`` to recycle children; static files served by mmap). The parent maps
httpd and libc, builds its configuration in a ~1.2 MB heap (module tables, MIME types, virtual
hosts), maps a shared anonymous scoreboard and forks ``CHILDREN`` children that inherit all of
it copy-on-write. Each request goes to a random child, which runs httpd and libc code, reads
the inherited configuration (rarely writing to it: a copy-on-write fault), allocates its
request pool in a private 32 KiB arena, updates its scoreboard slot, mmaps the requested
document, reads it, unmaps it, and appends a line to the access log (a shared writable page of
the log file, written back by reclaim). A child that has served ``MAX_REQUESTS`` requests exits
and the parent forks a replacement.

Sizes (4 KiB pages) -- assumptions stated, in the spirit of a late-1990s Linux web server:

==================  =====  =====  ============================================================
item                pages  dev    notes
==================  =====  =====  ============================================================
libc                300    disk   glibc 2.0 text ~1.2 MB, data 8 pages
httpd               100    disk   Apache 1.3 with the usual modules ~400 KB text, 10 data pages
parent heap         300    anon   configuration, inherited by every child (shared COW)
scoreboard          16     shm    MAP_SHARED anonymous, written by every child
child pool          8      anon   per child, private
documents           1500   disk   sizes log-normal, median 2 pages, max 256; ~24 MiB in all;
                                  popularity Zipf (alpha 0.8)
access log          ~120   disk   one page per ``LOG_PER_PAGE`` requests
==================  =====  =====  ============================================================

On the default machine (``modern`` preset, x86-64 page tables, 24 MiB) the children's page
tables alone take ~10 MiB (about ten table pages each), and the documents, logs and private
pages push the rest: shared pages are mapped by hundreds of processes, so a reclaim that walks
page tables visits each shared page hundreds of times while a reverse-mapping one visits it
once per pte. ``REQUESTS`` (x scale) requests, about 1.3 M references at scale 1; the number of
children does not scale.
"""
from __future__ import annotations

import numpy as np

from rmapsim.scenarios._common import Gen, Image, kb, scaled, write_out, zipf
from rmapsim.trace.events import DEV_DISK, PAGE_SIZE

NAME = "prefork"
DESCRIPTION = ("a pre-forking web server (Apache 1.3 style): 256 children sharing httpd, libc "
               "and a 1.2 MB configuration heap copy-on-write, serving mmap'd documents")
DEFAULTS = {"machine": "modern", "mem": "24M"}

CHILDREN = 256
REQUESTS = 6000
MAX_REQUESTS = 15
LOG_PER_PAGE = 50
DOCS = 1500
LIBC = Image("libc", 1, 300, 8, 6, DEV_DISK)
HTTPD = Image("httpd", 2, 100, 10, 4, DEV_DISK)
PARENT_HEAP = 300
SCOREBOARD = 16
POOL = kb(32)
LOG_FID = 3
DOC_FID0 = 100

STACK = ("stack", 1, 0.5, 0.5)
SERVE = [("text", 5, 0, 1.0), ("libc", 3, 0, 1.1), ("heap", 3, 0.01, 0.9),
         ("pool", 3, 0.5, 0.3), STACK, ("libc.data", 0.2, 0.1, 0.5)]


def generate(seed: int = 1, scale: float = 1.0) -> np.ndarray:
    g = Gen(seed)
    rng = g.rng
    requests = scaled(REQUESTS, scale)
    doc_pages = np.minimum(np.maximum(1, np.round(rng.lognormal(np.log(2), 1.2, DOCS))), 256
                           ).astype(int)
    doc_rank = rng.permutation(DOCS)                    # popularity order of the documents
    g.image(LIBC)
    g.image(HTTPD)
    g.file(LOG_FID, requests // LOG_PER_PAGE + 1, DEV_DISK)
    for d in range(DOCS):
        g.file(DOC_FID0 + d, int(doc_pages[d]), DEV_DISK)

    parent = g.spawn_init(1)
    g.exec(parent, HTTPD, (LIBC,), heap=PARENT_HEAP, stack=8, fresh=True)
    g.seq(parent, "heap", 0, PARENT_HEAP, write=True)   # read the configuration
    g.touch(parent, SERVE[:3], 2000)
    g.mmap_next(parent, "scoreboard", SCOREBOARD, shared=True, write=True)
    g.seq(parent, "scoreboard", 0, SCOREBOARD, write=True)
    slot_page = lambda i: (i * SCOREBOARD) // CHILDREN  # noqa: E731

    pids = iter(range(2, 1 << 30))
    children = []

    def new_child(slot):
        c = g.fork(parent, next(pids))
        g.mmap_next(c, "pool", POOL, write=True)
        g.touch(c, [("text", 3, 0, 1.0), ("libc", 2, 0, 1.1), STACK], 30)
        return [c, slot, 0]

    for i in range(CHILDREN):
        children.append(new_child(i))

    sb = parent.regions["scoreboard"]
    log_page = 0
    for req in range(requests):
        k = int(rng.integers(CHILDREN))
        c, slot, served = children[k]
        g.touch(c, SERVE, int(rng.integers(20, 60)))
        g.refs(c.pid, np.array([sb.base + slot_page(slot) * PAGE_SIZE + 8 * slot], np.uint64),
               np.ones(1, bool))
        doc = int(doc_rank[zipf(rng, DOCS, 1, 0.8)[0]])
        n = int(doc_pages[doc])
        g.mmap_next(c, "doc", n, fid=DOC_FID0 + doc)
        g.seq(c, "doc", 0, n, per_page=2)
        g.munmap(c, "doc")
        g.touch(c, SERVE, 10)
        if req % LOG_PER_PAGE == 0 and req:
            log_page += 1
        write_out(g, c, LOG_FID, log_page, 1)
        served += 1
        if served >= MAX_REQUESTS:                      # recycle the child
            g.exit(c)
            children[k] = new_child(slot)
        else:
            children[k][2] = served
    for c, _slot, _n in children:
        g.exit(c)
    return g.array()
