"""Readers of bare page-reference text traces: ``txt``, ``lirs``, ``rwpages``, ``vmsim`` and
``lackey``.

Every one gives a bare trace (READ/WRITE events of pid 0) and is parsed by a compiled line
kernel (see ``textscan``); errors name the 1-based line.

- ``txt`` -- libCacheSim's plain-text trace (``PLAIN_TXT_TRACE``, e.g. ``cloudPhysicsIO.txt``):
  one unsigned decimal object id per line, read as a page number. Blank lines are skipped.
- ``lirs`` -- the block traces distributed with LIRS (Jiang & Zhang, SIGMETRICS 2002): one
  unsigned decimal block number per line; a line holding only ``*`` is a checkpoint marker and
  no reference; blank lines are skipped; CRLF line ends are allowed (as everywhere).
- ``rwpages`` -- ``R <hex page>`` or ``W <hex page>`` per line (the SPEC CPU2000 traces in
  ``shared/data/spec2000``); ``0x`` is optional; blank lines and ``#`` comments are skipped.
- ``vmsim`` -- ``<hex address> R|W`` per line (the traces of vmsim-style page-replacement
  assignments, e.g. ``0041f7a0 R``): a byte address, ``0x`` optional, then ``R``/``W`` (either
  case); blank lines and ``#`` comments are skipped. The event address is the byte address.
- ``lackey`` -- valgrind ``--tool=lackey --trace-mem=yes`` output: ``I  addr,size`` (instruction
  fetch), `` L addr,size`` (load), `` S addr,size`` (store), `` M addr,size`` (modify: a load
  then a store), addresses in hex. ``L`` and ``I`` give READ (``I`` only when instructions are
  included), ``S`` WRITE, ``M`` READ then WRITE. The event address is the byte address; an access
  whose bytes cross into the next page also references that page (event address = the page's
  first byte), so ``M`` of a crossing access gives R a, R b, W a, W b. Lines starting ``==`` or
  ``--`` (valgrind's messages) and blank lines are skipped. lackey never reports accesses over
  512 bytes; sizes above 4096 are rejected, size 0 counts as 1.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from rmapsim.trace.events import OP_READ, OP_WRITE
from rmapsim.trace.lexer import (E_FULL, E_OK, E_PAGE, E_SIZE, E_SYNTAX, E_TOO_BIG, NL, PAGE_MAX,
                                 DEC_DIGIT, HEX_DIGIT,
                                 line_end, parse_dec, parse_field, parse_hex, skip_blank, skip_line)
from rmapsim.trace.textscan import LineReader, scan

SHIFT = np.uint64(12)
SHIFT4 = np.uint64(4)
U64_MAX = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, nogil=True)
def page_kernel(a, pos, end, op, pid, addr, lines, n, cap, line, rw, markers):
    """One page number per line: decimal, or with ``rw`` ``R|W <hex>`` (and ``#`` comments);
    with ``markers`` a line ``*`` is skipped (LIRS)."""
    base = np.uint64(16 if rw else 10)
    limit = 13 if rw else 15                  # digits that always fit PAGE_MAX
    while pos < end and n < cap:
        # fast path for the usual line, '<decimal>\n' or 'R|W <hex>\n', written out in full
        # because numba does not inline calls (each costs as much as parsing a line)
        v, o, ok, i = np.uint64(0), OP_READ, True, pos
        if rw:
            ok = (a[pos] == 82 or a[pos] == 87) and pos + 1 < end and a[pos + 1] == 32
            o = OP_WRITE if a[pos] == 87 else OP_READ
            i = pos + 2
        k = i
        digit = HEX_DIGIT if rw else DEC_DIGIT
        while ok and k < end:
            d = digit[a[k]]
            if d == 255:
                break
            v = v * base + np.uint64(d)
            k += 1
        if ok and 0 < k - i <= limit and (k == end or a[k] == NL):
            i = k
        else:                                 # anything else: the careful path
            i = skip_blank(a, pos, end)
            c = a[i] if i < end else NL
            if c == NL or (rw and c == 35) or (markers and c == 42):   # blank, '#' comment, '*'
                i = line_end(a, i + 1, end, False) if c == 42 else skip_line(a, i, end)
                if i < 0:
                    return n, pos, line, E_SYNTAX
                pos = i + 1
                line += 1
                continue
            o = OP_READ
            if not rw:
                v, i, err = parse_dec(a, i, end)
            elif c == 82 or c == 114 or c == 87 or c == 119:    # R r W w
                o = OP_WRITE if c == 87 or c == 119 else OP_READ
                v, i, err = parse_field(a, i + 1, end, True)
            else:
                return n, pos, line, E_SYNTAX
            if err == E_OK:
                i = line_end(a, i, end, rw)
                err = E_SYNTAX if i < 0 else (E_PAGE if v > PAGE_MAX else E_OK)
            if err != E_OK:
                return n, pos, line, err
        op[n] = o
        addr[n] = v << SHIFT
        lines[n] = line
        n += 1
        pos = i + 1
        line += 1
    return n, pos, line, E_OK


@njit(cache=True, nogil=True)
def lackey_kernel(a, pos, end, op, pid, addr, lines, n, cap, line, instructions):
    """valgrind lackey ``--trace-mem=yes`` lines."""
    while pos < end and n < cap:
        # fast path for lackey's own 'I  %08lx,%lu' / ' L %08lx,%lu' lines, written out in full
        # because numba does not inline calls; kind 0 sends the line to the careful path
        kind, v, size, i = 0, np.uint64(0), np.uint64(0), pos + 3
        if i < end and a[pos + 2] == 32:
            if a[pos] == 73 and a[pos + 1] == 32:
                kind = 73
            elif a[pos] == 32 and (a[pos + 1] == 76 or a[pos + 1] == 83 or a[pos + 1] == 77):
                kind = a[pos + 1]
            while kind and i < end and HEX_DIGIT[a[i]] != 255:
                v = (v << SHIFT4) | np.uint64(HEX_DIGIT[a[i]])
                i += 1
            digits = i - pos - 3
            if i < end and a[i] == 44 and 0 < digits <= 15:
                i += 1
                first = i
                while i < end and DEC_DIGIT[a[i]] != 255 and i - first < 5:
                    size = size * np.uint64(10) + np.uint64(DEC_DIGIT[a[i]])
                    i += 1
                if not (0 < i - first <= 4 and (i == end or a[i] == NL) and np.uint64(0) < size <= np.uint64(4096)):
                    kind = 0
            else:
                kind = 0
        if kind == 0:
            if pos + 1 < end and ((a[pos] == 61 and a[pos + 1] == 61) or (a[pos] == 45 and a[pos + 1] == 45)):
                i = skip_line(a, pos, end)    # '==pid==' or '--pid--' message
            else:
                i = skip_blank(a, pos, end)
            if i == end or a[i] == NL:
                pos = i + 1
                line += 1
                continue
            kind = a[i]
            if kind != 73 and kind != 76 and kind != 83 and kind != 77:   # I L S M
                return n, pos, line, E_SYNTAX
            v, i, err = parse_field(a, i + 1, end, True)
            if err != E_OK:
                return n, pos, line, err
            i = skip_blank(a, i, end)
            if i >= end or a[i] != 44:        # ','
                return n, pos, line, E_SYNTAX
            size, i, err = parse_dec(a, skip_blank(a, i + 1, end), end)
            if err != E_OK:
                return n, pos, line, err
            i = line_end(a, i, end, False)
            if i < 0:
                return n, pos, line, E_SYNTAX
            if size > np.uint64(4096):
                return n, pos, line, E_SIZE
            if size == np.uint64(0):
                size = np.uint64(1)
        if v > U64_MAX - size + np.uint64(1):
            return n, pos, line, E_TOO_BIG
        if kind != 73 or instructions:
            last = (v + size - np.uint64(1)) >> SHIFT
            cross = last != (v >> SHIFT)
            k = (2 if kind == 77 else 1) * (2 if cross else 1)
            if n + k > cap:
                return n, pos, line, E_FULL
            for w in range(2):
                if (w == 0 and kind == 83) or (w == 1 and kind != 77 and kind != 83):
                    continue
                op[n] = OP_WRITE if (kind == 83 or w == 1) else OP_READ
                addr[n] = v
                lines[n] = line
                n += 1
                if cross:
                    op[n] = op[n - 1]
                    addr[n] = last << SHIFT
                    lines[n] = line
                    n += 1
        pos = i + 1
        line += 1
    return n, pos, line, E_OK


@njit(cache=True, nogil=True)
def vmsim_kernel(a, pos, end, op, pid, addr, lines, n, cap, line):
    """``<hex address> R|W`` per line, ``#`` comments and blank lines."""
    while pos < end and n < cap:
        i = skip_blank(a, pos, end)
        c = a[i] if i < end else NL
        if c == NL or c == 35:
            pos = skip_line(a, i, end) + 1
            line += 1
            continue
        v, i, err = parse_hex(a, i, end)
        if err != E_OK:
            return n, pos, line, err
        j = skip_blank(a, i, end)
        if j == i or j >= end:
            return n, pos, line, E_SYNTAX
        c = a[j]
        if c != 82 and c != 114 and c != 87 and c != 119:
            return n, pos, line, E_SYNTAX
        i = line_end(a, j + 1, end, True)
        if i < 0:
            return n, pos, line, E_SYNTAX
        op[n] = OP_WRITE if (c == 87 or c == 119) else OP_READ
        addr[n] = v
        lines[n] = line
        n += 1
        pos = i + 1
        line += 1
    return n, pos, line, E_OK


# name -> (kernel, options builder, message for a malformed line, minimum chunk capacity)
KERNELS = {
    "txt": (page_kernel, lambda opts: (False, False),
            "expected one unsigned decimal page number per line", 1),
    "lirs": (page_kernel, lambda opts: (False, True),
             "expected one unsigned decimal block number (or '*') per line", 1),
    "rwpages": (page_kernel, lambda opts: (True, False),
                "expected 'R <hex page>' or 'W <hex page>'", 1),
    "vmsim": (vmsim_kernel, lambda opts: (),
              "expected '<hex address> R' or '<hex address> W'", 1),
    "lackey": (lackey_kernel, lambda opts: (bool(opts.get("instructions", True)),),
               "expected a valgrind lackey line ('I  addr,size' or ' L|S|M addr,size')", 4),
}


class PageTextReader(LineReader):
    """A reader of one of the formats in ``KERNELS``."""

    def __init__(self, path: str, name: str, **options):
        super().__init__(path)
        self.kernel, build, self.syntax, self.min_cap = KERNELS[name]
        self.options = build(options)

    def scan(self, src, size, check=True):
        return scan(src, self.kernel, self.options, size, self.syntax, min_cap=self.min_cap)
