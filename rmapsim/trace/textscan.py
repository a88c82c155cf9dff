"""Run a compiled line kernel over a text trace, block by block, keeping exact line numbers.

A *line kernel* is a numba function

    kernel(a, pos, end, op, pid, addr, lines, n, cap, line, *options) -> (n, pos, line, err)

that parses whole lines of the ``uint8`` buffer ``a[pos:end]`` into the event fields ``op``,
``pid`` and ``addr`` from slot ``n`` on (never past ``cap``), records the 1-based line number of
each event in ``lines``, and returns where it stopped: ``err`` is ``E_OK`` when it used the buffer
up or filled the chunk, ``E_FULL`` when the next line's events would not fit, ``E_SLOW`` when the
line at ``pos`` is for a Python parser, or an error code for the line ``line`` starting at ``pos``.

``scan`` reads 4 MiB blocks, hands the kernel only complete lines, and yields ``(events, lines)``
chunks; it is the one place where text-trace errors become ``TraceError``s.
"""
from __future__ import annotations

import numpy as np

from rmapsim.errors import TraceError
from rmapsim.trace.compress import Source
from rmapsim.trace.events import EVENT_DTYPE
from rmapsim.trace.lexer import E_FULL, E_OK, E_SLOW, E_SYNTAX, MESSAGES

BLOCK = 1 << 22        # bytes read at a time
MAX_LINE = 1 << 20     # a longer line is an error (no trace has one; it bounds the memory used)


def excerpt(raw: bytes, limit: int = 60) -> str:
    text = raw.rstrip(b"\r").decode("utf-8", errors="replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def scan(src, kernel, options=(), size=1 << 20, syntax="malformed line", slow=None, min_cap=1):
    """Yield ``(events, lines)`` chunks of at most ``max(size, min_cap)`` events from ``src``.

    ``syntax`` is the message for ``E_SYNTAX``; ``slow(line: bytes)`` parses a line the kernel
    declined (``E_SLOW``) into a tuple of event fields, or None for no event, or raises
    ``ValueError(message)``.
    """
    path, block = src.path, BLOCK
    cap = max(size, min_cap)
    line, tail, n = 1, b"", 0

    def fresh():
        ev = np.zeros(cap, EVENT_DTYPE)
        return ev, ev["op"], ev["pid"], ev["addr"], np.zeros(cap, np.int64)

    ev, op, pid, addr, lines = fresh()
    while True:
        data = src.read(block)
        eof = len(data) < block
        buf = tail + data if tail else data
        if eof:
            tail = b""
        else:
            cut = buf.rfind(b"\n") + 1
            buf, tail = buf[:cut], buf[cut:]
        a = np.frombuffer(buf, np.uint8)
        pos, end = 0, len(a)
        while pos < end:
            n, pos, line, err = kernel(a, pos, end, op, pid, addr, lines, n, cap, line, *options)
            if err == E_SLOW:
                stop = buf.find(b"\n", pos)
                stop = end if stop < 0 else stop
                try:
                    fields = slow(buf[pos:stop])
                except ValueError as e:
                    raise TraceError(path, f"{e}: {excerpt(buf[pos:stop])}", line=line) from None
                if fields is not None:
                    ev[n] = fields
                    lines[n] = line
                    n += 1
                pos, line = stop + 1, line + 1
            elif err != E_OK and err != E_FULL:
                stop = buf.find(b"\n", pos)
                message = syntax if err == E_SYNTAX else MESSAGES[err]
                raise TraceError(path, f"{message}: {excerpt(buf[pos:stop if stop >= 0 else end])}",
                                 line=line)
            if n == cap or (err == E_FULL and n):
                yield ev[:n], lines[:n]
                ev, op, pid, addr, lines = fresh()
                n = 0
        if len(tail) > MAX_LINE:                # the unfinished line is line ``line``
            raise TraceError(path, f"line longer than {MAX_LINE} bytes", line=line)
        if eof:
            break
    if n:
        yield ev[:n], lines[:n]


def locate_line(chunks, index: int) -> str:
    """"line N" of event ``index`` in the ``(events, lines)`` chunks of a fresh scan."""
    base = 0
    for ev, lines in chunks:
        if index < base + len(ev):
            return f"line {int(lines[index - base])}"
        base += len(ev)
    return f"event {index} (past the end: the trace has {base} events)"


class LineReader:
    """Base of the text readers: a subclass defines ``scan(src, size)`` -> ``(events, lines)``."""
    bare = True
    has_next = False

    def __init__(self, path: str, **options):
        self.path = str(path)

    def prepare(self, head: bytes) -> None:
        """Check the start of the data (the first 64 KiB or less)."""

    def open(self) -> Source:
        return Source(self.path)

    def scan(self, src, size, check=True):
        raise NotImplementedError

    def chunks(self, src, size, with_next):
        for ev, _ in self.scan(src, size):
            yield ev

    def locate(self, index: int) -> str:
        with self.open() as src:
            return locate_line(self.scan(src, 1 << 16, check=False), index)
