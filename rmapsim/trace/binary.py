"""Fixed-size little-endian records read straight into numpy arrays, chunk by chunk.

The base of the native, oracleGeneral and vscsi readers. Byte offsets in errors and in
``locate`` count from the start of the decompressed data, i.e. of the file for an uncompressed
one. A subclass sets ``record`` (a numpy dtype), ``header_size`` and ``convert``.
"""
from __future__ import annotations

import numpy as np

from rmapsim.errors import TraceError
from rmapsim.trace.compress import Source


class RecordReader:
    record: np.dtype
    header_size = 0
    bare = True
    has_next = False

    def __init__(self, path: str, **options):
        self.path = str(path)

    def open(self) -> Source:
        src = Source(self.path)
        if self.header_size:
            src.read(self.header_size)
        return src

    def prepare(self, head: bytes) -> None:
        """Check what precedes the records, given the first 64 KiB (or less) of the data."""

    def offset(self, index: int) -> int:
        return self.header_size + index * self.record.itemsize

    def locate(self, index: int) -> str:
        return f"byte offset {self.offset(index)}"

    def fail(self, index: int, message: str):
        raise TraceError(self.path, message, offset=self.offset(index))

    def records(self, src: Source, size: int):
        """Yield ``(records, index of the first)``; the arrays are fresh and writable."""
        rec = self.record.itemsize
        index = 0
        while True:
            buf = np.empty(size, self.record)
            got = src.readinto(buf.view(np.uint8))
            if got % rec:
                self.fail(index + got // rec,
                          f"truncated record: the file ends {got % rec} bytes into a {rec}-byte record")
            if got == 0:
                return
            yield buf[: got // rec], index
            index += got // rec
            if got < size * rec:
                return

    def chunks(self, src: Source, size: int, with_next: bool):
        for recs, index in self.records(src, size):
            yield self.convert(recs, index, with_next)

    def convert(self, recs: np.ndarray, index: int, with_next: bool):
        raise NotImplementedError


def first_index(mask: np.ndarray) -> int:
    """Index of the first True in ``mask``, or -1."""
    i = int(np.argmax(mask)) if len(mask) else 0
    return i if len(mask) and mask[i] else -1
