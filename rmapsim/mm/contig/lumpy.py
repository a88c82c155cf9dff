"""Lumpy reclaim (Andy Whitcroft, "Lumpy Reclaim V3", linux-mm 2006-11-23; merged 2.6.23, made
synchronous by "Synchronous Lumpy Reclaim V2", removed in 3.5 by Mel Gorman, commit
c53919adc045): reclaim the order-aligned block around each page reclaim picks.

As ``isolate_lru_pages`` was when removed: each tag page the policy takes from its tail
(here: the page its reclaim frees, asked one at a time) anchors the block ``[pfn & ~(2^order -
1), + 2^order)``; every other page of the block is taken in turn, whatever its list or age
(ISOLATE_BOTH, and reclaim ignores references in lumpy mode). A free page is stepped over; the
walk stops at a page that cannot be taken (not on the LRU: a page table, a kernel block) or at
an anonymous page without a swap slot when swap is full, and a block left unfinished counts in
``lumpy_failed``; pages taken count in ``lumpy_taken``, dirty ones also in ``lumpy_dirty``. The
mode applies above PAGE_ALLOC_COSTLY_ORDER from the first pass, at lower orders once priority
has fallen below DEF_PRIORITY - 2 (here: from the third round). Write-back here completes at
once, so this is the synchronous lumpy reclaim of 2.6.23's V2.
"""
import numpy as np

from rmapsim.jit import kernel

from rmapsim.mm.alloc import SWAP_CLUSTER_MAX, _reclaim_as
from rmapsim.mm.contig.base import direct_reclaim, evict_frame, get_page
from rmapsim.mm.contig.none import MAX_RETRIES
from rmapsim.mm.layout import (C_DIRECT_PAGES_SCANNED, C_DIRECT_PTES_VISITED, C_DIRECT_RECLAIMS,
                               C_DIRECT_SWAP_OUTS, C_DIRECT_WRITEBACKS, C_LUMPY_DIRTY,
                               C_LUMPY_FAILED, C_LUMPY_TAKEN, G_LAST_FREED, G_NR_FRAMES,
                               G_SWAP_FREE, G_SWAP_UNBOUNDED, OUT_AFTER_RECLAIM,
                               PAGE_ALLOC_COSTLY_ORDER, PG_anon, PG_dirty, PG_locked, PG_lru,
                               PG_swapbacked, PG_swapcache)

NAME = "lumpy"
MODELS = "Linux 2.6.23-3.4 lumpy reclaim (isolate_lru_pages with an order), synchronous"


@kernel
def lumpy_block(st, tag, order):
    """Take every page of the order-aligned block around the freed tag page; pages freed."""
    size = 1 << order
    start = tag & ~(size - 1)
    end = min(start + size, st.g[G_NR_FRAMES])
    victims = np.empty(size, np.int64)
    nv = 0
    pfn = start
    while pfn < end:
        if pfn == tag:
            pfn += 1
            continue
        fl = st.page_flags[pfn]
        if st.g[G_SWAP_FREE] <= 0 and not st.g[G_SWAP_UNBOUNDED] \
                and (fl & (PG_anon | PG_swapbacked)) and not (fl & PG_swapcache):
            break
        if (fl & PG_lru) and not (fl & PG_locked):
            victims[nv] = pfn
            nv += 1
            st.cnt[C_LUMPY_TAKEN] += 1
            if fl & PG_dirty:
                st.cnt[C_LUMPY_DIRTY] += 1
        elif st.page_count[pfn] != 0:
            break
        pfn += 1
    if pfn < end:
        st.cnt[C_LUMPY_FAILED] += 1
    freed = 0
    for k in range(nv):
        if evict_frame(st, victims[k]):
            freed += 1
    return freed


@kernel
def lumpy_reclaim(st, order):
    """One try_to_free_pages in lumpy mode: tag pages one by one, each with its block, until
    SWAP_CLUSTER_MAX pages are freed or the free lists can meet the order; pages freed."""
    st.cnt[C_DIRECT_RECLAIMS] += 1
    freed = 0
    for _ in range(SWAP_CLUSTER_MAX):
        st.g[G_LAST_FREED] = -1
        got = _reclaim_as(st, 1, order, 0, C_DIRECT_PAGES_SCANNED, C_DIRECT_PTES_VISITED, -1,
                          C_DIRECT_SWAP_OUTS, C_DIRECT_WRITEBACKS)
        tag = st.g[G_LAST_FREED]
        if got == 0 or tag < 0:
            break
        freed += got + lumpy_block(st, tag, order)
        if freed >= SWAP_CLUSTER_MAX:
            break
    return freed


@kernel
def alloc(st, order):
    f = get_page(st, order, False)
    if f >= 0:
        return f * 8
    rounds = 1 if order > PAGE_ALLOC_COSTLY_ORDER else MAX_RETRIES
    for r in range(rounds):
        if order > PAGE_ALLOC_COSTLY_ORDER or r >= 2:
            freed = lumpy_reclaim(st, order)
        else:
            freed = direct_reclaim(st, order)
        f = get_page(st, order, False)
        if f >= 0:
            return f * 8 + OUT_AFTER_RECLAIM
        if freed == 0:
            break
    return -1
