"""The seed's ``steal_specific_page``: free the particular pages of the block cheapest to
empty, to build a free block of the order asked (LaHaise 1997, "use to build free pages of
orders approaching max").

The seed left it a name on the to-do list; this is the direct reading of it with reverse
mapping: every order-aligned block is priced by what emptying it costs -- nothing for a free
frame, one unmap for a clean page, two for a dirty one (a write first) -- and a block holding
anything that cannot leave (a page table, a kernel block, a locked or reserved page) is not a
candidate. The cheapest block (the lowest address among equals) has each page in it taken out
of memory through rmap whatever its age (``base.evict_frame``), and the free lists are
retried; a block that could not be emptied (no swap for a dirty anonymous page) is priced out
and the next is tried, up to ``MAX_BLOCKS``. Only when no block can be emptied does it fall
back to plain direct reclaim (``none``).
"""
import numpy as np

from rmapsim.jit import kernel

from rmapsim.mm.contig import none
from rmapsim.mm.contig.base import evict_frame, get_page
from rmapsim.mm.layout import (C_STEAL_BLOCKS, G_NR_FRAMES, OUT_AFTER_RECLAIM, PG_buddy,
                               PG_dirty, PG_kernel, PG_locked, PG_lru, PG_pagetable,
                               PG_reserved)

NAME = "steal"
MODELS = "LaHaise 1997 steal_specific_page: empty the cheapest order-aligned block through rmap"
MAX_BLOCKS = 4
_PINNED = PG_locked | PG_reserved | PG_pagetable | PG_kernel


@kernel
def block_cost(st, start, size):
    """What emptying frames start..start+size-1 costs (unmaps + writes), -1 if it cannot."""
    cost = 0
    f = start
    while f < start + size:
        fl = st.page_flags[f]
        if fl & PG_buddy:
            f += 1 << st.page_private[f]
            continue
        if (fl & _PINNED) or not (fl & PG_lru):
            return -1
        cost += 2 if fl & PG_dirty else 1
        f += 1
    return cost


@kernel
def alloc(st, order):
    size = 1 << order
    n = st.g[G_NR_FRAMES]
    nblocks = n // size
    refused = np.zeros(nblocks, np.bool_)
    for _ in range(MAX_BLOCKS):
        best = -1
        best_cost = 0
        for b in range(nblocks):
            if refused[b]:
                continue
            c = block_cost(st, b * size, size)
            if c >= 0 and (best < 0 or c < best_cost):
                best = b
                best_cost = c
        if best < 0:
            break
        st.cnt[C_STEAL_BLOCKS] += 1
        # the pages to take, listed before any is freed: a freed frame merges with its free
        # buddies, and a merged block's frames no longer show where free memory begins
        start = best * size
        victims = np.empty(size, np.int64)
        nv = 0
        f = start
        while f < start + size:
            if st.page_flags[f] & PG_buddy:
                f += 1 << st.page_private[f]
                continue
            victims[nv] = f
            nv += 1
            f += 1
        for k in range(nv):
            if not evict_frame(st, victims[k]):
                break
        r = get_page(st, order, False)
        if r >= 0:
            return r * 8 + OUT_AFTER_RECLAIM
        refused[best] = True
    return none.alloc(st, order)
