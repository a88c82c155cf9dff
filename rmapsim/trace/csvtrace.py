"""``csv``: a page trace in delimited text, the columns named by a *column spec*.

A spec is comma-separated ``key=value`` items (``sep=,`` is allowed: the comma right after
``sep=`` is the value)::

    obj=N          1-based column of the object id, read as a page number (required unless the
                   header names it)
    op=N           column of the operation: R/W, read/write, get/set, ... (see OPS); no op
                   column: every reference is a READ
    header=0|1|auto   the first line is a header (auto: when its obj field is not a number)
    sep=C          the delimiter: one character, or comma|tab|space|semicolon|pipe (default ,)
    unit=page|byte    the obj column holds page numbers (default) or byte addresses
    time=N         accepted (libCacheSim's spec has it) and ignored

``--csv-spec obj=2,op=3,header=1,sep=,`` reads ``time,page,op`` rows. Without an obj column in
the spec, a header naming one (page, obj, obj_id, id, addr, address, block, lbn, key) and,
optionally, an op column (op, type, rw, operation) picks them, and ``addr``/``address`` mean
byte addresses; else column 1 holds page numbers. Numbers are decimal, or hex with ``0x``.
Fields may be surrounded by blanks and double quotes. The writer writes ``page,op`` rows
(``R``/``W``) under that header, which this reader reads with no spec.
"""
from __future__ import annotations

import re

import numpy as np
from numba import njit

from rmapsim.errors import ConfigError
from rmapsim.trace.events import OP_READ, OP_WRITE, PAGE_SHIFT
from rmapsim.trace.lexer import DEC_DIGIT, E_OK, E_SLOW, HEX_DIGIT
from rmapsim.trace.textscan import LineReader, scan

PAGE_MAX = (1 << 52) - 1
PAGE_MAX_U = np.uint64(PAGE_MAX)
SEP_NAMES = {"comma": ",", "tab": "\t", "space": " ", "semicolon": ";", "pipe": "|"}
OBJ_NAMES = ("page", "obj", "obj_id", "objid", "object", "id", "addr", "address", "block",
             "lbn", "key", "page_number")
OP_NAMES = ("op", "type", "rw", "operation", "kind")
READS = {"r", "read", "get", "gets", "l", "load", "0", "nop", "i"}
WRITES = {"w", "write", "set", "add", "replace", "append", "prepend", "cas", "incr", "decr",
          "update", "s", "store", "m", "1"}
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]+")
_SEP_ITEM = re.compile(r"\s*sep=(comma|tab|space|semicolon|pipe|.)(?=,|$)")


class CsvSpec:
    """A parsed column spec (1-based columns as given, 0 = absent)."""

    def __init__(self, obj=0, op=0, header="auto", sep=",", unit="page", explicit=False):
        self.obj, self.op, self.header, self.sep, self.unit = obj, op, header, sep, unit
        self.explicit = explicit

    def __repr__(self):
        return (f"CsvSpec(obj={self.obj}, op={self.op}, header={self.header!r}, "
                f"sep={self.sep!r}, unit={self.unit})")


def parse_spec(text: str | None) -> CsvSpec:
    """``"obj=2,op=3,header=1,sep=,"`` -> ``CsvSpec``; a mistake is a ConfigError."""
    spec = CsvSpec()
    if text is None or not str(text).strip():
        return spec
    text = str(text).strip()
    items, i = [], 0
    while i < len(text):
        m = _SEP_ITEM.match(text, i)          # 'sep=,' : the comma is the value
        if m:
            items.append("sep=" + m.group(1))
            i = m.end() + 1
            continue
        j = text.find(",", i)
        j = len(text) if j < 0 else j
        items.append(text[i:j])
        i = j + 1
    seen = set()
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise ConfigError(f"csv spec {text!r}: expected key=value items, not {item!r}")
        if key in seen:
            raise ConfigError(f"csv spec {text!r}: {key} given twice")
        seen.add(key)
        if key in ("obj", "op", "time"):
            v = value.strip()
            if not v.isdigit() or int(v) < 1:
                raise ConfigError(f"csv spec {text!r}: {key} takes a column number from 1, "
                                  f"not {value!r}")
            if key != "time":
                setattr(spec, key, int(v))
        elif key == "header":
            v = value.strip().lower()
            if v not in ("0", "1", "auto", "true", "false", "yes", "no"):
                raise ConfigError(f"csv spec {text!r}: header takes 0, 1 or auto, not {value!r}")
            spec.header = {"1": "1", "true": "1", "yes": "1", "auto": "auto"}.get(v, "0")
        elif key == "sep":
            v = SEP_NAMES.get(value, value)
            if len(v) != 1 or v in "\n\r\"" or v.isalnum():
                raise ConfigError(f"csv spec {text!r}: sep takes one character (not a letter, "
                                  f"digit, quote or line end) or one of {'|'.join(SEP_NAMES)}")
            spec.sep = v
        elif key == "unit":
            v = value.strip().lower()
            if v not in ("page", "byte"):
                raise ConfigError(f"csv spec {text!r}: unit takes page or byte, not {value!r}")
            spec.unit = v
        else:
            raise ConfigError(f"csv spec {text!r}: unknown key {key!r} "
                              "(known: obj, op, header, sep, unit, time)")
    if spec.op and spec.op == spec.obj:
        raise ConfigError(f"csv spec {text!r}: obj and op name the same column")
    spec.explicit = bool(spec.obj)
    return spec


def _fields(line: str, sep: str):
    parts = line.split() if sep == " " else line.split(sep)
    return [p.strip().strip('"').strip() for p in parts]


def _number(token: str, what: str) -> int:
    if not _NUMBER.fullmatch(token):
        raise ValueError(f"{what} must be an unsigned decimal or 0x-hex number, not {token!r}")
    return int(token, 16) if token[:2] in ("0x", "0X") else int(token)


@njit(cache=True, nogil=True)
def csv_kernel(a, pos, end, op, pid, addr, lines, n, cap, line, sep, objcol, opcol, byte, header):
    """The usual row: plain decimal or 0x-hex obj field, op field one of R r W w. Any other line
    (the header, blanks, comments, quotes, words, errors) goes to the Python parser."""
    need = max(objcol, opcol)
    while pos < end and n < cap:
        if line == 1 and header:
            return n, pos, line, E_SLOW
        i, col, v, o, ok, got_op = pos, 1, np.uint64(0), OP_READ, True, opcol == 0
        while True:
            j = i
            while j < end and a[j] != sep and a[j] != 10:
                j += 1
            k = j
            if k > i and a[k - 1] == 13 and (j == end or a[j] == 10):
                k -= 1
            if col == objcol:
                h = k - i > 2 and a[i] == 48 and (a[i + 1] == 120 or a[i + 1] == 88)
                t = i + 2 if h else i
                if k == t or k - t > (16 if h else 19):
                    ok = False
                for q in range(t, k):
                    d = HEX_DIGIT[a[q]] if h else DEC_DIGIT[a[q]]
                    if d == 255:
                        ok = False
                        break
                    v = v * np.uint64(16 if h else 10) + np.uint64(d)
            elif col == opcol:
                c = a[i] if k - i == 1 else 0
                if c == 82 or c == 114:
                    got_op = True
                elif c == 87 or c == 119:
                    got_op, o = True, OP_WRITE
                else:
                    ok = False
            if not ok or j >= end or a[j] == 10:
                break
            i = j + 1
            col += 1
        if not ok or col < need or not got_op or (not byte and v > PAGE_MAX_U):
            return n, pos, line, E_SLOW
        op[n] = o
        addr[n] = v if byte else v << np.uint64(PAGE_SHIFT)
        lines[n] = line
        n += 1
        pos = j + 1
        line += 1
    return n, pos, line, E_OK


@njit(cache=True, nogil=True)
def python_lines(a, pos, end, op, pid, addr, lines, n, cap, line):
    """Hand every line to the Python parser (``scan``'s slow path)."""
    if pos < end and n < cap:
        return n, pos, line, E_SLOW
    return n, pos, line, E_OK


class CsvReader(LineReader):
    bare = True

    def __init__(self, path: str, csv_spec=None, **options):
        super().__init__(path)
        self.spec = csv_spec if isinstance(csv_spec, CsvSpec) else parse_spec(csv_spec)
        self.obj, self.op, self.unit, self.skip_header = self.spec.obj, self.spec.op, self.spec.unit, False

    def prepare(self, head: bytes) -> None:
        first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
        names = [f.lower() for f in _fields(first, self.spec.sep)]
        header = self.spec.header
        obj = self.obj or 1
        if header == "auto":
            token = names[obj - 1] if obj <= len(names) else ""
            header = "0" if _NUMBER.fullmatch(token) or not first.strip() else "1"
        self.skip_header = header == "1"
        if self.skip_header and not self.spec.explicit:
            for i, name in enumerate(names, 1):
                if name in OBJ_NAMES and not self.obj:
                    self.obj = i
                    if name in ("addr", "address") and self.spec.unit == "page":
                        self.unit = "byte"
                elif name in OP_NAMES and not self.op:
                    self.op = i
        self.obj = self.obj or 1
        if self.op == self.obj:
            self.op = 0

    def _parser(self):
        state = {"first": True}
        sep, obj, opcol, byte = self.spec.sep, self.obj, self.op, self.unit == "byte"
        need = max(obj, opcol)

        def parse(raw: bytes):
            first, state["first"] = state["first"], False
            if first and self.skip_header:
                return None
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            if not text.strip() or text.lstrip().startswith("#"):
                return None
            f = _fields(text, sep)
            if len(f) < need:
                raise ValueError(f"expected at least {need} fields separated by {sep!r}, found {len(f)}")
            v = _number(f[obj - 1], f"column {obj} (the object id)")
            if byte:
                if v >> 64:
                    raise ValueError(f"address {f[obj - 1]} does not fit 64 bits")
                a = v
            else:
                if v > PAGE_MAX:
                    raise ValueError(f"page number {f[obj - 1]} too large (its byte address exceeds 64 bits)")
                a = v << PAGE_SHIFT
            o = OP_READ
            if opcol:
                word = f[opcol - 1].lower()
                if word in WRITES:
                    o = OP_WRITE
                elif word not in READS:
                    raise ValueError(f"column {opcol} (the operation) must be R/W, read/write, "
                                     f"get/set..., not {f[opcol - 1]!r}")
            return (o, 0, 0, 0, a, 0, 0, 0, 0)
        return parse

    def scan(self, src, size, check=True):
        if self.spec.sep == " ":                  # runs of blanks: Python's split()
            return scan(src, python_lines, (), size, slow=self._parser())
        options = (ord(self.spec.sep), self.obj, self.op, self.unit == "byte", self.skip_header)
        return scan(src, csv_kernel, options, size, slow=self._parser())


def encode(chunk: np.ndarray) -> bytes:
    pages = (chunk["addr"] >> np.uint64(PAGE_SHIFT)).tolist()
    ops = np.where(chunk["op"] == OP_WRITE, "W", "R").tolist()
    return "".join(f"{p},{o}\n" for p, o in zip(pages, ops)).encode("ascii")


HEADER = b"page,op\n"
