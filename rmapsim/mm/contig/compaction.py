"""Memory compaction (Mel Gorman, "Memory Compaction v8", 2010-04-20; Linux 2.6.35
mm/compaction.c): move pages out of the way instead of reclaiming them.

``compact_zone``: a migrate scanner runs up from the start of memory, isolating the movable
pages of one pageblock at a time (at most COMPACT_CLUSTER_MAX, 32, per batch); a free scanner
runs down from the end, one pageblock at a time, splitting the free blocks it finds into
order-0 target pages; each isolated page is migrated (``migrate.migrate_page``, through rmap)
into a target and its old frame freed, so free memory collects at the bottom. It ends when the
scanners meet (COMPACT_COMPLETE) or, for direct compaction, when a block of the order is free
and the low watermark plus the block is met (COMPACT_PARTIAL); unused targets go back.

``try_to_compact_pages`` runs it before direct reclaim for orders above
PAGE_ALLOC_COSTLY_ORDER when order-0 watermarks allow copying (low + 2^(order+1)) and the
failure is fragmentation, not lack of memory (extfrag_index above sysctl_extfrag_threshold,
500). A compaction that does not lead to a page defers the next ones (``defer_compaction``: the
next 2^shift attempts are skipped, shift up to COMPACT_MAX_DEFER_SHIFT, 6); a success resets
it. Then, as 2.6.35, direct reclaim and a retry (``none``). Not modelled: migrate types
(2.6.24's grouping by mobility: every pageblock is a target), the free scanner's watermark
check of later kernels, and asynchronous compaction (2.6.38).
"""
import numpy as np

from rmapsim.jit import kernel

from rmapsim.mm.contig import none
from rmapsim.mm.contig.base import get_page
from rmapsim.mm.layout import (C_COMPACT_FREE_SCANNED, C_COMPACT_MIGRATE_SCANNED,
                               C_COMPACT_STALLS, G_COMPACT_CONSIDERED, G_COMPACT_DEFER_SHIFT,
                               G_LOW, G_MAX_ORDER, G_NR_FRAMES, G_NR_FREE, OUT_AFTER_COMPACTION,
                               PAGE_ALLOC_COSTLY_ORDER, PG_buddy)
from rmapsim.mm.migrate import migrate_page, page_movable
from rmapsim.mm.page_alloc import free_pages, nr_free_blocks, take_free_block
from rmapsim.mm.vmstat import EXTFRAG_THRESHOLD, fragmentation_index, zone_watermark_ok

NAME = "compaction"
MODELS = "Linux 2.6.35 direct compaction (mm/compaction.c), then 2.6.22-style reclaim"
COMPACT_CLUSTER_MAX = 32
COMPACT_MAX_DEFER_SHIFT = 6
HUGETLB_PAGE_ORDER = 9          # pageblock_order on x86 (include/linux/pageblock-flags.h)


@kernel(inline="always")
def pageblock_pages(st):
    return 1 << min(HUGETLB_PAGE_ORDER, st.g[G_MAX_ORDER])


@kernel
def compact_finished(st, order, migrate_pfn, free_pfn):
    if free_pfn <= migrate_pfn:
        return True
    if not zone_watermark_ok(st, order, st.g[G_LOW] + (1 << order), st.g[G_NR_FREE]):
        return False
    for o in range(order, st.g[G_MAX_ORDER] + 1):
        if nr_free_blocks(st, o) > 0:
            return True
    return False


@kernel
def compact_zone(st, order):
    """Run both scanners until they meet or a block of ``order`` is free."""
    n = st.g[G_NR_FRAMES]
    pb = pageblock_pages(st)
    migrate_pfn = 0
    free_pfn = ((n - 1) // pb) * pb        # the start of the last pageblock
    free_scan = n                          # the free scanner's next frame down
    targets = np.empty(n, np.int64)        # cc->freepages
    nt = 0
    batch = np.empty(COMPACT_CLUSTER_MAX, np.int64)
    while not compact_finished(st, order, migrate_pfn, free_pfn):
        # isolate_migratepages: movable pages of one pageblock, up to a batch
        end = min(migrate_pfn - migrate_pfn % pb + pb, free_pfn)
        nb = 0
        pfn = migrate_pfn
        while pfn < end and nb < COMPACT_CLUSTER_MAX:
            st.cnt[C_COMPACT_MIGRATE_SCANNED] += 1
            if st.page_flags[pfn] & PG_buddy:
                pfn += 1 << st.page_private[pfn]
                continue
            if page_movable(st, pfn):
                batch[nb] = pfn
                nb += 1
            pfn += 1
        migrate_pfn = max(pfn, migrate_pfn + 1) if nb else max(end, migrate_pfn + 1)
        for k in range(nb):
            if nt == 0:
                # isolate_freepages: whole pageblocks below the free scanner, above the
                # migrate scanner, until there are targets for the batch
                while nt < nb - k and free_pfn > migrate_pfn:
                    f = free_pfn
                    while f < free_scan:
                        st.cnt[C_COMPACT_FREE_SCANNED] += 1
                        if st.page_flags[f] & PG_buddy:
                            size = take_free_block(st, f)
                            for j in range(size):
                                targets[nt] = f + j
                                nt += 1
                            f += size
                        else:
                            f += 1
                    free_scan = free_pfn
                    free_pfn -= pb
                if nt == 0:
                    break
            nt -= 1
            new = targets[nt]
            if migrate_page(st, batch[k], new):
                free_pages(st, batch[k], 0)
            else:
                free_pages(st, new, 0)
    # release_freepages
    for k in range(nt):
        free_pages(st, targets[k], 0)


@kernel
def compaction_deferred(st):
    limit = 1 << st.g[G_COMPACT_DEFER_SHIFT]
    st.g[G_COMPACT_CONSIDERED] = min(st.g[G_COMPACT_CONSIDERED] + 1, limit)
    return st.g[G_COMPACT_CONSIDERED] < limit


@kernel
def try_to_compact(st, order):
    """__alloc_pages_direct_compact: a block after compaction, or -1."""
    if order <= PAGE_ALLOC_COSTLY_ORDER or compaction_deferred(st):
        return -1
    if not zone_watermark_ok(st, 0, st.g[G_LOW] + (2 << order), st.g[G_NR_FREE]):
        return -1
    fi = fragmentation_index(st, order)
    if 0 <= fi <= EXTFRAG_THRESHOLD:
        return -1
    st.cnt[C_COMPACT_STALLS] += 1
    compact_zone(st, order)
    f = get_page(st, order, False)
    if f >= 0:
        st.g[G_COMPACT_CONSIDERED] = 0
        st.g[G_COMPACT_DEFER_SHIFT] = 0
        return f
    st.g[G_COMPACT_CONSIDERED] = 0
    st.g[G_COMPACT_DEFER_SHIFT] = min(st.g[G_COMPACT_DEFER_SHIFT] + 1, COMPACT_MAX_DEFER_SHIFT)
    return -1


@kernel
def alloc(st, order):
    f = try_to_compact(st, order)
    if f >= 0:
        return f * 8 + OUT_AFTER_COMPACTION
    return none.alloc(st, order)
