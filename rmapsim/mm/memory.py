"""The page-fault handler (mm/memory.c: handle_mm_fault and its do_* cases).

``handle_mm_fault`` resolves one faulting reference so that retrying it hits; the MMU's setting
of the accessed and dirty bits on the retried access is the caller's (``sim/replay.py``).
Cases, as in Linux 2.4-2.6:

- ``do_anonymous_page``: a read of never-written anonymous memory maps the shared ZERO_PAGE
  read-only; a write (or any touch when the machine or vma has no zero page) takes a zeroed
  frame of its own.
- ``do_no_page`` for file and shared anonymous mappings: look the page up in the page cache; a
  miss reads it from the file's device (major fault) or, for shared anonymous memory, from its
  swap slot or as zeroes. A write to a private file mapping copies at once.
- ``do_swap_page``: the pte holds a swap entry; the swap cache may still have the page (minor),
  else it is read from swap (major). A write by the only user takes the page out of the swap
  cache and maps it writable; a read maps it read-only.
- ``do_wp_page``: a write to a present read-only pte of a writable private vma: reuse the page
  when this pte is its only user (and nobody else holds its swap slot), else copy (COW).

Every function returns ``FAULT_OK``, ``FAULT_SEGV`` (no vma, or a write to a read-only one) or
``FAULT_ABORT`` (no memory could be found, or the process itself was OOM-killed meanwhile).
A page being copied or mapped is PG_locked while memory is allocated, so reclaim leaves it be.
"""
import numpy as np
from rmapsim.jit import kernel

from rmapsim.mm.alloc import alloc_pages
from rmapsim.mm.filemap import add_to_page_cache, find_get_page, pc_key, readpage
from rmapsim.mm.hashtab import ht_del, ht_get
from rmapsim.mm.mmap import find_vma
from rmapsim.mm.oracle import expected_token
from rmapsim.mm.pgtable import pt_index, ptep_to_address, table_take
from rmapsim.mm.rmap import page_add_rmap, page_remove_rmap
from rmapsim.mm.layout import (C_COW_FAULTS, C_FAULTS, C_MAJOR_FAULTS, C_MINOR_FAULTS, C_MISSES,
                               C_PAGES_COPIED, C_PAGES_ZEROED, C_WP_REUSE_FAULTS, C_ZERO_PAGE_MAPS,
                               G_BITS, G_CACHE_MODE, G_CHECK, G_LEVELS, G_N_SHMSWAP,
                               G_PTE_TABLE_ORDER, G_PTRS,
                               G_SHMSWAP_COUNT, G_ZERO_FRAME, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW,
                               PG_anon, PG_dirty, PG_locked, PG_pagetable, PG_reserved,
                               PG_swapcache, TOKEN_ZERO, VM_NOZEROPAGE,
                               VM_SHARED, VM_WRITE)
from rmapsim.mm.swap import add_to_swap_cache, delete_from_swap_cache, swap_readpage
from rmapsim.mm.swapfile import swap_duplicate, swap_free
from rmapsim.mm.vmscan.dispatch import page_added, put_page

FAULT_OK = 0
FAULT_SEGV = 1
FAULT_ABORT = 2


@kernel
def alloc_table_frame(st, mm, order):
    """A frame for a page-table page: off-RAM (-1) in cache mode, else from the allocator,
    marked as a page table (PG_reserved: reclaim never takes it). -2 if none."""
    if st.g[G_CACHE_MODE]:
        return -1
    f = alloc_pages(st, order, mm)
    if f < 0:
        return -2
    for k in range(1 << order):
        st.page_flags[f + k] = PG_pagetable | PG_reserved
        st.page_count[f + k] = 1
    return f


@kernel
def pte_alloc(st, mm, vaddr):
    """Walk to the pte for vaddr, allocating missing tables (pte tables with the rmap design's
    order: 1 for the seed's parallel next-pte page). -1 if memory ran out or mm was killed.
    Reclaim inside the allocation never frees page tables, so the walk so far stays valid."""
    g = st.g
    ptrs = g[G_PTRS]
    bits = g[G_BITS]
    slot = st.mm_pgd[mm]
    for level in range(g[G_LEVELS] - 1, 0, -1):
        entry = slot * ptrs + pt_index(st, level, vaddr)
        if st.pt[entry] == 0:
            f = alloc_table_frame(st, mm, g[G_PTE_TABLE_ORDER] if level == 1 else 0)
            if f == -2 or st.mm_pgd[mm] < 0:
                return -1
            span = np.int64(1) << (12 + bits * level)
            child = table_take(st, mm, level - 1, vaddr & ~(span - 1), entry, f)
            if f >= 0:
                st.page_index[f] = child
        slot = st.pt[entry] >> 12
    return slot * ptrs + pt_index(st, 0, vaddr)


@kernel(inline="always")
def _fault_done(st, major):
    st.cnt[C_FAULTS] += 1
    if major:
        st.cnt[C_MAJOR_FAULTS] += 1
    else:
        st.cnt[C_MINOR_FAULTS] += 1


@kernel(inline="always")
def set_pte_page(st, mm, v, pte, frame, flags):
    """Point a pte (of vma ``v``) at a page and account the new mapping (rmap, count, RSS)."""
    if st.pt[pte] == 0:
        st.tbl_used[pte // st.g[G_PTRS]] += 1
    st.pt[pte] = (frame << 12) | _PAGE_PRESENT | flags
    page_add_rmap(st, frame, pte, v, ptep_to_address(st, pte))
    st.page_count[frame] += 1
    st.mm_rss[mm] += 1


@kernel(inline="always")
def new_anon_page(st, mm, token):
    """A fresh private anonymous frame holding ``token`` (-1 if none could be had)."""
    f = alloc_pages(st, 0, mm)
    if f < 0:
        return -1
    st.page_flags[f] = PG_anon
    if st.g[G_CHECK]:
        st.page_token[f] = token
    return f


@kernel
def do_anonymous_page(st, mm, v, pte, write):
    z = st.g[G_ZERO_FRAME]
    if not write and z >= 0 and not (st.vma_flags[v] & VM_NOZEROPAGE):
        if st.pt[pte] == 0:
            st.tbl_used[pte // st.g[G_PTRS]] += 1
        st.pt[pte] = (z << 12) | _PAGE_PRESENT
        st.cnt[C_ZERO_PAGE_MAPS] += 1
        _fault_done(st, False)
        return FAULT_OK
    f = new_anon_page(st, mm, TOKEN_ZERO)
    if f < 0:
        return FAULT_ABORT
    st.cnt[C_PAGES_ZEROED] += 1
    flags = _PAGE_RW if st.vma_flags[v] & VM_WRITE else 0
    if write:
        flags |= _PAGE_DIRTY
    set_pte_page(st, mm, v, pte, f, flags)
    page_added(st, f)
    st.cnt[C_MISSES] += 1
    _fault_done(st, False)
    return FAULT_OK


@kernel
def cow_copy(st, mm, v, pte, old, was_mapped):
    """Give pte a private copy of page ``old`` (break_cow). ``old`` is locked meanwhile."""
    if st.g[G_CHECK]:
        # the oracle: this pte now owns a private copy of what it saw through ``old``
        st.pt_tok[pte] = expected_token(st, pte, old)
    st.page_flags[old] |= PG_locked
    n = new_anon_page(st, mm, st.page_token[old])
    st.page_flags[old] &= ~PG_locked
    if n < 0:
        return FAULT_ABORT
    st.cnt[C_PAGES_COPIED] += 1
    st.cnt[C_COW_FAULTS] += 1
    if was_mapped:
        page_remove_rmap(st, old, pte, v)
        st.mm_rss[mm] -= 1
        put_page(st, old)
    set_pte_page(st, mm, v, pte, n, _PAGE_RW | _PAGE_DIRTY)
    page_added(st, n)
    return FAULT_OK


@kernel
def do_no_page(st, mm, v, vaddr, pte, write):
    obj = st.vma_obj[v]
    pgoff = st.vma_pgoff[v] + ((vaddr - st.vma_start[v]) >> 12)
    f = find_get_page(st, obj, pgoff)
    major = False
    if f < 0:
        f = alloc_pages(st, 0, mm)
        if f < 0:
            return FAULT_ABORT
        st.page_flags[f] = 0
        if st.obj_shm[obj]:
            key = pc_key(obj, pgoff)
            slot = ht_get(st.shmswap_keys, st.shmswap_vals, st.g[G_N_SHMSWAP], key)
            if slot >= 0:
                # shmem_getpage: back from swap; the slot is released and the page, now the only
                # copy, is dirty
                swap_readpage(st, f, slot)
                st.g[G_SHMSWAP_COUNT] -= ht_del(st.shmswap_keys, st.shmswap_vals, st.g[G_N_SHMSWAP], key)
                swap_free(st, slot)
                st.page_flags[f] |= PG_dirty
                major = True
            else:
                if st.g[G_CHECK]:
                    st.page_token[f] = TOKEN_ZERO
                st.cnt[C_PAGES_ZEROED] += 1
        else:
            readpage(st, f, obj, pgoff)
            major = True
        add_to_page_cache(st, f, obj, pgoff)
        page_added(st, f)
        st.cnt[C_MISSES] += 1
    _fault_done(st, major)
    vf = st.vma_flags[v]
    if vf & VM_SHARED:
        flags = _PAGE_RW if vf & VM_WRITE else 0
        if write:
            flags |= _PAGE_DIRTY
        set_pte_page(st, mm, v, pte, f, flags)
        return FAULT_OK
    if write:
        return cow_copy(st, mm, v, pte, f, False)
    set_pte_page(st, mm, v, pte, f, 0)
    return FAULT_OK


@kernel
def do_wp_page(st, mm, v, pte, count_fault):
    e = st.pt[pte]
    f = e >> 12
    if count_fault:
        _fault_done(st, False)
    if st.vma_flags[v] & VM_SHARED:
        st.pt[pte] = e | _PAGE_RW | _PAGE_DIRTY
        return FAULT_OK
    if f == st.g[G_ZERO_FRAME]:
        n = new_anon_page(st, mm, TOKEN_ZERO)
        if n < 0:
            return FAULT_ABORT
        st.cnt[C_PAGES_ZEROED] += 1
        st.cnt[C_COW_FAULTS] += 1
        set_pte_page(st, mm, v, pte, n, _PAGE_RW | _PAGE_DIRTY)
        page_added(st, n)
        return FAULT_OK
    fl = st.page_flags[f]
    if (fl & PG_anon) and st.page_mapcount[f] == 1 and (
            not (fl & PG_swapcache) or st.swap_map[st.page_private[f]] == 1):
        # the only user: reuse the page (can_share_swap_page), leaving the swap cache
        if fl & PG_swapcache:
            delete_from_swap_cache(st, f)
        st.pt[pte] = e | _PAGE_RW | _PAGE_DIRTY
        st.cnt[C_WP_REUSE_FAULTS] += 1
        return FAULT_OK
    return cow_copy(st, mm, v, pte, f, True)


@kernel
def do_swap_page(st, mm, v, pte, write):
    slot = st.pt[pte] >> 12
    f = st.swap_cache[slot]
    major = False
    if f < 0:
        f = alloc_pages(st, 0, mm)
        if f < 0:
            return FAULT_ABORT
        st.page_flags[f] = PG_anon
        swap_duplicate(st, slot)
        add_to_swap_cache(st, f, slot)
        swap_readpage(st, f, slot)
        page_added(st, f)
        st.cnt[C_MISSES] += 1
        major = True
    _fault_done(st, major)
    # the pte's hold on the slot passes to the page it now maps
    swap_free(st, slot)
    st.mm_swapents[mm] -= 1
    reuse = write and (st.vma_flags[v] & VM_WRITE) and st.swap_map[slot] == 1 \
        and st.page_mapcount[f] == 0
    if reuse:
        delete_from_swap_cache(st, f)
    set_pte_page(st, mm, v, pte, f, (_PAGE_RW | _PAGE_DIRTY) if reuse else 0)
    if write and not reuse:
        return do_wp_page(st, mm, v, pte, False)
    return FAULT_OK


@kernel
def handle_mm_fault(st, mm, vaddr, write):
    v = find_vma(st, mm, vaddr)
    if v < 0:
        return FAULT_SEGV
    if write and not (st.vma_flags[v] & VM_WRITE):
        return FAULT_SEGV
    pte = pte_alloc(st, mm, vaddr)
    if pte < 0:
        return FAULT_ABORT
    e = st.pt[pte]
    if e == 0:
        if st.vma_obj[v] >= 0:
            return do_no_page(st, mm, v, vaddr, pte, write)
        return do_anonymous_page(st, mm, v, pte, write)
    if e & _PAGE_PRESENT:
        return do_wp_page(st, mm, v, pte, True)
    return do_swap_page(st, mm, v, pte, write)
