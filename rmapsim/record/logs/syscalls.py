"""The system call lines of a log (``SYSCALL[pid,tid](nr) name ( args ) --> result``, some
results on a later line): what each successful call does to the process, its mappings (MMAP
and MUNMAP events), descriptors, working directory and brk, and its forks (FORK events)."""
from __future__ import annotations

import os
import re

from rmapsim.record.logs.state import _page_down, _page_up
from rmapsim.trace.events import MAP_FILE, MAP_SHARED, OP_FORK, OP_MMAP, OP_MUNMAP, PROT_WRITE

AT_FDCWD = 4294967196           # -100 as valgrind prints it
MAP_SHARED_BITS = 0x03          # MAP_SHARED (1) or MAP_SHARED_VALIDATE (3)
MAP_ANONYMOUS = 0x20
F_DUPFD, F_DUPFD_CLOEXEC = 0, 1030
_CALL = re.compile(r"SYSCALL\[(\d+),(\d+)\]\((\d+)\) (.*)$")
_RESULT = re.compile(r"(Success|Failure)\(0x([0-9a-f]+)\)")
_CHILD = re.compile(r"created child (\d+)")
_PATH_ARG = re.compile(r"0x[0-9a-f]+\((.*)\)")


class Syscalls:
    """The system call lines of one log, for ``LogReader``: it reads the references, emits the
    events (``emit``) and checks the references against the mappings (``check``)."""

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
