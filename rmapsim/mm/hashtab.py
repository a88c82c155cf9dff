"""Open-addressing hash tables of int64 -> int64 over a pair of arrays, for compiled code.

Linear probing with backward-shift deletion (Knuth 6.4, Algorithm R), so no tombstones and the
tables stay fast however many inserts and deletes a long run makes. The page cache, the pid
table, the file-id table and the oracle's truth tables all use this. A key is never negative;
``HASH_EMPTY`` (-1) marks a free slot. The caller keeps the entry count and grows the table
(``rehash``, from Python) before it passes half full, and passes the table's size (a power of
two) with it: compiled code sees the tables as raw pointers (see ``state.as_struct``).
"""
import numpy as np
from numba import njit

from rmapsim.jit import kernel

from rmapsim.mm.layout import HASH_EMPTY

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def _slot(key, mask):
    return np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(20)) & mask


@kernel
def ht_get(keys, vals, size, key):
    """Value stored under key, or -1."""
    mask = size - 1
    i = _slot(key, mask)
    while True:
        k = keys[i]
        if k == key:
            return vals[i]
        if k == HASH_EMPTY:
            return -1
        i = (i + 1) & mask


@kernel
def ht_put(keys, vals, size, key, val):
    """Insert or overwrite; returns 1 if a new entry was made, 0 if one was overwritten."""
    mask = size - 1
    i = _slot(key, mask)
    while True:
        k = keys[i]
        if k == key:
            vals[i] = val
            return 0
        if k == HASH_EMPTY:
            keys[i] = key
            vals[i] = val
            return 1
        i = (i + 1) & mask


@kernel
def ht_del(keys, vals, size, key):
    """Remove key; returns 1 if it was there. Backward-shift keeps probe chains unbroken."""
    mask = size - 1
    i = _slot(key, mask)
    while True:
        k = keys[i]
        if k == HASH_EMPTY:
            return 0
        if k == key:
            break
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        k = keys[j]
        if k == HASH_EMPTY:
            break
        h = _slot(k, mask)
        # move k back to the hole at i unless its home h lies cyclically in (i, j]
        if (j > i and (h <= i or h > j)) or (j < i and (h <= i and h > j)):
            keys[i] = k
            vals[i] = vals[j]
            i = j
    keys[i] = HASH_EMPTY
    return 1


def rehash(keys, vals, new_size):
    nk = np.full(new_size, HASH_EMPTY, np.int64)
    nv = np.zeros(new_size, np.int64)
    _rehash_into(keys, vals, nk, nv)
    return nk, nv


@kernel
def _rehash_into(keys, vals, nk, nv):
    for i in range(len(keys)):
        if keys[i] != HASH_EMPTY:
            ht_put(nk, nv, len(nk), keys[i], vals[i])
