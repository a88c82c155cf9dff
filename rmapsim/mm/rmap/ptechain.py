"""Reverse mapping by pte chains, as in LaHaise 1997 (``docs/reference/seed-lahaise-1997.txt``).

Every pte that maps a page is linked into that page's chain: ``page_chain[frame]`` holds the
first pte address and ``pt_next[pte]`` -- the slot of the parallel "next pte" page allocated
beside each pte table -- holds the next one, -1 ending the list (the seed kept the list circular
only for debugging and meant it to be NULL-terminated). Linking is O(1) at the head; unlinking
walks the chain to find the predecessor, which is the cost Bill Irwin measured on long chains of
shared pages (docs/reference/linux-mm-history.md section 2.2); ``rmap_chain_steps`` counts those
steps. Walks go by
``page_mapcount`` (the chain's length, an invariant check mode verifies), so the last pte's
next link is not read: one random memory access fewer per page the clock examines.

The design's part of the rmap interface (``mm/rmap/__init__.py``): ``page_add``,
``page_remove``, ``walk`` (the per-pte operations are ``ops.rmap_one``'s), ``page_moved`` and
``check``; it needs no vma hooks, since a chain names its ptes directly. A page that is
PG_reserved (the ZERO_PAGE) is never linked, as in Linux.
"""
import numpy as np

from rmapsim.jit import kernel

from rmapsim.mm.layout import (_PAGE_PRESENT, C_RMAP_BYTES, G_NR_FRAMES,
                               G_N_PT, G_N_TBL, G_PTE_TABLE_ORDER, PG_anon, PG_lru, RMAP_UNMAP)
from rmapsim.mm.violation import bad as _bad
from rmapsim.mm.rmap.ops import count_steps, pointer_bytes, rmap_bytes_add, rmap_one

NAME = "pte-chain"
MODELS = "LaHaise 1997: each pte of a page chained through a parallel next-pte page"
# the pte page and, beside it, the parallel page of next-pte links (the seed's order-1 tables)
PTE_TABLE_ORDER = 1

# The seed's design: each page's first pte, and a parallel next-pte page beside every pte table
# (``pt_next[p]``: the next pte mapping the same page, -1 at the chain's end; a pte on no chain
# holds -1, so a table taken from the pool needs no clearing).
FIELDS = (
    ("page_chain", "int64", "frames", -1, None),
    ("pt_next", "int64", "tables * ptrs", -1, "tables"),
)


@kernel
def init(st):
    """The chain's head in every struct page: one pointer per frame (2.5 put it in a union
    with the direct pointer). The next-pte pages are counted as tables are taken."""
    rmap_bytes_add(st, pointer_bytes(st) * st.g[G_NR_FRAMES])


@kernel(inline="always")
def page_add(st, frame, pte, vma, addr):
    """Seed: pte_link(pte_p, page). Push the pte on the page's chain."""
    st.pt_next[pte] = st.page_chain[frame]
    st.page_chain[frame] = pte
    return 0


@kernel(inline="always")
def page_remove(st, frame, pte, vma):
    """Seed: pte_unlink(pte_p, page). Find the predecessor and splice the pte out; 0 if the
    pte was not on the chain."""
    p = st.page_chain[frame]
    if p == pte:
        st.page_chain[frame] = st.pt_next[pte]
    else:
        steps = 1
        while p >= 0 and st.pt_next[p] != pte:
            p = st.pt_next[p]
            steps += 1
        count_steps(st, steps)
        if p < 0:
            return 0
        st.pt_next[p] = st.pt_next[pte]
    st.pt_next[pte] = -1
    return 1


@kernel(inline="always")
def walk(st, frame, op, arg):
    """Every pte on the page's chain, by ``page_mapcount`` (the last pte's link is not read).
    Unmapping empties the chain as it goes."""
    n = 0
    p = st.page_chain[frame]
    left = st.page_mapcount[frame]
    while left > 0:
        n += rmap_one(st, op, frame, p, arg)
        left -= 1
        if op == RMAP_UNMAP:
            nx = st.pt_next[p]
            st.pt_next[p] = -1
            p = nx
        elif left:
            p = st.pt_next[p]
    if op == RMAP_UNMAP:
        st.page_chain[frame] = -1
    return n


@kernel
def page_moved(st, old, new):
    """The page's chain goes with it to its new frame (migration)."""
    st.page_chain[new] = st.page_chain[old]
    st.page_chain[old] = -1
    return 0


@kernel(inline="always")
def chain_bytes(st):
    """The seed design's metadata: a chain head per struct page, and the next-pte page of each
    leaf table."""
    held = pointer_bytes(st) * st.g[G_NR_FRAMES]
    for t in range(st.g[G_N_TBL]):
        if st.tbl_mm[t] >= 0 and st.tbl_level[t] == 0:
            held += 4096 * ((1 << st.g[G_PTE_TABLE_ORDER]) - 1)
    return held


@kernel
def check(st):
    """Each page's chain: as long as its mapcount, every pte on it mapping the page, no pte on
    two chains; a page off the reclaim lists (free, a page table) has no chain; the metadata
    bytes are ``chain_bytes``."""
    held = chain_bytes(st)
    if st.cnt[C_RMAP_BYTES] != held:
        return _bad(st, 18, -1, st.cnt[C_RMAP_BYTES], held)
    return check_chains(st, 0)


@kernel
def check_chains(st, anon_only):
    """The chains of every page on the reclaim lists (of its anonymous pages if anon_only)."""
    seen = np.zeros(st.g[G_N_PT], np.int8)
    for f in range(st.g[G_NR_FRAMES]):
        if anon_only and not (st.page_flags[f] & PG_anon):
            if st.page_chain[f] >= 0:
                return _bad(st, 5, f, 1, 0)
            continue
        if not (st.page_flags[f] & PG_lru):
            if st.page_chain[f] >= 0:
                return _bad(st, 5, f, 1, st.page_mapcount[f])
            continue
        length = 0
        p = st.page_chain[f]
        while p >= 0 and length <= st.page_mapcount[f]:
            if seen[p]:
                return _bad(st, 15, f, p, 0)
            seen[p] = 1
            if not (st.pt[p] & _PAGE_PRESENT) or (st.pt[p] >> 12) != f:
                return _bad(st, 6, f, p, st.pt[p])
            length += 1
            p = st.pt_next[p]
        if length != st.page_mapcount[f]:
            return _bad(st, 5, f, length, st.page_mapcount[f])
    return 0
