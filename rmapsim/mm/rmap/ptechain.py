"""Reverse mapping by pte chains, as in LaHaise's 1997 page-centric kswapd (``../seed``).

Every pte that maps a page is linked into that page's chain: ``page_chain[frame]`` holds the
first pte address and ``pt_next[pte]`` -- the slot of the parallel "next pte" page allocated
beside each pte table -- holds the next one, -1 ending the list (the seed kept the list circular
only for debugging and meant it to be NULL-terminated). Linking is O(1) at the head; unlinking
walks the chain to find the predecessor, which is the cost Bill Irwin measured on long chains of
shared pages (reference section 2.2); ``rmap_chain_steps`` counts those steps. Walks go by
``page_mapcount`` (the chain's length, an invariant check mode verifies), so the last pte's
next link is not read: one random memory access fewer per page the clock examines.

The interface every reverse-mapping design provides (``mm/rmap/__init__``):
``page_add_rmap``, ``page_remove_rmap``, ``page_referenced``, ``page_test_dirty`` and
``try_to_unmap``. A page that is PG_reserved (the ZERO_PAGE) is never linked, as in Linux.
"""
from rmapsim.jit import kernel

from rmapsim.mm.pgtable import ptep_to_mm
from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_DIRTY, _PTE_SWAP, C_PTES_VISITED,
                               C_RMAP_CHAIN_STEPS, G_NR_MAPPED, G_PTRS, PG_dirty,
                               PG_swapcache)

# The seed's design: each page's first pte, and a parallel next-pte page beside every pte table
# (``pt_next[p]``: the next pte mapping the same page, -1 at the chain's end).
FIELDS = (
    ("page_chain", "int64", "frames", -1, None),
    ("pt_next", "int64", "tables * ptrs", -1, "tables"),
)


@kernel(inline="always")
def pte_link(st, pte, frame):
    """Seed: pte_link(pte_p, page). Push the pte on the page's chain."""
    st.pt_next[pte] = st.page_chain[frame]
    st.page_chain[frame] = pte
    st.page_mapcount[frame] += 1
    if st.page_mapcount[frame] == 1:
        st.g[G_NR_MAPPED] += 1


@kernel
def pte_unlink(st, pte, frame):
    """Seed: pte_unlink(pte_p, page). Find the predecessor and splice the pte out."""
    p = st.page_chain[frame]
    if p == pte:
        st.page_chain[frame] = st.pt_next[pte]
    else:
        steps = 1
        while p >= 0 and st.pt_next[p] != pte:
            p = st.pt_next[p]
            steps += 1
        st.cnt[C_RMAP_CHAIN_STEPS] += steps
        if p < 0:
            return False
        st.pt_next[p] = st.pt_next[pte]
    st.pt_next[pte] = -1
    st.page_mapcount[frame] -= 1
    if st.page_mapcount[frame] == 0:
        st.g[G_NR_MAPPED] -= 1
    return True


@kernel
def page_referenced(st, frame):
    """Test and clear the accessed bit of every pte mapping the page; how many were young."""
    n = 0
    p = st.page_chain[frame]
    left = st.page_mapcount[frame]
    st.cnt[C_PTES_VISITED] += left
    while left > 0:
        e = st.pt[p]
        if e & _PAGE_ACCESSED:
            st.pt[p] = e & ~_PAGE_ACCESSED
            n += 1
        left -= 1
        if left:
            p = st.pt_next[p]
    return n


@kernel
def page_test_dirty(st, frame):
    """Move every pte's dirty bit into PG_dirty (what try_to_unmap_one does per pte with
    set_page_dirty); reclaim needs it before deciding whether an anonymous page needs a swap
    slot. Returns whether the page is dirty."""
    p = st.page_chain[frame]
    left = st.page_mapcount[frame]
    st.cnt[C_PTES_VISITED] += left
    while left > 0:
        e = st.pt[p]
        if e & _PAGE_DIRTY:
            st.pt[p] = e & ~_PAGE_DIRTY
            st.page_flags[frame] |= PG_dirty
        left -= 1
        if left:
            p = st.pt_next[p]
    return (st.page_flags[frame] & PG_dirty) != 0


@kernel
def try_to_unmap(st, frame):
    """Unmap the page from every mapping at once (2.5 try_to_unmap). A page in the swap cache
    leaves a swap entry in each pte (one swap_map count per pte, swap_duplicate); any other page
    leaves the pte empty, to be refilled by a fault from the page cache or as demand-zero.
    Dirty bits move into PG_dirty. Returns the number of ptes unmapped."""
    ptrs = st.g[G_PTRS]
    swp = (st.page_flags[frame] & PG_swapcache) != 0
    slot = st.page_private[frame]
    n = st.page_mapcount[frame]
    st.cnt[C_PTES_VISITED] += n
    p = st.page_chain[frame]
    for k in range(n):
        e = st.pt[p]
        if e & _PAGE_DIRTY:
            st.page_flags[frame] |= PG_dirty
        mm = ptep_to_mm(st, p)
        if swp:
            st.pt[p] = (slot << 12) | _PTE_SWAP
            st.swap_map[slot] += 1
            st.mm_swapents[mm] += 1
        else:
            st.pt[p] = 0
            st.tbl_used[p // ptrs] -= 1
        st.mm_rss[mm] -= 1
        if k + 1 < n:          # the last one's link is already -1: the chain's end
            nx = st.pt_next[p]
            st.pt_next[p] = -1
            p = nx
    st.page_chain[frame] = -1
    st.page_mapcount[frame] = 0
    if n > 0:
        st.g[G_NR_MAPPED] -= 1
    st.page_count[frame] -= n
    return n
