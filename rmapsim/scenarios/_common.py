"""Building blocks of the scenarios: programs and libraries as files, processes as sets of
mapped regions, references drawn by popularity, and a round-robin scheduler of tasks.

Everything is driven by one seeded ``numpy.random.Generator`` and plain Python control flow in
a fixed order, so a scenario with the same seed and scale gives the same events, byte for byte.

Address-space layout follows an ELF process on i386 Linux of 1997 (all below 3 GiB, so every
trace replays on the i386 geometry): the program's text at 0x08048000, its data right after,
then bss and the brk heap; shared libraries from 0x40000000 (text, then data, then bss); other
mmaps (files, shared memory) from 0x60000000; the stack ending at 0xC0000000.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from rmapsim.sim.demo import _Events
from rmapsim.trace.events import (MAP_FILE, MAP_SHARED, OP_EXEC, OP_EXIT, OP_FILE, OP_FORK,
                                  OP_MMAP, OP_MUNMAP, PAGE_SIZE, PROT_WRITE)

PROG_BASE = 0x0804_8000
LIB_BASE = 0x4000_0000
MMAP_BASE = 0x6000_0000
STACK_TOP = 0xC000_0000
READ_WINDOW = 0xA000_0000      # where read(2) and write(2) are modelled as short mmaps
WRITE_WINDOW = 0xA800_0000
_ORDER = np.zeros(1, np.int64)


def kb(n: float) -> int:
    """Pages holding ``n`` KiB (at least one)."""
    return max(1, int(round(n * 1024 / PAGE_SIZE)))


def mb(n: float) -> int:
    return kb(n * 1024)


def scaled(n: float, scale: float, least: int = 1) -> int:
    return max(least, int(round(n * scale)))


@functools.lru_cache(maxsize=None)
def _cdf(n: int, alpha: float) -> np.ndarray:
    cdf = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** -alpha)
    return cdf / cdf[-1]


def zipf(rng, n: int, size: int, alpha: float) -> np.ndarray:
    """``size`` ranks in 0..n-1, rank r with probability ~ 1/(r+1)**alpha (alpha 0: uniform)."""
    if alpha == 0:
        return rng.integers(0, n, size)
    return np.minimum(np.searchsorted(_cdf(n, float(alpha)), rng.random(size), side="right"),
                      n - 1)


@dataclass(frozen=True)
class Image:
    """An executable or a shared library: a file of ``text`` pages then ``data`` pages (mapped
    private and writable: written pages are copied on write), followed in memory by ``bss``
    anonymous pages. The file sits on device ``dev``."""
    name: str
    fid: int
    text: int
    data: int
    bss: int
    dev: int

    @property
    def pages(self) -> int:
        return self.text + self.data


@dataclass
class Region:
    base: int
    pages: int
    writable: bool
    order: np.ndarray          # popularity: order[rank] = page; hot pages first


@dataclass
class Proc:
    pid: int
    regions: dict = field(default_factory=dict)
    next_mmap: int = MMAP_BASE

    def fork(self, pid: int) -> "Proc":
        return Proc(pid, dict(self.regions), self.next_mmap)


class Gen(_Events):
    """The event list of a scenario, with its generator and popularity orders."""

    def __init__(self, seed: int):
        super().__init__()
        self.rng = np.random.default_rng(seed)
        self.orders = {}           # fid -> popularity order of the file's pages (shared by all)
        self.files = {}            # fid -> pages

    # ---- files and processes --------------------------------------------------------------
    def file(self, fid: int, pages: int, dev: int) -> None:
        assert fid >= 1 and fid not in self.files, fid
        self.files[fid] = pages
        self.one(OP_FILE, file=fid, length=pages, arg=dev)

    def image(self, img: Image) -> None:
        self.file(img.fid, img.pages, img.dev)

    def _order(self, fid, lo, n):
        """A popularity order of the file pages lo..lo+n-1, the same in every process."""
        key = (fid, lo, n)
        if key not in self.orders:
            self.orders[key] = self.rng.permutation(n)
        return self.orders[key]

    def mmap(self, p: Proc, name: str, addr: int, pages: int, *, fid: int = 0, pgoff: int = 0,
             shared: bool = False, write: bool = False, order=None) -> Region:
        flags = (MAP_SHARED if shared else 0) | (MAP_FILE if fid else 0) | (PROT_WRITE if write else 0)
        self.one(OP_MMAP, p.pid, addr, pages * PAGE_SIZE, file=fid, pgoff=pgoff, flags=flags)
        if order is None:
            order = self._order(fid, pgoff, pages) if fid else self.rng.permutation(pages)
        r = Region(addr, pages, write, order)
        p.regions[name] = r
        return r

    def munmap(self, p: Proc, name: str) -> None:
        r = p.regions.pop(name)
        self.one(OP_MUNMAP, p.pid, r.base, r.pages * PAGE_SIZE)

    def mmap_next(self, p: Proc, name: str, pages: int, **kw) -> Region:
        """An mmap in the process's mmap area (addresses are not reused)."""
        r = self.mmap(p, name, p.next_mmap, pages, **kw)
        p.next_mmap += (pages + 1) * PAGE_SIZE
        assert p.next_mmap < READ_WINDOW
        return r

    def spawn_init(self, pid: int = 1) -> Proc:
        return Proc(pid)

    def fork(self, parent: Proc, pid: int) -> Proc:
        self.one(OP_FORK, parent.pid, arg=pid)
        return parent.fork(pid)

    def exit(self, p: Proc) -> None:
        self.one(OP_EXIT, p.pid)
        p.regions = {}

    def exec(self, p: Proc, prog: Image, libs=(), heap: int = 8, stack: int = 4,
             fresh: bool = False) -> None:
        """execve(): a new address space with the program, its libraries (as ld.so maps them),
        a heap of ``heap`` pages after the bss and a stack; then start-up: ld.so reads the
        libraries' first pages and writes their data (relocations: copy-on-write), the program
        zeroes part of its bss and touches its stack."""
        if not fresh:
            self.one(OP_EXEC, p.pid)
        p.regions = {}
        p.next_mmap = MMAP_BASE
        a = PROG_BASE
        self.mmap(p, "text", a, prog.text, fid=prog.fid)
        a += prog.text * PAGE_SIZE
        self.mmap(p, "data", a, prog.data, fid=prog.fid, pgoff=prog.text, write=True)
        a += prog.data * PAGE_SIZE
        self.mmap(p, "heap", a, prog.bss + heap, write=True, order=np.arange(prog.bss + heap))
        a = LIB_BASE
        for lib in libs:
            self.mmap(p, lib.name, a, lib.text, fid=lib.fid)
            a += lib.text * PAGE_SIZE
            self.mmap(p, lib.name + ".data", a, lib.data, fid=lib.fid, pgoff=lib.text, write=True)
            a += lib.data * PAGE_SIZE
            if lib.bss:
                self.mmap(p, lib.name + ".bss", a, lib.bss, write=True)
                a += lib.bss * PAGE_SIZE
            a += PAGE_SIZE                      # a guard gap between libraries
        self.mmap(p, "stack", STACK_TOP - stack * PAGE_SIZE, stack, write=True,
                  order=np.arange(stack)[::-1].copy())
        # start-up
        self.seq(p, "stack", 0, min(stack, 2), write=True)
        for lib in libs:
            self.touch(p, [(lib.name, 1, 0.0, 1.0)], max(4, lib.text // 8))
            self.seq(p, lib.name + ".data", 0, lib.data, write=True)
        self.touch(p, [("text", 1, 0.0, 1.0)], max(4, prog.text // 4))
        half = (prog.data + 1) // 2
        self.seq(p, "data", 0, half, write=True)
        self.seq(p, "data", half, prog.data - half)
        self.seq(p, "heap", 0, min(prog.bss + heap, prog.bss + 2), write=True)

    # ---- references ------------------------------------------------------------------------
    def touch(self, p: Proc, mix, runs: int, run_len: float = 4.0) -> int:
        """``runs`` runs of references of process ``p``; each run picks a region of ``mix`` (a
        list of (region, weight, write fraction, Zipf alpha)) by weight and a page of it by
        popularity, and references it about ``run_len`` times (a loop over an object).
        Returns the number of references."""
        rng = self.rng
        if runs <= 0:
            return 0
        w = np.array([m[1] for m in mix], np.float64)
        which = np.searchsorted(np.cumsum(w / w.sum()), rng.random(runs), side="right")
        which = np.minimum(which, len(mix) - 1)
        addrs = np.empty(runs, np.uint64)
        wfrac = np.empty(runs, np.float64)
        for k, (name, _w, wf, alpha) in enumerate(mix):
            sel = which == k
            n = int(sel.sum())
            if not n:
                continue
            r = p.regions[name]
            assert wf == 0 or r.writable, (p.pid, name)
            pg = r.order[zipf(rng, r.pages, n, alpha)]
            addrs[sel] = np.uint64(r.base) + pg.astype(np.uint64) * np.uint64(PAGE_SIZE)
            wfrac[sel] = wf
        reps = rng.geometric(1 / run_len, runs) if run_len > 1 else np.ones(runs, np.int64)
        addrs = np.repeat(addrs, reps)
        wfrac = np.repeat(wfrac, reps)
        n = len(addrs)
        addrs += (rng.integers(0, PAGE_SIZE // 8, n) * 8).astype(np.uint64)
        self.refs(p.pid, addrs, rng.random(n) < wfrac)
        return n

    def seq(self, p: Proc, name: str, first: int, count: int, write=False, per_page: int = 1):
        """References to pages first..first+count-1 of a region in address order (a memset,
        memcpy or a sequential read), ``per_page`` references each."""
        r = p.regions[name]
        count = min(count, r.pages - first)
        if count <= 0:
            return 0
        pages = np.repeat(np.arange(first, first + count, dtype=np.uint64), per_page)
        offs = np.tile(np.arange(per_page, dtype=np.uint64) * np.uint64(PAGE_SIZE // per_page),
                       count)
        addrs = np.uint64(r.base) + pages * np.uint64(PAGE_SIZE) + offs
        self.refs(p.pid, addrs, np.full(len(addrs), bool(write)))
        return len(addrs)


class Scheduler:
    """Round-robin over tasks (generators that emit one time slice per step). A task may
    ``spawn`` others; a finished task leaves the run queue."""

    def __init__(self):
        self.queue = []

    def spawn(self, task) -> None:
        self.queue.append(task)

    def run(self) -> None:
        while self.queue:
            task = self.queue.pop(0)
            try:
                next(task)
            except StopIteration:
                continue
            self.queue.append(task)


def count_refs(events: np.ndarray) -> int:
    return int((events["op"] <= 1).sum())


def read_into(g: Gen, p: Proc, fid: int, first: int, count: int, dest: str | None = None,
              dest_first: int = 0, window: int = 16, write_dest: bool = True) -> None:
    """read(2) of file pages first..first+count-1 as the page cache sees it: each window of
    ``window`` pages is mapped (private, read-only), read in order and unmapped again, so the
    file's pages stay in the page cache unmapped; with ``dest`` each page read is copied into
    that region of the process (its pages from ``dest_first``, wrapping)."""
    done = 0
    while done < count:
        n = min(window, count - done)
        r = g.mmap(p, "_read", READ_WINDOW, n, fid=fid, pgoff=first + done, order=_ORDER)
        addrs = np.uint64(r.base) + np.arange(n, dtype=np.uint64) * np.uint64(PAGE_SIZE)
        g.refs(p.pid, addrs, np.zeros(n, bool))
        if dest is not None:
            d = p.regions[dest]
            pg = (dest_first + done + np.arange(n)) % d.pages
            g.refs(p.pid, np.uint64(d.base) + pg.astype(np.uint64) * np.uint64(PAGE_SIZE),
                   np.full(n, write_dest))
        g.munmap(p, "_read")
        done += n


def write_out(g: Gen, p: Proc, fid: int, first: int, count: int, src: str | None = None,
              window: int = 16) -> None:
    """write(2) of file pages first..first+count-1 through the page cache: each window is
    mapped shared and writable, written in order (dirtying the file's pages, which reclaim or
    the end of the file's use writes back) and unmapped; with ``src`` each page is first read
    from that region."""
    done = 0
    while done < count:
        n = min(window, count - done)
        if src is not None:
            s = p.regions[src]
            pg = (done + np.arange(n)) % s.pages
            g.refs(p.pid, np.uint64(s.base) + pg.astype(np.uint64) * np.uint64(PAGE_SIZE),
                   np.zeros(n, bool))
        r = g.mmap(p, "_write", WRITE_WINDOW, n, fid=fid, pgoff=first + done, shared=True,
                   write=True, order=_ORDER)
        addrs = np.uint64(r.base) + np.arange(n, dtype=np.uint64) * np.uint64(PAGE_SIZE)
        g.refs(p.pid, addrs, np.ones(n, bool))
        g.munmap(p, "_write")
        done += n
