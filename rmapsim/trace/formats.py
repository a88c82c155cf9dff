"""The format registry: names, descriptions, detection from the file name and the content.

``open_trace`` decides the format in this order: an explicit ``format``; the native binary magic
or the native text header at the start of the (decompressed) data; the file name's extension
after any ``.gz``/``.xz``/``.zst``; a look at the first 64 KiB of content.
"""
from __future__ import annotations

import os
import re

from rmapsim.errors import ConfigError, TraceError
from rmapsim.trace import native, text
from rmapsim.trace.base import Trace
from rmapsim.trace.compress import Source, split_suffix
from rmapsim.trace.libcachesim_formats import (OracleGeneralReader, VscsiReader,
                                               looks_like_oracle_general, looks_like_vscsi)
from rmapsim.trace.pagetraces import PageTextReader

FORMATS = {
    "native": "rmapsim binary event trace (.rmt): 64-byte header, 40-byte event records",
    "text": "rmapsim text event trace (.rmtxt): one event per line, 'R pid addr', 'MMAP ...'",
    "lackey": "valgrind --tool=lackey --trace-mem=yes output (.lackey); bare",
    "rwpages": "'R <hex page>' / 'W <hex page>' per line (.pages); bare",
    "txt": "libCacheSim txt: one decimal page number per line (.txt); bare",
    "lirs": "LIRS block trace: one block number per line, '*' markers (.trace, .trc); bare",
    "oracleGeneral": "libCacheSim oracleGeneral binary, 24-byte records, next-access column "
                     "(.oracleGeneral, .oracleGeneral.bin); bare",
    "vscsi": "VMware vscsi v1 binary, 32-byte records (.vscsi); bare",
}
WRITABLE = ("native", "text")

_READERS = {
    "native": native.NativeReader,
    "text": text.TextReader,
    "oracleGeneral": OracleGeneralReader,
    "vscsi": VscsiReader,
}
_EXTENSIONS = (
    (".oraclegeneral.bin", "oracleGeneral"), (".oraclegeneral", "oracleGeneral"),
    (".vscsi", "vscsi"), (".rmt", "native"), (".rmtxt", "text"), (".lackey", "lackey"),
    (".pages", "rwpages"), (".txt", "txt"), (".trace", "lirs"), (".trc", "lirs"),
)
SNIFF_BYTES = 1 << 16

_LINE_KINDS = (
    ("lackey", re.compile(rb"(?:[ILSM]\s+(?:0x)?[0-9a-fA-F]+\s*,\s*\d+|(?:==|--)\d+(?:==|--).*)")),
    ("rwpages", re.compile(rb"[RrWw]\s+(?:0x)?[0-9a-fA-F]+")),
    ("txt", re.compile(rb"\d+")),
    ("lirs", re.compile(rb"\d+|\*")),
    ("text", re.compile(rb"(?:[RW]\s+\S+\s+\S+|(?:MMAP|MUNMAP|FORK|EXEC|EXIT|FILE)\s.*)")),
)


def canonical(name: str) -> str:
    """The registered spelling of a format name (case-insensitive), or ConfigError."""
    for known in FORMATS:
        if str(name).lower() == known.lower():
            return known
    raise ConfigError(f"unknown trace format {name!r}; known formats: {', '.join(FORMATS)}")


def format_from_name(path: str) -> str | None:
    base = split_suffix(os.path.basename(path).lower())[0]
    for ext, name in _EXTENSIONS:
        if base.endswith(ext):
            return name
    return None


def sniff(head: bytes) -> str | None:
    """Guess the format of content with no telling magic or extension."""
    if b"\0" in head[:4096]:
        if looks_like_vscsi(head):
            return "vscsi"
        return "oracleGeneral" if looks_like_oracle_general(head) else None
    lines = head.split(b"\n")
    if len(head) == SNIFF_BYTES:
        lines.pop()                      # possibly cut short
    lines = [ln.strip() for ln in lines[:500] if ln.strip() and not ln.startswith(b"#")]
    if not lines:
        return None
    for name, pattern in _LINE_KINDS:
        if all(pattern.fullmatch(ln) for ln in lines):
            if name == "lackey" and all(ln[:2] in (b"==", b"--") for ln in lines):
                continue
            return name
    return None


def detect(path: str, head: bytes) -> str:
    if head.startswith(native.MAGIC):
        return "native"
    if head.startswith(text.HEADER.encode()):
        return "text"
    name = format_from_name(path) or sniff(head)
    if name is None:
        raise TraceError(path, "cannot tell the trace format from the file name or the content; "
                               f"name it, one of: {', '.join(FORMATS)}")
    return name


def open_trace(path, format: str | None = None, *, instructions: bool = True) -> Trace:
    """Open a trace file (gzip, xz or zstd compressed or not) for streaming.

    ``format``: one of ``FORMATS`` or None to detect it. ``instructions``: for ``lackey``, whether
    instruction fetches (``I`` lines) are references. An empty file is a ``TraceError``.
    """
    path = os.fspath(path)
    name = canonical(format) if format is not None else None
    with Source(path) as src:
        head = src.read(SNIFF_BYTES)
        total = src.total_bytes
    if not head:
        raise TraceError(path, "empty file: no trace data", offset=0)
    name = name or detect(path, head)
    if name in _READERS:
        reader = _READERS[name](path)
    else:
        reader = PageTextReader(path, name, instructions=instructions)
    reader.prepare(head)
    return Trace(path, name, reader, total_bytes=total)
