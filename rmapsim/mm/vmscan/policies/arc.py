"""ARC: Adaptive Replacement Cache, recency (T1) against frequency (T2) with a learned target p.

Megiddo and Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache", FAST 2003, as
libCacheSim's ``ARC.c`` implements it. With c frames: T1 holds pages referenced once since they
entered, T2 pages referenced at least twice, each an LRU list; B1 and B2 are their ghosts (keys
of pages evicted from T1 resp. T2). p, the target size of T1, starts at 0 and is a double, as in
libCacheSim ("one thing not clear in the paper is whether delta and p is int or float ... we
have changed to use float"): a tie ``|T1| == p`` needs p integral.

- a reference to a page in T1 or T2 moves it to T2's MRU end;
- a miss whose key is in B1: p = min(p + max(|B2| / |B1|, 1), c), the key leaves B1, and if a
  frame is needed REPLACE frees it; the page enters T2. In B2: p = max(p - max(|B1| / |B2|, 1),
  0), likewise (the sizes count the key being hit);
- any other miss that needs a frame (``_ARC_evict_miss_on_all_queues``, the paper's case IV): if
  |T1| + |B1| + 1 > c, then if B1 is not empty drop its LRU key and REPLACE, else evict T1's LRU
  page outright (no ghost); otherwise, if |T1| + |T2| + |B1| + |B2| >= 2c drop B2's LRU key (if
  any), and REPLACE; the page enters T1;
- REPLACE: if (|T1| > 0 and (|T1| > p or (|T1| == p and the miss is in B2))) or T2 is empty,
  T1's LRU page goes to B1's MRU end, else T2's LRU page goes to B2's.

libCacheSim tests "B1 not empty" where the paper tests |T1| < c (the same with pages of one
size) and guards an empty T2. The fault reclaims before ``page_added`` knows the page, so
``reclaim`` looks up the identity of the reference being faulted (``ctx[CTX_REF_KEY]``): if it is a
ghost, p adapts, the key leaves its list and the first page freed is REPLACE's, exactly the
order of ``ARC_find`` then ``ARC_evict``; ``pending`` keeps the hit for ``page_added``. A
page whose key differs from the reference's (a page-cache page in kernel mode) is found in
``page_added`` instead, after an ordinary eviction. No parameters: c is the frame count, which
in kernel mode includes the frames the kernel and page tables hold, so T1 + T2 stays below c
and the ghost lists can hold up to 2c - |T1| - |T2| keys (the pool holds 2c + 16).

In cache mode on a single-process trace it gives exactly libCacheSim's ARC misses. A page that
cannot be freed now (locked, swap full) goes to the MRU end of its list; reclaim gives up after
two passes over T1 + T2.
"""
import numpy as np

from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.layout import C_PAGES_SCANNED, C_RECLAIM_FAILURES, G_NR_FRAMES, CTX_REF_KEY, PG_lru
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import (forget_frame, ghost_free, ghost_new, key_bind, key_node,
                                     list_add_tail, list_move_tail, page_key)

T1, T2, B1, B2 = 0, 1, 2, 3     # head = LRU end (libCacheSim's tail), tail = MRU end
FIELDS = (
    # p, the target size of T1: a double, as in libCacheSim (ARC.c: "we have changed to use
    # float")
    ("p", "float64", "1", 0.0, None),
    # 1 (B1) or 2 (B2) when reclaim already handled the faulting ghost hit, and its key
    ("pending", "int64", "1", 0, None),
    ("pending_key", "int64", "1", 0, None),
)

NAME = "arc"
KIND = "reference"
MODELS = "ARC (Megiddo & Modha, FAST 2003; libCacheSim ARC)"
PARAMS = {}


@kernel(inline="always")
def _adapt(st, ps, ghost):
    """ARC_find on a ghost hit: move p towards the list that would have kept the page.
    Returns 1 for a hit in B1, 2 in B2. The sizes count the ghost being hit."""
    n1 = np.float64(st.list_len[B1])
    n2 = np.float64(st.list_len[B2])
    if st.node_list[ghost] == B1:
        ps.p[0] = min(ps.p[0] + max(n2 / n1, 1.0), np.float64(st.g[G_NR_FRAMES]))
        return 1
    ps.p[0] = max(ps.p[0] - max(n1 / n2, 1.0), 0.0)
    return 2


@kernel(inline="always")
def page_added(st, ps, frame):
    key = page_key(st, frame)
    hit = 0
    if ps.pending[0] != 0 and ps.pending_key[0] == key:
        hit = ps.pending[0]
    ps.pending[0] = 0
    if hit == 0:
        node = key_node(st, key)
        if node >= st.g[G_NR_FRAMES]:
            hit = _adapt(st, ps, node)
            ghost_free(st, node)
    key_bind(st, key, frame)
    list_add_tail(st, T2 if hit else T1, frame)


@kernel(inline="always")
def page_accessed(st, ps, frame):
    list_move_tail(st, T2, frame)


@kernel(inline="always")
def page_removed(st, ps, frame):
    forget_frame(st, frame)


@kernel(inline="always")
def _drop_lru_ghost(st, k):
    if st.list_len[k] > 0:
        ghost_free(st, st.list_head[k])


@kernel
def _to_ghost(st, k, key):
    """Remember key at the MRU end of ghost list k, recycling the oldest ghost if none is free."""
    if key < 0:
        return
    node = ghost_new(st, key)
    while node < 0 and st.list_len[B1] + st.list_len[B2] > 0:
        _drop_lru_ghost(st, B1 if st.list_len[B1] >= st.list_len[B2] else B2)
        node = ghost_new(st, key)
    if node >= 0:
        list_add_tail(st, k, node)


@kernel
def _free(st, k, ghost):
    """Evict the LRU page of list k, its key to ghost list ``ghost`` (-1: none). On failure the
    page goes to the MRU end of k. Returns True if freed."""
    f = st.list_head[k]
    st.cnt[C_PAGES_SCANNED] += 1
    if shrink_page(st, f) != PAGE_FREED:
        st.cnt[C_RECLAIM_FAILURES] += 1
        list_move_tail(st, k, f)
        return False
    key = st.node_key[f]
    forget_frame(st, f)
    st.page_flags[f] &= ~PG_lru
    reclaimed(st, f)
    if ghost >= 0 and key >= 0:
        _to_ghost(st, ghost, key)
    return True


@kernel
def _replace(st, ps, in_b2):
    """REPLACE (_ARC_replace): T1's LRU to B1 or T2's LRU to B2 by p."""
    n1 = st.list_len[T1]
    p = ps.p[0]
    if (n1 > 0 and (n1 > p or (n1 == p and in_b2))) or st.list_len[T2] == 0:
        return _free(st, T1, B1)
    return _free(st, T2, B2)


@kernel
def _evict(st, ps):
    """ARC_evict for a miss in no ghost list."""
    c = st.g[G_NR_FRAMES]
    n1 = st.list_len[T1]
    if n1 + st.list_len[B1] + 1 > c:
        if st.list_len[B1] > 0:         # libCacheSim's test for |T1| < c
            _drop_lru_ghost(st, B1)
            return _replace(st, ps, False)
        return _free(st, T1, -1)
    if n1 + st.list_len[T2] + st.list_len[B1] + st.list_len[B2] >= 2 * c:
        _drop_lru_ghost(st, B2)
    return _replace(st, ps, False)


@kernel
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    pending = 0             # a ghost hit handled by this call (not by an earlier one)
    if ps.pending[0] == 0:
        key = st.ctx[CTX_REF_KEY]
        node = key_node(st, key)
        if node >= st.g[G_NR_FRAMES]:
            pending = _adapt(st, ps, node)
            ghost_free(st, node)
            ps.pending[0] = pending
            ps.pending_key[0] = key
    freed = 0
    tries = 2 * (st.list_len[T1] + st.list_len[T2]) + 2
    while freed < nr_to_free and tries > 0 and st.list_len[T1] + st.list_len[T2] > 0:
        tries -= 1
        if freed == 0 and pending != 0:
            ok = _replace(st, ps, pending == 2)
        else:
            ok = _evict(st, ps)
        if ok:
            freed += 1
    return freed
