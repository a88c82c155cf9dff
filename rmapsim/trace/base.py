"""``Trace``: a re-readable stream of event chunks, from a file or from memory.

A ``Trace`` holds a *reader* that knows one format. The reader's interface is small:

- ``open()`` -> a ``compress.Source`` positioned at the start of the file (None in memory);
- ``chunks(src, size, with_next)`` -> arrays of ``EVENT_DTYPE`` (``(events, next)`` pairs when
  ``with_next``); a reader may yield chunks over ``size`` events (``Trace`` splits them);
- ``locate(index)`` -> ``"line N"`` or ``"byte offset N"`` of event ``index``;
- ``bare``, ``has_next`` attributes.
"""
from __future__ import annotations

import operator

import numpy as np

from rmapsim.errors import TraceError
from rmapsim.trace.events import (EVENT_DTYPE, events_from_refs, refs_from_events,
                                  refs_from_pages)
from rmapsim.trace.validate import first_bad

MEMORY = "<memory>"
PAGE_MAX = (1 << 52) - 1


class Trace:
    """A trace to replay: ``chunks()`` may be called any number of times, each a fresh pass.

    Attributes: ``path`` (``"<memory>"`` in memory), ``format``, ``bare`` (a single-process page
    trace: only READ/WRITE events of pid 0), ``total_bytes`` (size on disk or None) and
    ``bytes_done`` (on-disk bytes consumed by the current pass, for a progress bar).
    """

    def __init__(self, path: str, format: str, reader, total_bytes: int | None = None):
        self.path = str(path)
        self.format = format
        self.bare = bool(reader.bare)
        self.total_bytes = total_bytes
        self.bytes_done = 0
        self._reader = reader

    @property
    def has_next(self) -> bool:
        """True when ``chunks(with_next=True)`` can give the next-access column."""
        return bool(getattr(self._reader, "has_next", False))

    def chunks(self, size: int = 1 << 20, with_next: bool = False):
        """Generate arrays of at most ``size`` events, streamed from the file.

        With ``with_next`` (formats with ``has_next``), generate ``(events, next)`` pairs where
        ``next[i]`` is as stored by the format (oracleGeneral: 1-based index of the next reference
        to the same page, -1 if none).
        """
        size = operator.index(size)
        if size < 1:
            raise ValueError(f"chunk size must be at least 1, not {size}")
        if with_next and not self.has_next:
            raise TraceError(self.path, f"the {self.format} format has no next-access column")
        return self._pass(size, bool(with_next))

    def ref_chunks(self, size: int = 1 << 20):
        """A bare trace in its compact form: uint64 arrays of ``(page << 1) | is_write``
        (see ``events.REF_DTYPE``), read directly where the format allows."""
        if not self.bare:
            raise TraceError(self.path, "not a bare page trace: it has process events")
        size = operator.index(size)
        if not hasattr(self._reader, "ref_chunks"):
            return (refs_from_events(ev) for ev in self.chunks(size))
        return self._ref_pass(size)

    def _ref_pass(self, size):
        self.bytes_done = 0
        src = self._reader.open()
        try:
            for refs in self._reader.ref_chunks(src, size):
                if src is not None:
                    self.bytes_done = src.raw_pos
                for start in range(0, len(refs), size):
                    yield refs[start:start + size]
            if self.total_bytes is not None:
                self.bytes_done = self.total_bytes
        finally:
            if src is not None:
                src.close()

    def __iter__(self):
        return self.chunks()

    def _pass(self, size, with_next):
        self.bytes_done = 0
        src = self._reader.open()
        try:
            for item in self._reader.chunks(src, size, with_next):
                events = item[0] if with_next else item
                if src is not None:
                    self.bytes_done = src.raw_pos
                if len(events) <= size:
                    yield item
                    continue
                for start in range(0, len(events), size):
                    cut = slice(start, start + size)
                    yield (events[cut], item[1][cut]) if with_next else events[cut]
            if self.total_bytes is not None:
                self.bytes_done = self.total_bytes
        finally:
            if src is not None:
                src.close()

    def locate(self, event_index: int) -> str:
        """Where event ``event_index`` (0-based) is: ``"line N"``, ``"byte offset N"`` or ``"event N"``."""
        return self._reader.locate(operator.index(event_index))

    def read_all(self) -> np.ndarray:
        """Every event in one array (for tests and small traces)."""
        parts = list(self.chunks())
        return np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)

    def __repr__(self):
        return f"<Trace {self.path!r} format={self.format} bare={self.bare}>"


class MemoryReader:
    """Chunks of an event array already in memory."""

    def __init__(self, events: np.ndarray, bare: bool, next_access: np.ndarray | None = None):
        self.events, self.bare, self.next = events, bare, next_access
        self.has_next = next_access is not None

    def open(self):
        return None

    def chunks(self, src, size, with_next):
        for start in range(0, len(self.events), size):
            cut = slice(start, start + size)
            yield (self.events[cut], self.next[cut]) if with_next else self.events[cut]

    def locate(self, index):
        return f"event {index}"


class MemoryRefReader:
    """A bare trace held in memory in its compact form (events are made only on demand)."""
    bare = True
    has_next = False

    def __init__(self, refs: np.ndarray):
        self.refs = refs

    def open(self):
        return None

    def ref_chunks(self, src, size):
        for start in range(0, len(self.refs), size):
            yield self.refs[start:start + size]

    def chunks(self, src, size, with_next):
        for refs in self.ref_chunks(src, size):
            yield events_from_refs(refs)

    def locate(self, index):
        return f"event {index}"


def from_pages(pages, writes=None) -> Trace:
    """An in-memory bare trace: one READ (WRITE where ``writes`` is true) per page number."""
    p = np.asarray(pages)
    if p.ndim != 1 or not (p.dtype.kind in "ui" or (p.size == 0 and p.dtype.kind == "f")):
        raise TraceError(MEMORY, f"pages must be a 1-d array of integers, not {p.dtype} {p.shape}")
    bad = np.flatnonzero((p < 0) | (p > PAGE_MAX)) if p.dtype.kind == "i" else np.flatnonzero(p > PAGE_MAX)
    if len(bad):
        raise TraceError(MEMORY, f"event {bad[0]}: page number {p[bad[0]]} is negative or too large")
    w = None
    if writes is not None:
        w = np.asarray(writes)
        if w.shape != p.shape:
            raise TraceError(MEMORY, f"writes has shape {w.shape}, pages {p.shape}")
        w = w.astype(bool)
    return Trace(MEMORY, "memory", MemoryRefReader(refs_from_pages(p, w)))


def from_events(array) -> Trace:
    """An in-memory event trace (not bare) from an array of ``EVENT_DTYPE`` records."""
    ev = np.asarray(array)
    if ev.dtype != EVENT_DTYPE or ev.ndim != 1:
        raise TraceError(MEMORY, f"events must be a 1-d array of EVENT_DTYPE, not {ev.dtype} {ev.shape}")
    bad = first_bad(ev, bare=False)
    if bad:
        raise TraceError(MEMORY, f"event {bad[0]}: {bad[1]}")
    return Trace(MEMORY, "memory", MemoryReader(ev, bare=False))
