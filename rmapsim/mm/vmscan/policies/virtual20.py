"""Linux 2.0's kswapd: per-page ages, a virtual scan of one process at a time, and shrink_mmap.

The reclaim LaHaise's kswapd replaced (docs/reference/linux-mm-history.md section 1.1, Linux 2.0.40
``mm/vmscan.c``, ``mm/filemap.c``, ``mm/swap.c``, ``include/linux/swapctl.h``). Routines and the
kernel functions they model:

- ``reclaim`` -> kswapd / ``__get_free_pages``: ``try_to_free_page`` is called until the
  requested number of pages is free (each success frees exactly one page) or it fails three
  times in a row.
- ``try_to_free_page``: priority ``i`` from 6 down to 0, at each trying ``shrink_mmap(i)``
  then ``swap_out(i)``, returning at the first success; a static ``state`` (the
  policy's field ``state``) resumes the rotation where the last success was.
- ``shrink_mmap``: a one-handed clock over mem_map (hand in ``g[G_HAND]``) with the budgets
  ``count_max = 2N >> (priority/2)`` (every page) and ``count_min = 2N >> priority`` (page- or
  swap-cache pages). A page held only by its cache (2.0's ``count == 1``; here
  ``page_mapcount == 0``) is freed unless ``PG_referenced`` was set, which is cleared instead
  (and below priority 4 the page is aged); a mapped page (``count > 1``) gets ``PG_referenced``.
- ``swap_out``: ``counter = (PAGEOUT_WEIGHT * nr_tasks >> 10) >> priority`` attempts, round
  robin over processes (mm slots, index in the field ``swap_task``) skipping those with no rss; each
  process gets ``AGE_CLUSTER_SIZE(rss) = max(rss/32, 4)`` consecutive attempts (its
  ``swap_cnt``, in ``mm_swap_cnt``). Two wraps without a candidate give up.
- ``swap_out_process`` / ``swap_out_vma`` (``swap_out_pgd``/``_pmd``): resume at the process's
  ``swap_address`` (``mm_swap_address``), walk its vmas' ptes in virtual order, recording
  ``swap_address = address + PAGE_SIZE`` before each pte, stop at the first nonzero result;
  the end of the address space sets ``swap_address = 0``.
- ``try_to_swap_out``: a pte that is young, or dirty while its page is in the swap cache
  (``delete_from_swap_cache`` succeeds), is made old and its page aged up (``touch_page``,
  +3 up to 20); otherwise the page is aged down (``age_page``, -1) and kept unless its age is
  0. An age-0 page loses *this* pte: dirty anonymous -> a swap slot, the swap entry in the
  pte, the page written (``rw_swap_page``); clean in the swap cache -> the swap entry; clean
  otherwise -> ``pte_clear`` and ``page_unuse`` (a page-cache page whose last mapping this was
  is dropped from the cache). Returns 1 when the page was freed (its last reference went),
  2 when only rss dropped (someone else still holds the page), else 0.

Ages (``page_age``): ``PAGE_INITIAL_AGE`` 3 when a page enters memory, ``PAGE_ADVANCE`` 3,
``PAGE_DECLINE`` 1, ``MAX_PAGE_AGE`` 20.

Where the model simplifies the kernel, and why:

- No buffer cache (the simulator has none), so ``shrink_mmap`` frees page-cache and swap-cache
  pages only and there is no ``try_to_free_buffer``.
- No ``shm_swap`` stage: System V shm does not exist here. Shared anonymous mappings (2.0 had
  none; they are shmem-like objects here) are scanned by ``swap_out`` like file mappings, and a
  dirty one is written to a swap slot when its last mapping goes.
- 2.0's swap cache holds no page reference; here it does, so the page that loses its last pte
  is deleted from the swap cache at once (what 2.0's ``free_page`` amounts to), and
  ``shrink_mmap`` may free unmapped swap-cache pages (left by munmap or exit).
- Pages shared after fork stay in the swap cache here (2.0's ``copy_one_pte`` dropped them from
  it and made both ptes dirty), so the "dirty pte of a swap-cache page" rule deletes the page
  from the swap cache only when this pte is its only mapping, and marks the page dirty; a page
  still mapped elsewhere keeps its slot and the next age-0 visit writes it again.
- A dirty file page is written back by its own ``writepage`` when its pte goes (2.0's
  ``vm_ops->swapout``), and the page stays in the page cache; ``swap_out`` returns 1 only for
  a page actually freed, where 2.0 returned 1 after any swap I/O ("we slept").
- A failing ``try_to_free_page`` is retried twice before reclaim reports failure: 2.0 let the
  allocation fail at once, which here is an OOM kill, while a failing pass has aged every page
  it saw and the next may find one at age 0.
- ``try_to_free_page`` always runs down to priority 0 (2.0's ``wait``); ``swap_out`` always uses
  ``shfrv = 10`` (2.0 used 10 whenever kswapd was awake, which it is whenever the simulator
  reclaims; 9 and 8 only for low-priority synchronous calls); there is no DMA zone, no
  ``swapout_interval`` timing (kswapd runs when the allocator wakes it, ``alloc.py``), no
  ``VM_LOCKED``. Process order is mm-slot order, not the task list.
- The rmap chains the simulator keeps for every policy are unlinked per dropped pte
  (``rmap_chain_steps``); 2.0 had no chains.
- A page-cache hit in the fault handler does not set ``PG_referenced`` (2.0's ``find_page``
  did); mapped pages get it from ``shrink_mmap`` as in 2.0.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import SC_NR_TO_RECLAIM

from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_DIRTY, C_PAGES_FREED, C_PAGES_SCANNED,
                               C_PTES_VISITED, G_HAND, G_NR_FRAMES, G_NR_MM,
                               G_N_MM, G_ZERO_FRAME, PG_anon, PG_dirty, PG_locked, PG_lru,
                               PG_referenced, PG_reserved, PG_swapcache)
from rmapsim.mm.filemap import writepage
from rmapsim.mm.swap import add_to_swap_cache, delete_from_swap_cache, swap_writepage
from rmapsim.mm.swapfile import get_swap_page
from rmapsim.mm.vmscan.policies.swap_out import (TSO_FREED, TSO_NONE, TSO_UNMAPPED, drop_pte,
                                        next_swap_pte, free_if_unused, put_swap_entry,
                                        release_cache_page)

NAME = "virtual-2.0"
KIND = "realistic"
MODELS = ("Linux 2.0.40 kswapd: try_to_free_page, shrink_mmap, swap_out, swap_out_process, "
          "try_to_swap_out with page ages (mm/vmscan.c, mm/filemap.c)")
PARAMS = {"init_ref": (1, "1: the faulting reference sets the new page's accessed bit (MMU); "
                          "0: new pages start unreferenced", (0, 1))}

MAX_PAGE_AGE = 20
PAGE_ADVANCE = 3
PAGE_DECLINE = 1
PAGE_INITIAL_AGE = 3
AGE_CLUSTER_MIN = 4
PAGEOUT_WEIGHT = 8192

FIELDS = (
    # try_to_free_page's static state (0: shrink_mmap next, 2: swap_out)
    ("state", "int64", "1", 0, None),
    # swap_out's static swap_task (an mm slot; 0 before the first call)
    ("swap_task", "int64", "1", 0, None),
)


@kernel(inline="always")
def page_added(st, ps, frame):
    st.page_age[frame] = PAGE_INITIAL_AGE


@kernel(inline="always")
def page_removed(st, ps, frame):
    pass


@kernel(inline="always")
def touch_page(st, frame):
    a = st.page_age[frame] + PAGE_ADVANCE
    st.page_age[frame] = MAX_PAGE_AGE if a > MAX_PAGE_AGE else a


@kernel(inline="always")
def age_page(st, frame):
    a = st.page_age[frame] - PAGE_DECLINE
    st.page_age[frame] = 0 if a < 0 else a


@kernel
def shrink_mmap(st, priority):
    g = st.g
    n = g[G_NR_FRAMES]
    count_max = (2 * n) >> (priority >> 1)
    count_min = (2 * n) >> priority
    hand = g[G_HAND]
    if hand >= n or hand < 0:
        hand = 0
    freed = 0
    while True:
        f = hand
        count_max -= 1
        flags = st.page_flags[f]
        if (flags & PG_lru) and (st.page_mapping[f] >= 0 or (flags & PG_swapcache)):
            count_min -= 1
        if (flags & PG_lru) and not (flags & PG_locked):
            st.cnt[C_PAGES_SCANNED] += 1
            if st.page_mapcount[f] == 0:
                if flags & PG_referenced:
                    st.page_flags[f] = flags & ~PG_referenced
                    if priority < 4:
                        age_page(st, f)
                elif release_cache_page(st, f):
                    freed = 1
                    break                      # 2.0 returns before advancing the clock
            else:
                st.page_flags[f] = flags | PG_referenced
        hand += 1
        if hand >= n:
            hand = 0
        if count_max <= 0 or count_min <= 0:
            break
    g[G_HAND] = hand
    return freed


@kernel
def try_to_swap_out(st, mm, pte):
    e = st.pt[pte]
    f = e >> 12
    if f == st.g[G_ZERO_FRAME]:
        return TSO_NONE
    flags = st.page_flags[f]
    if flags & (PG_reserved | PG_locked) or not (flags & PG_lru):
        return TSO_NONE
    st.cnt[C_PTES_VISITED] += 1
    stale_cache = False
    if (e & _PAGE_DIRTY) and (flags & PG_swapcache) and st.page_mapcount[f] == 1:
        # 2.0: a dirty pte means the swap copy is stale; the page leaves the swap cache
        delete_from_swap_cache(st, f)
        st.page_flags[f] |= PG_dirty
        stale_cache = True
    if stale_cache or (e & _PAGE_ACCESSED):
        st.pt[pte] = e & ~_PAGE_ACCESSED
        touch_page(st, f)
        return TSO_NONE
    age_page(st, f)
    if st.page_age[f] != 0:
        return TSO_NONE
    flags = st.page_flags[f]
    dirty = (e & _PAGE_DIRTY) != 0 or (flags & PG_dirty) != 0
    if flags & PG_anon:
        if dirty:
            if flags & PG_swapcache:
                slot = st.page_private[f]
            else:
                slot = get_swap_page(st)
                if slot < 0:
                    return TSO_NONE
                add_to_swap_cache(st, f, slot)
            swap_writepage(st, f, slot)
            st.page_flags[f] &= ~PG_dirty
            put_swap_entry(st, mm, pte, f, slot)
        elif flags & PG_swapcache:
            put_swap_entry(st, mm, pte, f, st.page_private[f])
        else:
            drop_pte(st, mm, pte, f, 0)       # never written: demand-zero again
        if st.page_mapcount[f] == 0 and (st.page_flags[f] & PG_swapcache):
            delete_from_swap_cache(st, f)     # 2.0's swap cache holds no reference
        if free_if_unused(st, f):
            return TSO_FREED
        return TSO_UNMAPPED
    # a page of a file or of shared anonymous memory
    if dirty:
        if st.obj_shm[st.page_mapping[f]]:
            st.page_flags[f] |= PG_dirty      # to swap when its last mapping goes
        else:
            writepage(st, f)                  # vm_ops->swapout: filemap_swapout
            st.page_flags[f] &= ~PG_dirty
    drop_pte(st, mm, pte, f, 0)
    if st.page_mapcount[f] == 0 and release_cache_page(st, f):   # page_unuse
        return TSO_FREED
    return TSO_UNMAPPED


@kernel
def swap_out_process(st, mm):
    """swap_out_process + swap_out_vma/_pgd/_pmd: try the process's ptes from its
    swap_address on, stopping at the first that gives something up."""
    while True:
        p = next_swap_pte(st, mm)
        if p < 0:
            return TSO_NONE
        r = try_to_swap_out(st, mm, p)
        if r != TSO_NONE:
            return r


@kernel
def swap_out(st, ps, priority):
    g = st.g
    n_mm = g[G_N_MM]
    counter = ((PAGEOUT_WEIGHT * g[G_NR_MM]) >> 10) >> priority
    task = ps.swap_task[0]
    if task < 0:
        task = 0
    while counter >= 0:
        loop = False
        while True:
            if task >= n_mm:
                task = 0
                if loop:
                    ps.swap_task[0] = task
                    return 0
                loop = True
            if st.mm_pgd[task] >= 0 and st.mm_rss[task] > 0:
                break
            task += 1
        p = task
        if st.mm_swap_cnt[p] == 0:
            c = st.mm_rss[p] >> 5              # AGE_CLUSTER_SIZE: rss * 32 >> 10
            st.mm_swap_cnt[p] = c if c > AGE_CLUSTER_MIN else AGE_CLUSTER_MIN
        st.mm_swap_cnt[p] -= 1
        if st.mm_swap_cnt[p] == 0:
            task += 1
        r = swap_out_process(st, p)
        if r == TSO_NONE:
            if st.mm_swap_cnt[p] != 0:
                task += 1
        elif r == TSO_FREED:
            ps.swap_task[0] = task
            return 1
        counter -= 1
    ps.swap_task[0] = task
    return 0


@kernel
def try_to_free_page(st, ps):
    state = ps.state[0]
    i = 6
    while i >= 0:
        if state == 0:
            if shrink_mmap(st, i):
                ps.state[0] = 0
                return 1
            state = 2                          # state 1, shm_swap, is not modelled
        if swap_out(st, ps, i):
            ps.state[0] = 2
            return 1
        state = 0
        i -= 1
    ps.state[0] = 0
    return 0


@kernel(inline="always")
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    f0 = st.cnt[C_PAGES_FREED]
    fails = 0
    while st.cnt[C_PAGES_FREED] - f0 < nr_to_free:
        if try_to_free_page(st, ps):
            fails = 0
        elif fails >= 2:
            break
        else:
            fails += 1
    return st.cnt[C_PAGES_FREED] - f0
