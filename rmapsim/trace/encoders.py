"""Encoders of the foreign (bare) formats, for ``write_trace``.

Each takes a chunk of READ/WRITE events of one process and returns the bytes of its records.
Page formats store ``addr >> 12``; ``lackey`` and ``vmsim`` keep the byte address. Formats that
cannot say read or write (``txt``, ``lirs``, ``oracleGeneral``) write every reference as a plain
reference: read back, a write is a READ (``write_trace`` counts them in ``info["writes_dropped"]``).

``oracleGeneral`` and ``lcs`` store the next-access index, so their encoders take the chunk's
slice of ``next_use`` (0-based index of the next reference to the same page, -1 if none) and the
index of the chunk's first event.
"""
from __future__ import annotations

import numpy as np

from rmapsim.trace import csvtrace, lcs
from rmapsim.trace.events import OP_WRITE, PAGE_SHIFT
from rmapsim.trace.libcachesim_formats import ORACLE_GENERAL, VSCSI1

_SHIFT = np.uint64(PAGE_SHIFT)
U32_MAX = 0xFFFFFFFF


def _pages(chunk):
    return chunk["addr"] >> _SHIFT


def _lines(fmt: str, *columns) -> bytes:
    return "".join(fmt.format(*row) for row in zip(*columns)).encode("ascii")


def _rw(chunk, r="R", w="W"):
    return np.where(chunk["op"] == OP_WRITE, w, r).tolist()


def txt(chunk, nxt=None, base=0) -> bytes:
    return _lines("{}\n", _pages(chunk).tolist())


def rwpages(chunk, nxt=None, base=0) -> bytes:
    return _lines("{} {:x}\n", _rw(chunk), _pages(chunk).tolist())


def vmsim(chunk, nxt=None, base=0) -> bytes:
    return _lines("{:08x} {}\n", chunk["addr"].tolist(), _rw(chunk))


def lackey(chunk, nxt=None, base=0) -> bytes:
    return _lines(" {} {:08x},1\n", _rw(chunk, "L", "S"), chunk["addr"].tolist())


def _vtime(n, base):
    return np.minimum(np.arange(base + 1, base + n + 1, dtype=np.uint64), U32_MAX)


def _next_column(nxt):
    return np.where(nxt >= 0, nxt + 1, -1)


def oracle_general(chunk, nxt, base) -> bytes:
    rec = np.zeros(len(chunk), ORACLE_GENERAL)
    rec["time"] = _vtime(len(chunk), base)
    rec["id"] = _pages(chunk)
    rec["size"] = 4096
    rec["next"] = _next_column(nxt)
    return rec.tobytes()


def lcs_v2(chunk, nxt, base) -> bytes:
    rec = np.zeros(len(chunk), lcs.V2)
    rec["time"] = _vtime(len(chunk), base)
    rec["id"] = _pages(chunk)
    rec["size"] = 4096
    rec["optenant"] = np.where(chunk["op"] == OP_WRITE, lcs.LCS_OP_WRITE, lcs.LCS_OP_READ)
    rec["next"] = _next_column(nxt)
    return rec.tobytes()


def vscsi(chunk, nxt=None, base=0) -> bytes:
    rec = np.zeros(len(chunk), VSCSI1)
    idx = np.arange(base, base + len(chunk), dtype=np.uint64)
    rec["sn"] = idx & np.uint64(U32_MAX)
    rec["len"] = 4096
    rec["nsg"] = 1
    rec["cmd"] = np.where(chunk["op"] == OP_WRITE, 0x2A, 0x28)
    rec["ver"] = 0x100
    rec["lbn"] = _pages(chunk)
    rec["ts"] = idx
    return rec.tobytes()


def csv(chunk, nxt=None, base=0) -> bytes:
    return csvtrace.encode(chunk)


# format -> (encoder, header(stats) -> bytes, needs next-use, keeps read/write)
BARE = {
    "txt": (txt, None, False, False),
    "lirs": (txt, None, False, False),
    "rwpages": (rwpages, None, False, True),
    "vmsim": (vmsim, None, False, True),
    "lackey": (lackey, None, False, True),
    "csv": (csv, lambda stats: csvtrace.HEADER, False, True),
    "oracleGeneral": (oracle_general, None, True, False),
    "lcs": (lcs_v2, lcs.header, True, True),
    "vscsi": (vscsi, None, False, True),
}
