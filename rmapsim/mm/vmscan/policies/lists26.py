"""Linux 2.6.20's reclaim (before the split LRU): one active and one inactive list, the
mark_page_accessed state machine, rmap's page_referenced, and reclaim_mapped by swap_tendency.

docs/reference/linux-mm-history.md section 3.3, Linux 2.6.20 ``mm/vmscan.c``, ``mm/swap.c``.
Lists (head = the
kernel's ``list.prev``, the old end): ``ACTIVE``, ``INACTIVE``; ``HOLD`` is the private list
``isolate_lru_pages`` moves a batch to. The policy's ``FIELDS``: ``nr_scan_active`` and
``nr_scan_inactive`` (the zone's scan accumulators), ``prev_priority`` (``DEF_PRIORITY`` at
boot), the zone's ``pages_scanned`` and the ``mapped_ratio`` of this reclaim call. Routines and
the kernel functions they model:

- ``mark_page_accessed`` (mm/swap.c): inactive,unreferenced -> inactive,referenced ->
  active,unreferenced -> active,referenced. The fault path calls it once for a page it brings
  in: a page-cache page enters the inactive list (``add_to_page_cache_lru``) and is marked
  referenced (``filemap_nopage``/``shmem_nopage``); a swapped-in page enters the active list
  (``read_swap_cache_async``: ``lru_cache_add_active``) and is marked (``do_swap_page``); a new
  anonymous page enters the active list unreferenced (``lru_cache_add_active``).
- ``page_referenced``: rmap's test-and-clear of every pte's accessed bit, plus
  ``TestClearPageReferenced``.
- ``shrink_zone(priority)``: ``nr_scan_active += (nr_active >> priority) + 1`` (same for the
  inactive list); an accumulator below ``SWAP_CLUSTER_MAX`` is carried over, otherwise it is
  spent in batches of 32, alternating ``shrink_active_list`` and ``shrink_inactive_list``.
- ``shrink_active_list``: ``reclaim_mapped`` when ``swap_tendency = mapped_ratio/2 + distress
  + swappiness >= 100`` with ``distress = 100 >> min(prev_priority, priority)``, or when the
  zone is near OOM (``pages_scanned >= 3 * (nr_active + nr_inactive)``). A mapped page stays
  active unless reclaim_mapped, there is swap for an anonymous page and ``page_referenced`` is
  0; every other page goes to the inactive list.
- ``shrink_inactive_list`` / ``shrink_page_list``: batches of ``SWAP_CLUSTER_MAX`` from the
  old end. Locked: kept. Referenced and ``page_mapping_inuse`` (mapped, in the swap cache, or
  its file mmapped by anyone): activated. Referenced and dirty: kept. Otherwise
  ``shrink.shrink_page`` (``add_to_swap``, ``try_to_unmap``, ``pageout``, ``remove_mapping``);
  a page it cannot take (swap full) is activated.
- ``reclaim(nr)``: ``balance_pgdat`` / ``try_to_free_pages``: priority ``DEF_PRIORITY`` (12)
  down to 0, ``shrink_zone`` at each, until ``min(nr, SWAP_CLUSTER_MAX)`` pages are freed;
  ``prev_priority`` follows the lowest priority reached and is left at the final one.

Where the model simplifies the kernel, and why:

- One zone; no slab (``shrink_slab``), no buffer heads, no swap token, no laptop mode, no
  ``all_unreclaimable`` flag and no ``congestion_wait``; writeback is synchronous, so
  ``pageout`` of a dirty page is followed at once by ``remove_mapping`` (no PageWriteback pass).
- ``mark_page_accessed`` is called from ``read()``/``write()`` in Linux; the simulator has no
  system calls, and no hook for a minor fault, so a page is marked only when a fault brings it
  in; later references are seen through the pte accessed bits, as 2.6 sees mapped pages.
- ``mapped_ratio`` (``NR_FILE_MAPPED + NR_ANON_PAGES`` over all pages) is taken once per reclaim
  call, counting the mapped pages on the lists. kswapd runs when the simulator's allocator
  wakes it; one reclaim call is one pass of ``balance_pgdat``'s priority loop (the allocator's
  kswapd loop is its ``loop_again``). A pass that frees nothing is repeated, as
  ``__alloc_pages`` retries ``try_to_free_pages``, at least twice and until the zone has been
  scanned six times over since a page was last freed (the test that sets kswapd's
  ``all_unreclaimable``; ``MAX_PASSES`` at most): on a zone of a few pages the
  ``nr_scan_*`` accumulators need several passes to reach ``SWAP_CLUSTER_MAX`` at all.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.rmap import page_referenced
from rmapsim.mm.layout import (C_PAGES_FREED, C_PAGES_SCANNED, G_NR_FRAMES, G_NR_MAPPED, G_SWAP_SIZE,
                               G_SWAP_UNBOUNDED, PG_active, PG_anon, PG_dirty, PG_locked, PG_lru,
                               PG_referenced, PG_swapcache)
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import forget_frame, list_del, list_move_tail

NAME = "lists-2.6"
KIND = "realistic"
MODELS = ("Linux 2.6.20 active/inactive lists: mark_page_accessed, shrink_zone, "
          "shrink_active_list (reclaim_mapped, swap_tendency), shrink_page_list (mm/vmscan.c)")
PARAMS = {"swappiness": (60, "vm_swappiness: 0-100, how readily mapped pages are deactivated "
                             "(swap_tendency = mapped_ratio/2 + distress + swappiness)",
                         (0, 100))}           # 2.6.20's sysctl bound

ACTIVE = 0
INACTIVE = 1
HOLD = 2

DEF_PRIORITY = 12
SWAP_CLUSTER_MAX = 32
RETRIES = 2
MAX_PASSES = 64

FIELDS = (
    ("nr_scan_active", "int64", "1", 0, None),
    ("nr_scan_inactive", "int64", "1", 0, None),
    ("prev_priority", "int64", "1", DEF_PRIORITY, None),    # zone->prev_priority
    ("pages_scanned", "int64", "1", 0, None),   # zone->pages_scanned, reset when pages are freed
    ("mapped_ratio", "int64", "1", 0, None),
)


# ---- list moves (mm_inline.h) and mm/swap.c ---------------------------------------------------

@kernel(inline="always")
def add_active(st, f):
    st.page_flags[f] |= PG_active
    list_move_tail(st, ACTIVE, f)


@kernel(inline="always")
def add_inactive(st, f):
    st.page_flags[f] &= ~PG_active
    list_move_tail(st, INACTIVE, f)


@kernel(inline="always")
def mark_page_accessed(st, f):
    fl = st.page_flags[f]
    if not (fl & PG_active) and (fl & PG_referenced) and st.node_list[f] == INACTIVE:
        add_active(st, f)                   # activate_page
        st.page_flags[f] &= ~PG_referenced
    elif not (fl & PG_referenced):
        st.page_flags[f] |= PG_referenced


@kernel(inline="always")
def referenced(st, f):
    """page_referenced(page, ...): PG_referenced and every pte's accessed bit, cleared."""
    n = page_referenced(st, f)
    if st.page_flags[f] & PG_referenced:
        st.page_flags[f] &= ~PG_referenced
        n += 1
    return n


@kernel(inline="always")
def page_mapping_inuse(st, f):
    if st.page_mapcount[f] > 0:
        return True
    if st.page_flags[f] & PG_swapcache:
        return True
    obj = st.page_mapping[f]
    return obj >= 0 and st.obj_maps[obj] > 0


# ---- the hooks --------------------------------------------------------------------------------

@kernel(inline="always")
def page_added(st, ps, frame):
    fl = st.page_flags[frame]
    if fl & PG_anon:
        add_active(st, frame)               # lru_cache_add_active
        if fl & PG_swapcache:
            mark_page_accessed(st, frame)   # do_swap_page
    else:
        add_inactive(st, frame)             # add_to_page_cache_lru
        mark_page_accessed(st, frame)       # filemap_nopage / shmem_nopage


@kernel(inline="always")
def page_removed(st, ps, frame):
    forget_frame(st, frame)
    st.page_flags[frame] &= ~PG_active
    ps.pages_scanned[0] = 0                 # free_pages_bulk


# ---- scanning ---------------------------------------------------------------------------------

@kernel(inline="always")
def isolate_lru_pages(st, ps, nr, src):
    """Up to nr pages from the old end of src onto HOLD; how many."""
    n = 0
    while n < nr:
        f = st.list_head[src]
        if f < 0:
            break
        list_move_tail(st, HOLD, f)
        n += 1
    ps.pages_scanned[0] += n
    return n


@kernel
def reclaim_mapped(st, ps, priority):
    """shrink_active_list's decision (sc->may_swap is always set)."""
    if ps.pages_scanned[0] >= (st.list_len[ACTIVE] + st.list_len[INACTIVE]) * 3:
        return True                         # zone_is_near_oom
    p = min(ps.prev_priority[0], priority)
    distress = 100 >> p
    swap_tendency = ps.mapped_ratio[0] // 2 + distress + int(st.params[0])
    return swap_tendency >= 100


@kernel
def shrink_active_list(st, ps, nr_pages, priority):
    rm = reclaim_mapped(st, ps, priority)
    no_swap = st.g[G_SWAP_SIZE] == 0 and not st.g[G_SWAP_UNBOUNDED]
    n = isolate_lru_pages(st, ps, nr_pages, ACTIVE)
    st.cnt[C_PAGES_SCANNED] += n
    for _ in range(n):
        f = st.list_head[HOLD]
        if st.page_mapcount[f] > 0:
            if not rm or (no_swap and (st.page_flags[f] & PG_anon)) or referenced(st, f):
                add_active(st, f)
                continue
        add_inactive(st, f)


@kernel
def shrink_page_list(st, ps, n):
    """The n pages on HOLD; returns how many were freed."""
    freed = 0
    for _ in range(n):
        f = st.list_head[HOLD]
        fl = st.page_flags[f]
        if fl & PG_locked:
            add_inactive(st, f)             # keep
            continue
        st.cnt[C_PAGES_SCANNED] += 1
        ref = referenced(st, f)
        if ref and page_mapping_inuse(st, f):
            add_active(st, f)               # activate_locked
            continue
        if ref and st.page_mapcount[f] == 0 and (st.page_flags[f] & PG_dirty):
            add_inactive(st, f)             # dirty and referenced: keep_locked
            continue
        if shrink_page(st, f) == PAGE_FREED:              # add_to_swap, try_to_unmap, pageout, remove_mapping
            list_del(st, f)
            st.page_flags[f] &= ~(PG_lru | PG_active)
            reclaimed(st, f)
            freed += 1
        else:
            add_active(st, f)               # add_to_swap failed: activate_locked
    if freed:
        ps.pages_scanned[0] = 0
    return freed


@kernel
def shrink_inactive_list(st, ps, max_scan):
    scanned = 0
    freed = 0
    while scanned < max_scan:
        n = isolate_lru_pages(st, ps, SWAP_CLUSTER_MAX, INACTIVE)
        if n == 0:
            break
        scanned += n
        freed += shrink_page_list(st, ps, n)
    return freed


@kernel
def shrink_zone(st, ps, priority):
    ps.nr_scan_active[0] += (st.list_len[ACTIVE] >> priority) + 1
    nr_active = ps.nr_scan_active[0]
    if nr_active >= SWAP_CLUSTER_MAX:
        ps.nr_scan_active[0] = 0
    else:
        nr_active = 0
    ps.nr_scan_inactive[0] += (st.list_len[INACTIVE] >> priority) + 1
    nr_inactive = ps.nr_scan_inactive[0]
    if nr_inactive >= SWAP_CLUSTER_MAX:
        ps.nr_scan_inactive[0] = 0
    else:
        nr_inactive = 0
    freed = 0
    while nr_active or nr_inactive:
        if nr_active:
            k = min(nr_active, SWAP_CLUSTER_MAX)
            nr_active -= k
            shrink_active_list(st, ps, k, priority)
        if nr_inactive:
            k = min(nr_inactive, SWAP_CLUSTER_MAX)
            nr_inactive -= k
            freed += shrink_inactive_list(st, ps, k)
    return freed


@kernel
def mapped_ratio(st):
    """100 * (NR_FILE_MAPPED + NR_ANON_PAGES) / vm_total_pages, from the count rmap keeps of
    pages with a mapping (``page_add_rmap``/``page_remove_rmap``), as the kernel's counters."""
    return st.g[G_NR_MAPPED] * 100 // st.g[G_NR_FRAMES]


@kernel
def balance(st, ps, target):
    """One pass of the priority loop; pages freed."""
    freed = 0
    priority = DEF_PRIORITY
    while priority >= 0:
        if ps.prev_priority[0] > priority:
            ps.prev_priority[0] = priority
        freed += shrink_zone(st, ps, priority)
        if freed >= target:
            break
        priority -= 1
    ps.prev_priority[0] = max(priority, 0)
    return freed


@kernel
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    f0 = st.cnt[C_PAGES_FREED]
    ps.mapped_ratio[0] = mapped_ratio(st)
    target = min(nr_to_free, SWAP_CLUSTER_MAX)
    for k in range(MAX_PASSES):
        if balance(st, ps, target) > 0:
            break
        # kswapd's all_unreclaimable test: the zone was scanned six times over since a page
        # was last freed
        lru = st.list_len[ACTIVE] + st.list_len[INACTIVE]
        if k >= RETRIES and ps.pages_scanned[0] >= 6 * lru:
            break
    return st.cnt[C_PAGES_FREED] - f0
