"""Transparent gzip / xz / zstd (de)compression for trace files.

Reading: the codec is chosen by the file's magic bytes (RFC 1952 gzip ``1f 8b``, xz
``fd 37 7a 58 5a 00``, zstd frame ``28 b5 2f fd``), never by its name, so a misnamed file still
reads. ``Source`` hands out decompressed bytes and counts the on-disk bytes consumed, which the
progress bar shows; every failure (missing file, corrupt or truncated stream) is a ``TraceError``.
The path ``-`` is standard input, every format of it (copied to a temporary file, as a trace is
read more than once).

Writing: the codec is chosen by the name's suffix (``.gz``, ``.xz``, ``.zst``).
"""
from __future__ import annotations

import atexit
import gzip
import io
import lzma
import os
import shutil
import sys
import tempfile
import zlib

import zstandard

from rmapsim.errors import TraceError

MAGICS = (
    (b"\x1f\x8b", "gz"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zst"),
)
SUFFIXES = {".gz": "gz", ".xz": "xz", ".zst": "zst"}

# what a corrupt stream raises inside the decompressors
_CODEC_ERRORS = (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error, zstandard.ZstdError)


def split_suffix(name: str) -> tuple[str, str | None]:
    """``"a.txt.gz"`` -> ``("a.txt", "gz")``; a name without a compression suffix -> ``(name, None)``."""
    for suffix, codec in SUFFIXES.items():
        if name.endswith(suffix):
            return name[: -len(suffix)], codec
    return name, None


def sniff_codec(head: bytes) -> str | None:
    for magic, codec in MAGICS:
        if head.startswith(magic):
            return codec
    return None


STDIN = "-"
_stdin_copy = None


def stdin_copy() -> str:
    """A file holding all of standard input, made once per process (a trace is read more than
    once: to detect its format, then once per pass) and removed at exit."""
    global _stdin_copy
    if _stdin_copy is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise TraceError(STDIN, "standard input is a terminal: pipe a trace into it "
                                    "(e.g. `zcat t.txt.gz | rmapsim run - ...`)")
        fd, path = tempfile.mkstemp(prefix="rmapsim-stdin-")
        atexit.register(os.unlink, path)
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
        _stdin_copy = path
    return _stdin_copy


class Source:
    """A readable, decompressed view of one trace file.

    ``read(n)`` returns exactly ``n`` bytes except at the end of the data; ``pos`` is the offset in
    the decompressed data, ``raw_pos`` the on-disk bytes consumed so far (for progress).
    """

    def __init__(self, path: str):
        self.path = str(path)
        try:
            self._raw = open(stdin_copy() if self.path == STDIN else self.path, "rb")
        except OSError as e:
            raise TraceError(self.path, f"cannot open: {e.strerror or e}") from None
        try:
            self.total_bytes = os.fstat(self._raw.fileno()).st_size
            head = self._raw.read(8)
            self._raw.seek(0)
        except OSError as e:
            self._raw.close()
            raise TraceError(self.path, f"cannot read: {e.strerror or e}") from None
        self.codec = sniff_codec(head)
        if self.codec == "gz":
            self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb")
        elif self.codec == "xz":
            self._stream = lzma.LZMAFile(self._raw, mode="rb")
        elif self.codec == "zst":
            self._stream = _ZstdReader(self._raw)
        else:
            self._stream = self._raw
        self.pos = 0

    @property
    def raw_pos(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        got = self.readinto(buf)
        del buf[got:]
        return bytes(buf)

    def readinto(self, buf) -> int:
        """Fill the writable buffer ``buf`` as far as the data goes; returns the bytes stored."""
        mv = memoryview(buf)
        got, n = 0, len(mv)
        try:
            while got < n:
                k = self._stream.readinto(mv[got:])
                if not k:
                    break
                got += k
        except _CODEC_ERRORS as e:
            what = f"corrupt or truncated {self.codec} data" if self.codec else "read error"
            raise TraceError(self.path, f"{what} ({e})", offset=self.pos + got) from None
        self.pos += got
        return got

    def close(self):
        try:
            if self._stream is not self._raw:
                self._stream.close()
        except _CODEC_ERRORS:
            pass
        finally:
            self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _ZstdReader(io.RawIOBase):
    """Decompress every zstd frame of ``raw`` in turn; a stream cut inside a frame is an error
    (``zstandard``'s ``stream_reader`` would end quietly)."""

    def __init__(self, raw):
        super().__init__()
        self._raw, self._zstd = raw, zstandard.ZstdDecompressor()
        self._frame, self._in_frame = self._zstd.decompressobj(), False
        self._buf, self._at, self._eof = b"", 0, False

    def readable(self):
        return True

    def readinto(self, b):
        while self._at == len(self._buf) and not self._eof:
            data = self._raw.read(1 << 20)
            if not data:
                if self._in_frame:
                    raise EOFError("the data ends inside a zstd frame")
                self._eof = True
            out = []
            while data:
                self._in_frame = True
                out.append(self._frame.decompress(data))
                data = b""
                if self._frame.eof:
                    data = self._frame.unused_data
                    self._frame, self._in_frame = self._zstd.decompressobj(), False
            self._buf, self._at = b"".join(out), 0
        n = min(len(b), len(self._buf) - self._at)
        b[:n] = self._buf[self._at: self._at + n]
        self._at += n
        return n


def open_output(fileobj: io.BufferedIOBase, codec: str | None):
    """Wrap a binary file opened for writing in the compressor for ``codec`` (None: as is).

    Closing the returned stream finishes the compressed data but leaves ``fileobj`` open.
    """
    if codec == "gz":
        return gzip.GzipFile(fileobj=fileobj, mode="wb", compresslevel=6, mtime=0)
    if codec == "xz":
        return lzma.LZMAFile(fileobj, mode="wb", preset=6)
    if codec == "zst":
        return zstandard.ZstdCompressor(level=3).stream_writer(fileobj, closefd=False)
    return _Unclosing(fileobj)


class _Unclosing(io.RawIOBase):
    """Pass writes through; ``close()`` flushes but does not close the underlying file."""

    def __init__(self, f):
        super().__init__()
        self._f = f

    def writable(self):
        return True

    def write(self, b):
        return self._f.write(b)

    def close(self):
        if not self.closed:
            self._f.flush()
        super().close()
