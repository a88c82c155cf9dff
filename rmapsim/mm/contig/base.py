"""What the contiguity strategies share: the retry of the free lists, a round of direct
reclaim, and taking one particular frame's page out of memory through rmap."""
from rmapsim.jit import kernel

from rmapsim.mm.alloc import SWAP_CLUSTER_MAX, _reclaim_as
from rmapsim.mm.layout import (C_DIRECT_PAGES_SCANNED, C_DIRECT_PTES_VISITED, C_DIRECT_RECLAIMS,
                               C_DIRECT_SWAP_OUTS, C_DIRECT_WRITEBACKS, C_PAGES_SCANNED,
                               G_LOW, G_MIN, G_NR_FREE, PAGE_FREED)
from rmapsim.mm.page_alloc import rmqueue
from rmapsim.mm.vmscan.dispatch import page_added, page_removed
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmstat import zone_watermark_ok

DEF_PRIORITY = 12       # include/linux/mmzone.h: reclaim scans 1/2^priority of the LRU first


@kernel
def get_page(st, order, low):
    """get_page_from_freelist: a block if the allocation leaves the zone above its low (or,
    after reclaim, its min) watermark, else -1."""
    mark = st.g[G_LOW] if low else st.g[G_MIN]
    if not zone_watermark_ok(st, order, mark, st.g[G_NR_FREE]):
        return -1
    return rmqueue(st, order)


@kernel
def direct_reclaim(st, order):
    """One try_to_free_pages: SWAP_CLUSTER_MAX pages by the policy, with the order in its
    scan control; the pages freed."""
    st.cnt[C_DIRECT_RECLAIMS] += 1
    return _reclaim_as(st, SWAP_CLUSTER_MAX, order, 0, C_DIRECT_PAGES_SCANNED,
                       C_DIRECT_PTES_VISITED, -1, C_DIRECT_SWAP_OUTS, C_DIRECT_WRITEBACKS)


@kernel
def evict_frame(st, frame):
    """Take this frame's page out of memory whatever its age (the policy is told it left):
    unmapped through rmap, written out if dirty, freed. True if the frame is now free; a page
    that could not go (no swap, a reference left) is put back on the policy's lists."""
    st.cnt[C_PAGES_SCANNED] += 1
    st.cnt[C_DIRECT_PAGES_SCANNED] += 1
    page_removed(st, frame)
    if shrink_page(st, frame) == PAGE_FREED:
        reclaimed(st, frame)
        return True
    page_added(st, frame)
    return False
