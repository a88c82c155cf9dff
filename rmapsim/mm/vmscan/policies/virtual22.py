"""Linux 2.2's kswapd: two-stage reclaim -- the virtual scan of the largest process moves pages
out of its page tables, and the clock over mem_map frees what nobody maps any more.

The reclaim the seed replaced, in its 2.2 form (docs/reference/linux-mm-history.md section 1.2,
Linux 2.2.1 ``mm/vmscan.c``, ``mm/filemap.c``, ``mm/swap.c``). Routines and the kernel
functions they model:

- ``reclaim`` -> kswapd's ``while (nr_free_pages < freepages.high) do_try_to_free_pages()`` and
  ``try_to_free_pages``: ``do_try_to_free_pages`` rounds until the requested number of pages
  is free or a round fails.
- ``do_try_to_free_pages``: ``count = SWAP_CLUSTER_MAX`` (32, or fewer if fewer were asked for);
  for priority 6 down to 0: ``while shrink_mmap(p)`` and then ``while swap_out(p)``, each
  success counting one against ``count``; done when it reaches 0 (success) or after
  priority 0 (failure).
- ``shrink_mmap``: clock over mem_map (hand in ``g[G_HAND]``, advanced before each page), budget
  ``num_physpages >> priority`` spent only on pages held by nobody but their cache (2.2's
  ``count == 1``; here ``page_mapcount == 0``). ``PG_referenced`` is tested and cleared on
  every page. A swap-cache page goes unless it was referenced and its slot is still held by a
  pte (``swap_count != 1``); a page-cache page goes unless it was referenced.
- ``swap_out``: ``counter = clamp(nr_tasks / (priority + 1), 1, nr_tasks)``; each turn picks
  the process with the largest ``swap_cnt`` ("shadow rss", in ``mm_swap_cnt``), refilling
  ``swap_cnt = rss`` for every process when none is left above 0, and runs
  ``swap_out_process`` on it; returns 1 as soon as one started I/O. ``swap_cnt`` is not
  decremented per pte (2.2.1; 2.4.0 did that).
- ``swap_out_process`` / ``swap_out_vma``: resume at ``swap_address`` (``mm_swap_address``), walk
  the vmas' ptes in virtual order, recording ``swap_address = address + PAGE_SIZE`` before each
  pte, stop at the first pte that started I/O; the end of the address space sets
  ``swap_cnt = 0`` and ``swap_address = 0``.
- ``try_to_swap_out``: a young pte is made old and its page gets ``PG_referenced`` (the
  accessed bit moves into the global page map). Otherwise the pte goes: a page in the swap
  cache leaves its swap entry (``swap_duplicate``); a clean page is just dropped (a page-cache
  page stays in the cache for ``shrink_mmap``; an anonymous page never written is freed, it
  comes back as demand-zero); a dirty anonymous page gets a slot, the swap entry in the pte, a
  second slot count for the swap cache (``add_to_swap_cache``) and is written -- returning 1,
  "I/O started"; a dirty page of a file is written back (``vm_ops->swapout``), also 1.

Where the model simplifies the kernel, and why:

- No buffer cache and no dentry cache (the simulator has neither): no ``try_to_free_buffers``,
  no ``kmem_cache_reap``/``shrink_dcache_memory``, and no ``buffer_under_min`` or
  ``pgcache_under_min`` floors (the 2% page-cache floor would only matter with the buffer cache
  competing for it).
- No ``shm_swap``: System V shm does not exist here. Shared anonymous mappings (shmem-like
  objects) are scanned by ``swap_out`` like file mappings; a dirty one is marked ``PG_dirty``
  when a pte goes and written to a swap slot when ``shrink_mmap`` frees it.
- Swap I/O completes at once: a page written by ``try_to_swap_out`` is not left locked, so
  ``shrink_mmap`` may free it as soon as its last pte is gone.
- ``shrink_mmap``'s loop has no bound in 2.2 when too few pages have ``count == 1`` to spend
  its budget on; here it gives up after one turn of the clock (every page seen once: a page
  whose ``PG_referenced`` that turn cleared can go at the next call).
- A round of ``do_try_to_free_pages`` that fails having freed nothing is retried twice before
  reclaim reports failure: 2.2 let the allocation fail at once, which here is an OOM kill,
  while the pages a failing round unmapped are freed by the next round's ``shrink_mmap``.
- No DMA zone, no ``__GFP_IO`` distinction (every caller may do I/O), no ``VM_LOCKED``; kswapd
  runs when the allocator wakes it (``alloc.py``), not once a second. Process order (for ties
  of ``swap_cnt``) is mm-slot order, not the task list.
- The rmap chains the simulator keeps for every policy are unlinked per dropped pte
  (``rmap_chain_steps``); 2.2 had no chains.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import SC_NR_TO_RECLAIM

from rmapsim.mm.filemap import writepage
from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_DIRTY, C_PAGES_FREED, C_PAGES_SCANNED,
                               C_PTES_VISITED, G_HAND, G_NR_FRAMES, G_NR_MM, G_N_MM, G_ZERO_FRAME,
                               PG_anon, PG_dirty, PG_locked, PG_lru, PG_referenced, PG_reserved,
                               PG_swapcache)
from rmapsim.mm.swap import add_to_swap_cache, swap_writepage
from rmapsim.mm.swapfile import get_swap_page
from rmapsim.mm.vmscan.policies.swap_out import (drop_pte, free_if_unused, next_swap_pte,
                                        put_swap_entry, release_cache_page)

NAME = "virtual-2.2"
KIND = "realistic"
MODELS = ("Linux 2.2.1 kswapd: do_try_to_free_pages, shrink_mmap, swap_out (largest swap_cnt), "
          "swap_out_process, try_to_swap_out with PG_referenced (mm/vmscan.c, mm/filemap.c)")
PARAMS = {"init_ref": (1, "1: the faulting reference sets the new page's accessed bit (MMU); "
                          "0: new pages start unreferenced", (0, 1))}

SWAP_CLUSTER_MAX = 32


@kernel(inline="always")
def page_added(st, ps, frame):
    pass


@kernel(inline="always")
def page_removed(st, ps, frame):
    pass


@kernel
def shrink_mmap(st, priority):
    g = st.g
    n = g[G_NR_FRAMES]
    count = n >> priority
    hand = g[G_HAND]
    looked = 0
    freed = 0
    while count > 0 and looked < n:
        hand += 1
        if hand >= n:
            hand = 0
        looked += 1
        f = hand
        flags = st.page_flags[f]
        if not (flags & PG_lru):
            continue                           # free, kernel or page-table page
        referenced = (flags & PG_referenced) != 0
        st.page_flags[f] = flags & ~PG_referenced
        st.cnt[C_PAGES_SCANNED] += 1
        if (flags & PG_locked) or st.page_mapcount[f] != 0:
            continue
        count -= 1
        if flags & PG_swapcache:
            if referenced and st.swap_map[st.page_private[f]] != 1:
                continue
        elif referenced:
            continue
        if release_cache_page(st, f):
            freed = 1
            break
    g[G_HAND] = hand
    return freed


@kernel
def try_to_swap_out(st, mm, pte):
    e = st.pt[pte]
    f = e >> 12
    if f == st.g[G_ZERO_FRAME]:
        return 0
    flags = st.page_flags[f]
    if flags & (PG_reserved | PG_locked) or not (flags & PG_lru):
        return 0
    st.cnt[C_PTES_VISITED] += 1
    if e & _PAGE_ACCESSED:
        st.pt[pte] = e & ~_PAGE_ACCESSED
        st.page_flags[f] = flags | PG_referenced
        return 0
    if flags & PG_swapcache:
        # already on swap: a pte of such a page is never writable here (a write takes the
        # page out of the swap cache or copies it), so its contents are the slot's
        put_swap_entry(st, mm, pte, f, st.page_private[f])
        return 0
    if not (e & _PAGE_DIRTY) and not (flags & PG_dirty):
        drop_pte(st, mm, pte, f, 0)
        free_if_unused(st, f)                  # an anonymous page never written
        return 0
    if flags & PG_anon:
        slot = get_swap_page(st)
        if slot < 0:
            return 0
        add_to_swap_cache(st, f, slot)         # the cache takes get_swap_page's count
        swap_writepage(st, f, slot)
        st.page_flags[f] &= ~PG_dirty
        put_swap_entry(st, mm, pte, f, slot)   # swap_duplicate: one count for the pte
        return 1
    if st.obj_shm[st.page_mapping[f]]:
        st.page_flags[f] |= PG_dirty           # written to swap when shrink_mmap frees it
    else:
        writepage(st, f)                       # vm_ops->swapout: filemap_swapout
        st.page_flags[f] &= ~PG_dirty
    drop_pte(st, mm, pte, f, 0)
    return 1


@kernel
def swap_out_process(st, mm):
    """swap_out_process + swap_out_vma/_pgd/_pmd: 1 when a pte's page went to swap I/O; at the
    end of the address space the process's swap_cnt is spent (swap_address back to 0)."""
    while True:
        p = next_swap_pte(st, mm)
        if p < 0:
            st.mm_swap_cnt[mm] = 0
            return 0
        if try_to_swap_out(st, mm, p):
            return 1


@kernel
def swap_out(st, priority):
    g = st.g
    n_mm = g[G_N_MM]
    nr_tasks = g[G_NR_MM]
    counter = nr_tasks // (priority + 1)
    if counter < 1:
        counter = 1
    if counter > nr_tasks:
        counter = nr_tasks
    while counter >= 0:
        best = -1
        assign = False
        while True:
            max_cnt = 0
            for mm in range(n_mm):
                if st.mm_pgd[mm] < 0 or st.mm_rss[mm] <= 0:
                    continue
                if assign:
                    st.mm_swap_cnt[mm] = st.mm_rss[mm]
                if st.mm_swap_cnt[mm] > max_cnt:
                    max_cnt = st.mm_swap_cnt[mm]
                    best = mm
            if best >= 0 or assign:
                break
            assign = True
        if best < 0:
            return 0
        if swap_out_process(st, best):
            return 1
        counter -= 1
    return 0


@kernel
def do_try_to_free_pages(st, count):
    """True when ``count`` successes were had (2.2 returns ``priority >= 0``)."""
    priority = 6
    while priority >= 0:
        while shrink_mmap(st, priority):
            count -= 1
            if count == 0:
                return True
        while swap_out(st, priority):
            count -= 1
            if count == 0:
                return True
        priority -= 1
    return False


@kernel(inline="always")
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    f0 = st.cnt[C_PAGES_FREED]
    fails = 0
    while True:
        freed = st.cnt[C_PAGES_FREED] - f0
        want = nr_to_free - freed
        if want <= 0:
            break
        if do_try_to_free_pages(st, min(want, SWAP_CLUSTER_MAX)):
            fails = 0
        else:
            if st.cnt[C_PAGES_FREED] - f0 > freed or fails >= 2:
                break
            fails += 1
    return st.cnt[C_PAGES_FREED] - f0
