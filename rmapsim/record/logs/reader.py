"""One log as a stream of events: ``LogReader``.

Between the header lines (``==pid==`` and ``--pid:1:``) are lackey's reference lines
(``I  addr,size``, `` L``, `` S``, `` M``) and the system call trace (``SYSCALL[pid,tid](nr)
name ( args ) --> result``, some results on a later line). References are parsed by the compiled
lackey kernel of ``rmapsim.trace.pagetraces``; the few other lines, by Python.
"""
from __future__ import annotations

import numpy as np

from rmapsim.record.logs.state import Files, Proc, Stats
from rmapsim.record.logs.syscalls import Syscalls
from rmapsim.trace.events import EVENT_DTYPE, OP_FILE, OP_MMAP, OP_WRITE
from rmapsim.trace.lexer import E_FULL, E_OK
from rmapsim.trace.pagetraces import lackey_kernel

BLOCK = 1 << 22                 # bytes read at a time
CHUNK = 1 << 18                 # events per yielded chunk (at most)


class LogReader(Syscalls):
    """The events of one log, appended to by references (compiled) and system calls (Python)."""

    def __init__(self, path: str, pid: int, proc: Proc, files: Files, stats: Stats,
                 children: dict, instructions: bool):
        self.path, self.pid, self.proc, self.files = path, pid, proc, files
        self.stats, self.children, self.instructions = stats, children, instructions
        self.pending = {}           # tid -> (name, args) of a system call awaiting its result
        self.last = None            # the last system call line's (name, args), for ' --> ...'
        self.declared = set()       # file ids this stream has declared with a FILE event
        self.overflow = []
        self._fresh()

    def _fresh(self):
        self.ev = np.zeros(CHUNK, EVENT_DTYPE)
        self.op, self.pids, self.addr = self.ev["op"], self.ev["pid"], self.ev["addr"]
        self.lines = np.zeros(CHUNK, np.int64)
        self.n = 0
        self.seg = 0                # first reference not yet checked against the mappings

    # ---- events ---------------------------------------------------------------------------
    def emit(self, op, addr=0, length=0, fid=0, pgoff=0, flags=0, arg=0, pid=None):
        if op == OP_MMAP and fid and fid not in self.declared:
            self.declared.add(fid)
            self.emit(OP_FILE, length=self.files.pages[fid], fid=fid, pid=0)
        self.check()
        if self.n == CHUNK:
            self.overflow.append(self.ev[:self.n].copy())
            self.n = self.seg = 0
        self.ev[self.n] = (op, flags, 0, self.pid if pid is None else pid, addr, length, fid,
                           arg, pgoff)
        self.n += 1
        self.seg = self.n

    def check(self):
        """Drop the references since the last mapping change that fall outside every mapping
        or write to a read-only one (the simulator would kill the process for them)."""
        s, n = self.seg, self.n
        if n > s:
            self.stats.refs += n - s
            starts, ends, writable = self.proc.arrays()
            addr = self.addr[s:n]
            if len(starts):
                idx = np.searchsorted(starts, addr, side="right").astype(np.int64) - 1
                safe = np.maximum(idx, 0)
                inside = (idx >= 0) & (addr < ends[safe])
                ok = inside & ((self.op[s:n] != OP_WRITE) | writable[safe])
            else:
                inside = ok = np.zeros(n - s, bool)
            k = int(ok.sum())
            if k != n - s:
                self.stats.outside += int((~inside).sum())
                self.stats.ro_writes += int((inside & ~ok).sum())
                self.ev[s:s + k] = self.ev[s:n][ok]
                self.n = s + k
        self.seg = self.n

    # ---- the stream ------------------------------------------------------------------------
    def chunks(self):
        """Yield event chunks: what was emitted before, then the log's body."""
        lineno = 1
        with open(self.path, "rb") as f:
            tail = b""
            while True:
                data = f.read(BLOCK)
                eof = len(data) < BLOCK
                buf = tail + data if tail else data
                if eof:
                    tail = b""
                else:
                    cut = buf.rfind(b"\n") + 1
                    buf, tail = buf[:cut], buf[cut:]
                a = np.frombuffer(buf, np.uint8)
                pos, end = 0, len(a)
                while pos < end:
                    n, pos, lineno, err = lackey_kernel(a, pos, end, self.op, self.pids, self.addr,
                                                        self.lines, self.n, CHUNK, lineno,
                                                        self.instructions)
                    self.n = n
                    if err != E_OK and err != E_FULL:       # a line for Python
                        stop = buf.find(b"\n", pos)
                        stop = end if stop < 0 else stop
                        self.line(buf[pos:stop].decode("utf-8", "replace"), lineno)
                        pos, lineno = stop + 1, lineno + 1
                    if self.n >= CHUNK - 4 or (err == E_FULL and self.n) or self.overflow:
                        self.check()
                        yield from self._flush()
                if eof:
                    break
        self.check()
        yield from self._flush()

    def _flush(self):
        out, self.overflow = self.overflow, []
        if self.n:
            out.append(self.ev[:self.n])
            self._fresh()
        for c in out:
            c["pid"][c["op"] <= OP_WRITE] = self.pid       # the kernel leaves references' pid 0
            yield c
