"""What the recorder keeps across the logs of one recording: the file ids (``Files``), each
process image's mappings, descriptors, working directory and brk (``Proc``), and the counts of
what was read and dropped (``Stats``).

Each process keeps what the simulator cannot see: its mappings (to check every reference falls
inside one, and writes inside a writable one: the simulator kills a process on a bad reference),
its file descriptors (for the file of an mmap), its working directory and its brk. A child gets a
copy of them at the fork.
"""
from __future__ import annotations

import bisect
import copy
import os

import numpy as np

from rmapsim.trace.events import PAGE_SIZE, PROT_WRITE


def _page_up(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def _page_down(x: int) -> int:
    return x & ~(PAGE_SIZE - 1)


class Files:
    """File ids of the whole recording: one id per file (device and inode when the file can be
    stat()ed, else its path or a synthetic key), the same in every process."""

    def __init__(self):
        self.ids: dict = {}
        self.pages: dict = {}

    def id_of(self, key, size_bytes: int = 0) -> int:
        fid = self.ids.get(key)
        if fid is None:
            fid = self.ids[key] = len(self.ids) + 1
            self.pages[fid] = (size_bytes + PAGE_SIZE - 1) // PAGE_SIZE
        return fid

    def id_of_path(self, path: str) -> int:
        try:
            st = os.stat(path)
        except OSError:
            return self.id_of(("path", path))
        return self.id_of(("inode", st.st_dev, st.st_ino), st.st_size)


class Proc:
    """What the recorder knows of one process image: mappings, descriptors, cwd, brk."""

    def __init__(self, cwd: str):
        self.vmas: list = []        # sorted [start, end, fid, pgoff, flags]
        self.fds: dict = {}         # fd -> file key ("path", p) / ("memfd", n) ...
        self.cwd = cwd
        self.brk = 0                # current end of the brk area (page aligned), 0 if unknown
        self._arrays = None

    def fork_copy(self) -> "Proc":
        p = copy.copy(self)
        p.vmas = [list(v) for v in self.vmas]
        p.fds = dict(self.fds)
        p._arrays = None
        return p

    # ---- mappings -----------------------------------------------------------------------------
    def unmap(self, start: int, end: int) -> None:
        out = []
        for v in self.vmas:
            s, e = v[0], v[1]
            if e <= start or s >= end:
                out.append(v)
                continue
            if s < start:
                out.append([s, start, v[2], v[3], v[4]])
            if e > end:
                pg = v[3] + ((end - s) >> 12) if v[2] else 0
                out.append([end, e, v[2], pg, v[4]])
        self.vmas = out
        self._arrays = None

    def map(self, start: int, end: int, fid: int, pgoff: int, flags: int) -> None:
        self.unmap(start, end)
        bisect.insort(self.vmas, [start, end, fid, pgoff, flags])
        self._arrays = None

    def vma_at(self, addr: int):
        i = bisect.bisect_right(self.vmas, [addr, 1 << 64]) - 1
        if i >= 0 and self.vmas[i][0] <= addr < self.vmas[i][1]:
            return self.vmas[i]
        return None

    def arrays(self):
        if self._arrays is None:
            v = self.vmas
            self._arrays = (np.array([x[0] for x in v], np.uint64),
                            np.array([x[1] for x in v], np.uint64),
                            np.array([bool(x[4] & PROT_WRITE) for x in v], bool))
        return self._arrays


class Stats:
    def __init__(self):
        self.refs = 0
        self.outside = 0          # references outside every mapping (dropped)
        self.ro_writes = 0        # writes to a read-only mapping (dropped)
        self.odd_lines = 0        # lines neither lackey's nor a system call's (skipped)
        self.forks = self.execs = self.mmaps = 0
        self.no_layout = 0        # process images whose startup layout did not reach us
