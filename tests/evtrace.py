"""Building native event traces by hand in tests."""
import numpy as np

from rmapsim.trace import from_events
from rmapsim.trace.events import (EVENT_DTYPE, MAP_FILE, MAP_SHARED, OP_EXEC, OP_EXIT, OP_FILE,
                                  OP_FORK, OP_MMAP, OP_MUNMAP, OP_READ, OP_WRITE, PROT_WRITE)

P = 4096


class T:
    """A tiny builder: T().mmap(1, 0x10000, 4).w(1, 0x10000).fork(1, 2).trace()"""

    def __init__(self):
        self.rows = []

    def _add(self, **kw):
        self.rows.append(kw)
        return self

    def r(self, pid, addr):
        return self._add(op=OP_READ, pid=pid, addr=addr)

    def w(self, pid, addr):
        return self._add(op=OP_WRITE, pid=pid, addr=addr)

    def mmap(self, pid, addr, pages, file=0, shared=False, write=True, pgoff=0):
        flags = (MAP_SHARED if shared else 0) | (MAP_FILE if file else 0) | (PROT_WRITE if write else 0)
        return self._add(op=OP_MMAP, pid=pid, addr=addr, length=pages * P, file=file,
                         flags=flags, pgoff=pgoff)

    def munmap(self, pid, addr, pages):
        return self._add(op=OP_MUNMAP, pid=pid, addr=addr, length=pages * P)

    def fork(self, pid, child):
        return self._add(op=OP_FORK, pid=pid, arg=child)

    def exec(self, pid):
        return self._add(op=OP_EXEC, pid=pid)

    def exit(self, pid):
        return self._add(op=OP_EXIT, pid=pid)

    def file(self, fid, pages, dev=0):
        return self._add(op=OP_FILE, file=fid, length=pages, arg=dev)

    def array(self):
        a = np.zeros(len(self.rows), EVENT_DTYPE)
        for i, row in enumerate(self.rows):
            for k, v in row.items():
                a[i][k] = v
        return a

    def trace(self):
        return from_events(self.array())
