"""Turn the per-process valgrind logs of one recording into per-process event streams.

A recording runs ``valgrind -d --tool=lackey --trace-mem=yes --trace-syscalls=yes
--trace-children=yes --log-file=DIR/log.%p.%n``, so every process image writes its own log:

- the *root* log of the first process, and one log per successful ``execve`` (valgrind starts
  afresh in the same pid, with a new log); these *exec logs* begin (``-d``) with aspacem's
  "Memory layout at client startup": the executable, ld.so, the stack and the initial brk page,
  which valgrind's own loader maps and no system call shows;
- one *fork log* per child of a ``clone``/``fork``/``vfork`` (valgrind turns vfork into fork): it
  continues the parent's image in the child's pid, until an ``execve`` or the end.

Between the header lines (``==pid==`` and ``--pid:1:``) are lackey's reference lines
(``I  addr,size``, `` L``, `` S``, `` M``) and the system call trace (``SYSCALL[pid,tid](nr)
name ( args ) --> result``, some results on a later line). References are parsed by the compiled
lackey kernel of ``rmapsim.trace.pagetraces``; the few other lines, by Python.

Each process keeps what the simulator cannot see: its mappings (to check every reference falls
inside one, and writes inside a writable one: the simulator kills a process on a bad reference),
its file descriptors (for the file of an mmap), its working directory and its brk. A child gets a
copy of them at the fork.
"""
from __future__ import annotations

import bisect
import copy
import os
import re

import numpy as np

from rmapsim.trace.events import (EVENT_DTYPE, MAP_FILE, MAP_SHARED, OP_FILE,
                                  OP_FORK, OP_MMAP, OP_MUNMAP, OP_WRITE, PAGE_SIZE, PROT_WRITE)
from rmapsim.trace.lexer import E_FULL, E_OK
from rmapsim.trace.pagetraces import lackey_kernel

BLOCK = 1 << 22                 # bytes read at a time
CHUNK = 1 << 18                 # events per yielded chunk (at most)
AT_FDCWD = 4294967196           # -100 as valgrind prints it
MAP_SHARED_BITS = 0x03          # MAP_SHARED (1) or MAP_SHARED_VALIDATE (3)
MAP_ANONYMOUS = 0x20
F_DUPFD, F_DUPFD_CLOEXEC = 0, 1030

# whole lines only: valgrind's debug log writes a long line in pieces, and the pieces of two
# processes can interleave on the shared stderr; a line broken that way matches neither
_SEG_FILE = re.compile(r"aspacem +\d+: +(file|FILE) +([0-9a-f]+)-([0-9a-f]+) +\S+ +(\S{5}) +"
                       r"d=0x([0-9a-f]+) +i=(\d+) +o=(\d+) +\((\d+),\d+\)$")
_SEG_ANON = re.compile(r"aspacem +\d+: +(anon|ANON|RSVN) +([0-9a-f]+)-([0-9a-f]+) +\S+ +(\S{5})"
                       r"(?: +(Sm\w+))?$")
_SEG_ANY = re.compile(r"aspacem +\d+: ")
_NAME = re.compile(r"aspacem +\((\d+),\d+,\d+\) (.*)$")
_CALL = re.compile(r"SYSCALL\[(\d+),(\d+)\]\((\d+)\) (.*)$")
_RESULT = re.compile(r"(Success|Failure)\(0x([0-9a-f]+)\)")
_CHILD = re.compile(r"created child (\d+)")
_PATH_ARG = re.compile(r"0x[0-9a-f]+\((.*)\)")


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


_SYMS = re.compile(r"--\d+-- Reading syms from (.*?)\s*$")
_AVMA = re.compile(r"--\d+-- +svma 0x([0-9a-f]+), avma 0x([0-9a-f]+)")
_BODY = re.compile(rb"^(?:SYSCALL\[|I  [0-9a-f]|\s[LSM] [0-9a-f])")


def read_head(path: str, limit: int = 1 << 20):
    """From the start of a log, up to the first reference or system call: ``(pid, command,
    objects)``, ``objects`` the ELF files valgrind's loader mapped, as ``(path, bias)`` (from
    ``-v -v``'s "Reading syms from PATH" and "svma S, avma A": the file is loaded at A - S)."""
    pid, command, objects, current = None, "", [], None
    with open(path, "rb") as f:
        head = f.read(limit)
    for raw in head.split(b"\n"):
        if _BODY.match(raw):
            break
        line = raw.decode("utf-8", "replace")
        if pid is None:
            m = re.match(r"==(\d+)==", line)
            if m:
                pid = int(m.group(1))
        if "== Command: " in line and not command:
            command = line.split("== Command: ", 1)[1]
        m = _SYMS.match(line)
        if m:
            current = m.group(1)
            continue
        m = _AVMA.match(line)
        if m and current is not None:
            if "/valgrind/" not in current:         # the tool's own image is not the client's
                objects.append((current, int(m.group(2), 16) - int(m.group(1), 16)))
            current = None
    return pid, command, objects


def elf_segments(path: str, bias: int):
    """The PT_LOAD segments of the ELF file ``path`` loaded at ``bias``, as valgrind's loader
    maps them: ``(start, end, file_offset, writable)`` for the file part and ``(start, end,
    None, True)`` for the anonymous rest (bss) of a segment whose memory exceeds its file."""
    import struct
    try:
        with open(path, "rb") as f:
            hdr = f.read(64)
            if hdr[:4] != b"\x7fELF" or hdr[4] != 2 or hdr[5] != 1:
                return []
            phoff, = struct.unpack_from("<Q", hdr, 32)
            phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return []
    out = []
    for k in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", table, k * phentsize)
        if p_type != 1 or p_memsz == 0:
            continue
        start = _page_down(bias + p_vaddr)
        file_end = _page_up(bias + p_vaddr + p_filesz)
        mem_end = _page_up(bias + p_vaddr + p_memsz)
        writable = bool(p_flags & 2)
        if file_end > start:
            out.append((start, file_end, _page_down(p_offset), writable))
        if mem_end > max(file_end, start):
            out.append((max(file_end, start), mem_end, None, True))
    return out


class Layouts:
    """The client's memory layout at the start of every process image, from valgrind's debug log
    (``-d``: aspacem's "Memory layout at client startup", printed before the client runs). The
    debug log goes to the process's stderr, not to its log file: the recorder reads valgrind's
    stderr through a pipe, hands ``feed`` the lines starting ``--PID:`` and passes the rest on.
    ``by_pid[pid]`` lists the layouts of pid's images in order, each ``(segments, names)``."""

    _DEBUG = re.compile(r"--(\d+):\d+:")

    def __init__(self):
        self.by_pid: dict = {}
        self._open: dict = {}        # pid -> (segments, names) being read
        self.broken = 0              # layout lines garbled on the shared stderr (lost)
        self.raw: list = []          # the aspacem lines, for save()

    @classmethod
    def load(cls, path: str) -> "Layouts":
        """The layouts of a file of saved debug lines (``save``)."""
        lay = cls()
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                lay.feed(line)
        lay.finish()
        return lay

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(self.raw)

    def finish(self) -> None:
        for pid in list(self._open):
            self.by_pid.setdefault(pid, []).append(self._open.pop(pid))

    def feed(self, line: str) -> bool:
        """Take a line of valgrind's stderr; False if it is not a debug line (pass it on)."""
        m = self._DEBUG.match(line)
        if m is None:
            return False
        pid = int(m.group(1))
        if "aspacem" not in line:
            return True
        self.raw.append(line if line.endswith("\n") else line + "\n")
        cur = self._open.get(pid)
        if "SHOW_SEGMENTS: Memory layout at client startup" in line:
            if cur is not None:
                self.by_pid.setdefault(pid, []).append(cur)
            self._open[pid] = ([], {})
            return True
        if cur is None:
            return True
        segs, names = cur
        if "aspacem >>>" in line:
            self.by_pid.setdefault(pid, []).append(self._open.pop(pid))
            return True
        n = _NAME.search(line)
        if n:
            names[int(n.group(1))] = n.group(2)
            return True
        line = line.rstrip()
        g = _SEG_FILE.search(line)
        if g:
            kind, lo, hi, perms, dev, ino, off, nm = g.groups()
            segs.append((kind, int(lo, 16), int(hi, 16) + 1, perms, "", int(dev, 16), int(ino),
                         int(off), int(nm)))
            return True
        g = _SEG_ANON.search(line)
        if g:
            kind, lo, hi, perms, extra = g.groups()
            segs.append((kind, int(lo, 16), int(hi, 16) + 1, perms, extra or "", None, None, 0,
                         None))
        elif _SEG_ANY.search(line):
            self.broken += 1
        return True


def common_layout(layout):
    """From a -d startup layout, the parts that are the same in every process image of a
    recording: the stack (the anonymous segment under the 'SmUpper' reservation, which valgrind
    grows into, so the whole reservation) and client pages inside valgrind's own image (the
    redirection trampoline). Returns ``[(start, end, key_or_None, pgoff, writable)]``."""
    segs = layout[0] if layout else []
    out = []
    for k, (kind, lo, hi, perms, extra, dev, ino, off, nm) in enumerate(segs):
        if kind == "anon" and k and segs[k - 1][0] == "RSVN" and segs[k - 1][4] == "SmUpper" \
                and segs[k - 1][2] == lo:
            out.append((segs[k - 1][1], hi, None, 0, True))
        elif kind == "file" and lo >= VALGRIND_BASE:
            out.append((lo, hi, ("inode", dev, ino, layout[1].get(nm, "")), off >> 12,
                        perms[1] == "w"))
    return out


# amd64-linux valgrind's fixed places: its own image at 0x58000000 and above, the client stack
# at the top of the 128 GiB client space (used when no -d layout reached us)
VALGRIND_BASE = 0x58000000
DEFAULT_COMMON = [(0x1fff001000 - (8 << 20), 0x1fff001000, None, 0, True)]


def layout_events(proc: Proc, objects, common, files: Files, emit) -> None:
    """MMAP events for what valgrind's loader maps before the client runs, which no system call
    shows: the executable and ld.so (``objects``: their ELF segments at their load bias), the
    stack and the trampoline page (``common``). The brk area is left to the first brk calls."""
    for path, bias in objects:
        fid = files.id_of_path(path)
        for start, end, off, writable in elf_segments(path, bias):
            flags = PROT_WRITE if writable else 0
            if off is None:
                proc.map(start, end, 0, 0, flags)
                emit(OP_MMAP, start, end - start, 0, 0, flags)
            else:
                proc.map(start, end, fid, off >> 12, flags | MAP_FILE)
                emit(OP_MMAP, start, end - start, fid, off >> 12, flags | MAP_FILE)
    for start, end, key, pgoff, writable in common:
        flags = PROT_WRITE if writable else 0
        if key is None:
            proc.map(start, end, 0, 0, flags)
            emit(OP_MMAP, start, end - start, 0, 0, flags)
        else:
            kind, dev, ino, path = key
            try:
                st = os.stat(path)
            except OSError:
                st = None
            if st is not None and (st.st_dev, st.st_ino) == (dev, ino):
                fid = files.id_of(("inode", dev, ino), st.st_size)
            else:
                fid = files.id_of(("inode", dev, ino))
            proc.map(start, end, fid, pgoff, flags | MAP_FILE)
            emit(OP_MMAP, start, end - start, fid, pgoff, flags | MAP_FILE)


class LogReader:
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

    # ---- system call lines ------------------------------------------------------------------
    def line(self, text: str, lineno: int) -> None:
        self.check()            # the references so far, against the mappings before this call
        k = text.find("SYSCALL[", 1)
        if k > 0:               # a result without its newline, then another thread's call
            self.line(text[:k], lineno)
            self.line(text[k:], lineno)
            return
        m = _CALL.match(text)
        if m is None:
            if text.startswith(" -->") and self.last is not None:
                self.result(self.last, text)
                self.last = None
            elif text.strip():
                self.stats.odd_lines += 1
            return
        tid, body = int(m.group(2)), m.group(4)
        if body.startswith("... [async]"):
            call = self.pending.pop(tid, None)
            if call is not None:
                self.result(call, body)
            return
        name, _, rest = body.partition(" (")
        child = _CHILD.search(rest)
        if child:
            self.fork(int(child.group(1)))
        arrow = rest.rfind("-->")
        args = rest[:arrow] if arrow >= 0 else rest
        args = args[:args.rfind(")")] if ")" in args else args
        call = (name.strip(), args.strip(), lineno)
        if arrow < 0:
            self.last = call
        elif "[async] ..." in rest[arrow:]:
            self.pending[tid] = call
        else:
            self.result(call, rest[arrow:])

    def fork(self, child: int) -> None:
        self.stats.forks += 1
        self.emit(OP_FORK, arg=child)
        self.children[child] = self.proc.fork_copy()

    def _path(self, raw: str, dirfd: int = AT_FDCWD) -> str:
        if raw.startswith("/"):
            return os.path.normpath(raw)
        base = self.proc.cwd
        if dirfd != AT_FDCWD:
            key = self.proc.fds.get(dirfd)
            base = key[1] if key and key[0] == "path" else base
        return os.path.normpath(os.path.join(base, raw))

    def result(self, call, text: str) -> None:
        name, args, lineno = call
        m = None
        for m in _RESULT.finditer(text):
            pass
        if m is None or m.group(1) != "Success":
            return
        res = int(m.group(2), 16)
        try:
            self.syscall(name, args, res)
        except (ValueError, IndexError):      # a form this reader does not know: skip the call
            self.stats.odd_lines += 1

    def syscall(self, name: str, args: str, res: int) -> None:
        p = self.proc
        if name == "sys_mmap":
            a = [int(x, 0) for x in args.split(", ")]
            length, prot, mflags, fd, off = a[1], a[2], a[3], a[4], a[5]
            start, end = res, _page_up(res + length)
            if end <= start:
                return
            flags = PROT_WRITE if prot & 2 else 0
            if mflags & MAP_SHARED_BITS == 1 or mflags & MAP_SHARED_BITS == 3:
                flags |= MAP_SHARED
            fid, pgoff = 0, 0
            if not mflags & MAP_ANONYMOUS:
                key = p.fds.get(fd, ("fd", self.pid, fd))
                fid = self.files.id_of_path(key[1]) if key[0] == "path" else self.files.id_of(key)
                flags |= MAP_FILE
                pgoff = off >> 12
            self.stats.mmaps += 1
            p.map(start, end, fid, pgoff, flags)
            self.emit(OP_MMAP, start, end - start, fid, pgoff, flags)
        elif name == "sys_munmap":
            a = [int(x, 0) for x in args.split(", ")]
            start, end = a[0], _page_up(a[0] + a[1])
            if end > start:
                p.unmap(start, end)
                self.emit(OP_MUNMAP, start, end - start)
        elif name == "sys_mremap":
            a = [int(x, 0) for x in args.split(", ")]
            old, old_len, new_len = a[0], _page_up(a[1]), _page_up(a[2])
            v = p.vma_at(old)
            if v is None:
                return
            fid, flags = v[2], v[4]
            pgoff = v[3] + ((old - v[0]) >> 12) if fid else 0
            if res == old:
                if new_len < old_len:
                    p.unmap(old + new_len, old + old_len)
                    self.emit(OP_MUNMAP, old + new_len, old_len - new_len)
                elif new_len > old_len:
                    ext = pgoff + (old_len >> 12) if fid else 0
                    p.map(old + old_len, old + new_len, fid, ext, flags)
                    self.emit(OP_MMAP, old + old_len, new_len - old_len, fid, ext, flags)
            else:       # moved: the simulator cannot move pages; the new range starts empty
                p.unmap(old, old + old_len)
                self.emit(OP_MUNMAP, old, old_len)
                p.map(res, res + new_len, fid, pgoff, flags)
                self.emit(OP_MMAP, res, new_len, fid, pgoff, flags)
        elif name == "sys_brk":
            new = _page_up(res)
            if not p.brk:
                p.brk = new
            elif new > p.brk:
                p.map(p.brk, new, 0, 0, PROT_WRITE)
                self.emit(OP_MMAP, p.brk, new - p.brk, 0, 0, PROT_WRITE)
                p.brk = new
            elif new < p.brk:
                p.unmap(new, p.brk)
                self.emit(OP_MUNMAP, new, p.brk - new)
                p.brk = new
        elif name == "sys_mprotect":
            a = [int(x, 0) for x in args.split(", ")]
            if not a[2] & 2:
                return          # losing write permission: the mapping stays writable here
            start, end = _page_down(a[0]), _page_up(a[0] + a[1])
            for v in [list(v) for v in p.vmas if v[0] < end and v[1] > start]:
                if v[4] & PROT_WRITE:
                    continue
                s, e = max(v[0], start), min(v[1], end)
                pg = v[3] + ((s - v[0]) >> 12) if v[2] else 0
                p.map(s, e, v[2], pg, v[4] | PROT_WRITE)
                self.emit(OP_MMAP, s, e - s, v[2], pg, v[4] | PROT_WRITE)
        elif name in ("sys_openat", "sys_open", "sys_creat", "sys_openat2"):
            dirfd = AT_FDCWD
            if name in ("sys_openat", "sys_openat2"):
                dirfd = int(args.split(",", 1)[0], 0)
            m = _PATH_ARG.search(args)
            if m:
                p.fds[res] = ("path", self._path(m.group(1), dirfd))
        elif name == "sys_close":
            p.fds.pop(int(args, 0), None)
        elif name in ("sys_dup", "sys_dup2", "sys_dup3"):
            old = int(args.split(",")[0], 0)
            if old in p.fds:
                p.fds[res] = p.fds[old]
        elif name == "sys_fcntl":
            a = [int(x, 0) for x in args.split(", ")[:2]]
            if a[1] in (F_DUPFD, F_DUPFD_CLOEXEC) and a[0] in p.fds:
                p.fds[res] = p.fds[a[0]]
        elif name == "sys_memfd_create":
            p.fds[res] = ("memfd", self.pid, res, len(self.files.ids))
        elif name == "sys_chdir":
            m = _PATH_ARG.search(args)
            if m:
                p.cwd = self._path(m.group(1))
        elif name == "sys_fchdir":
            key = p.fds.get(int(args, 0))
            if key and key[0] == "path":
                p.cwd = key[1]
