"""Fragmentation, measured as the kernel measures it (mm/vmstat.c, 2.6.35 and later), and the
watermark test of a high-order allocation (mm/page_alloc.c ``zone_watermark_ok``).

``fill_contig_page_info`` counts, for a target order j, the free pages, the free blocks and the
blocks of order j the free lists could give (``free_blocks_suitable``); the two indices are
integers scaled by 1000 with C's integer division:

- ``extfrag_index`` (``__fragmentation_index``): 0 if nothing is free, -1000 if a block of order
  j is free (the allocation would succeed), else ``1000 - (1000 + free_pages * 1000 / 2^j) /
  free_blocks_total``: towards 0 a failure is for lack of memory, towards 1000 for
  fragmentation. Direct compaction runs only above ``sysctl_extfrag_threshold`` (500).
- ``unusable_free_index``: 1000 if nothing is free, else ``(free_pages - (suitable << j)) *
  1000 / free_pages``, the share of free memory that cannot serve order j.

The same formulas run compiled (compaction's decision) and in Python (results and reports).
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import G_MAX_ORDER
from rmapsim.mm.page_alloc import nr_free_blocks

EXTFRAG_THRESHOLD = 500     # sysctl_extfrag_threshold's default (mm/compaction.c, 2.6.35)


def _info(counts, order):
    total = sum(counts)
    free_pages = sum(b << o for o, b in enumerate(counts))
    suitable = sum(b << (o - order) for o, b in enumerate(counts) if o >= order)
    return total, free_pages, suitable


def extfrag_index(counts, order):
    """__fragmentation_index from free block counts per order (buddyinfo), x1000."""
    total, free_pages, suitable = _info(counts, order)
    if total == 0:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // (1 << order)) // total


def unusable_free_index(counts, order):
    """unusable_free_index from free block counts per order, x1000."""
    total, free_pages, suitable = _info(counts, order)
    if free_pages == 0:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def buddyinfo(st):
    """Free blocks per order now (a State's arrays), as a line of /proc/buddyinfo."""
    return [int(b) for b in st.free_count[:int(st.g[G_MAX_ORDER]) + 1]]


@kernel
def fragmentation_index(st, order):
    """extfrag_index of the machine now, compiled (compaction's test)."""
    total = 0
    free_pages = 0
    suitable = 0
    for o in range(st.g[G_MAX_ORDER] + 1):
        b = nr_free_blocks(st, o)
        total += b
        free_pages += b << o
        if o >= order:
            suitable += b << (o - order)
    if total == 0:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // (1 << order)) // total


@kernel
def zone_watermark_ok(st, order, mark, free_pages):
    """Whether an order-``order`` allocation leaves the zone above ``mark``: free pages above
    it, and at each lower order the pages in larger blocks above mark halved per order
    (2.6's zone_watermark_ok, without lowmem_reserve: one zone)."""
    free = free_pages - (1 << order) + 1
    if free <= mark:
        return False
    m = mark
    for o in range(order):
        free -= nr_free_blocks(st, o) << o
        m >>= 1
        if free <= m:
            return False
    return True
