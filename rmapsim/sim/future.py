"""Next-use times for the policies that know the future (opt).

For every reference, the index of the next reference to the same page in the whole trace, or
-1: what libCacheSim's oracleGeneral format stores as ``next_access_vtime``. In a bare trace a
page is its page number; in an event trace it is what the reference reaches, a file page or a
(process, virtual page), found by a first replay (``api._page_identities``). The pass holds the
trace's keys in memory: 8 bytes a reference, plus the sort. A trace that stores the times (oracleGeneral) needs no pass: ``stored_next_use``
reads them with the references, trusting the file as libCacheSim does.
"""
from __future__ import annotations

import numpy as np

from rmapsim.trace.events import refs_from_events
from rmapsim.trace.events import OP_WRITE


def next_use(keys: np.ndarray) -> np.ndarray:
    """nxt[i] = the smallest j > i with keys[j] == keys[i], else -1."""
    n = len(keys)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    nxt = np.full(n, -1, np.int64)
    same = sk[1:] == sk[:-1]
    nxt[order[:-1][same]] = order[1:][same]
    return nxt


def ref_keys(chunk: np.ndarray, bare: bool, base: int) -> np.ndarray:
    """The page identity of each entry of a chunk; events that are not references get keys
    of their own (negative, never repeated)."""
    if bare:
        return (chunk >> np.uint64(1)).astype(np.int64)
    is_ref = chunk["op"] <= OP_WRITE
    k = (chunk["pid"].astype(np.int64) << 36) | (chunk["addr"].astype(np.int64) >> 12)
    return np.where(is_ref, k, -1 - base - np.arange(len(chunk), dtype=np.int64))


def chunk_next_use(chunks, bare: bool, keys: np.ndarray | None = None):
    """The chunks (a re-iterable source) paired with their next-use slices; ``keys`` are the
    references' page identities when known (else the trace's (pid, virtual page))."""
    lens, parts, base = [], [], 0
    for c in chunks():
        if keys is None:
            parts.append(ref_keys(c, bare, base))
        lens.append(len(c))
        base += len(c)
    if keys is None:
        keys = np.concatenate(parts) if parts else np.empty(0, np.int64)
    nxt = next_use(keys)
    del keys, parts
    pos = 0
    for c, n in zip(chunks(), lens):
        if len(c) != n:
            raise RuntimeError("trace chunks changed between the two passes")
        yield c, nxt[pos:pos + n]
        pos += n


def stored_next_use(trace, size: int):
    """A bare trace's compact chunks with the next-use times its format stores (1-based
    request indices there, 0-based here)."""
    for ev, nxt in trace.chunks(size, with_next=True):
        yield refs_from_events(ev), np.where(nxt > 0, nxt - 1, -1).astype(np.int64)
