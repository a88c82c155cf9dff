"""Semantic checks of event records (the rules of ``docs/trace-format.md``), compiled.

Used by the native binary and text readers, by ``from_events`` and by the writer, so that no
event the simulator cannot honour gets past the trace layer. ``first_bad(events, bare)`` returns
``(index, message)`` of the first offending event, or None.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from rmapsim.trace.events import (ALLOC_HUGE, DEV_NAMES, MAP_FILE, MAP_SHARED, MAX_ALLOC_ORDER,
                                  N_OPS, OP_ALLOC, OP_FILE, OP_FORK, OP_FREE, OP_MMAP, OP_MUNMAP,
                                  OP_WRITE, PROT_WRITE)

MESSAGES = (
    "",
    "unknown op code",
    "a bare trace holds only R and W events",
    "a bare trace's events must have pid 0",
    "address not page aligned",
    "length zero or not a multiple of the page size",
    "range wraps past the end of the 64-bit address space",
    "unknown MMAP flag bits",
    "MMAP of a file needs the MAP_FILE flag and a file id other than 0",
    "anonymous MMAP with a file page offset",
    "FILE id 0 is reserved for anonymous memory",
    "unknown FILE device",
    "FORK child pid equals the parent's",
    "flags set on an event other than MMAP",
    "FILE event with a pid other than 0",
    "ALLOC order above 20",
    "unknown ALLOC flag bits",
    "ALLOC/FREE handle does not fit 32 bits",
)
_KNOWN_FLAGS = MAP_SHARED | MAP_FILE | PROT_WRITE
_PAGE_MASK = np.uint64(0xFFF)
_U64_MAX = np.uint64(0xFFFFFFFFFFFFFFFF)
_N_DEVS = len(DEV_NAMES)


@njit(cache=True, nogil=True)
def _scan(op, flags, pid, addr, length, file, arg, pgoff, bare):
    for i in range(len(op)):
        o = op[i]
        if o >= N_OPS:
            return i, 1
        if bare:
            if o > OP_WRITE:
                return i, 2
            if pid[i] != 0:
                return i, 3
            continue
        if o == OP_ALLOC or o == OP_FREE:
            if addr[i] >> np.uint64(32):
                return i, 17
            if o == OP_ALLOC:
                if arg[i] > MAX_ALLOC_ORDER:
                    return i, 15
                if (flags[i] | ALLOC_HUGE) != ALLOC_HUGE:
                    return i, 16
                continue
        if flags[i] != 0 and o != OP_MMAP:
            return i, 13
        if o == OP_MMAP or o == OP_MUNMAP:
            if addr[i] & _PAGE_MASK:
                return i, 4
            if length[i] == 0 or length[i] & _PAGE_MASK:
                return i, 5
            if addr[i] > _U64_MAX - length[i] + np.uint64(1):
                return i, 6
            if o == OP_MMAP:
                if (flags[i] | _KNOWN_FLAGS) != _KNOWN_FLAGS:
                    return i, 7
                if (flags[i] & MAP_FILE) != 0 and file[i] == 0:
                    return i, 8
                if (flags[i] & MAP_FILE) == 0 and file[i] != 0:
                    return i, 8
                if (flags[i] & MAP_FILE) == 0 and pgoff[i] != 0:
                    return i, 9
        elif o == OP_FILE:
            if file[i] == 0:
                return i, 10
            if arg[i] >= _N_DEVS:
                return i, 11
            if pid[i] != 0:
                return i, 14
        elif o == OP_FORK:
            if arg[i] == pid[i]:
                return i, 12
    return -1, 0


def first_bad(ev: np.ndarray, bare: bool, version: int = 2):
    """``(index, message)`` of the first event that breaks the format's rules, else None;
    a version 1 file knows no ALLOC or FREE events."""
    i, code = _scan(ev["op"], ev["flags"], ev["pid"], ev["addr"], ev["length"], ev["file"],
                    ev["arg"], ev["pgoff"], bool(bare))
    if version < 2:
        old = np.flatnonzero(ev["op"] >= OP_ALLOC)
        if len(old) and (i < 0 or old[0] < i):
            return int(old[0]), f"{'ALLOC' if ev['op'][old[0]] == OP_ALLOC else 'FREE'} events need format version 2"
    if i < 0:
        return None
    message = MESSAGES[code]
    if code == 1:
        message += f" {int(ev['op'][i])}"
    return int(i), message
