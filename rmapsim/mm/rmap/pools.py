"""Per-page pools of pte pointers: Mark Hemment's alternative, as the seed names it ("per-page
pools that hold pointers to the ptes mapped to a page (which may very well be better =)",
docs/reference/seed-lahaise-1997.txt). No code or description of his survives (see
docs/reference/linux-mm-history.md section 2.1), so this is a model of the idea, with its
assumptions stated:

- a mapped page owns one pool: a contiguous array of pte pointers with a one-word header (its
  count and size class), found from a pointer in struct page; its capacity is a power of two,
  1 for the page's first mapping;
- a full pool is reallocated at twice the capacity and its pointers copied (``rmap_chain_steps``
  counts the copies); it is never shrunk, and is freed when the page's last mapping goes;
- unmapping one pte scans the pool for it (the steps are counted) and moves the last pointer
  into its place; a walk reads the array in order, with no pointer chasing;
- pools come from a heap of words (the design's ``rmap`` growth group): a free list per size
  class, else the heap's unused end. ``rmap_bytes`` counts the pools in use (header and
  capacity) and the pointer per struct page, not the heap's free blocks.

Against the seed's chains it trades the parallel next-pte page of every page table (a word per
pte slot, used or not) for a word per mapping rounded up to a power of two, and the walk's
random accesses for one array.
"""
import numpy as np

from rmapsim.jit import kernel

from rmapsim.mm.layout import (C_RMAP_BYTES, G_NR_FRAMES, G_N_PT, G_N_RMAP,
                               G_RMAP_BURST, G_RMAP_FREE, G_RMAP_PER_PTE, PG_lru, RMAP_UNMAP)
from rmapsim.mm.rmap.ops import count_steps, pointer_bytes, pte_maps, rmap_bytes_add, rmap_one
from rmapsim.mm.violation import bad

NAME = "pools"
MODELS = ("Hemment's idea (1997, as the seed names it): each page's pte pointers in a pool of "
          "its own, grown by doubling")
PTE_TABLE_ORDER = 0
POOL = "4 * frames + 64"        # words of the heap at boot
CLASSES = 40

FIELDS = (
    ("pp_pool", "int64", "frames", -1, None),           # the page's pool (word offset)
    ("pp_words", "int64", "rmap_pool", -1, "rmap"),     # the heap
    ("pp_free_class", "int64", "40", -1, None),         # a free list of pools per size class
)


@kernel
def init(st):
    """A pointer per struct page; the next event may grow a pool of each page it maps (at most
    2 words per mapping of those pages and a header each: 3 per pte) or, in a fault, the
    largest pool (``G_RMAP_BURST``)."""
    rmap_bytes_add(st, pointer_bytes(st) * st.g[G_NR_FRAMES])
    st.g[G_RMAP_PER_PTE] = 3
    st.g[G_RMAP_BURST] = 4


@kernel(inline="always")
def _count(st, o):
    return st.pp_words[o] & 0xFFFFFFFF


@kernel(inline="always")
def _class(st, o):
    return st.pp_words[o] >> 32


@kernel
def _alloc(st, k):
    """A pool of capacity 2**k (its header set, count 0)."""
    o = st.pp_free_class[k]
    if o >= 0:
        st.pp_free_class[k] = st.pp_words[o + 1]
    else:
        o = st.g[G_N_RMAP] - st.g[G_RMAP_FREE]
        st.g[G_RMAP_FREE] -= (1 << k) + 1
    st.pp_words[o] = k << 32
    rmap_bytes_add(st, ((1 << k) + 1) * pointer_bytes(st))
    if (2 << k) + 2 > st.g[G_RMAP_BURST]:
        st.g[G_RMAP_BURST] = (2 << k) + 2      # the next doubling of the largest pool
    return o


@kernel
def _release(st, o):
    k = _class(st, o)
    st.pp_words[o] = (k << 32) | (1 << 31)      # marked free (for the check)
    st.pp_words[o + 1] = st.pp_free_class[k]
    st.pp_free_class[k] = o
    rmap_bytes_add(st, -((1 << k) + 1) * pointer_bytes(st))


@kernel
def page_add(st, frame, pte, vma, addr):
    o = st.pp_pool[frame]
    if o < 0:
        o = _alloc(st, 0)
        st.pp_pool[frame] = o
    n = _count(st, o)
    k = _class(st, o)
    if n == (1 << k):
        grown = _alloc(st, k + 1)
        for i in range(n):
            st.pp_words[grown + 1 + i] = st.pp_words[o + 1 + i]
        count_steps(st, n)
        _release(st, o)
        o = grown
        st.pp_pool[frame] = o
        k += 1
    st.pp_words[o + 1 + n] = pte
    st.pp_words[o] = (k << 32) | (n + 1)


@kernel
def page_remove(st, frame, pte, vma):
    o = st.pp_pool[frame]
    if o < 0:
        return 0
    n = _count(st, o)
    for i in range(n):
        if st.pp_words[o + 1 + i] == pte:
            count_steps(st, i + 1)
            st.pp_words[o + 1 + i] = st.pp_words[o + n]
            if n == 1:
                _release(st, o)
                st.pp_pool[frame] = -1
            else:
                st.pp_words[o] -= 1
            return 1
    count_steps(st, n)
    return 0


@kernel
def walk(st, frame, op, arg):
    o = st.pp_pool[frame]
    total = 0
    for i in range(_count(st, o)):
        total += rmap_one(st, op, frame, st.pp_words[o + 1 + i], arg)
    if op == RMAP_UNMAP:
        _release(st, o)
        st.pp_pool[frame] = -1
    return total


@kernel
def page_moved(st, old, new):
    st.pp_pool[new] = st.pp_pool[old]
    st.pp_pool[old] = -1


@kernel
def check(st):
    """Every mapped page's pool holds its mapcount of ptes, each mapping the page and none on
    two pages, within its capacity; unmapped pages have none; pools in use, free lists and the
    heap's unused end add up to the heap; the bytes are the pools in use and a pointer per
    frame."""
    w = pointer_bytes(st)
    seen = np.zeros(st.g[G_N_PT], np.int8)
    used = 0
    for f in range(st.g[G_NR_FRAMES]):
        o = st.pp_pool[f]
        if not (st.page_flags[f] & PG_lru) or st.page_mapcount[f] == 0:
            if o >= 0:
                return bad(st, 5, f, 1, st.page_mapcount[f])
            continue
        n = _count(st, o)
        if n != st.page_mapcount[f] or n > (1 << _class(st, o)):
            return bad(st, 5, f, n, st.page_mapcount[f])
        for i in range(n):
            p = st.pp_words[o + 1 + i]
            if p < 0 or seen[p] or not pte_maps(st, p, f):
                return bad(st, 6, f, p, st.pt[p] if p >= 0 else 0)
            seen[p] = 1
        used += (1 << _class(st, o)) + 1
    if st.cnt[C_RMAP_BYTES] != w * (st.g[G_NR_FRAMES] + used):
        return bad(st, 18, -1, st.cnt[C_RMAP_BYTES], w * (st.g[G_NR_FRAMES] + used))
    free = 0
    for k in range(CLASSES):
        o = st.pp_free_class[k]
        while o >= 0 and free <= st.g[G_N_RMAP]:
            free += (1 << k) + 1
            o = st.pp_words[o + 1]
    if used + free + st.g[G_RMAP_FREE] != st.g[G_N_RMAP]:
        return bad(st, 19, -1, used + free + st.g[G_RMAP_FREE], st.g[G_N_RMAP])
    return 0
