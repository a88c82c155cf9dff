"""S3-FIFO: a small FIFO that filters one-hit wonders, a main FIFO with reinsertion, a ghost FIFO.

Yang, Zhang, Qiu, Yue and Rashmi, "FIFO queues are all you need for cache eviction", SOSP 2023,
as libCacheSim's ``S3FIFO.c`` implements it (the version that inserts into main while the
small queue is full and nothing was ever evicted). With c frames:

- small S holds ``int(c * small_ratio)`` pages, main M the rest, the ghost G remembers the keys
  of ``int(c * ghost_ratio)`` pages evicted from S (C's double -> int64 truncation);
- a miss whose key is in G goes to M (and leaves G); any other miss goes to S -- or to M while
  nothing was ever evicted and S is full (``has_evicted``);
- a reference adds 1 to the page's count (``node_val``);
- to free a page: evict from M if M is over its size or S is empty, else from S;
- from S (oldest first): a page with count >= ``move_threshold`` moves to M with count 0, the
  first one below it is freed and its key enters G (G drops its oldest entry when full);
- from M (oldest first): a page with count >= 1 goes to M's young end with ``min(count, 3) - 1``
  (a 2-bit CLOCK), the first with count 0 is freed.

The ghost check happens before eviction in libCacheSim (``S3FIFO_find`` removes the key from G,
then ``cache_get_base`` evicts, then inserts). Here the fault reclaims before ``page_added`` knows
the page, so ``reclaim`` looks up the identity of the reference being faulted
(``st.ctx[CTX_REF_KEY]``): if it is a ghost it leaves G at once and the pending hit is kept in
``pending`` for ``page_added``; a page whose key differs from the reference's (a page-cache page)
is checked in ``page_added`` instead, after eviction.

Where it differs from libCacheSim: from c = 10 to 19 frames (S of 1 page) libCacheSim refuses
to insert any page not in G (``S3FIFO_insert``: ``obj_size >= small_fifo->cache_size``), and
nothing ever reaches G, so it caches nothing; below 10 (S of 0) its binding rejects the
configuration. A page fault cannot be refused, so such pages go to S here as at any other size
(to M while S is full and nothing was evicted): below 20 frames rmapsim's s3fifo caches where
libCacheSim's does not. A page that cannot be freed now (locked, swap full) goes to the young end
of its queue with its count; one eviction gives up after 4 (|S| + |M|) + 4 steps.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.layout import C_PAGES_SCANNED, C_RECLAIM_FAILURES, G_NR_FRAMES, CTX_REF_KEY, PG_lru
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import (forget_frame, ghost_free, ghost_new, key_bind, key_node,
                                     list_add_tail, list_move_tail, page_key)

SMALL, MAIN, GHOST = 0, 1, 2
FIELDS = (
    ("has_evicted", "int8", "1", 0, None),
    # 1 when reclaim took the faulting reference's key out of G, and that key
    ("pending", "int64", "1", 0, None),
    ("pending_key", "int64", "1", 0, None),
)

NAME = "s3fifo"
KIND = "reference"
MODELS = "S3-FIFO (Yang et al., SOSP 2023; libCacheSim S3FIFO): small + main FIFO + ghost"
PARAMS = {
    "small_ratio": (0.10, "small FIFO size as a fraction of the frames (truncated)", (0, 1)),
    "ghost_ratio": (0.90, "ghost FIFO entries as a fraction of the frames (truncated)", (0, 1)),
    "move_threshold": (2, "references in the small FIFO needed to move to main on eviction "
                          "(libCacheSim's move-to-main-threshold; the paper's rule is 1)",
                       (1, None)),
}


@kernel(inline="always")
def _small_size(st):
    return int(st.g[G_NR_FRAMES] * st.params[0])


@kernel(inline="always")
def _ghost_size(st):
    return int(st.g[G_NR_FRAMES] * st.params[1])


@kernel(inline="always")
def page_added(st, ps, frame):
    key = page_key(st, frame)
    hit_ghost = ps.pending[0] == 1 and ps.pending_key[0] == key
    ps.pending[0] = 0
    if not hit_ghost:
        node = key_node(st, key)
        if node >= st.g[G_NR_FRAMES]:
            ghost_free(st, node)
            hit_ghost = True
    st.node_val[frame] = 0
    key_bind(st, key, frame)
    if hit_ghost:
        list_add_tail(st, MAIN, frame)
    elif ps.has_evicted[0] == 0 and st.list_len[SMALL] >= _small_size(st):
        list_add_tail(st, MAIN, frame)
    else:
        list_add_tail(st, SMALL, frame)


@kernel(inline="always")
def page_accessed(st, ps, frame):
    st.node_val[frame] += 1


@kernel(inline="always")
def page_removed(st, ps, frame):
    forget_frame(st, frame)


@kernel(inline="always")
def _ghost_add(st, key):
    """ghost_fifo->get: remember key at G's young end, dropping the oldest when full."""
    size = _ghost_size(st)
    if size <= 0 or key < 0:
        return
    while st.list_len[GHOST] >= size:
        ghost_free(st, st.list_head[GHOST])
    node = ghost_new(st, key)
    while node < 0 and st.list_len[GHOST] > 0:
        ghost_free(st, st.list_head[GHOST])
        node = ghost_new(st, key)
    if node >= 0:
        list_add_tail(st, GHOST, node)


@kernel(inline="always")
def _free(st, f):
    """Try to free f; on success it leaves every list. Returns the key it had, or -2."""
    st.cnt[C_PAGES_SCANNED] += 1
    if shrink_page(st, f) == PAGE_FREED:
        key = st.node_key[f]
        forget_frame(st, f)
        st.page_flags[f] &= ~PG_lru
        reclaimed(st, f)
        return key
    st.cnt[C_RECLAIM_FAILURES] += 1
    return -2


@kernel
def _evict_one(st, ps, budget):
    """S3FIFO_evict: free one page; returns (freed, budget left)."""
    ps.has_evicted[0] = 1
    main_size = st.g[G_NR_FRAMES] - _small_size(st)
    if st.list_len[MAIN] > main_size or st.list_len[SMALL] == 0:
        while st.list_len[MAIN] > 0 and budget > 0:          # S3FIFO_evict_main
            budget -= 1
            f = st.list_head[MAIN]
            c = st.node_val[f]
            if c >= 1:
                st.node_val[f] = min(c, 3) - 1
                list_move_tail(st, MAIN, f)
                st.cnt[C_PAGES_SCANNED] += 1
            elif _free(st, f) != -2:
                return True, budget
            else:
                list_move_tail(st, MAIN, f)
        return False, budget
    thr = st.params[2]
    while st.list_len[SMALL] > 0 and budget > 0:              # S3FIFO_evict_small
        budget -= 1
        f = st.list_head[SMALL]
        if st.node_val[f] >= thr:
            st.node_val[f] = 0
            list_move_tail(st, MAIN, f)
            st.cnt[C_PAGES_SCANNED] += 1
        else:
            key = _free(st, f)
            if key != -2:
                _ghost_add(st, key)
                return True, budget
            list_move_tail(st, SMALL, f)
    return False, budget


@kernel
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    # the ghost check of the page being faulted comes before eviction (S3FIFO_find)
    key = st.ctx[CTX_REF_KEY]
    node = key_node(st, key)
    if node >= st.g[G_NR_FRAMES]:
        ghost_free(st, node)
        ps.pending[0] = 1
        ps.pending_key[0] = key
    freed = 0
    while freed < nr_to_free and st.list_len[SMALL] + st.list_len[MAIN] > 0:
        ok, left = _evict_one(st, ps, 4 * (st.list_len[SMALL] + st.list_len[MAIN]) + 4)
        if ok:
            freed += 1
        elif left == 0:
            break
    return freed
