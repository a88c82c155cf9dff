"""libCacheSim's binary block traces: ``oracleGeneral`` and VMware ``vscsi`` (version 1).

Both are bare page traces: each object id / logical block number is one page (event address =
id << 12), following libCacheSim's readers (``traceReader/customizedReader/oracle/
oracleGeneralBin.h`` and ``vscsi.h``).

- ``oracleGeneral``: packed 24-byte records ``u32 clock_time, u64 obj_id, u32 obj_size,
  i64 next_access_vtime``. Every reference is a READ. ``chunks(with_next=True)`` also yields the
  ``next_access_vtime`` column as stored: the 1-based index of the next request to the same
  object, -1 if none (libCacheSim's Python binding shows -1 as INT64_MAX).
- ``vscsi``: packed 32-byte records ``u32 sn, u32 len, u32 nSG, u16 cmd, u16 ver, u64 lbn,
  u64 ts_us``; the high byte of ``ver`` must be 1. SCSI READ(6/10/12/16) commands give READ,
  WRITE(6/10/12/16) give WRITE, any other command is an error.
"""
from __future__ import annotations

import numpy as np

from rmapsim.trace.binary import RecordReader, first_index
from rmapsim.trace.events import OP_WRITE, page_refs, refs_from_pages

ORACLE_GENERAL = np.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
VSCSI1 = np.dtype([("sn", "<u4"), ("len", "<u4"), ("nsg", "<u4"), ("cmd", "<u2"), ("ver", "<u2"),
                   ("lbn", "<u8"), ("ts", "<u8")])
assert ORACLE_GENERAL.itemsize == 24 and VSCSI1.itemsize == 32

SCSI_READS = (0x08, 0x28, 0xA8, 0x88)
SCSI_WRITES = (0x0A, 0x2A, 0xAA, 0x8A)
PAGE_LIMIT = np.uint64(1 << 52)
_CMD_KIND = np.full(1 << 16, 2, np.uint8)         # cmd -> 0 read, 1 write, 2 neither
_CMD_KIND[list(SCSI_READS)] = 0
_CMD_KIND[list(SCSI_WRITES)] = OP_WRITE


class _BlockReader(RecordReader):
    def pages(self, ids: np.ndarray, index: int, writes=None, compact=False) -> np.ndarray:
        bad = first_index(ids >= PAGE_LIMIT)
        if bad >= 0:
            self.fail(index + bad, f"object id {int(ids[bad])} too large for a page number (>= 2^52)")
        return refs_from_pages(ids, writes) if compact else page_refs(ids, writes)

    def ref_chunks(self, src, size):
        """The compact form straight from the records (no events built)."""
        for recs, index in self.records(src, size):
            yield self.convert(recs, index, False, compact=True)


class OracleGeneralReader(_BlockReader):
    record = ORACLE_GENERAL
    has_next = True

    def convert(self, recs, index, with_next, compact=False):
        ev = self.pages(recs["id"], index, compact=compact)
        return (ev, np.ascontiguousarray(recs["next"])) if with_next else ev


class VscsiReader(_BlockReader):
    record = VSCSI1

    def convert(self, recs, index, with_next, compact=False):
        bad = first_index((recs["ver"] >> 8) != 1)
        if bad >= 0:
            self.fail(index + bad, f"not a vscsi version 1 record (ver field {int(recs['ver'][bad]):#06x})")
        kind = _CMD_KIND[recs["cmd"]]
        bad = first_index(kind == 2)
        if bad >= 0:
            self.fail(index + bad, f"SCSI command {int(recs['cmd'][bad]):#04x} is neither a read nor a write")
        return self.pages(recs["lbn"], index, kind, compact=compact)


def looks_like_vscsi(head: bytes) -> bool:
    """libCacheSim's test: the version byte of the first two v1 records is 1."""
    n = min(len(head) // VSCSI1.itemsize, 16)
    recs = np.frombuffer(head[: n * VSCSI1.itemsize], VSCSI1)
    return n >= 2 and bool(((recs["ver"] >> 8) == 1).all() and np.isin(recs["cmd"], SCSI_READS + SCSI_WRITES).all())


def looks_like_oracle_general(head: bytes) -> bool:
    """Plausible oracleGeneral: each next-access is -1 or a later 1-based request index."""
    n = min(len(head) // ORACLE_GENERAL.itemsize, 64)
    recs = np.frombuffer(head[: n * ORACLE_GENERAL.itemsize], ORACLE_GENERAL)
    nxt = recs["next"]
    later = nxt > np.arange(1, n + 1)
    return n >= 2 and bool(((nxt == -1) | later).all() and (recs["id"] < PAGE_LIMIT).all())
