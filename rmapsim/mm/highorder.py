"""The trace's high-order allocations (ALLOC and FREE events): kernel blocks (a kernel stack,
a network buffer) and huge pages a process asks for, held by handle until freed.

A request first tries the free lists at the low watermark (get_page_from_freelist's first
pass); then the running contiguity strategy (``mm/contig/``) tries its way. Each request leaves
a row in ``contig_log`` (``layout.LOG_COLS``): how it was met, the work it took, and the free
blocks per order just before it, the run's fragmentation timeline. A block's frames are not on
any LRU and never move (PG_kernel or PG_huge, PG_reserved); FREE gives the block back. A request
above the machine's largest order is ``impossible``; a request that fails still takes its
handle, so the trace's FREE of it is not an error. Model limits: a block is freed only by its
FREE event (an exiting owner keeps its blocks), and kswapd is not woken for the order.
"""
from rmapsim.jit import kernel

from rmapsim.mm.contig import contig_alloc
from rmapsim.mm.contig.base import get_page
from rmapsim.mm.hashtab import ht_del, ht_get, ht_put
from rmapsim.mm.layout import (C_HIGHORDER_FAILED, C_HIGHORDER_REQUESTS, C_PAGES_FREED,
                               C_PAGES_MIGRATED, C_PAGES_SCANNED, C_SWAP_OUTS, C_WRITEBACKS,
                               G_CONTIG_LEN, G_KMEM_COUNT, G_MAX_ORDER, G_NR_FREE, G_N_KMEM,
                               N_LOG_COLS, OUT_AT_ONCE, OUT_FAILED, OUT_IMPOSSIBLE, PG_huge,
                               PG_kernel, PG_reserved)
from rmapsim.mm.page_alloc import free_pages, nr_free_blocks

FIELDS = (
    # handle -> frame * 64 + order of the block it holds (-2: its request failed)
    ("kmem_keys", "int64", "64", "hash", "kmem"),
    ("kmem_vals", "int64", "64", 0, "kmem"),
    # one row per request: LOG_COLS, then the free blocks of each order before it
    ("contig_log", "int64", "requests * (9 + orders)", 0, "contig"),
)


@kernel(inline="always")
def handle_key(owner, handle):
    return (owner << 32) | handle


@kernel
def alloc_request(st, i, owner, handle, order, huge):
    """ALLOC: returns False if the owner already holds ``handle`` (a bad event)."""
    key = handle_key(owner, handle)
    if ht_get(st.kmem_keys, st.kmem_vals, st.g[G_N_KMEM], key) != -1:
        return False
    c = st.cnt
    st.cnt[C_HIGHORDER_REQUESTS] += 1
    n_orders = st.g[G_MAX_ORDER] + 1
    width = N_LOG_COLS + n_orders
    row = st.g[G_CONTIG_LEN] * width
    st.g[G_CONTIG_LEN] += 1
    log = st.contig_log
    log[row] = i
    log[row + 1] = order
    log[row + 2] = huge
    log[row + 8] = st.g[G_NR_FREE]
    for o in range(n_orders):
        log[row + N_LOG_COLS + o] = nr_free_blocks(st, o)
    s0, r0, m0, w0 = c[C_PAGES_SCANNED], c[C_PAGES_FREED], c[C_PAGES_MIGRATED], \
        c[C_WRITEBACKS] + c[C_SWAP_OUTS]
    frame = -1
    if order > st.g[G_MAX_ORDER]:
        outcome = OUT_IMPOSSIBLE
    else:
        frame = get_page(st, order, True)
        outcome = OUT_AT_ONCE
        if frame < 0:
            r = contig_alloc(st, order)
            if r >= 0:
                frame = r // 8
                outcome = r % 8
            else:
                outcome = OUT_FAILED
    if frame < 0:
        c[C_HIGHORDER_FAILED] += 1
        val = -2
    else:
        flag = (PG_huge if huge else PG_kernel) | PG_reserved
        for k in range(1 << order):
            st.page_flags[frame + k] = flag
            st.page_count[frame + k] = 1
        val = frame * 64 + order
    st.g[G_KMEM_COUNT] += ht_put(st.kmem_keys, st.kmem_vals, st.g[G_N_KMEM], key, val)
    log[row + 3] = outcome
    log[row + 4] = c[C_PAGES_SCANNED] - s0
    log[row + 5] = c[C_PAGES_FREED] - r0
    log[row + 6] = c[C_PAGES_MIGRATED] - m0
    log[row + 7] = c[C_WRITEBACKS] + c[C_SWAP_OUTS] - w0
    return True


@kernel
def free_request(st, owner, handle):
    """FREE: returns False if the owner holds no such handle (a bad event)."""
    key = handle_key(owner, handle)
    val = ht_get(st.kmem_keys, st.kmem_vals, st.g[G_N_KMEM], key)
    if val == -1:
        return False
    ht_del(st.kmem_keys, st.kmem_vals, st.g[G_N_KMEM], key)
    if val >= 0:
        frame = val // 64
        order = val % 64
        for k in range(1 << order):
            st.page_flags[frame + k] = 0
            st.page_count[frame + k] = 0
        free_pages(st, frame, order)
    st.g[G_KMEM_COUNT] -= 1
    return True
