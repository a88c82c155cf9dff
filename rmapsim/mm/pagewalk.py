"""Walking the ptes of an address range: one walk for zap, fork's copy, 2.0-2.4's swap_out and
MGLRU's aging (Linux's mm/pagewalk.c ``walk_page_range`` with its ``pte_entry`` and
``pte_hole`` callbacks).

Compiled code cannot pass a callback cheaply, so the walk is a cursor the caller advances::

    w = walk_start(start)
    while True:
        pte, addr, slot, w = walk_next(st, mm, w, end)
        if pte == WALK_DONE:
            break
        if pte == WALK_TABLE_END:     # table ``slot`` walked to its end (zap frees it if empty)
            continue
        ...                           # a non-empty pte at addr, in table ``slot``

Absent tables are skipped whole (``pgtable.next_leaf``), so a huge sparse vma (a bare trace maps
the whole address space) costs only what is populated; a table with no entry in use is not
scanned. The cursor re-reads each pte as it gets to it, so the caller may change tables as it
goes (fork's copy allocates, and reclaim may run, between two ptes).
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import G_PTRS
from rmapsim.mm.pgtable import next_leaf, pt_index

WALK_DONE = -1
WALK_TABLE_END = -2


@kernel(inline="always")
def walk_start(start):
    """A cursor before the first table at or after ``start``: (table, address, table end)."""
    return (-1, start, start)


@kernel(inline="always")
def walk_next(st, mm, w, end):
    """The next step of the walk of mm below ``end`` from cursor ``w``: (pte, address, table,
    cursor). pte is a non-empty entry of a pte table, WALK_TABLE_END when ``table`` has been
    walked to its end, or WALK_DONE."""
    slot, a, hi = w
    if slot < 0:
        if a >= end:
            return WALK_DONE, end, -1, (-1, end, end)
        slot, a, hi = next_leaf(st, mm, a, end)
        if slot < 0:
            return WALK_DONE, end, -1, (-1, end, end)
    if st.tbl_used[slot] > 0:
        b = slot * st.g[G_PTRS]
        while a < hi:
            p = b + pt_index(st, 0, a)
            if st.pt[p] != 0:
                return p, a, slot, (slot, a + 4096, hi)
            a += 4096
    return WALK_TABLE_END, hi, slot, (-1, hi, hi)
