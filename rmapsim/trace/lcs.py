"""libCacheSim's ``lcs`` binary trace (``traceReader/customizedReader/lcs.h``).

An 8192-byte little-endian header::

    0     8     u64  start magic 0x123456789abcdef0
    8     8     u64  version: 1..8, which fixes the request record
    16    8000       trace statistics (lcs_trace_stat_t: stat version, n_req, n_obj,
                     n_req_byte, n_obj_byte, start/end timestamp, n_read, n_write, n_delete, ...)
    8016  168        unused
    8184  8     u64  end magic 0x123456789abcdef0

then packed records to the end of the data:

- v1 (24 bytes, as oracleGeneral): ``u32 clock_time, u64 obj_id, u32 obj_size,
  i64 next_access_vtime``;
- v2 (28): ``u32 clock_time, u64 obj_id, u32 obj_size, u32 op:8|tenant:24, i64 next``;
- v3 (36): ``u32 clock_time, u64 obj_id, i64 obj_size, u32 op:8|tenant:24, u32 ttl, i64 next``;
- v4..v8 (40, 44, 52, 68, 100): v3 followed by 1, 2, 4, 8, 16 ``u32`` features.

Each obj_id is one page (address = id << 12). The op (v2 on; libCacheSim's ``req_op_e``) gives
READ for NOP, GET, GETS, READ and WRITE for SET, ADD, CAS, REPLACE, APPEND, PREPEND, INCR, DECR,
WRITE, UPDATE; DELETE and any other op is an error. v1 references are all READs. The next-access
column is exposed like oracleGeneral's (``Trace.chunks(with_next=True)``): the 1-based index of
the next request to the same object, -1 if none.

The writer writes version 2 (so that writes survive) with obj_size 4096, clock_time = the
1-based request index, tenant 0 and the statistics n_req, n_obj, n_req_byte, n_obj_byte,
n_read, n_write, the timestamps and the object sizes filled in.
"""
from __future__ import annotations

import struct

import numpy as np

from rmapsim.errors import TraceError
from rmapsim.trace.binary import first_index
from rmapsim.trace.libcachesim_formats import _BlockReader

MAGIC = 0x123456789ABCDEF0
HEADER_SIZE = 8192
END_MAGIC_AT = HEADER_SIZE - 8
VERSIONS = range(1, 9)
N_FEATURES = {4: 1, 5: 2, 6: 4, 7: 8, 8: 16}

# libCacheSim req_op_e -> 0 read, 1 write, 2 no page meaning
OP_NAMES = ("NOP", "GET", "GETS", "SET", "ADD", "CAS", "REPLACE", "APPEND", "PREPEND", "DELETE",
            "INCR", "DECR", "READ", "WRITE", "UPDATE")
LCS_OP_READ, LCS_OP_WRITE = 12, 13
_OP_KIND = np.full(256, 2, np.uint8)
_OP_KIND[[0, 1, 2, 12]] = 0
_OP_KIND[[3, 4, 5, 6, 7, 8, 10, 11, 13, 14]] = 1


def record_dtype(version: int) -> np.dtype:
    if version == 1:
        return np.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
    if version == 2:
        return np.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("optenant", "<u4"),
                         ("next", "<i8")])
    fields = [("time", "<u4"), ("id", "<u8"), ("size", "<i8"), ("optenant", "<u4"), ("ttl", "<u4"),
              ("next", "<i8")]
    if version in N_FEATURES:
        fields.append(("features", "<u4", (N_FEATURES[version],)))
    return np.dtype(fields)


assert [record_dtype(v).itemsize for v in VERSIONS] == [24, 28, 36, 40, 44, 52, 68, 100]
V2 = record_dtype(2)


class LcsReader(_BlockReader):
    header_size = HEADER_SIZE
    has_next = True
    record = record_dtype(1)

    def prepare(self, head: bytes) -> None:
        if len(head) < 8 or struct.unpack_from("<Q", head)[0] != MAGIC:
            raise TraceError(self.path, f"not an lcs trace (start magic {head[:8].hex() or 'missing'}, "
                             f"expected {MAGIC:#x} little-endian)", offset=0)
        if len(head) < HEADER_SIZE:
            raise TraceError(self.path, f"truncated lcs header: {len(head)} of {HEADER_SIZE} bytes",
                             offset=len(head))
        if struct.unpack_from("<Q", head, END_MAGIC_AT)[0] != MAGIC:
            raise TraceError(self.path, "bad lcs end magic", offset=END_MAGIC_AT)
        version = struct.unpack_from("<Q", head, 8)[0]
        if version not in VERSIONS:
            raise TraceError(self.path, f"unsupported lcs version {version} (known: 1 to 8)", offset=8)
        self.version = version
        self.record = record_dtype(version)

    def convert(self, recs, index, with_next, compact=False):
        writes = None
        if self.version >= 2:
            kind = _OP_KIND[recs["optenant"] & 0xFF]
            bad = first_index(kind == 2)
            if bad >= 0:
                op = int(recs["optenant"][bad] & 0xFF)
                name = OP_NAMES[op] if op < len(OP_NAMES) else "unknown"
                self.fail(index + bad, f"lcs op {op} ({name}) is neither a read nor a write")
            writes = kind
        ev = self.pages(recs["id"], index, writes, compact=compact)
        return (ev, np.ascontiguousarray(recs["next"])) if with_next else ev


def header(stats: dict) -> bytes:
    """The 8192-byte header of a version-2 trace with the given statistics."""
    h = bytearray(HEADER_SIZE)
    struct.pack_into("<QQ", h, 0, MAGIC, 2)
    n, objs = stats.get("n_req", 0), stats.get("n_obj", 0)
    struct.pack_into("<10q", h, 16, 1, n, objs, 4096 * n, 4096 * objs, 1 if n else 0, n,
                     stats.get("n_read", 0), stats.get("n_write", 0), 0)
    struct.pack_into("<qqq", h, 16 + 80, 4096 if n else 0, 4096 if n else 0, 4096 if n else 0)
    struct.pack_into("<f", h, 16 + 80 + 16 + 16 * 8, 1.0 if n else 0.0)
    struct.pack_into("<Q", h, END_MAGIC_AT, MAGIC)
    return bytes(h)


def looks_like_lcs(head: bytes) -> bool:
    return len(head) >= 16 and struct.unpack_from("<Q", head)[0] == MAGIC
