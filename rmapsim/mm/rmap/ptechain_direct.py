"""Pte chains in cache-line blocks, and a direct pointer for a page mapped once: the rmap of
Linux 2.5.x-2.6.6 (mm/rmap.c as of 2.6.0; docs/reference/linux-mm-history.md section 2.1).

``struct pte_chain`` is one L1 cache line: a word ``next_and_idx`` (the next block, and the
index of the first used slot) and ``NRPTE = (L1_CACHE_BYTES - sizeof(long)) /
sizeof(pte_addr_t)`` pte addresses. With 32-byte lines and 4-byte pointers (i386) and with
64-byte lines and 8-byte pointers (x86-64) NRPTE is 7; a block is 8 words either way (i386 with
CONFIG_HIGHPTE, 8-byte pte_addr_t in 32-byte lines, had 3: not modelled).

``page->pte`` is a union: the one pte of a page mapped once (``PageDirect``), or its first
block. ``page_add_rmap``: the first mapping is direct; the second turns the page into a chain
of one block holding both, in its top two slots; later ones fill the first block downwards and,
when it is full, push a new block in front. ``page_remove_rmap`` scans the blocks for the pte
(``rmap_chain_steps`` counts the slots looked at) and moves the first block's lowest pte into
its hole, freeing the first block when it empties; a chain left with one pte stays a chain (2.6.0
left "Do singleton->PageDirect here" undone). Bligh's make -j256 (2003): 24,116 pte_chain
objects fell to 716 with direct pointers, since most anonymous pages are mapped once.

The blocks are the design's pool (the ``rmap`` growth group): a free stack of block numbers.
"""
import numpy as np

from rmapsim.jit import kernel

from rmapsim.mm.layout import (C_RMAP_BYTES, G_NR_FRAMES, G_N_PT,
                               G_N_RMAP, G_RMAP_BURST, G_RMAP_FREE, G_RMAP_PER_PTE, PG_lru,
                               RMAP_UNMAP)
from rmapsim.mm.rmap.ops import count_steps, pointer_bytes, pte_maps, rmap_bytes_add, rmap_one
from rmapsim.mm.violation import bad

NAME = "pte-chain-direct"
MODELS = ("Linux 2.5.27-2.6.6: pte_chain blocks of NRPTE slots per cache line, PageDirect for "
          "a page mapped once")
PTE_TABLE_ORDER = 0
NRPTE = 7
POOL = "frames // 4 + 64"       # blocks at boot

FIELDS = (
    ("pcd_pte", "int64", "frames", -1, None),       # page->pte: the direct pte, or first block
    ("pcd_direct", "int8", "frames", 0, None),      # PageDirect
    ("pcb_next", "int64", "rmap_pool", -1, "rmap"),
    ("pcb_idx", "int64", "rmap_pool", 0, "rmap"),   # the block's first used slot
    ("pcb_ptes", "int64", "rmap_pool * 7", -1, "rmap"),
    ("pcb_free", "int64", "rmap_pool", "stack", "rmap"),
)


@kernel(inline="always")
def _block_bytes(st):
    """A block is one cache line: next_and_idx and NRPTE pointers."""
    return (NRPTE + 1) * pointer_bytes(st)


@kernel
def init(st):
    """page->pte in every struct page; each pte mapped may take one block."""
    rmap_bytes_add(st, pointer_bytes(st) * st.g[G_NR_FRAMES])
    st.g[G_RMAP_PER_PTE] = 1
    st.g[G_RMAP_BURST] = 1


@kernel(inline="always")
def _block_alloc(st):
    st.g[G_RMAP_FREE] -= 1
    rmap_bytes_add(st, _block_bytes(st))
    return st.pcb_free[st.g[G_RMAP_FREE]]


@kernel(inline="always")
def _block_free(st, b):
    st.pcb_next[b] = -1
    st.pcb_free[st.g[G_RMAP_FREE]] = b
    st.g[G_RMAP_FREE] += 1
    rmap_bytes_add(st, -_block_bytes(st))


@kernel
def page_add(st, frame, pte, vma, addr):
    if st.page_mapcount[frame] == 0:
        st.pcd_pte[frame] = pte
        st.pcd_direct[frame] = 1
        return
    if st.pcd_direct[frame]:
        # "Convert a direct pointer into a pte_chain"
        b = _block_alloc(st)
        st.pcb_ptes[b * NRPTE + NRPTE - 1] = st.pcd_pte[frame]
        st.pcb_ptes[b * NRPTE + NRPTE - 2] = pte
        st.pcb_idx[b] = NRPTE - 2
        st.pcb_next[b] = -1
        st.pcd_pte[frame] = b
        st.pcd_direct[frame] = 0
        return
    head = st.pcd_pte[frame]
    if st.pcb_idx[head] == 0:               # full: a new first block
        b = _block_alloc(st)
        st.pcb_next[b] = head
        st.pcb_idx[b] = NRPTE - 1
        st.pcb_ptes[b * NRPTE + NRPTE - 1] = pte
        st.pcd_pte[frame] = b
    else:
        st.pcb_idx[head] -= 1
        st.pcb_ptes[head * NRPTE + st.pcb_idx[head]] = pte


@kernel
def page_remove(st, frame, pte, vma):
    if st.pcd_direct[frame]:
        if st.pcd_pte[frame] != pte:
            return 0
        st.pcd_pte[frame] = -1
        st.pcd_direct[frame] = 0
        return 1
    start = st.pcd_pte[frame]
    if start < 0:
        return 0
    victim = start * NRPTE + st.pcb_idx[start]
    steps = 0
    b = start
    while b >= 0:
        for i in range(st.pcb_idx[b], NRPTE):
            steps += 1
            if st.pcb_ptes[b * NRPTE + i] == pte:
                st.pcb_ptes[b * NRPTE + i] = st.pcb_ptes[victim]
                st.pcb_ptes[victim] = -1
                if st.pcb_idx[start] == NRPTE - 1:      # "Emptied a pte_chain"
                    st.pcd_pte[frame] = st.pcb_next[start]
                    _block_free(st, start)
                else:
                    st.pcb_idx[start] += 1
                count_steps(st, steps)
                return 1
        b = st.pcb_next[b]
    count_steps(st, steps)
    return 0


@kernel
def walk(st, frame, op, arg):
    """The direct pte, or every slot of every block; unmapping frees the blocks."""
    if st.pcd_direct[frame]:
        n = rmap_one(st, op, frame, st.pcd_pte[frame], arg)
        if op == RMAP_UNMAP:
            st.pcd_pte[frame] = -1
            st.pcd_direct[frame] = 0
        return n
    n = 0
    b = st.pcd_pte[frame]
    while b >= 0:
        for i in range(st.pcb_idx[b], NRPTE):
            n += rmap_one(st, op, frame, st.pcb_ptes[b * NRPTE + i], arg)
        nb = st.pcb_next[b]
        if op == RMAP_UNMAP:
            for i in range(st.pcb_idx[b], NRPTE):
                st.pcb_ptes[b * NRPTE + i] = -1
            _block_free(st, b)
        b = nb
    if op == RMAP_UNMAP:
        st.pcd_pte[frame] = -1
    return n


@kernel
def page_moved(st, old, new):
    st.pcd_pte[new] = st.pcd_pte[old]
    st.pcd_direct[new] = st.pcd_direct[old]
    st.pcd_pte[old] = -1
    st.pcd_direct[old] = 0


@kernel
def check(st):
    """Every mapped page's ptes, direct or in blocks, are as many as its mapcount, each maps
    the page and none is on two pages; a direct page has mapcount 1; only the first block has
    free slots; blocks in use and free add up to the pool; the bytes are page->pte per frame and
    a cache line per block in use."""
    seen = np.zeros(st.g[G_N_PT], np.int8)
    used = 0
    for f in range(st.g[G_NR_FRAMES]):
        if not (st.page_flags[f] & PG_lru) or st.page_mapcount[f] == 0:
            if st.pcd_pte[f] >= 0:
                return bad(st, 5, f, 1, st.page_mapcount[f])
            continue
        n = 0
        if st.pcd_direct[f]:
            p = st.pcd_pte[f]
            n = 1
            if seen[p] or not pte_maps(st, p, f):
                return bad(st, 6, f, p, st.pt[p])
            seen[p] = 1
        else:
            b = st.pcd_pte[f]
            first = True
            while b >= 0 and used <= st.g[G_N_RMAP]:
                used += 1
                if not first and st.pcb_idx[b] != 0:
                    return bad(st, 20, b, b, st.pcb_idx[b])
                first = False
                for i in range(st.pcb_idx[b], NRPTE):
                    p = st.pcb_ptes[b * NRPTE + i]
                    if p < 0 or seen[p] or not pte_maps(st, p, f):
                        return bad(st, 6, f, p, st.pt[p] if p >= 0 else 0)
                    seen[p] = 1
                    n += 1
                b = st.pcb_next[b]
        if n != st.page_mapcount[f]:
            return bad(st, 5, f, n, st.page_mapcount[f])
    if used + st.g[G_RMAP_FREE] != st.g[G_N_RMAP]:
        return bad(st, 19, -1, used + st.g[G_RMAP_FREE], st.g[G_N_RMAP])
    held = pointer_bytes(st) * st.g[G_NR_FRAMES] + used * _block_bytes(st)
    if st.cnt[C_RMAP_BYTES] != held:
        return bad(st, 18, -1, st.cnt[C_RMAP_BYTES], held)
    return 0
