"""The binary buddy allocator and free-page accounting (mm/page_alloc.c).

Free blocks of 2**order frames (order 0..max_order) sit on per-order doubly linked lists
threaded through ``free_next``/``free_prev``; the head frame of a free block has PG_buddy set and
its order in ``page_private``, as Linux's ``PageBuddy``/``page_order``. Allocation takes the
smallest order that has a block and splits it, handing out the lower half and putting the upper
halves back (``__rmqueue_smallest`` + ``expand``); freeing merges with the buddy while the buddy is
a free block of the same order (``__free_one_page``).

Cache mode does not use the buddy discipline: memory there is a plain cache of N page frames
that must fill in frame order and give a new page the frame just freed (what cache simulators
assume), so freed frames go on a LIFO stack (order-0 list, no merging) that starts ascending.

This module only moves frames between free and allocated; the policy of *when* to reclaim is in
``mm/vmscan/``, and ``mm/oom_kill.py`` joins the two.
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import (G_CACHE_MODE, G_MAX_ORDER, G_NR_FRAMES, G_NR_FREE, PG_buddy,
                               PG_reserved, PG_zero, G_ZERO_FRAME, G_ZERO_PAGE)

# The buddy free lists: a head per order, doubly linked through the frames (struct page's lru).
# Rows: (name, dtype, size over the boot sizes, fill, growth group); state.py assembles them.
FIELDS = (
    ("free_head", "int64", "orders", -1, None),
    ("free_next", "int64", "frames", -1, None),
    ("free_prev", "int64", "frames", -1, None),
    ("free_count", "int64", "orders", 0, None),     # free_area[order].nr_free
)


@kernel(inline="always")
def _list_add(st, frame, order):
    head = st.free_head[order]
    st.free_next[frame] = head
    st.free_prev[frame] = -1
    if head >= 0:
        st.free_prev[head] = frame
    st.free_head[order] = frame
    st.free_count[order] += 1
    st.page_flags[frame] |= PG_buddy
    st.page_private[frame] = order


@kernel(inline="always")
def _list_del(st, frame, order):
    nx = st.free_next[frame]
    pv = st.free_prev[frame]
    if pv >= 0:
        st.free_next[pv] = nx
    else:
        st.free_head[order] = nx
    if nx >= 0:
        st.free_prev[nx] = pv
    st.free_next[frame] = -1
    st.free_prev[frame] = -1
    st.free_count[order] -= 1
    st.page_flags[frame] &= ~PG_buddy
    st.page_private[frame] = 0


@kernel(inline="always")
def free_pages(st, frame, order):
    """__free_pages: return a block of 2**order frames, merging with free buddies."""
    g = st.g
    g[G_NR_FREE] += 1 << order
    if g[G_CACHE_MODE]:
        _list_add(st, frame, 0)
        return
    n = g[G_NR_FRAMES]
    max_order = g[G_MAX_ORDER]
    while order < max_order:
        buddy = frame ^ (1 << order)
        if buddy + (1 << order) > n:
            break
        if not (st.page_flags[buddy] & PG_buddy) or st.page_private[buddy] != order:
            break
        _list_del(st, buddy, order)
        frame = min(frame, buddy)
        order += 1
    _list_add(st, frame, order)


@kernel(inline="always")
def rmqueue(st, order):
    """__rmqueue_smallest + expand: a block of 2**order frames, or -1 if none is free."""
    g = st.g
    max_order = g[G_MAX_ORDER]
    for o in range(order, max_order + 1):
        frame = st.free_head[o]
        if frame < 0:
            continue
        _list_del(st, frame, o)
        while o > order:
            o -= 1
            _list_add(st, frame + (1 << o), o)
        g[G_NR_FREE] -= 1 << order
        return frame
    return -1


@kernel
def init_free_area(st, reserved):
    """Boot: frames below ``reserved`` belong to the kernel (image, mem_map); the last of them is
    the ZERO_PAGE when the machine has one. Everything above is handed to the allocator in the
    largest aligned blocks that fit (free_all_bootmem)."""
    g = st.g
    n = g[G_NR_FRAMES]
    for f in range(reserved):
        st.page_flags[f] = PG_reserved
        st.page_count[f] = 1
    if reserved > 0 and g[G_ZERO_PAGE]:
        z = reserved - 1
        st.page_flags[z] |= PG_zero
        g[G_ZERO_FRAME] = z
    if g[G_CACHE_MODE]:
        for f in range(n - 1, reserved - 1, -1):
            free_pages(st, f, 0)
        return
    max_order = g[G_MAX_ORDER]
    f = reserved
    while f < n:
        o = max_order
        while o > 0 and ((f & ((1 << o) - 1)) != 0 or f + (1 << o) > n):
            o -= 1
        free_pages(st, f, o)
        f += 1 << o


@kernel(inline="always")
def nr_free_blocks(st, order):
    """Free blocks of one order (free_area[order].nr_free; the checker counts the list)."""
    return st.free_count[order]


@kernel
def take_free_block(st, frame):
    """Take the free block headed by ``frame`` off its list, split into order-0 pages the
    caller now holds (compaction's split_free_page); the number of pages."""
    order = st.page_private[frame]
    _list_del(st, frame, order)
    st.g[G_NR_FREE] -= 1 << order
    return 1 << order
