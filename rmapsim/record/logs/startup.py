"""A process image's start, which no system call shows: from the head of its log, the ELF
files valgrind's loader mapped (``read_head``, ``elf_segments``); from valgrind's debug log,
the client's memory layout at startup (``Layouts``, ``common_layout``); and the MMAP events
for both (``layout_events``)."""
from __future__ import annotations

import os
import re

from rmapsim.record.logs.state import Files, Proc, _page_down, _page_up
from rmapsim.trace.events import MAP_FILE, OP_MMAP, PROT_WRITE

# whole lines only: valgrind's debug log writes a long line in pieces, and the pieces of two
# processes can interleave on the shared stderr; a line broken that way matches neither
_SEG_FILE = re.compile(r"aspacem +\d+: +(file|FILE) +([0-9a-f]+)-([0-9a-f]+) +\S+ +(\S{5}) +"
                       r"d=0x([0-9a-f]+) +i=(\d+) +o=(\d+) +\((\d+),\d+\)$")
_SEG_ANON = re.compile(r"aspacem +\d+: +(anon|ANON|RSVN) +([0-9a-f]+)-([0-9a-f]+) +\S+ +(\S{5})"
                       r"(?: +(Sm\w+))?$")
_SEG_ANY = re.compile(r"aspacem +\d+: ")
_NAME = re.compile(r"aspacem +\((\d+),\d+,\d+\) (.*)$")
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
