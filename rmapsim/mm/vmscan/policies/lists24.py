"""Linux 2.4.0's reclaim: Rik van Riel's aging with three queues (active, inactive_dirty,
inactive_clean), fed by the old virtual scan of page tables.

docs/reference/linux-mm-history.md sections 3.1 and 1.3, Linux 2.4.0 ``mm/vmscan.c``,
``mm/swap.c``. Lists (the head
of a list here is the kernel's ``list.prev``, the old end): ``ACTIVE``, ``INACTIVE_DIRTY``,
``INACTIVE_CLEAN``. Page age lives in ``page_age``; ``memory_pressure`` in the policy's field
of that name (``FIELDS``). Routines and the kernel functions they model:

- ``age_page_up`` / ``age_page_down_ageonly`` / ``activate_page`` / ``deactivate_page`` /
  ``lru_cache_add``: mm/swap.c, in ``lists24_aging`` (+``PAGE_AGE_ADV`` capped at
  ``PAGE_AGE_MAX``, activating a page of age 0; age halved; activation lifts the age to
  ``PAGE_AGE_START``; deactivation sets age 0, clears PG_referenced and moves an active page
  with ``page_count <= maxcount`` to inactive_dirty).
- ``try_to_swap_out`` / ``swap_out_mm`` / ``swap_out``: 2.4.0's virtual scan. ``swap_cnt`` is
  spent per pte examined (returning 1 when it is 0); a young pte ages its page up; an old pte
  of a page not on the active list halves the age; a pte of a page of age 0 is unmapped (swap
  cache: swap entry; clean: dropped; file: PG_dirty set; dirty anonymous: swap slot, swap
  cache, ``lru_cache_add``) and the page is ``deactivate_page``d. ``swap_out`` runs one
  ``swap_out_mm`` on the mm of largest ``swap_cnt``, refilled ``max(rss >> 5, 8)``.
- ``refill_inactive_scan(priority, oneshot)``: ``nr_active >> priority`` pages from the old end;
  PG_referenced ages up, otherwise the age halves and an unmapped page (count 1: only the
  cache) of age 0 goes to inactive_dirty.
- ``page_launder``: inactive_dirty -> inactive_clean. A referenced, aged or mapped page goes
  back to active; a dirty page is rotated on the first loop and, if ``free_shortage()`` remains,
  written on the second ("launder_loop"); a clean cached page moves to inactive_clean.
- ``reclaim_page``: takes a clean unmapped page from inactive_clean and frees it (what
  ``__alloc_pages`` and kreclaimd do); a referenced, aged or remapped page goes to active, a
  dirty one back to inactive_dirty.
- ``free_shortage`` / ``inactive_shortage`` / ``inactive_target``: the targets of section 3.1;
  ``refill_inactive`` (priority 6 -> 0, lowered only without progress) and
  ``do_try_to_free_pages`` as in 2.4.0.
- ``reclaim(nr)``: the allocator's and kreclaimd's ``reclaim_page`` loop, with kswapd's
  ``do_try_to_free_pages`` whenever the clean list runs dry, then kswapd's background
  ``refill_inactive_scan(6, 0)`` and ``recalculate_vm_stats``.

Where the model simplifies the kernel, and why:

- No buffer cache, dcache, icache or slab (the simulator has none): no ``page->buffers``
  branch of ``page_launder``, no ``MAX_LAUNDER``, no ``shrink_[di]cache_memory``.
- Swap and file I/O complete at once, so a page written by ``page_launder`` is clean at once and
  moves straight to inactive_clean (the kernel finds it unlocked and clean on a later pass).
  A dirty shared-anonymous page is written to its swap slot and freed in one step
  (``shmem_writepage`` moving it to the swap cache plus that page's later ``reclaim_page``).
- Anonymous pages outside the swap cache are on no list, as in 2.4.0. A page that leaves the
  swap cache (a write fault reusing it) is taken off its list when a scan next meets it, where
  the kernel's ``delete_from_swap_cache`` does ``lru_cache_del`` at once.
- kswapd runs when the simulator's allocator wakes it (below ``low``, until ``high``), not once
  a second; ``recalculate_vm_stats`` (``memory_pressure -= memory_pressure >> 6``) runs once per
  reclaim call instead of once a second, so ``inactive_target`` is about one kswapd period's
  worth of allocations. ``memory_pressure`` rises per page allocated for a process (page-table
  pages are not counted) and per ``reclaim_page``, falls per page freed outside reclaim.
- The fault path's page-cache lookup (``__find_page_nolock``'s ``age_page_up``) is modelled
  only for a page brought in by a fault (it starts at ``PAGE_AGE_START + PAGE_AGE_ADV``): the
  simulator has no hook for a minor fault. A page faulted back while on an inactive list is
  found mapped (``page_count > 1``) and reactivated by the next ``page_launder`` or
  ``reclaim_page``.
- A pending allocation counts as a free shortage (``ps.need``), so reclaim works even when
  the watermark arithmetic says there is none (cache mode has no watermarks). Direct reclaim
  (``user``) is recognised by free memory at or below ``min``. 2.4.0's kswapd loops on while
  swap space is left; here reclaim gives up when a round of ``do_try_to_free_pages`` freed
  nothing and took no step towards a freeable page (``progress``: an accessed bit cleared, an
  age lowered, a pte unmapped, a page deactivated, laundered or cleaned), or, as a safety net,
  after ``SAFETY_SWEEPS`` times the frames of work without freeing anything.
- With fewer than 64 active pages ``nr_active >> 6`` is 0 and 2.4.0 would never age a mapped
  active page down (``swap_out`` halves only inactive pages' ages), so a tiny machine could not
  reclaim at all; ``refill_inactive_scan`` here looks at one page at least, as 2.6's
  ``shrink_zone`` does with its ``+ 1``.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.filemap import writepage
from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, C_PAGES_FREED,
                               C_PAGES_SCANNED, C_PTES_VISITED, G_HIGH, G_MIN, G_NR_FRAMES,
                               G_NR_FREE, G_N_MM, G_ZERO_FRAME, PG_anon, PG_dirty, PG_locked,
                               PG_lru, PG_reserved, PG_swapcache)
from rmapsim.mm.swap import add_to_swap_cache, swap_writepage
from rmapsim.mm.swapfile import get_swap_page
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import forget_frame, list_del, list_move_tail
from rmapsim.mm.vmscan.policies.lists24_aging import (ACTIVE, INACTIVE_CLEAN, INACTIVE_DIRTY,
                                                      PAGE_AGE_START, age_page_up,
                                                      deactivate_page, left_swap_cache,
                                                      lru_cache_add, progress,
                                                      test_clear_referenced)
from rmapsim.mm.vmscan.policies.swap_out import (drop_pte, free_if_unused, next_swap_pte,
                                        put_swap_entry)

NAME = "lists-2.4"
KIND = "realistic"
MODELS = ("Linux 2.4.0 multiqueue VM (Rik van Riel): active/inactive_dirty/inactive_clean, "
          "page age, page_launder, refill_inactive_scan, swap_out (mm/vmscan.c, mm/swap.c)")
PARAMS = {}

INACTIVE_SHIFT = 6
SWAP_SHIFT = 5
SWAP_MIN = 8
SAFETY_SWEEPS = 64
FIELDS = (
    ("memory_pressure", "int64", "1", 0, None),
    ("need", "int64", "1", 0, None),       # pages the current reclaim call still has to free
    ("progress", "int64", "1", 0, None),   # steps towards a freeable page (see ``reclaim``)
)


# ---- the hooks --------------------------------------------------------------------------------

@kernel(inline="always")
def page_added(st, ps, frame):
    ps.memory_pressure[0] += 1               # __alloc_pages: memory_pressure++
    st.page_age[frame] = PAGE_AGE_START      # __free_pages_ok left it so
    fl = st.page_flags[frame]
    if (fl & PG_anon) and not (fl & PG_swapcache):
        return                               # anonymous: on no list until it enters swap cache
    if not (fl & PG_anon):
        age_page_up(st, frame)               # filemap_nopage's retry: __find_page_nolock
    lru_cache_add(st, ps, frame)


@kernel(inline="always")
def page_removed(st, ps, frame):
    forget_frame(st, frame)
    if ps.memory_pressure[0] > 1:            # __free_pages_ok: memory_pressure-- (>= NR_CPUS)
        ps.memory_pressure[0] -= 1


# ---- targets ----------------------------------------------------------------------------------

@kernel(inline="always")
def inactive_target(st, ps):
    t = ps.memory_pressure[0] >> INACTIVE_SHIFT
    q = st.g[G_NR_FRAMES] // 4
    return q if t > q else t


@kernel
def free_shortage(st, ps):
    free = st.g[G_NR_FREE]
    clean = st.list_len[INACTIVE_CLEAN]
    freeable = free + clean
    target = st.g[G_HIGH] + inactive_target(st, ps) // 3
    if freeable < target:
        s = target - freeable
    elif freeable < st.g[G_MIN] + 1:        # the per-zone pages_min test (one zone here)
        s = st.g[G_MIN] + 1 - freeable
    else:
        s = 0
    need = ps.need[0]
    return need if need > s else s


@kernel
def inactive_shortage(st, ps):
    s = st.g[G_HIGH] + inactive_target(st, ps) - st.g[G_NR_FREE] \
        - st.list_len[INACTIVE_CLEAN] - st.list_len[INACTIVE_DIRTY]
    return s if s > 0 else 0


# ---- the queues ------------------------------------------------------------------------------

@kernel(inline="always")
def _leaves_queue(st, f):
    """What reclaim_page and page_launder test first on an inactive page: one that left the
    swap cache leaves the queue; one referenced, aged or used by others goes back to active.
    True when the page was moved off."""
    if left_swap_cache(st, f):
        list_del(st, f)
        return True
    if test_clear_referenced(st, f) or st.page_age[f] > 0 or st.page_count[f] > 1:
        list_move_tail(st, ACTIVE, f)
        return True
    return False


@kernel
def reclaim_page(st, ps):
    """One page off inactive_clean, freed; False if none could be."""
    maxscan = st.list_len[INACTIVE_CLEAN]
    while maxscan > 0:
        maxscan -= 1
        f = st.list_head[INACTIVE_CLEAN]
        if f < 0:
            break
        st.cnt[C_PAGES_SCANNED] += 1
        if _leaves_queue(st, f):
            continue
        if st.page_flags[f] & (PG_dirty | PG_locked):
            list_move_tail(st, INACTIVE_DIRTY, f)
            continue
        list_del(st, f)
        if shrink_page(st, f) == PAGE_FREED:               # __delete_from_swap_cache / __remove_inode_page
            st.page_flags[f] &= ~PG_lru
            reclaimed(st, f)
            ps.memory_pressure[0] += 1
            return True
        list_move_tail(st, ACTIVE, f)
    return False


@kernel
def launder_one(st, f):
    """page_launder's second loop on a dirty unmapped page: write it. 1: it is clean now,
    2: it was freed (shared anonymous), 0: it could not be written."""
    fl = st.page_flags[f]
    if fl & PG_swapcache:
        swap_writepage(st, f, st.page_private[f])
    elif st.obj_shm[st.page_mapping[f]]:
        list_del(st, f)
        if shrink_page(st, f) == PAGE_FREED:               # shmem_writepage + reclaim_page
            st.page_flags[f] &= ~PG_lru
            reclaimed(st, f)
            return 2
        return 0
    else:
        writepage(st, f)
    st.page_flags[f] &= ~PG_dirty
    return 1


@kernel
def page_launder(st, ps):
    cleaned = 0
    launder_loop = False
    while True:
        maxscan = st.list_len[INACTIVE_DIRTY]
        while maxscan > 0:
            maxscan -= 1
            f = st.list_head[INACTIVE_DIRTY]
            if f < 0:
                break
            st.cnt[C_PAGES_SCANNED] += 1
            if _leaves_queue(st, f):
                continue
            if st.page_flags[f] & PG_locked:
                list_move_tail(st, INACTIVE_DIRTY, f)
                continue
            if st.page_flags[f] & PG_dirty:
                if not launder_loop:
                    list_move_tail(st, INACTIVE_DIRTY, f)
                    continue
                r = launder_one(st, f)
                progress(ps)
                if r == 2:
                    cleaned += 1
                    continue
                if r == 0:
                    st.page_flags[f] |= PG_dirty
                    list_move_tail(st, ACTIVE, f)
                    continue
            list_move_tail(st, INACTIVE_CLEAN, f)
            cleaned += 1
            progress(ps)
        if launder_loop or not free_shortage(st, ps):
            return cleaned
        launder_loop = True


@kernel
def refill_inactive_scan(st, ps, priority, oneshot):
    maxscan = st.list_len[ACTIVE] >> priority
    if maxscan == 0 and st.list_len[ACTIVE] > 0:
        maxscan = 1                          # model floor: see the docstring
    ret = False
    while maxscan > 0:
        maxscan -= 1
        f = st.list_head[ACTIVE]
        if f < 0:
            break
        if left_swap_cache(st, f):
            list_del(st, f)
            continue
        st.cnt[C_PAGES_SCANNED] += 1
        if test_clear_referenced(st, f):
            age_page_up(st, f)
            progress(ps)
        else:
            if st.page_age[f] > 0:
                progress(ps)
            st.page_age[f] //= 2             # age_page_down_ageonly
            if st.page_age[f] == 0 and st.page_count[f] <= 1:
                deactivate_page(st, ps, f, 2)
        if st.node_list[f] == ACTIVE:
            list_move_tail(st, ACTIVE, f)
        else:
            ret = True
            if oneshot:
                break
    return ret


# ---- swap_out: the virtual scan --------------------------------------------------------------

@kernel
def try_to_swap_out(st, ps, mm, pte):
    e = st.pt[pte]
    f = e >> 12
    if not (e & _PAGE_PRESENT) or f == st.g[G_ZERO_FRAME]:
        return 0
    fl = st.page_flags[f]
    if fl & PG_reserved or not (fl & PG_lru):
        return 0
    if st.mm_swap_cnt[mm] == 0:
        return 1
    st.mm_swap_cnt[mm] -= 1
    st.cnt[C_PTES_VISITED] += 1
    if e & _PAGE_ACCESSED:
        st.pt[pte] = e & ~_PAGE_ACCESSED
        age_page_up(st, f)
        progress(ps)
        return 0
    if st.node_list[f] != ACTIVE and st.page_age[f] > 0:
        st.page_age[f] //= 2                 # still mapped, so it cannot be freeable
        progress(ps)
    if st.page_age[f] > 0 or fl & PG_locked:
        return 0
    if fl & PG_swapcache:
        if e & _PAGE_DIRTY:
            st.page_flags[f] |= PG_dirty
        deactivate_page(st, ps, f, 2)
        put_swap_entry(st, mm, pte, f, st.page_private[f])
        progress(ps)
        return 0
    if not (e & _PAGE_DIRTY) and not (fl & PG_dirty):
        deactivate_page(st, ps, f, 2)
        drop_pte(st, mm, pte, f, 0)
        progress(ps)
        if st.page_count[f] == 0:            # anonymous, never written: freed
            forget_frame(st, f)
            free_if_unused(st, f)
        return 0
    if st.page_mapping[f] >= 0:
        st.page_flags[f] |= PG_dirty         # set_page_dirty: page_launder writes it
        deactivate_page(st, ps, f, 2)
        drop_pte(st, mm, pte, f, 0)
        progress(ps)
        return 0
    slot = get_swap_page(st)
    if slot < 0:
        return 0
    add_to_swap_cache(st, f, slot)
    st.page_flags[f] |= PG_dirty
    lru_cache_add(st, ps, f)
    put_swap_entry(st, mm, pte, f, slot)
    progress(ps)
    return 0


@kernel
def swap_out_mm(st, ps, mm):
    while True:
        p = next_swap_pte(st, mm)
        if p < 0:
            st.mm_swap_cnt[mm] = 0
            return 0
        r = try_to_swap_out(st, ps, mm, p)
        if r:
            return r


@kernel
def swap_out(st, ps):
    """One swap_out_mm on the mm of largest swap_cnt (2.4.0 breaks out of its ``counter``
    loop after the first choice, so the priority does not matter)."""
    n_mm = st.g[G_N_MM]
    for assign in range(2):
        best = -1
        max_cnt = 0
        for mm in range(n_mm):
            if st.mm_pgd[mm] < 0 or st.mm_rss[mm] <= 0:
                continue
            if assign:
                c = st.mm_rss[mm] >> SWAP_SHIFT
                st.mm_swap_cnt[mm] = SWAP_MIN if c < SWAP_MIN else c
            if st.mm_swap_cnt[mm] > max_cnt:
                max_cnt = st.mm_swap_cnt[mm]
                best = mm
        if best >= 0:
            return swap_out_mm(st, ps, best)
    return 0


# ---- kswapd -----------------------------------------------------------------------------------

@kernel
def page_cluster(st):
    """swap_setup: 2 below 16 MiB, 3 below 32 MiB, else 4."""
    n = st.g[G_NR_FRAMES]
    return 2 if n < 4096 else (3 if n < 8192 else 4)


@kernel
def refill_inactive(st, ps, user):
    count = inactive_shortage(st, ps) + free_shortage(st, ps)
    if user:
        count = 1 << page_cluster(st)
    start = count
    priority = 6
    while priority >= 0:
        progress = False
        while refill_inactive_scan(st, ps, priority, True):
            progress = True
            count -= 1
            if count <= 0:
                return True
        while swap_out(st, ps):
            progress = True
            count -= 1
            if count <= 0:
                return True
        if not inactive_shortage(st, ps) or not free_shortage(st, ps):
            return count < start
        if not progress:
            priority -= 1
    while refill_inactive_scan(st, ps, 0, True):
        count -= 1
        if count <= 0:
            break
    return count < start


@kernel
def do_try_to_free_pages(st, ps, user):
    ret = 0
    clean = st.list_len[INACTIVE_CLEAN]
    if free_shortage(st, ps) or st.list_len[INACTIVE_DIRTY] > st.g[G_NR_FREE] + clean:
        ret += page_launder(st, ps)
    if free_shortage(st, ps) or inactive_shortage(st, ps):
        ret += refill_inactive(st, ps, user)
    else:
        ret = 1
    return ret


@kernel(inline="always")
def _work(st):
    return st.cnt[C_PAGES_SCANNED] + st.cnt[C_PTES_VISITED]


@kernel
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    c = st.cnt
    f0 = c[C_PAGES_FREED]
    user = st.g[G_NR_FREE] <= st.g[G_MIN]
    safety = SAFETY_SWEEPS * st.g[G_NR_FRAMES] + 4096
    w0 = _work(st)
    while True:
        while c[C_PAGES_FREED] - f0 < nr_to_free and reclaim_page(st, ps):
            pass
        done = c[C_PAGES_FREED] - f0
        if done >= nr_to_free:
            break
        ps.need[0] = nr_to_free - done
        p0 = ps.progress[0]
        do_try_to_free_pages(st, ps, user)
        ps.need[0] = 0
        if c[C_PAGES_FREED] - f0 == done and ps.progress[0] == p0:
            break                            # nothing moved towards a freeable page
        if done == 0 and _work(st) - w0 > safety:
            break
    if not user and (inactive_shortage(st, ps) or free_shortage(st, ps)):
        do_try_to_free_pages(st, ps, user)  # kswapd keeps the inactive queues stocked
    refill_inactive_scan(st, ps, 6, False)  # kswapd's background aging
    ps.memory_pressure[0] -= ps.memory_pressure[0] >> INACTIVE_SHIFT   # recalculate_vm_stats
    return c[C_PAGES_FREED] - f0
