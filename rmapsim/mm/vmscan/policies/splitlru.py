"""Linux 2.6.28's split LRU (Rik van Riel, commit 4f98a2fee8ac), with 3.15's workingset
refault detection (Johannes Weiner, mm/workingset.c).

Four lists, inactive/active x anon/file, numbered as the kernel's ``enum lru_list``
(``LRU_INACTIVE_ANON`` 0, ``LRU_ACTIVE_ANON`` 1, ``LRU_INACTIVE_FILE`` 2, ``LRU_ACTIVE_FILE`` 3),
and a fifth list of shadow entries. The head of a list here is the kernel's list tail, the old
end that ``lru_to_page`` takes from; ``list_add_tail`` here is the kernel's ``list_add`` (young
end). See docs/reference/linux-mm-history.md sections 3.4-3.5. Routines and the kernel
functions they model:

- ``page_added`` -> ``lru_cache_add_*``: a freshly faulted anonymous page (and a COW copy) goes on
  the active anon list (``lru_cache_add_active_or_unevictable`` in ``do_anonymous_page``), a page
  swapped in goes on the inactive anon list (``read_swap_cache_async`` -> ``lru_cache_add_anon``),
  a shared-anonymous (shmem, swap-backed) page on the inactive anon list, a file page on the
  inactive file list (``add_to_page_cache_lru``) -- unless ``workingset_refault`` finds its shadow
  entry with a refault distance ``<= NR_ACTIVE_FILE``, when it goes active and counts as an
  activation (``SetPageActive`` + ``workingset_activation``).
- ``reclaim`` -> kswapd's ``balance_pgdat`` / ``try_to_free_pages``: rounds of
  ``do_try_to_free_pages`` for ``SWAP_CLUSTER_MAX`` (32) pages each, until the request is met or a
  round fails; a round goes ``priority = DEF_PRIORITY`` (12) down to 0, calling ``shrink_zone``.
- ``shrink_zone``: ``get_scan_ratio`` gives ``percent[anon, file]``; each list adds
  ``(size >> priority) * percent[file] / 100`` (the whole list at priority 0) to its ``nr_scan``,
  and once that reaches 32 the list is worked in batches of 32 (``shrink_list``) until all are
  spent or the request is met below ``DEF_PRIORITY``; then, if the inactive anon list is low,
  ``shrink_active_list(SWAP_CLUSTER_MAX)`` on active anon to rebalance.
- ``get_scan_ratio``: no swap -> all file; ``file + free <= pages_high`` -> all anon; else
  ``recent_scanned``/``recent_rotated`` halve when scanned passes a quarter of the type's pages,
  ``ap = (swappiness + 1)(scanned[0] + 1)/(rotated[0] + 1)``, ``fp = (200 - swappiness + 1)
  (scanned[1] + 1)/(rotated[1] + 1)``, ``percent[0] = 100 ap/(ap + fp + 1)``.
- ``shrink_list``: an active list is shrunk only if its inactive list is low: anon when
  ``inactive * inactive_ratio < active`` with ``inactive_ratio = int_sqrt(10 * GB)`` or 1 below a
  gigabyte (``inactive_anon_is_low``, ``setup_per_zone_inactive_ratio``); file when
  ``active > inactive`` (2.6.31's ``inactive_file_is_low``).
- ``shrink_active_list``: every page taken goes to the inactive list (2.6.28 deactivates
  referenced pages too); those ``page_referenced`` finds referenced while their mapping is in use
  count in ``recent_rotated``.
- ``shrink_inactive_list`` / ``shrink_page_list``: a page referenced (accessed bit of any pte, or
  ``PG_referenced``) whose mapping is in use (``page_mapping_inuse``: mapped, in the swap cache, or
  of a file some vma maps) is activated and counted rotated; otherwise it is freed
  (``shrink.shrink_page``); one that cannot be (swap full) is activated if anonymous
  (``add_to_swap`` failed -> ``activate_locked``) and put back otherwise.
- ``workingset_eviction``: a page-cache page freed by reclaim bumps ``inactive_age`` and leaves a
  shadow entry (a ghost node, ``node_val`` = the counter after the bump) in its page-cache slot.
  Every activation of a file page bumps the counter too (``workingset_activation``).
- ``workingset_refault``: distance = ``inactive_age - shadow``; activate if ``<= NR_ACTIVE_FILE``.
- The shadow shrinker (``scan_shadow_nodes``): shadows live in the ghost pool; when it is empty
  the oldest shadow is dropped. A shadow older than the pool (twice the frames) has a distance
  larger than any active list, so it could never activate a page anyway.

Where the model simplifies, and why:

- No ``mark_page_accessed``: the simulator has no read(2) and tells the policy of no reference,
  so the activation that ``mark_page_accessed`` makes on a second access is the one
  ``shrink_page_list`` makes when it finds the page referenced. Those activations of file pages
  bump ``inactive_age``, as ``workingset_activation`` does for the ones ``mark_page_accessed``
  makes; 3.15 did not count ``shrink_page_list``'s own.
- Machines far smaller than any 2.6.28 ran on: at priority 0 a list is worked whole even when
  its accumulated ``nr_scan`` is below ``SWAP_CLUSTER_MAX`` (2.6.28 would carry it over to the
  next call, so a list of a few pages would be scanned only every few dozen calls; later
  kernels force a minimum scan for small zones), and a round of ``do_try_to_free_pages`` that
  frees nothing is retried twice before reclaim reports failure (a round may only have
  refilled an inactive list; 2.6.28's allocator would retry after its own congestion wait, and
  reporting failure here is an OOM kill).
- One zone, no memcg, no unevictable list (no mlock), no lumpy reclaim (order-0 only), no
  ``VM_EXEC`` protection of 2.6.31, no ``may_writepage`` throttling: writeback completes at once.
- kswapd and direct reclaim both stop a ``shrink_zone`` once the request is met below
  ``DEF_PRIORITY`` (2.6.28 did this for direct reclaim only; kswapd restarted at ``DEF_PRIORITY``
  after 32 pages, which the round structure here gives too).
- Anonymous pages leave no shadow entries (that came with 5.9).
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.filemap import pc_key
from rmapsim.mm.rmap import page_referenced
from rmapsim.mm.layout import (C_PAGES_FREED, C_PAGES_SCANNED, C_RECLAIM_FAILURES, G_HIGH,
                               G_NR_FRAMES, G_NR_FREE, G_SWAP_FREE, G_SWAP_UNBOUNDED, PG_active,
                               PG_anon, PG_locked, PG_lru, PG_referenced, PG_swapcache)
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import (ghost_free, ghost_new, key_node, list_add_tail, list_del,
                                     page_is_file)

NAME = "split-lru"
KIND = "realistic"
MODELS = ("Linux 2.6.28 split LRU (shrink_zone, get_scan_ratio, shrink_active_list, "
          "shrink_page_list; mm/vmscan.c) with 3.15 workingset refault distance (mm/workingset.c)")
PARAMS = {
    # 200 as since Linux 5.8, whose get_scan_count keeps this anon/file priority split
    "swappiness": (60, "vm_swappiness 0..200 (200 - swappiness is the file priority); default 60",
                   (0, 200)),
    "workingset": (1, "1: shadow entries and refault activation (3.15); 0: plain 2.6.28", (0, 1)),
}

LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE = 0, 1, 2, 3
SHADOWS = 4                         # list of shadow entries, oldest first
DEF_PRIORITY = 12
SWAP_CLUSTER_MAX = 32
FIELDS = (
    ("nr_scan", "int64", "4", 0, None),             # zone->lru[l].nr_scan
    ("recent_scanned", "int64", "2", 0, None),      # zone->recent_scanned[anon, file]
    ("recent_rotated", "int64", "2", 0, None),      # zone->recent_rotated[anon, file]
    ("inactive_age", "int64", "1", 0, None),        # zone->inactive_age
)
P_SWAPPINESS, P_WORKINGSET = 0, 1


_is_file = page_is_file       # page_is_file_cache: shmem counts as anon


@kernel(inline="always")
def _can_swap(st):
    return st.g[G_SWAP_FREE] > 0 or st.g[G_SWAP_UNBOUNDED] != 0


@kernel
def workingset_refault(st, ps, frame):
    """The page's slot held a shadow entry: drop it, and say whether the refault distance is
    within the active file list (then the page starts active)."""
    node = key_node(st, pc_key(st.page_mapping[frame], st.page_index[frame]))
    if node < st.g[G_NR_FRAMES]:
        return False
    distance = ps.inactive_age[0] - st.node_val[node]
    ghost_free(st, node)
    return distance <= st.list_len[LRU_ACTIVE_FILE]


@kernel
def workingset_eviction(st, ps, key):
    """Bump inactive_age and leave a shadow entry holding it in the page's slot."""
    ps.inactive_age[0] += 1
    old = key_node(st, key)
    if old >= st.g[G_NR_FRAMES]:
        ghost_free(st, old)
    node = ghost_new(st, key)
    if node < 0:                                    # pool exhausted: the shrinker's work
        ghost_free(st, st.list_head[SHADOWS])
        node = ghost_new(st, key)
    st.node_val[node] = ps.inactive_age[0]
    list_add_tail(st, SHADOWS, node)


@kernel(inline="always")
def _activate(st, ps, frame, file):
    list_add_tail(st, 2 * file + 1, frame)
    st.page_flags[frame] |= PG_active
    if file:
        ps.inactive_age[0] += 1                     # workingset_activation


@kernel(inline="always")
def page_added(st, ps, frame):
    file = _is_file(st, frame)
    if file:
        if st.params[P_WORKINGSET] != 0 and workingset_refault(st, ps, frame):
            _activate(st, ps, frame, 1)
        else:
            list_add_tail(st, LRU_INACTIVE_FILE, frame)
    elif (st.page_flags[frame] & (PG_anon | PG_swapcache)) == PG_anon:
        list_add_tail(st, LRU_ACTIVE_ANON, frame)   # a new anonymous page starts active
        st.page_flags[frame] |= PG_active
    else:
        list_add_tail(st, LRU_INACTIVE_ANON, frame)  # swap-in, shmem


@kernel(inline="always")
def page_removed(st, ps, frame):
    list_del(st, frame)
    st.page_flags[frame] &= ~PG_active


@kernel(inline="always")
def inactive_ratio(st):
    """setup_per_zone_inactive_ratio: int_sqrt(10 * gigabytes), 1 below a gigabyte."""
    gb = st.g[G_NR_FRAMES] >> 18
    if gb == 0:
        return 1
    r = 1
    while (r + 1) * (r + 1) <= 10 * gb:
        r += 1
    return r


@kernel(inline="always")
def inactive_anon_is_low(st):
    return st.list_len[LRU_INACTIVE_ANON] * inactive_ratio(st) < st.list_len[LRU_ACTIVE_ANON]


@kernel(inline="always")
def inactive_file_is_low(st):
    return st.list_len[LRU_ACTIVE_FILE] > st.list_len[LRU_INACTIVE_FILE]


@kernel(inline="always")
def page_mapping_inuse(st, frame):
    if st.page_mapcount[frame] > 0:
        return True
    flags = st.page_flags[frame]
    if flags & PG_swapcache:
        return True
    if flags & PG_anon:
        return False
    m = st.page_mapping[frame]
    return m >= 0 and st.obj_maps[m] > 0


@kernel(inline="always")
def _referenced(st, frame):
    """page_referenced: young ptes via rmap (bits cleared), plus TestClearPageReferenced."""
    ref = page_referenced(st, frame)
    if st.page_flags[frame] & PG_referenced:
        st.page_flags[frame] &= ~PG_referenced
        ref += 1
    return ref


@kernel
def get_scan_ratio(st, ps):
    """percent[0] (anon) of the scan; percent[1] = 100 - it."""
    if not _can_swap(st):
        return 0
    anon = st.list_len[LRU_INACTIVE_ANON] + st.list_len[LRU_ACTIVE_ANON]
    file = st.list_len[LRU_INACTIVE_FILE] + st.list_len[LRU_ACTIVE_FILE]
    if file + st.g[G_NR_FREE] <= st.g[G_HIGH]:
        return 100
    for t in range(2):
        size = anon if t == 0 else file
        if ps.recent_scanned[t] > size // 4:
            ps.recent_scanned[t] //= 2
            ps.recent_rotated[t] //= 2
    swappiness = int(st.params[P_SWAPPINESS])
    ap = (swappiness + 1) * (ps.recent_scanned[0] + 1) // (ps.recent_rotated[0] + 1)
    fp = (200 - swappiness + 1) * (ps.recent_scanned[1] + 1) // (ps.recent_rotated[1] + 1)
    return 100 * ap // (ap + fp + 1)


@kernel
def shrink_active_list(st, ps, nr, file):
    act = 2 * file + 1
    rotated = 0
    scanned = 0
    while scanned < nr:
        f = st.list_head[act]
        if f < 0:
            break
        scanned += 1
        st.cnt[C_PAGES_SCANNED] += 1
        list_del(st, f)
        if page_mapping_inuse(st, f) and _referenced(st, f):
            rotated += 1
        st.page_flags[f] &= ~PG_active
        list_add_tail(st, 2 * file, f)
    ps.recent_scanned[file] += scanned
    ps.recent_rotated[file] += rotated


@kernel
def shrink_inactive_list(st, ps, nr, file):
    """shrink_inactive_list + shrink_page_list over up to nr pages; returns pages freed."""
    inact = 2 * file
    freed = 0
    scanned = 0
    rotated = 0
    while scanned < nr:
        f = st.list_head[inact]
        if f < 0:
            break
        scanned += 1
        st.cnt[C_PAGES_SCANNED] += 1
        list_del(st, f)
        if st.page_flags[f] & PG_locked:
            list_add_tail(st, inact, f)
            continue
        if _referenced(st, f) and page_mapping_inuse(st, f):
            _activate(st, ps, f, file)
            rotated += 1
            continue
        key = -1
        if file and st.params[P_WORKINGSET] != 0:
            key = pc_key(st.page_mapping[f], st.page_index[f])
        if shrink_page(st, f) == PAGE_FREED:
            st.page_flags[f] &= ~PG_lru
            reclaimed(st, f)
            freed += 1
            if key >= 0:
                workingset_eviction(st, ps, key)
        else:
            st.cnt[C_RECLAIM_FAILURES] += 1
            if file:
                list_add_tail(st, inact, f)
            else:
                _activate(st, ps, f, 0)
                rotated += 1
    ps.recent_scanned[file] += scanned
    ps.recent_rotated[file] += rotated
    return freed


@kernel
def shrink_list(st, ps, lru, nr):
    if lru == LRU_ACTIVE_FILE:
        if inactive_file_is_low(st):
            shrink_active_list(st, ps, nr, 1)
        return 0
    if lru == LRU_ACTIVE_ANON:
        if inactive_anon_is_low(st):
            shrink_active_list(st, ps, nr, 0)
        return 0
    return shrink_inactive_list(st, ps, nr, lru >> 1)


@kernel
def shrink_zone(st, ps, priority, want):
    pct_anon = get_scan_ratio(st, ps)
    nr0 = 0
    nr1 = 0
    nr2 = 0
    nr3 = 0
    for lru in range(4):
        scan = st.list_len[lru]
        if priority:
            scan >>= priority
            scan = scan * (pct_anon if lru < 2 else 100 - pct_anon) // 100
        ps.nr_scan[lru] += scan
        n = ps.nr_scan[lru]
        if n >= SWAP_CLUSTER_MAX or (priority == 0 and n > 0):
            ps.nr_scan[lru] = 0
        else:
            n = 0
        if lru == 0:
            nr0 = n
        elif lru == 1:
            nr1 = n
        elif lru == 2:
            nr2 = n
        else:
            nr3 = n
    freed = 0
    while nr0 or nr2 or nr3:
        for lru in range(4):
            n = nr0 if lru == 0 else (nr1 if lru == 1 else (nr2 if lru == 2 else nr3))
            if n:
                take = min(n, SWAP_CLUSTER_MAX)
                if lru == 0:
                    nr0 -= take
                elif lru == 1:
                    nr1 -= take
                elif lru == 2:
                    nr2 -= take
                else:
                    nr3 -= take
                freed += shrink_list(st, ps, lru, take)
        if freed >= want and priority < DEF_PRIORITY:
            break
    if inactive_anon_is_low(st) and _can_swap(st):
        shrink_active_list(st, ps, SWAP_CLUSTER_MAX, 0)
    return freed


@kernel
def do_try_to_free_pages(st, ps, want):
    freed = 0
    for priority in range(DEF_PRIORITY, -1, -1):
        freed += shrink_zone(st, ps, priority, want - freed)
        if freed >= want:
            break
    return freed


@kernel(inline="always")
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    f0 = st.cnt[C_PAGES_FREED]
    fails = 0
    while True:
        want = nr_to_free - (st.cnt[C_PAGES_FREED] - f0)
        if want <= 0:
            break
        if do_try_to_free_pages(st, ps, min(want, SWAP_CLUSTER_MAX)) == 0:
            if fails >= 2:
                break
            fails += 1
        else:
            fails = 0
    return st.cnt[C_PAGES_FREED] - f0
