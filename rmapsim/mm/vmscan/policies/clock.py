"""The seed's page-centric kswapd: a single-handed clock over physical pages.

LaHaise (1997): "The code in vmscan.c now scans pages using a single handed clock algorithm (as
mm/filemap.c:shrink_mmap did) ... shared pages only get touched once for all mappings". For each
frame under the hand: a page the policy does not own (free, kernel, page table) is passed over;
a locked page is passed over; otherwise the accessed bits of all ptes on its chain and
PG_referenced are tested and cleared (``page_referenced``); a referenced page gets a second
chance, an unreferenced one is unmapped from every mapping at once, written out if dirty and
freed (``shrink_page``).

A fault maps the new page with the faulting reference setting the pte's accessed bit, as the
MMU does (``init_ref=1``, libCacheSim's Clock with init_freq=1); ``init_ref=0`` leaves the bit
of a newly faulted page clear (libCacheSim's default Clock).

Model limits: the hand gives up after two full turns without freeing anything (the first turn
may only clear bits), where shrink_mmap's budget was (2N) >> priority per call.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.rmap import page_referenced
from rmapsim.mm.layout import (C_PAGES_SCANNED, C_RECLAIM_FAILURES, G_HAND, G_NR_FRAMES, PG_locked,
                               PG_lru, PG_referenced)
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page

NAME = "clock"
KIND = "realistic"
MODELS = ("LaHaise 1997 page-centric kswapd (docs/reference/seed-lahaise-1997.txt); "
          "shrink_mmap's clock over mem_map")
PARAMS = {"init_ref": (1, "1: the faulting reference sets the new page's accessed bit (MMU); "
                          "0: new pages start unreferenced", (0, 1))}


# No page_added or page_removed: the clock keeps nothing per page but the pte and page bits.


@kernel(inline="always")
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    g = st.g
    n = g[G_NR_FRAMES]
    hand = g[G_HAND]
    freed = 0
    idle = 0
    while freed < nr_to_free and idle <= 2 * n:
        f = hand
        hand += 1
        if hand == n:
            hand = 0
        idle += 1
        flags = st.page_flags[f]
        if not (flags & PG_lru) or (flags & PG_locked):
            continue
        st.cnt[C_PAGES_SCANNED] += 1
        ref = page_referenced(st, f)
        if flags & PG_referenced:
            st.page_flags[f] = flags & ~PG_referenced
            ref += 1
        if ref:
            continue
        if shrink_page(st, f) == PAGE_FREED:
            st.page_flags[f] &= ~PG_lru
            reclaimed(st, f)
            freed += 1
            idle = 0
        else:
            st.cnt[C_RECLAIM_FAILURES] += 1
    g[G_HAND] = hand
    return freed
