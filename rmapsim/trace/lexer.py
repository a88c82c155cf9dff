"""Compiled primitives for scanning text traces held in a ``uint8`` array.

The line kernels of ``pagetraces`` and ``text`` are built from these. Each primitive takes the
buffer ``a``, a position ``i`` and the end ``end`` of the valid data, and returns the new position;
number parsers also return an error code (``E_*``) so that no exception is raised in compiled code:
the Python driver (``textscan``) turns a code into a ``TraceError`` naming the line.
"""
import numpy as np
from numba import njit

# error codes returned by every line kernel
E_OK = 0
E_SYNTAX = 1     # the line is not in the format (the format supplies the message)
E_NEGATIVE = 2   # a '-' where a number is expected
E_TOO_BIG = 3    # more than 64 bits
E_PAGE = 4       # page number whose byte address does not fit 64 bits
E_SIZE = 5       # lackey access size over one page
E_FULL = -1      # not an error: the output chunk cannot take the next line's events
E_SLOW = -2      # not an error: the line is for the Python parser (native text)

MESSAGES = {
    E_NEGATIVE: "negative number",
    E_TOO_BIG: "number too large for 64 bits",
    E_PAGE: "page number too large (its byte address exceeds 64 bits)",
    E_SIZE: "access size larger than a page (4096 bytes)",
}

NL, CR, SP, TAB, HASH = 10, 13, 32, 9, 35
U64_MAX_DIV10 = np.uint64(0xFFFFFFFFFFFFFFFF // 10)
U64_MAX_MOD10 = np.uint64(0xFFFFFFFFFFFFFFFF % 10)
PAGE_MAX = np.uint64((1 << 52) - 1)   # largest page number whose byte address fits 64 bits

# byte -> digit value, 255 if not a digit: the kernels' fast paths (lowercase hex only, as trace
# writers print it; the careful path takes uppercase too)
DEC_DIGIT = np.full(256, 255, np.uint8)
DEC_DIGIT[48:58] = np.arange(10)
HEX_DIGIT = DEC_DIGIT.copy()
HEX_DIGIT[97:103] = np.arange(10, 16)


@njit(cache=True, nogil=True)
def skip_blank(a, i, end):
    """Skip spaces, tabs and carriage returns."""
    while i < end:
        c = a[i]
        if c != SP and c != TAB and c != CR:
            break
        i += 1
    return i


@njit(cache=True, nogil=True)
def skip_line(a, i, end):
    """Position of the newline ending the line at ``i`` (``end`` if it is the last line)."""
    while i < end and a[i] != NL:
        i += 1
    return i


@njit(cache=True, nogil=True)
def line_end(a, i, end, comments):
    """After the last token: skip blanks (and a ``#`` comment when ``comments``) to the newline.

    Returns the newline's position (or ``end``), or -1 if anything else follows.
    """
    i = skip_blank(a, i, end)
    if i < end and comments and a[i] == HASH:
        return skip_line(a, i, end)
    if i < end and a[i] != NL:
        return -1
    return i


@njit(cache=True, nogil=True)
def is_delim(a, i, end):
    """True at the end of a token: end of data, blank, newline or comma."""
    if i >= end:
        return True
    c = a[i]
    return c == SP or c == TAB or c == CR or c == NL or c == 44


@njit(cache=True, nogil=True)
def parse_dec(a, i, end):
    """Unsigned decimal at ``i`` -> (value, new i, error code)."""
    v = np.uint64(0)
    start = i
    if i < end and a[i] == 45:
        return v, i, E_NEGATIVE
    while i < end:
        c = a[i]
        if c < 48 or c > 57:
            break
        d = np.uint64(c - 48)
        if v > U64_MAX_DIV10 or (v == U64_MAX_DIV10 and d > U64_MAX_MOD10):
            return v, i, E_TOO_BIG
        v = v * np.uint64(10) + d
        i += 1
    if i == start or not is_delim(a, i, end):
        return v, i, E_SYNTAX
    return v, i, E_OK


@njit(cache=True, nogil=True)
def parse_hex(a, i, end):
    """Unsigned hexadecimal at ``i`` with an optional ``0x`` -> (value, new i, error code)."""
    v = np.uint64(0)
    if i < end and a[i] == 45:
        return v, i, E_NEGATIVE
    if i + 1 < end and a[i] == 48 and (a[i + 1] == 120 or a[i + 1] == 88):
        i += 2
    start = i
    while i < end:
        c = a[i]
        if 48 <= c <= 57:
            d = np.uint64(c - 48)
        elif 97 <= c <= 102:
            d = np.uint64(c - 87)
        elif 65 <= c <= 70:
            d = np.uint64(c - 55)
        else:
            break
        if v >> np.uint64(60) != np.uint64(0):
            return v, i, E_TOO_BIG
        v = (v << np.uint64(4)) | d
        i += 1
    if i == start or not is_delim(a, i, end):
        return v, i, E_SYNTAX
    return v, i, E_OK


@njit(cache=True, nogil=True)
def parse_num(a, i, end):
    """Decimal, or hexadecimal when written with ``0x``."""
    if i + 1 < end and a[i] == 48 and (a[i + 1] == 120 or a[i + 1] == 88):
        return parse_hex(a, i, end)
    return parse_dec(a, i, end)


@njit(cache=True, nogil=True)
def parse_field(a, i, end, hexa):
    """Skip blanks that must precede a field, then parse it (``hexa``: hex, else dec or 0x)."""
    j = skip_blank(a, i, end)
    if j == i:
        return np.uint64(0), i, E_SYNTAX
    if hexa:
        return parse_hex(a, j, end)
    return parse_num(a, j, end)
