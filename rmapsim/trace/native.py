"""The native binary trace format (``docs/trace-format.md``): a 64-byte header, then records.

Header, all little-endian::

    0   8  magic  b"RMAPTRC\\0"
    8   4  u32    version (2: ALLOC/FREE events; version 1 files, which have none, still read)
    12  4  u32    record size (40 = EVENT_DTYPE.itemsize)
    16  4  u32    flags: bit 0 = bare (only READ/WRITE events of pid 0); other bits must be 0
    20  44        reserved, written as zeros, ignored by readers of version 1

then packed ``EVENT_DTYPE`` records (``rmapsim/trace/events.py``) to the end of the data. Every
record is checked (``validate``) as it is read; errors give the record's byte offset.
"""
from __future__ import annotations

import struct

import numpy as np

from rmapsim.errors import TraceError
from rmapsim.trace.binary import RecordReader
from rmapsim.trace.events import EVENT_DTYPE
from rmapsim.trace.validate import first_bad

MAGIC = b"RMAPTRC\0"
VERSION = 2
VERSIONS = (1, 2)
HEADER_SIZE = 64
FLAG_BARE = 1
_HEAD = struct.Struct("<8sIII")


def header(bare: bool) -> bytes:
    h = _HEAD.pack(MAGIC, VERSION, EVENT_DTYPE.itemsize, FLAG_BARE if bare else 0)
    return h + bytes(HEADER_SIZE - len(h))


class NativeReader(RecordReader):
    record = EVENT_DTYPE
    header_size = HEADER_SIZE
    bare = False
    version = VERSION

    def prepare(self, head: bytes) -> None:
        h = head[:HEADER_SIZE]
        if not h.startswith(MAGIC[: len(h)]) or len(h) < len(MAGIC):
            raise TraceError(self.path, f"not a native rmapsim trace (bad magic {h[:8]!r})", offset=0)
        if len(h) < HEADER_SIZE:
            raise TraceError(self.path, f"truncated header: {len(h)} of {HEADER_SIZE} bytes", offset=len(h))
        _, version, rec, flags = _HEAD.unpack_from(h)
        if version not in VERSIONS:
            raise TraceError(self.path, f"unsupported native trace version {version} (this reader knows "
                             f"{', '.join(map(str, VERSIONS))})", offset=8)
        self.version = version
        if rec != EVENT_DTYPE.itemsize:
            raise TraceError(self.path, f"record size {rec} in the header, expected {EVENT_DTYPE.itemsize}",
                             offset=12)
        if flags & ~FLAG_BARE:
            raise TraceError(self.path, f"unknown header flags {flags:#x}", offset=16)
        self.bare = bool(flags & FLAG_BARE)

    def convert(self, recs, index, with_next):
        bad = first_bad(recs, self.bare, self.version)
        if bad:
            self.fail(index + bad[0], bad[1])
        return recs


def encode(chunk: np.ndarray) -> bytes:
    return np.ascontiguousarray(chunk, dtype=EVENT_DTYPE).tobytes()
