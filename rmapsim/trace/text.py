"""The native text trace format (``docs/trace-format.md``): one event per line.

::

    #rmapsim-trace v1 [bare]
    R pid addr
    W pid addr
    MMAP pid addr len anon|file:ID[+pgoff] shared|private rw|ro
    MUNMAP pid addr len
    FORK pid child
    EXEC pid
    EXIT pid
    FILE id pages disk|nfs
    ALLOC owner handle order kernel|huge      (v2)
    FREE owner handle                         (v2)

Numbers are unsigned decimal or ``0x`` hex; ``#`` starts a comment; blank lines are skipped;
CRLF line ends are allowed. The header line is optional (``bare`` in it makes a bare trace,
whose events must be R/W of pid 0); the writer always writes it. R/W lines, the bulk of any
trace, are parsed by a compiled kernel; the other lines by ``parse_line`` in Python.
"""
from __future__ import annotations

import re

import numpy as np
from numba import njit

from rmapsim.errors import TraceError
from rmapsim.trace.events import (ALLOC_HUGE, ALLOC_KINDS, OP_ALLOC, OP_FREE, DEV_NAMES, EVENT_DTYPE, MAP_FILE, MAP_SHARED, OP_EXEC, OP_EXIT,
                                  OP_FILE, OP_FORK, OP_MMAP, OP_MUNMAP, OP_NAMES, OP_READ,
                                  OP_WRITE, PROT_WRITE)
from rmapsim.trace.lexer import (DEC_DIGIT, E_OK, E_SLOW, HEX_DIGIT, NL, line_end, parse_field,
                                 skip_blank)
from rmapsim.trace.textscan import LineReader, scan
from rmapsim.trace.validate import first_bad

HEADER = "#rmapsim-trace"
VERSION = "v2"
VERSIONS = ("v1", "v2")
U32_MAX = np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def rw_event_kernel(a, pos, end, op, pid, addr, lines, n, cap, line):
    """``R pid addr`` / ``W pid addr``, comments and blank lines; anything else is E_SLOW."""
    while pos < end and n < cap:
        # fast path for the writer's own 'R|W <decimal pid> 0x<hex addr>\n', written out in full
        # because numba does not inline calls
        c = a[pos]
        p, v, k, fast = np.uint64(0), np.uint64(0), pos + 2, False
        if (c == 82 or c == 87) and k < end and a[pos + 1] == 32:
            while k < end and DEC_DIGIT[a[k]] != 255:
                p = p * np.uint64(10) + np.uint64(DEC_DIGIT[a[k]])
                k += 1
            digits = k - pos - 2
            if 0 < digits <= 9 and k + 3 < end and a[k] == 32 and a[k + 1] == 48 and a[k + 2] == 120:
                k += 3
                start = k
                while k < end and HEX_DIGIT[a[k]] != 255:
                    v = (v << np.uint64(4)) | np.uint64(HEX_DIGIT[a[k]])
                    k += 1
                fast = 0 < k - start <= 16 and (k == end or a[k] == NL)
        if fast:
            i = k
        else:                                 # anything else: the careful path
            i = skip_blank(a, pos, end)
            if i == end or a[i] == NL or a[i] == 35:
                pos = line_end(a, i, end, True) + 1
                line += 1
                continue
            c = a[i]
            if c != 82 and c != 87:
                return n, pos, line, E_SLOW
            p, i, err = parse_field(a, i + 1, end, False)
            if err != E_OK or p > U32_MAX:
                return n, pos, line, E_SLOW
            v, i, err = parse_field(a, i, end, False)
            if err != E_OK:
                return n, pos, line, E_SLOW
            i = line_end(a, i, end, True)
            if i < 0:
                return n, pos, line, E_SLOW
        op[n] = OP_READ if c == 82 else OP_WRITE
        pid[n] = p
        addr[n] = v
        lines[n] = line
        n += 1
        pos = i + 1
        line += 1
    return n, pos, line, E_OK


_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]+")
_MAPPING = re.compile(r"file:([0-9]+|0[xX][0-9a-fA-F]+)(?:\+([0-9]+|0[xX][0-9a-fA-F]+))?")
_ARITY = {"R": 2, "W": 2, "MMAP": 6, "MUNMAP": 3, "FORK": 2, "EXEC": 1, "EXIT": 1, "FILE": 3,
          "ALLOC": 4, "FREE": 2}
_OPS = {name: code for code, name in enumerate(OP_NAMES)}


def _num(token: str, what: str, bits: int = 64) -> int:
    if not _NUMBER.fullmatch(token):
        raise ValueError(f"{what} must be an unsigned decimal or 0x-hex number, not {token!r}")
    v = int(token, 16) if token[1:2] in "xX" and len(token) > 2 else int(token, 10)
    if v >> bits:
        raise ValueError(f"{what} {token} does not fit {bits} bits")
    return v


def _choice(token: str, what: str, choices) -> int:
    if token not in choices:
        raise ValueError(f"{what} must be one of {'|'.join(choices)}, not {token!r}")
    return choices.index(token)


def parse_line(raw: bytes):
    """One line -> a tuple of ``EVENT_DTYPE`` fields, None for a blank/comment line, or ValueError."""
    text = raw.decode("ascii", errors="replace").split("#", 1)[0]
    tokens = text.split()
    if not tokens:
        return None
    name, args = tokens[0], tokens[1:]
    if name not in _ARITY:
        raise ValueError(f"unknown event {name!r} (known: {', '.join(OP_NAMES)})")
    if len(args) != _ARITY[name]:
        raise ValueError(f"{name} takes {_ARITY[name]} fields, found {len(args)}")
    op = _OPS[name]
    flags = length = file = arg = pgoff = 0
    if op == OP_FILE:
        pid = 0
        file = _num(args[0], "file id", 32)
        length = _num(args[1], "file size in pages")
        arg = _choice(args[2], "device", DEV_NAMES)
        return (op, 0, 0, 0, 0, length, file, arg, 0)
    pid = _num(args[0], "pid", 32)
    if op in (OP_ALLOC, OP_FREE):
        handle = _num(args[1], "handle", 32)
        if op == OP_ALLOC:
            arg = _num(args[2], "order", 32)
            flags = ALLOC_HUGE * _choice(args[3], "kind", ALLOC_KINDS)
        return (op, flags, 0, pid, handle, 0, 0, arg, 0)
    addr = _num(args[1], "address") if len(args) > 1 and op != OP_FORK else 0
    if op == OP_FORK:
        arg = _num(args[1], "child pid", 32)
    elif op in (OP_MMAP, OP_MUNMAP):
        length = _num(args[2], "length")
    if op == OP_MMAP:
        if args[3] != "anon":
            m = _MAPPING.fullmatch(args[3])
            if not m:
                raise ValueError(f"mapping must be anon or file:ID[+pgoff], not {args[3]!r}")
            file = _num(m.group(1), "file id", 32)
            pgoff = _num(m.group(2), "page offset") if m.group(2) else 0
            flags |= MAP_FILE
        flags |= MAP_SHARED * _choice(args[4], "sharing", ("private", "shared"))
        flags |= PROT_WRITE * _choice(args[5], "protection", ("ro", "rw"))
    return (op, flags, 0, pid, addr, length, file, arg, pgoff)


def format_event(e) -> str:
    op, pid = int(e["op"]), int(e["pid"])
    name = OP_NAMES[op]
    if op in (OP_READ, OP_WRITE):
        return f"{name} {pid} {int(e['addr']):#x}"
    if op == OP_MMAP:
        flags = int(e["flags"])
        where = "anon"
        if flags & MAP_FILE:
            where = f"file:{int(e['file'])}" + (f"+{int(e['pgoff'])}" if e["pgoff"] else "")
        return (f"MMAP {pid} {int(e['addr']):#x} {int(e['length']):#x} {where} "
                f"{'shared' if flags & MAP_SHARED else 'private'} {'rw' if flags & PROT_WRITE else 'ro'}")
    if op == OP_MUNMAP:
        return f"MUNMAP {pid} {int(e['addr']):#x} {int(e['length']):#x}"
    if op == OP_FORK:
        return f"FORK {pid} {int(e['arg'])}"
    if op in (OP_EXEC, OP_EXIT):
        return f"{name} {pid}"
    if op == OP_ALLOC:
        return f"ALLOC {pid} {int(e['addr'])} {int(e['arg'])} {ALLOC_KINDS[int(e['flags']) & ALLOC_HUGE]}"
    if op == OP_FREE:
        return f"FREE {pid} {int(e['addr'])}"
    return f"FILE {int(e['file'])} {int(e['length'])} {DEV_NAMES[int(e['arg'])]}"


def encode(chunk: np.ndarray) -> bytes:
    """Text lines of a chunk; R/W runs are formatted column-wise."""
    ops = chunk["op"]
    if len(chunk) and (ops <= OP_WRITE).all():
        names = np.where(ops == OP_READ, "R", "W")
        lines = [f"{o} {p} {a:#x}\n" for o, p, a in zip(names, chunk["pid"].tolist(), chunk["addr"].tolist())]
    else:
        lines = [format_event(e) + "\n" for e in chunk]
    return "".join(lines).encode("ascii")


def header(bare: bool) -> bytes:
    return f"{HEADER} {VERSION}{' bare' if bare else ''}\n".encode()


class TextReader(LineReader):
    bare = False
    version = 2         # a file without the header line is read as the newest version

    def prepare(self, head: bytes) -> None:
        first = head.split(b"\n", 1)[0].decode("ascii", errors="replace").split()
        if first[:1] == [HEADER]:
            if first[1:2] != [] and first[1] not in VERSIONS or len(first) < 2:
                raise TraceError(self.path, f"unsupported text trace version {' '.join(first[1:2])!r}"
                                 f" (this reader knows {', '.join(VERSIONS)})", line=1)
            self.version = int(first[1][1:])
            if first[2:] not in ([], ["bare"]):
                raise TraceError(self.path, f"unknown header words {' '.join(first[2:])!r}", line=1)
            self.bare = first[2:] == ["bare"]

    def scan(self, src, size, check=True):
        for ev, lines in scan(src, rw_event_kernel, (), size, slow=parse_line):
            bad = first_bad(ev, self.bare, self.version) if check else None
            if bad:
                raise TraceError(self.path, bad[1], line=int(lines[bad[0]]))
            yield ev, lines


assert EVENT_DTYPE.names == ("op", "flags", "_pad", "pid", "addr", "length", "file", "arg", "pgoff")
