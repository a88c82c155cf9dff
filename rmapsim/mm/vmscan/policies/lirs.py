"""LIRS, Low Inter-reference Recency Set (Jiang & Zhang, SIGMETRICS 2002), as libCacheSim has it.

A reference policy: it sees every reference (``page_accessed``). Pages with a low
inter-reference recency (IRR) are LIR and stay; the others are HIR, and only a small part of
memory (``hir_ratio``, libCacheSim's ``hirs_ratio = 0.01``; the paper's 1%) holds resident HIR
pages. Stack S orders pages by recency and holds every LIR page, the resident HIR pages whose
recency is below the oldest LIR page, and such *non-resident* HIR pages (ghosts, remembered by
key after eviction); its bottom is always LIR (the paper's "stack pruning"). Queue Q holds
the resident HIR pages in reference order; eviction takes its front.

The paper's cases (section 3, the LIRS algorithm on stack S and list Q) and what does them
here:

=====================================  =========================================================
paper                                  here (libCacheSim/cache/eviction/LIRS.c)
=====================================  =========================================================
1. reference to an LIR page            ``page_accessed``: to the top of S, ``_prune`` (find)
2. resident HIR page, in S             ``page_accessed``: to the top of S, leaves Q, becomes LIR;
                                       the bottom LIR page goes to the end of Q (hit_RD_HIRinS,
                                       ``_evict_lir``)
   resident HIR page, not in S         ``page_accessed``: to the top of S and the end of Q
                                       (hit_RD_HIRinQ)
3. miss; free the front of Q           ``reclaim`` -> ``_evict_hir``; its S entry becomes a
                                       ghost (evictHIR)
   the page was a ghost in S           ``page_added``: becomes LIR, bottom LIR page to Q
   the page was not in S               ``page_added``: HIR, top of S and end of Q; LIR while the
                                       LIR set is not yet full (insert)
=====================================  =========================================================

libCacheSim's LIRS differs from the paper in ways this follows, because the misses must agree
exactly: (a) a hit on a resident HIR page that is not in S also demotes the bottom LIR page to
Q when the LIR set is full (hit_RD_HIRinQ calls evictLIR), so a *hit* can evict the front of Q;
the next new page then enters as LIR; (b) S is bounded: after every reference, while S holds
more than 2 x memory entries the non-resident HIR page that left memory longest ago is dropped
(limitStack; the paper also bounds S's non-resident entries, without fixing the bound);
(c) H = max(1, (int)(0.01 x memory)).

One case cannot be followed with N frames: with H = 1, (a) can evict the very page being hit,
which libCacheSim then keeps as a resident HIR page counted nowhere (N+1 pages in N slots). Here
that page stays in memory, uncounted, until the next miss needs a frame, and is evicted then
(``pending``); its S entry becomes a "phantom" ghost. A later reference to it, while the
phantom is in S, is a hit for libCacheSim and a miss here: the only way the two can differ
(``phantom_misses`` counts them). Measured on every LIRS row of the reference CSVs:
exact at every size of 200 frames or more; below (H = 1) off by exactly those misses, e.g.
cloudPhysicsIO +4 at 20 frames, +1 at 50 (tests/test_policy_lirs_clockpro.py).

Memory size c: the frames in cache mode; in kernel mode the pages the policy holds each time
reclaim runs (memory is full then; until then, the frames free at the first page added less
the high watermark) -- a fixed c larger than what page tables and the page cache leave would
keep every page LIR and make this LRU. Ghosts: S holds at most 2c entries (plus one during a
reference), so the pool of 2 x frames + 16 ghosts suffices; should it run out (kernel mode), the
oldest non-resident page is forgotten first, as limitStack does. A page that cannot be freed now
(locked, swap full) goes to the end of Q; ``page_removed`` drops a page without a trace
(LIRS_remove).

Structures: S is node list 0 (head = bottom); Q (frames) and NH (ghosts, in the order they left
memory) are lists of their own, linked through ``node_val``/``node_val2`` (prev+1, next+1), since
a page can be in S and Q at once. A negative ``node_val`` marks a node on neither: LIR, PHANTOM.
"""
import numpy as np

from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.layout import (C_PAGES_FREED, C_PAGES_SCANNED, C_RECLAIM_FAILURES, G_CACHE_MODE, G_HIGH,
                               G_NR_FRAMES, G_NR_FREE, PG_lru)
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import (forget_frame, ghost_free, ghost_new, key_bind, key_node,
                                     list_add_tail, list_del, list_move_tail, list_replace,
                                     page_key)

NAME = "lirs"
KIND = "reference"
MODELS = "LIRS (Jiang & Zhang, SIGMETRICS 2002) as libCacheSim LIRS.c"
PARAMS = {"hir_ratio": (0.01, "fraction of memory for resident HIR pages (libCacheSim "
                              "hirs_ratio; at least one page)", (0, 1))}

S = 0                                   # node list: the LIRS stack, head = bottom
Q, NH = 0, 1                            # the lists of cl_head, cl_tail and cl_len
FIELDS = (
    ("initialized", "int8", "1", 0, None),   # set at the first page added (``_init``)
    ("c", "int64", "1", 0, None),            # memory size
    ("lirs_limit", "int64", "1", 0, None),   # L_lirs = c - L_hirs
    ("hirs_limit", "int64", "1", 0, None),   # L_hirs = max(1, hir_ratio * c)
    ("lirs_count", "int64", "1", 0, None),   # LIR pages
    ("pending", "int64", "1", 0, None),      # the uncounted page (-1: none)
    ("phantom_misses", "int64", "1", 0, None),
    # Q: head (front, next to go), tail, length (= resident HIR count); NH: head (oldest
    # ghost), tail, length
    ("cl_head", "int64", "2", 0, None),
    ("cl_tail", "int64", "2", 0, None),
    ("cl_len", "int64", "2", 0, None),
)
LIR = -1                                # node_val of an LIR page
PHANTOM = -2                            # node_val of a counted-nowhere page or its ghost
NEW = -3                                # node_val of a page being added, on neither list


# ---- Q and NH: lists through node_val (prev + 1) and node_val2 (next + 1) -------------------

@kernel(inline="always")
def _cl_add_tail(st, ps, h, node):
    tail = ps.cl_tail[h]
    st.node_val[node] = tail + 1
    st.node_val2[node] = 0
    if tail >= 0:
        st.node_val2[tail] = node + 1
    else:
        ps.cl_head[h] = node
    ps.cl_tail[h] = node
    ps.cl_len[h] += 1


@kernel(inline="always")
def _cl_del(st, ps, h, node, mark):
    pv = st.node_val[node] - 1
    nx = st.node_val2[node] - 1
    if pv >= 0:
        st.node_val2[pv] = nx + 1
    else:
        ps.cl_head[h] = nx
    if nx >= 0:
        st.node_val[nx] = pv + 1
    else:
        ps.cl_tail[h] = pv
    ps.cl_len[h] -= 1
    st.node_val[node] = mark
    st.node_val2[node] = 0


@kernel(inline="always")
def _is_lir(st, node):
    return node < st.g[G_NR_FRAMES] and st.node_val[node] == LIR


@kernel
def _init(st, ps):
    g = st.g
    if g[G_CACHE_MODE]:
        c = g[G_NR_FRAMES]
    else:
        c = max(g[G_NR_FREE] + 1 - g[G_HIGH], 2)
    h = max(np.int64(1), np.int64(st.params[0] * c))      # LIRS_init: MAX(1, ratio * size)
    ps.c[0] = c
    ps.hirs_limit[0] = h
    ps.lirs_limit[0] = c - h
    ps.pending[0] = -1
    for k in (Q, NH):
        ps.cl_head[k] = -1
        ps.cl_tail[k] = -1
        ps.cl_len[k] = 0
    ps.initialized[0] = 1


@kernel
def _drop_ghost(st, ps, gh):
    """Forget a ghost: off S, off NH if on it, back to the pool."""
    if st.node_val[gh] >= 0:
        _cl_del(st, ps, NH, gh, PHANTOM)
    ghost_free(st, gh)


@kernel
def _to_ghost(st, ps, frame, phantom):
    """The frame leaves memory; if it is in S a ghost takes its place there (evictHIR)."""
    if st.node_list[frame] != S:
        return
    key = st.node_key[frame]
    if key < 0:                                 # no identity of its own (nodes.key_bind)
        list_del(st, frame)
        return
    gh = ghost_new(st, key)
    if gh < 0 and ps.cl_len[NH] > 0:          # pool exhausted: forget the oldest first
        _drop_ghost(st, ps, ps.cl_head[NH])
        gh = ghost_new(st, key)
    if gh < 0:
        list_del(st, frame)
        return
    # the ghost takes the frame's place in S
    list_replace(st, frame, gh)
    if phantom:
        st.node_val[gh] = PHANTOM
    else:
        _cl_add_tail(st, ps, NH, gh)


@kernel
def _free(st, ps, frame, phantom):
    """Evict a page (already off Q); True if it is gone."""
    st.cnt[C_PAGES_SCANNED] += 1
    if shrink_page(st, frame) != PAGE_FREED:
        st.cnt[C_RECLAIM_FAILURES] += 1
        return False
    _to_ghost(st, ps, frame, phantom)
    forget_frame(st, frame)
    st.page_flags[frame] &= ~PG_lru
    reclaimed(st, frame)
    return True


@kernel
def _evict_hir(st, ps, busy):
    """evictHIR: free the front of Q. ``busy`` is the page being referenced: if it is the front
    it cannot leave memory now, so it leaves Q uncounted (``pending``, see the docstring)."""
    tries = ps.cl_len[Q]
    while tries > 0:
        tries -= 1
        f = ps.cl_head[Q]
        _cl_del(st, ps, Q, f, PHANTOM)
        if f == busy:
            if ps.pending[0] >= 0:
                _evict_pending(st, ps)
            ps.pending[0] = f
            return True
        if _free(st, ps, f, False):
            return True
        _cl_add_tail(st, ps, Q, f)                # cannot go now: to the end of Q
    return False


@kernel
def _evict_pending(st, ps):
    f = ps.pending[0]
    ps.pending[0] = -1
    if not _free(st, ps, f, True):
        _cl_add_tail(st, ps, Q, f)            # kernel mode only: back to being counted


@kernel
def _prune(st, ps):
    """Stack pruning (the paper's, LIRS_prune): drop HIR entries from the bottom of S."""
    while True:
        b = st.list_head[S]
        if b < 0 or b == st.list_tail[S] or _is_lir(st, b):
            return
        if b >= st.g[G_NR_FRAMES]:
            _drop_ghost(st, ps, b)
        else:
            list_del(st, b)
            if b == ps.pending[0]:                # counted nowhere, now in no structure:
                _evict_pending(st, ps)            # libCacheSim has forgotten it


@kernel
def _evict_lir(st, ps, busy):
    """evictLIR: the bottom of S (an LIR page) becomes a resident HIR page at the end of Q,
    after the front of Q is freed if Q is full; then prune. False if there is no LIR page."""
    b = st.list_head[S]
    if b >= 0 and not _is_lir(st, b):
        _prune(st, ps)                # S not pruned yet (no LIR page had been at its bottom)
        b = st.list_head[S]
    if b < 0 or not _is_lir(st, b):
        return False
    ps.lirs_count[0] -= 1
    list_del(st, b)
    while ps.cl_len[Q] + 1 > ps.hirs_limit[0]:
        if not _evict_hir(st, ps, busy):
            break
    _cl_add_tail(st, ps, Q, b)
    _prune(st, ps)
    return True


@kernel
def _lir_room(st, ps, busy):
    """``while lirs_count + 1 > lirs_limit: evictLIR``."""
    while ps.lirs_count[0] + 1 > ps.lirs_limit[0]:
        if not _evict_lir(st, ps, busy):
            return


@kernel
def _limit_stack(st, ps):
    """limitStack: S holds at most 2c entries; drop the oldest non-resident HIR pages."""
    while st.list_len[S] > 2 * ps.c[0] and ps.cl_len[NH] > 0:
        _drop_ghost(st, ps, ps.cl_head[NH])


@kernel
def _make_room(st, ps, frame):
    """LIRS_can_insert and LIRS_evict for a page in neither S nor Q: with both sets full, free
    the front of Q. After ``reclaim`` on a full memory there is room already."""
    while ps.lirs_count[0] + 1 > ps.lirs_limit[0] and ps.cl_len[Q] + 1 > ps.hirs_limit[0]:
        if not _evict_hir(st, ps, frame):
            return


@kernel
def page_added(st, ps, frame):
    if ps.initialized[0] == 0:
        _init(st, ps)
    key = page_key(st, frame)
    node = key_node(st, key)
    st.node_val[frame] = NEW
    st.node_val2[frame] = 0
    if node >= st.g[G_NR_FRAMES]:
        # a non-resident HIR page in S: the fault finds it there and moves it to the top
        phantom = st.node_val[node] == PHANTOM
        if phantom:
            ps.phantom_misses[0] += 1
        _drop_ghost(st, ps, node)
        key_bind(st, key, frame)
        list_add_tail(st, S, frame)
        _lir_room(st, ps, frame)             # LIRS_can_insert / hit_RD_HIRinS
        if not phantom:
            # LIRS_evict's first case, only if memory is still full
            n = 0
            while ps.lirs_count[0] + ps.cl_len[Q] + 1 > ps.c[0] and n < 4:
                n += 1
                while ps.cl_len[Q] >= ps.hirs_limit[0]:
                    if not _evict_hir(st, ps, frame):
                        break
                _evict_lir(st, ps, frame)
        st.node_val[frame] = LIR
        ps.lirs_count[0] += 1
    else:
        # not in S or Q (a key still bound to another frame is a new identity for this one)
        key_bind(st, key, frame)
        _make_room(st, ps, frame)
        list_add_tail(st, S, frame)
        if ps.lirs_count[0] + 1 <= ps.lirs_limit[0]:
            st.node_val[frame] = LIR          # the LIR set is not full yet
            ps.lirs_count[0] += 1
        else:
            _cl_add_tail(st, ps, Q, frame)
    _limit_stack(st, ps)


@kernel
def page_accessed(st, ps, frame):
    v = st.node_val[frame]
    if v == LIR:
        list_move_tail(st, S, frame)
        _prune(st, ps)
    elif st.node_list[frame] == S:
        # a resident HIR page in S: it becomes LIR (hit_RD_HIRinS)
        list_move_tail(st, S, frame)
        if v >= 0:
            _cl_del(st, ps, Q, frame, NEW)
        else:                                 # the uncounted page: counted again
            ps.pending[0] = -1
            st.node_val[frame] = NEW
        _lir_room(st, ps, frame)
        st.node_val[frame] = LIR
        ps.lirs_count[0] += 1
    elif v >= 0:
        # a resident HIR page not in S: end of Q, top of S (hit_RD_HIRinQ)
        _cl_del(st, ps, Q, frame, NEW)
        _cl_add_tail(st, ps, Q, frame)
        _lir_room(st, ps, frame)
        list_add_tail(st, S, frame)
    else:
        # the uncounted page after S forgot it cannot be here (_prune evicts it)
        list_add_tail(st, S, frame)
    _limit_stack(st, ps)


@kernel
def page_removed(st, ps, frame):
    """LIRS_remove: the page goes without a ghost."""
    v = st.node_val[frame]
    if v >= 0:
        _cl_del(st, ps, Q, frame, NEW)
    elif v == LIR:
        ps.lirs_count[0] -= 1
    elif frame == ps.pending[0]:
        ps.pending[0] = -1
    lir = v == LIR
    forget_frame(st, frame)
    if lir:
        _prune(st, ps)


@kernel
def reclaim(st, ps, sc):
    """Free the front of Q (evictHIR); the uncounted page first; with Q empty demote the bottom
    LIR page. In kernel mode memory is "full" when reclaim runs: c becomes the pages held now
    (page tables and the page cache's other users make the frame count no measure of it), and
    LIR pages beyond the new L go to Q first."""
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    f0 = st.cnt[C_PAGES_FREED]
    if not st.g[G_CACHE_MODE]:
        c = ps.lirs_count[0] + ps.cl_len[Q] + (1 if ps.pending[0] >= 0 else 0)
        if c >= 2:
            h = max(np.int64(1), np.int64(st.params[0] * c))
            ps.c[0] = c
            ps.hirs_limit[0] = h
            ps.lirs_limit[0] = c - h
        while ps.lirs_count[0] > ps.lirs_limit[0] and st.cnt[C_PAGES_FREED] - f0 < nr_to_free:
            if not _evict_lir(st, ps, -1):
                break
    while st.cnt[C_PAGES_FREED] - f0 < nr_to_free:
        if ps.pending[0] >= 0:
            _evict_pending(st, ps)
            continue
        if ps.cl_len[Q] == 0 and not _evict_lir(st, ps, -1):
            break
        if ps.cl_len[Q] > 0 and not _evict_hir(st, ps, -1):
            break
    return st.cnt[C_PAGES_FREED] - f0
