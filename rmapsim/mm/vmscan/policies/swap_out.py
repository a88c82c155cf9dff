"""What the old virtual-scan kswapds (``virtual20``, ``virtual22``) do to one pte, shared.

The 2.0 and 2.2 ``try_to_swap_out`` take a page away from *one* mapping at a time: the pte the
scan of one process's address space has reached. Everything else that maps the page keeps it;
the page is freed only when its last reference goes (Linux 2.2's comment asks for what rmap
later did: "This should just set a dirty bit in page_map, and just drop the pte").

Helpers here:

- ``first_vma_from``: 2.0/2.2 ``find_vma`` (the first vma ending above an address; the
  simulator's own ``find_vma`` wants the vma containing it);
- ``next_swap_pte``: the walk of ``swap_out_process``/``swap_out_vma``/``_pgd``/``_pmd``: the next
  present pte of a process in virtual order from its ``swap_address``, which it advances;
- ``drop_pte``: unmap one pte -- the rmap bookkeeping the simulator keeps for every policy
  (pte-chain unlink, which 2.0/2.2 did not have and which counts ``rmap_chain_steps``), the page
  count, the process's rss and swap-entry count, the pte table's used count -- and store the
  pte's new value (a swap entry or nothing);
- ``put_swap_entry``: what both kernels do for a page in the swap cache (``swap_duplicate`` +
  ``set_pte(swap entry)``);
- ``free_if_unused`` / ``release_cache_page``: the last reference went (2.0 ``free_page`` /
  2.2 ``__free_page``), or an unmapped page-cache or swap-cache page is dropped from its cache
  (``page_unuse``, ``shrink_mmap``'s ``remove_inode_page`` / ``delete_from_swap_cache``), going
  through ``shrink.shrink_page`` so a dirty page is written first.
"""
from rmapsim.jit import kernel
from rmapsim.mm.pagewalk import WALK_DONE, walk_next, walk_start
from rmapsim.mm.layout import PAGE_FREED

from rmapsim.mm.rmap import page_remove_rmap
from rmapsim.mm.mmap import find_vma
from rmapsim.mm.pgtable import ptep_to_address
from rmapsim.mm.layout import G_PTRS, PG_lru, _PAGE_PRESENT, _PTE_SWAP
from rmapsim.mm.swapfile import swap_duplicate
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page

# try_to_swap_out results (2.0: 1 = a page was freed, other nonzero = rss dropped on a page
# that someone else still holds; the scan of that process stops at either)
TSO_NONE = 0
TSO_FREED = 1
TSO_UNMAPPED = 2


@kernel(inline="always")
def first_vma_from(st, mm, addr):
    """The first vma of mm that ends above addr (Linux 2.0-2.4 ``find_vma``), or -1."""
    v = st.mm_vmas[mm]
    while v >= 0 and st.vma_end[v] <= addr:
        v = st.vma_next[v]
    return v


@kernel
def next_swap_pte(st, mm):
    """The next present pte of mm at or after its ``swap_address``, in virtual order, with
    ``swap_address`` set to the page after it (2.0/2.2 record ``address + PAGE_SIZE`` before
    each pte); at the end of the address space ``swap_address`` goes back to 0 and -1 is
    returned. Absent page tables are skipped whole (``next_leaf``)."""
    addr = st.mm_swap_address[mm]
    v = first_vma_from(st, mm, addr)
    while v >= 0:
        w = walk_start(max(addr, st.vma_start[v]))
        while True:
            p, a, _slot, w = walk_next(st, mm, w, st.vma_end[v])
            if p == WALK_DONE:
                break
            if p >= 0 and st.pt[p] & _PAGE_PRESENT:
                st.mm_swap_address[mm] = a + 4096
                return p
        v = st.vma_next[v]
    st.mm_swap_address[mm] = 0
    return -1


@kernel
def drop_pte(st, mm, pte, frame, entry):
    """Take this one pte off ``frame`` and store ``entry`` in it (0: pte_clear; else a swap
    entry whose swap_map count the caller has taken). The page keeps every other mapping."""
    page_remove_rmap(st, frame, pte, find_vma(st, mm, ptep_to_address(st, pte)))
    st.page_count[frame] -= 1
    st.mm_rss[mm] -= 1
    st.pt[pte] = entry
    if entry == 0:
        st.tbl_used[pte // st.g[G_PTRS]] -= 1
    else:
        st.mm_swapents[mm] += 1


@kernel(inline="always")
def put_swap_entry(st, mm, pte, frame, slot):
    """The page is in the swap cache: the pte takes the swap entry (one more swap_map count)."""
    swap_duplicate(st, slot)
    drop_pte(st, mm, pte, frame, (slot << 12) | _PTE_SWAP)


@kernel(inline="always")
def free_if_unused(st, frame):
    """The last reference went: the page is freed (and counted as reclaimed)."""
    if st.page_count[frame] != 0:
        return False
    st.page_flags[frame] &= ~PG_lru
    reclaimed(st, frame)
    return True


@kernel
def release_cache_page(st, frame):
    """Drop an unmapped page from the page cache or the swap cache, writing it first if it is
    dirty (a shared-anonymous page goes to a swap slot); True if that freed it. False when it
    cannot go now (a dirty shared-anonymous page and swap is full)."""
    if st.page_mapcount[frame] != 0:
        return False
    if shrink_page(st, frame) != PAGE_FREED:
        return False
    return free_if_unused(st, frame)
