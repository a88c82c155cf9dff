"""The format registry: names, descriptions, detection from the file name and the content.

``open_trace`` decides the format in this order: an explicit ``format``; a magic number or header
at the start of the (decompressed) data (native, text, lcs, damon); the file name's extension
after any ``.gz``/``.xz``/``.zst`` if the first 64 KiB of content fit that format; else what
that content looks like (saying so in a ``FormatNote`` warning when the name said otherwise);
else the name's format, whose reader then says where the content goes wrong.
"""
from __future__ import annotations

import os
import re
import warnings

from rmapsim.errors import ConfigError, Note, TraceError, did_you_mean, option
from rmapsim.trace import native, text
from rmapsim.trace.base import Trace
from rmapsim.trace.compress import Source, split_suffix
from rmapsim.trace.libcachesim_formats import (OracleGeneralReader, VscsiReader,
                                               looks_like_oracle_general, looks_like_vscsi)
from rmapsim.trace.csvtrace import CsvReader
from rmapsim.trace.damon import MARK as DAMON_MARK, DamonReader, looks_like_damon
from rmapsim.trace.lcs import LcsReader, looks_like_lcs
from rmapsim.trace.pagetraces import PageTextReader

FORMATS = {
    "native": "rmapsim binary event trace (.rmt): 64-byte header, 40-byte event records",
    "text": "rmapsim text event trace (.rmtxt): one event per line, 'R pid addr', 'MMAP ...'",
    "lackey": "valgrind --tool=lackey --trace-mem=yes output (.lackey); bare",
    "rwpages": "'R <hex page>' / 'W <hex page>' per line (.pages); bare",
    "vmsim": "vmsim-style '<hex address> R|W' per line (.vmsim); bare",
    "txt": "libCacheSim txt: one decimal page number per line (.txt); bare, no R/W",
    "csv": "delimited text, columns named by --csv-spec or the header (.csv); bare",
    "lirs": "LIRS block trace: one block number per line, '*' markers (.trace, .trc); bare, no R/W",
    "oracleGeneral": "libCacheSim oracleGeneral binary, 24-byte records, next-access column "
                     "(.oracleGeneral, .oracleGeneral.bin); bare, no R/W",
    "lcs": "libCacheSim lcs binary, 8 KiB header, versions 1-8, next-access column (.lcs); bare",
    "vscsi": "VMware vscsi v1 binary, 32-byte records (.vscsi); bare",
    "damon": "DAMON records of `damo record` (binary, JSON or zlib JSON), expanded to page "
             "references as `damo replay` does: approximate (.damon, damon.data); bare",
}
READABLE = tuple(FORMATS)
WRITABLE = ("native", "text", "lackey", "rwpages", "vmsim", "txt", "csv", "lirs",
            "oracleGeneral", "lcs", "vscsi")

_READERS = {
    "native": native.NativeReader,
    "text": text.TextReader,
    "oracleGeneral": OracleGeneralReader,
    "lcs": LcsReader,
    "vscsi": VscsiReader,
    "csv": CsvReader,
    "damon": DamonReader,
}
_EXTENSIONS = (
    (".oraclegeneral.bin", "oracleGeneral"), (".oraclegeneral", "oracleGeneral"),
    (".lcs", "lcs"), (".vscsi", "vscsi"), (".rmt", "native"), (".rmtxt", "text"),
    (".lackey", "lackey"), (".pages", "rwpages"), (".vmsim", "vmsim"), (".txt", "txt"),
    (".csv", "csv"), (".trace", "lirs"), (".trc", "lirs"), (".lirs", "lirs"), (".damon", "damon"),
)
SNIFF_BYTES = 1 << 16

# the text formats' lines, in the order detection tries them (txt before lirs: digits alone)
_LINE_PATTERNS = dict((
    ("lackey", re.compile(rb"(?:[ILSM]\s+(?:0x)?[0-9a-fA-F]+\s*,\s*\d+|(?:==|--)\d+(?:==|--).*)")),
    ("rwpages", re.compile(rb"[RrWw]\s+(?:0x)?[0-9a-fA-F]+")),
    ("txt", re.compile(rb"\d+")),
    ("lirs", re.compile(rb"\d+|\*")),
    ("vmsim", re.compile(rb"(?:0[xX])?[0-9a-fA-F]+\s+[RrWw](?:\s*#.*)?")),
    ("text", re.compile(rb"(?:[RW]\s+\S+\s+\S+|(?:MMAP|MUNMAP|FORK|EXEC|EXIT|FILE)\s.*)")),
))


_CSV_LINE = re.compile(rb"[^,\n]*,[^\n]*")


def canonical(name: str) -> str:
    """The registered spelling of a format name (case-insensitive), or ConfigError."""
    for known in FORMATS:
        if str(name).lower() == known.lower():
            return known
    raise ConfigError(f"unknown trace format {name!r}; known formats: {', '.join(FORMATS)}"
                      f"{did_you_mean(name, FORMATS)}")


def format_from_name(path: str) -> str | None:
    base = split_suffix(os.path.basename(path).lower())[0]
    if base.startswith("damon") and base.endswith(".data"):
        return "damon"
    for ext, name in _EXTENSIONS:
        if base.endswith(ext):
            return name
    return None


def _text_lines(head: bytes) -> list[bytes]:
    """The first lines of text content that say what it is: no blank or '#' lines, none cut
    short by the end of ``head``."""
    lines = head.split(b"\n")
    if len(head) == SNIFF_BYTES:
        lines.pop()                      # possibly cut short
    return [ln.strip() for ln in lines[:500] if ln.strip() and not ln.startswith(b"#")]


def _lines_are(name: str, lines: list[bytes]) -> bool:
    """Whether every one of ``lines`` is a line of the text format ``name``."""
    pattern = _LINE_PATTERNS[name]
    if not lines or not all(pattern.fullmatch(ln) for ln in lines):
        return False
    # valgrind's own '==pid==' lines alone are no trace
    return name != "lackey" or not all(ln[:2] in (b"==", b"--") for ln in lines)


def sniff(head: bytes) -> str | None:
    """Guess the format of content with no telling magic or extension."""
    if looks_like_damon(head):
        return "damon"
    if b"\0" in head[:4096]:
        if looks_like_lcs(head):
            return "lcs"
        if looks_like_vscsi(head):
            return "vscsi"
        return "oracleGeneral" if looks_like_oracle_general(head) else None
    lines = _text_lines(head)
    if not lines:
        return None
    for name in _LINE_PATTERNS:
        if _lines_are(name, lines):
            return name
    if _CSV_LINE.fullmatch(lines[-1]) and all(_CSV_LINE.fullmatch(ln) for ln in lines[1:]):
        return "csv"
    return None


_BINARY_LOOKS = {"lcs": looks_like_lcs, "vscsi": looks_like_vscsi,
                 "oracleGeneral": looks_like_oracle_general, "damon": looks_like_damon,
                 "native": lambda head: head.startswith(native.MAGIC)}


def fits(name: str, head: bytes) -> bool:
    """Whether ``head`` can begin a trace of format ``name``, as far as a look tells: a name's
    format is kept unless its content is plainly another's."""
    if name in _BINARY_LOOKS:
        return _BINARY_LOOKS[name](head)
    if name == "csv":                    # its columns and separator are the user's to say
        return b"\0" not in head[:4096]
    return _lines_are(name, _text_lines(head))


def _by_mark(head: bytes) -> str | None:
    """The format a file's first bytes name outright (a magic number or header line)."""
    if head.startswith(native.MAGIC):
        return "native"
    if head.startswith(text.HEADER.encode()):
        return "text"
    if looks_like_lcs(head):
        return "lcs"
    if head.startswith(DAMON_MARK):
        return "damon"
    return None


class FormatNote(Note):
    """The content of a trace says another format than its name: the content's is used."""


def detect(path: str, head: bytes) -> str:
    """The format of a trace from its first bytes and its name. The content decides when it
    plainly is one format and the name says another (``x.trace.gz`` of 'R <hex>' lines is
    rwpages, not LIRS); a FormatNote warning then says what was assumed."""
    by_name = format_from_name(path)
    found = _by_mark(head)
    if found is None:
        if by_name is not None and fits(by_name, head):
            return by_name
        found = sniff(head)
    if found is None:
        if by_name is not None:          # its reader will say where the content goes wrong
            return by_name
        raise TraceError(path, "cannot tell the trace format from the file name or the content; "
                               f"name it, one of: {', '.join(FORMATS)}")
    if by_name is not None and by_name != found:
        warnings.warn(FormatNote(f"{path}: its content is {found}, not the {by_name} its name "
                                 f"suggests: read as {found} (give {option('format')} to "
                                 f"choose)"), stacklevel=3)
    return found


def open_trace(path, format: str | None = None, *, instructions: bool = True,
               csv_spec=None) -> Trace:
    """Open a trace file (gzip, xz or zstd compressed or not) for streaming.

    ``format``: one of ``FORMATS`` or None to detect it. ``instructions``: for ``lackey``, whether
    instruction fetches (``I`` lines) are references. ``csv_spec``: for ``csv``, the column spec
    (``"obj=2,op=3,header=1,sep=,"``, see ``csvtrace``). An empty file is a ``TraceError``.
    """
    path = os.fspath(path)
    name = canonical(format) if format is not None else None
    with Source(path) as src:
        head = src.read(SNIFF_BYTES)
        total = src.total_bytes
    if not head:
        raise TraceError(path, "empty file: no trace data", offset=0)
    name = name or detect(path, head)
    if name == "csv":
        reader = CsvReader(path, csv_spec=csv_spec)
    elif name in _READERS:
        reader = _READERS[name](path)
    else:
        reader = PageTextReader(path, name, instructions=instructions)
    reader.prepare(head)
    return Trace(path, name, reader, total_bytes=total)
