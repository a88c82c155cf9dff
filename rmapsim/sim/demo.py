"""The built-in demo: a small multi-process machine under memory pressure, and its summary.

``demo_trace(seed)`` generates, deterministically (a seeded numpy ``Generator``), a native event
trace of a little Unix workload in the spirit of the seed's "X on my 8 meg 486 with nfs mounted
/usr":

- two files: ``libc`` (1 MiB, on NFS, as the seed's ``/usr``) and a shared data file (4 MiB, on
  the local disk);
- ``init`` (pid 1) maps libc private read-only, the data file ``MAP_SHARED`` read-write and a
  small anonymous heap that it fills, then forks the workers (pids 2..); each worker inherits
  those mappings (init's heap copy-on-write) and maps a heap of its own;
- each worker first fills its heap (a memset: every page a demand-zero fault), then runs in
  round-robin time slices: reads of library pages (a hot set and a cold tail), reads and writes
  of its heap (Zipf-like popularity), reads and writes of the shared data file;
- now and then a worker forks a child that either writes some of its parent's heap and exits
  (copy-on-write faults) or execs a small program that maps libc again, touches a heap of its
  own and exits;
- at the end every process but init exits.

The memory it touches (~24 MiB) is well over the demo machine's RAM (``DEMO_MEM``, 16 MiB), so
kswapd runs, anonymous pages go to swap and dirty pages of the shared file are written back.
Addresses are below 4 GiB, so the trace replays on the i386 geometry too.

``run_demo(...)`` replays it and returns the ``Result``; ``summary(result)`` gives the text the
``rmapsim demo`` command prints.
"""
from __future__ import annotations

import numpy as np

from rmapsim.trace import from_events
from rmapsim.trace.events import (DEV_DISK, DEV_NFS, EVENT_DTYPE, MAP_FILE, MAP_SHARED,
                                  OP_EXEC, OP_EXIT, OP_FILE, OP_FORK, OP_MMAP, OP_READ,
                                  OP_WRITE, PAGE_SIZE, PROT_WRITE)

DEMO_MEM = 16 << 20                     # RAM of the demo machine, bytes
DEMO_FRAMES = DEMO_MEM // PAGE_SIZE
DEMO_MACHINE = "modern"
DEMO_POLICY = "clock"

# the workload
WORKERS = 6
LIBC_FID, LIBC_PAGES = 1, 256           # 1 MiB shared library, on NFS
DATA_FID, DATA_PAGES = 2, 1024          # 4 MiB shared data file, on disk
INIT_HEAP_PAGES = 64
HEAP_PAGES = 768                        # 3 MiB heap per worker
EXEC_HEAP_PAGES = 16
ROUNDS = 120                            # time slices per worker
SLICE = 1000                            # runs of references per time slice
RUN = 4                                 # mean references per run (on one page)
FORK_CHANCE = 0.12                      # per slice: the worker forks a child
# address-space layout (page aligned, below 4 GiB)
INIT_HEAP = 0x0800_0000
HEAP = 0x1000_0000
LIBC = 0x4000_0000
DATA = 0x5000_0000
FIRST_CHILD_PID = 100


class _Events:
    """Event rows collected as arrays and joined once."""

    def __init__(self):
        self.parts = []

    def one(self, op, pid=0, addr=0, length=0, file=0, arg=0, pgoff=0, flags=0):
        a = np.zeros(1, EVENT_DTYPE)
        a[0] = (op, flags, 0, pid, addr, length, file, arg, pgoff)
        self.parts.append(a)

    def refs(self, pid, addrs, writes):
        a = np.zeros(len(addrs), EVENT_DTYPE)
        a["op"] = np.where(writes, OP_WRITE, OP_READ)
        a["pid"] = pid
        a["addr"] = addrs
        self.parts.append(a)

    def mmap(self, pid, addr, pages, file=0, shared=False, write=False):
        flags = (MAP_SHARED if shared else 0) | (MAP_FILE if file else 0) | (PROT_WRITE if write else 0)
        self.one(OP_MMAP, pid, addr, pages * PAGE_SIZE, file=file, flags=flags)

    def array(self):
        return np.concatenate(self.parts)


def _zipf(rng, n, size, alpha):
    """``size`` ranks in 0..n-1, rank r drawn with probability ~ 1/(r+1)**alpha."""
    cdf = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** -alpha)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), n - 1)


def _addrs(rng, base, pages):
    """Byte addresses in the given pages of a mapping at ``base``, at a random aligned word."""
    words = rng.integers(0, PAGE_SIZE // 8, len(pages)) * 8
    return np.uint64(base) + np.asarray(pages, np.uint64) * np.uint64(PAGE_SIZE) + words.astype(np.uint64)


def demo_events(seed: int = 1) -> np.ndarray:
    """The demo workload as an ``EVENT_DTYPE`` array (see the module docstring)."""
    rng = np.random.default_rng(seed)
    e = _Events()
    e.one(OP_FILE, file=LIBC_FID, length=LIBC_PAGES, arg=DEV_NFS)
    e.one(OP_FILE, file=DATA_FID, length=DATA_PAGES, arg=DEV_DISK)

    # init: the library, the shared file and a heap it fills
    init = 1
    e.mmap(init, LIBC, LIBC_PAGES, file=LIBC_FID)
    e.mmap(init, DATA, DATA_PAGES, file=DATA_FID, shared=True, write=True)
    e.mmap(init, INIT_HEAP, INIT_HEAP_PAGES, write=True)
    e.refs(init, _addrs(rng, LIBC, np.arange(32)), np.zeros(32, bool))
    e.refs(init, _addrs(rng, INIT_HEAP, np.arange(INIT_HEAP_PAGES)), np.ones(INIT_HEAP_PAGES, bool))

    workers = list(range(2, 2 + WORKERS))
    for w in workers:
        e.one(OP_FORK, init, arg=w)
        e.mmap(w, HEAP, HEAP_PAGES, write=True)

    # popularity: each worker its own order of heap pages; one order of library and data pages
    heap_order = {w: rng.permutation(HEAP_PAGES) for w in workers}
    lib_order = rng.permutation(LIBC_PAGES)
    data_order = rng.permutation(DATA_PAGES)

    # start-up: each worker runs the library's start-up code and fills its heap
    for w in workers:
        e.refs(w, _addrs(rng, LIBC, np.arange(32)), np.zeros(32, bool))
        e.refs(w, _addrs(rng, HEAP, np.arange(HEAP_PAGES)), np.ones(HEAP_PAGES, bool))

    next_pid = FIRST_CHILD_PID
    for _ in range(ROUNDS):
        for w in workers:
            # SLICE runs of references, each run on one page (a loop over an object)
            kind = rng.random(SLICE)
            lib = kind < 0.30
            data = kind >= 0.85
            heap = ~lib & ~data
            pages = np.empty(SLICE, np.int64)
            base = np.empty(SLICE, np.uint64)
            pages[lib] = lib_order[_zipf(rng, LIBC_PAGES, int(lib.sum()), 1.2)]
            base[lib] = LIBC
            pages[heap] = heap_order[w][_zipf(rng, HEAP_PAGES, int(heap.sum()), 1.1)]
            base[heap] = HEAP
            pages[data] = data_order[_zipf(rng, DATA_PAGES, int(data.sum()), 1.0)]
            base[data] = DATA
            run = rng.geometric(1 / RUN, SLICE)
            pages, base, heap, data = (np.repeat(x, run) for x in (pages, base, heap, data))
            n = len(pages)
            writes = (heap & (rng.random(n) < 0.5)) | (data & (rng.random(n) < 0.3))
            addrs = base + pages.astype(np.uint64) * np.uint64(PAGE_SIZE) \
                + (rng.integers(0, PAGE_SIZE // 8, n) * 8).astype(np.uint64)
            e.refs(w, addrs, writes)
            if rng.random() < FORK_CHANCE:
                child, next_pid = next_pid, next_pid + 1
                e.one(OP_FORK, w, arg=child)
                if rng.random() < 0.5:
                    # a helper: reads and writes some of the parent's hot heap, then exits
                    n = 200
                    pg = heap_order[w][_zipf(rng, HEAP_PAGES, n, 0.9)]
                    e.refs(child, _addrs(rng, HEAP, pg), rng.random(n) < 0.4)
                else:
                    # fork + exec of a small program: its own libc mapping and heap
                    e.one(OP_EXEC, child)
                    e.mmap(child, LIBC, LIBC_PAGES, file=LIBC_FID)
                    e.mmap(child, HEAP, EXEC_HEAP_PAGES, write=True)
                    pg = lib_order[_zipf(rng, LIBC_PAGES, 300, 1.2)]
                    e.refs(child, _addrs(rng, LIBC, pg), np.zeros(300, bool))
                    pg = rng.integers(0, EXEC_HEAP_PAGES, 200)
                    e.refs(child, _addrs(rng, HEAP, pg), rng.random(200) < 0.5)
                e.one(OP_EXIT, child)
    for w in workers:
        e.one(OP_EXIT, w)
    return e.array()


def demo_trace(seed: int = 1):
    """The demo workload as an in-memory ``Trace``."""
    return from_events(demo_events(seed))


def run_demo(*, seed: int = 1, check: bool = False, policy: str = DEMO_POLICY,
             machine: str = DEMO_MACHINE, frames: int = DEMO_FRAMES, params=None,
             progress: bool = False):
    """Replay the demo trace on the demo machine; returns the ``Result``."""
    from rmapsim.sim.api import run
    result = run(demo_trace(seed), frames=frames, policy=policy, machine=machine, check=check,
                 params=params, progress=progress)
    result.trace = f"demo-seed{seed}"
    return result


# ---- the summary ---------------------------------------------------------------------------

def _n(x) -> str:
    return f"{int(x):,}"


def _per(a, b) -> str:
    return f"{a / b:.1f}" if b else "-"


def _s(ns) -> str:
    return f"{ns / 1e9:.3f} s"


def summary(result, seed: int = 1, checked: bool = False, machine: str = DEMO_MACHINE) -> tuple[list[str], list[tuple[str, list[tuple[str, str, str]]]], str]:
    """(header lines, sections of (label, value, note) rows, closing explanation) for a demo
    Result; ``print_summary`` renders them."""
    d = result.to_dict()
    m = result.machine
    ram = m.frames * PAGE_SIZE
    touched = (LIBC_PAGES + DATA_PAGES + INIT_HEAP_PAGES + WORKERS * HEAP_PAGES) * PAGE_SIZE
    children = d["forks"] - WORKERS
    header = [
        f"rmapsim demo (seed {seed}): {WORKERS} workers and their children on a "
        f"{ram / 2**20:g} MiB {m.geometry} machine (preset {machine}), reclaim policy "
        f"{result.policy}",
        f"init maps libc (1 MiB on NFS, private read-only), a 4 MiB data file (shared "
        f"read-write) and a heap, and forks {WORKERS} workers. Each fills a 3 MiB heap, then in "
        f"{ROUNDS} time slices reads libc and reads and writes its heap and the shared file. "
        f"The workers forked {children} children ({d['execs']} of them exec'd a small program); "
        f"at the end every process but init exits.",
        f"About {touched / 2**20:.0f} MiB of distinct pages for {ram / 2**20:g} MiB of RAM "
        f"({_n(m.frames)} frames, {m.kernel_reserved} kept by the kernel), "
        f"{m.swap_size * PAGE_SIZE / 2**20:g} MiB of swap.",
    ]
    refs = d["references"]
    freed = d["pages_freed"]
    direct_freed = freed - d["kswapd_pages_freed"]
    sections = [
        ("Work", [
            ("references", _n(refs), f"{_n(d['reads'])} reads, {_n(d['writes'])} writes"),
        ]),
        ("Faults", [
            ("faults", _n(d["faults"]), f"1 per {_per(refs, d['faults'])} references"),
            ("  minor (no I/O)", _n(d["minor_faults"]),
             f"{_n(d['pages_zeroed'])} zeroed, {_n(d['cow_faults'])} copy-on-write, "
             f"{_n(d['wp_reuse_faults'])} reused on write, {_n(d['zero_page_maps'])} zero-page maps"),
            ("  major (I/O)", _n(d["major_faults"]),
             f"{_n(d['swap_ins'])} swap-ins, {_n(d['file_reads'])} file reads "
             f"({_n(d['nfs_reads'])} over NFS)"),
        ]),
        ("Reclaim", [
            ("kswapd wake-ups", _n(d["kswapd_wakeups"]), "free memory fell below the low watermark"),
            ("direct reclaims", _n(d["direct_reclaims"]), "allocations that reclaimed for themselves"),
            ("pages scanned", _n(d["pages_scanned"]), f"{_per(d['pages_scanned'], freed)} per page freed"),
            ("ptes visited", _n(d["ptes_visited"]), f"{_per(d['ptes_visited'], freed)} per page freed"),
            ("pages freed", _n(freed),
             f"{_n(d['kswapd_pages_freed'])} by kswapd, {_n(direct_freed)} by direct reclaim"),
        ]),
        ("I/O", [
            ("swap-outs", _n(d["swap_outs"]), f"{_n(d['kswapd_swap_outs'])} by kswapd"),
            ("swap-ins", _n(d["swap_ins"]), ""),
            ("file reads", _n(d["file_reads"]), f"{_n(d['nfs_reads'])} over NFS"),
            ("writebacks", _n(d["writebacks"]),
             f"dirty file pages written, {_n(d['kswapd_writebacks'])} by kswapd"),
            ("OOM kills", _n(d["oom_kills"]), ""),
        ]),
        ("Simulated time", [
            ("total", _s(d["sim_time_ns"]), f"the {machine} preset's costs, one CPU, no overlap"),
            ("  processes", _s(d["process_time_ns"]),
             f"faults {_s(d['fault_time_ns'])}, direct reclaim {_s(d['direct_reclaim_time_ns'])}"),
            ("  kswapd", _s(d["kswapd_time_ns"]), ""),
        ]),
    ]
    if checked and result.violation is None:
        sections.append(("Check mode", [("integrity errors", "0", "every reference found what "
                                         "was last written there; all invariants held")]))
    elif result.violation:
        sections.append(("Check mode", [("integrity errors", _n(d["integrity_errors"]),
                                         result.violation)]))
    if d["direct_reclaims"]:
        who = (f"kswapd could not always keep up: {_n(d['direct_reclaims'])} allocations found "
               f"free memory at the min watermark and reclaimed for themselves")
    else:
        who = "kswapd alone kept free memory above the watermarks (no allocation had to reclaim)"
    how = ""
    if result.policy == "clock":
        how = (": the seed's page-centric clock tests a page once, through its pte chain, for "
               "all the processes that map it")
    meaning = (
        f"Memory is oversubscribed {touched / ram:.1f}x, so {1000 * d['major_faults'] / max(refs, 1):.1f} "
        f"references in 1000 wait for swap or a file read, and faults take "
        f"{d['fault_time_ns'] / max(d['sim_time_ns'], 1):.0%} of the simulated time. {who}, "
        f"scanning {_per(d['pages_scanned'], freed)} pages and visiting "
        f"{_per(d['ptes_visited'], freed)} ptes per page freed{how}."
        + (f" The OOM killer ran {d['oom_kills']} times." if d["oom_kills"] else ""))
    return header, sections, meaning


def print_summary(result, seed: int = 1, checked: bool = False, machine: str = DEMO_MACHINE,
                  file=None) -> None:
    """The demo's summary: rich tables on a terminal, plain text otherwise."""
    import sys
    import textwrap
    file = file or sys.stdout
    header, sections, meaning = summary(result, seed, checked, machine)
    if file.isatty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
        con = Console(file=file, highlight=False)
        con.print(header[0], style="bold", markup=False)
        con.print()
        for line in header[1:]:
            con.print(line, markup=False)
        con.print()
        t = Table(show_header=False, box=None, padding=(0, 1))
        t.add_column(style="bold")
        t.add_column(justify="right")
        t.add_column(style="dim")
        for title, rows in sections:
            t.add_row(Text(title, style="underline"), "", "")
            for row in rows:
                t.add_row(*(Text(x) for x in row))
        con.print(t)
        con.print()
        con.print(meaning, markup=False)
        return
    out = [header[0], ""] + [w for line in header[1:] for w in textwrap.wrap(line, 96)]
    width = max(len(r[0]) for _, rows in sections for r in rows)
    vwidth = max(len(r[1]) for _, rows in sections for r in rows)
    for title, rows in sections:
        out += ["", title]
        out += [f"  {a:<{width}}  {b:>{vwidth}}  {c}".rstrip() for a, b, c in rows]
    out += [""] + textwrap.wrap(meaning, 96)
    print("\n".join(out), file=file)
