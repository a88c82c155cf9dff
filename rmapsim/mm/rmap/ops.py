"""What a reverse-mapping walk does to each pte it finds mapping the page: written once, for
every design.

Linux's ``rmap_walk(folio, rwc)`` (mm/rmap.c, 5.x and later) finds the mappings of a page the
design's way (anon_vma, i_mmap, or in 2.5 the pte chain) and calls ``rwc->rmap_one`` on each:
``page_referenced_one``, ``try_to_unmap_one``, ``try_to_migrate_one``,
``remove_migration_pte``. Here a design's ``walk`` finds the ptes and calls ``rmap_one`` with
the operation (``layout.RMAP_*``), so what happens to a pte is the same whichever design found
it. A design that finds ptes by vma and address (objrmap, anon_vma) asks ``pte_maps`` first, as
Linux's ``page_check_address`` / ``page_vma_mapped_walk`` does.
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PTE_MIGRATION,
                               _PTE_SWAP, C_PTES_VISITED, C_RMAP_BYTES, C_RMAP_BYTES_PEAK,
                               C_RMAP_CHAIN_STEPS, C_RMAP_VMAS_VISITED, CTX_RMAP_OP,
                               RMAP_OP_MIGRATE, RMAP_OP_REFERENCED, RMAP_OP_UNMAP,
                               G_PTRS, PG_dirty, PG_swapcache,
                               PTE_FLAGS_MASK, RMAP_MIGRATE, RMAP_REFERENCED,
                               RMAP_REMOVE_MIGRATION, RMAP_TEST_DIRTY, RMAP_UNMAP)
from rmapsim.mm.pgtable import pte_offset, ptep_to_mm


@kernel(inline="always")
def walk_row(op):
    """The row of ``st.rmap_cost`` a walk doing ``op`` is counted in (layout.RMAP_OPS)."""
    if op == RMAP_UNMAP:
        return 3 * RMAP_OP_UNMAP
    if op >= RMAP_MIGRATE:
        return 3 * RMAP_OP_MIGRATE
    return 3 * RMAP_OP_REFERENCED


@kernel(inline="always")
def count_steps(st, n):
    """n steps along a chain or list, counted for the operation under way (a fault, a fork or
    a teardown: ``st.ctx[CTX_RMAP_OP]``)."""
    st.cnt[C_RMAP_CHAIN_STEPS] += n
    st.rmap_cost[3 * st.ctx[CTX_RMAP_OP] + 2] += n


@kernel(inline="always")
def pointer_bytes(st):
    """The simulated kernel's word: 4 bytes on i386 (1024 four-byte ptes per table), 8 on
    x86-64 (512 eight-byte ones); the designs' structures are sized in it."""
    return 4096 // st.g[G_PTRS]


@kernel(inline="always")
def rmap_bytes_add(st, n):
    """A design's metadata grew (or shrank, n < 0) by n bytes: what each design costs in
    memory, the trade of docs/reference/linux-mm-history.md section 2. The extra pages of a
    leaf page table whose order the design raised are counted by ``pgtable.table_take``."""
    st.cnt[C_RMAP_BYTES] += n
    if st.cnt[C_RMAP_BYTES] > st.cnt[C_RMAP_BYTES_PEAK]:
        st.cnt[C_RMAP_BYTES_PEAK] = st.cnt[C_RMAP_BYTES]


@kernel(inline="always")
def pte_maps(st, pte, frame):
    """Whether the pte maps ``frame``: present, or a migration entry pointing at it."""
    e = st.pt[pte]
    return (e & (_PAGE_PRESENT | _PTE_MIGRATION)) != 0 and (e >> 12) == frame


@kernel(inline="always")
def vma_pte(st, v, index, frame):
    """The pte of vma ``v`` at page offset ``index`` if it maps ``frame``, else -1: how an
    object-based walk finds a page in a vma (Linux's vma_address + page_check_address); the
    walk counts the vma visited (``rmap_vmas_visited``)."""
    addr = st.vma_start[v] + ((index - st.vma_pgoff[v]) << 12)
    if addr < st.vma_start[v] or addr >= st.vma_end[v]:
        return -1
    p = pte_offset(st, st.vma_mm[v], addr)
    if p >= 0 and pte_maps(st, p, frame):
        return p
    return -1


@kernel(inline="always")
def rmap_vma(st, op, frame, v, index, arg, apply):
    """One vma of an object-based walk: ``rmap_one`` on its pte at page offset ``index`` if
    that maps the page, the vma counted as visited (``apply``); or, for a check, only whether
    it maps the page (1 or 0), uncounted."""
    if apply:
        st.cnt[C_RMAP_VMAS_VISITED] += 1
        st.rmap_cost[walk_row(op) + 1] += 1
    p = vma_pte(st, v, index, frame)
    if p < 0:
        return 0
    return rmap_one(st, op, frame, p, arg) if apply else 1


@kernel(inline="always")
def rmap_one(st, op, frame, pte, arg):
    """Apply ``op`` to one pte mapping ``frame``: 1 if it counts (a young pte for
    RMAP_REFERENCED, a dirty one for RMAP_TEST_DIRTY, every pte otherwise), else 0."""
    st.cnt[C_PTES_VISITED] += 1
    e = st.pt[pte]
    if op == RMAP_REFERENCED:
        if e & _PAGE_ACCESSED:
            st.pt[pte] = e & ~_PAGE_ACCESSED
            return 1
        return 0
    if op == RMAP_TEST_DIRTY:
        if e & _PAGE_DIRTY:
            # what try_to_unmap_one does per pte with set_page_dirty: reclaim needs PG_dirty
            # before deciding whether an anonymous page needs a swap slot
            st.pt[pte] = e & ~_PAGE_DIRTY
            st.page_flags[frame] |= PG_dirty
            return 1
        return 0
    if op == RMAP_UNMAP:
        # a page in the swap cache leaves a swap entry (one swap_map count per pte, as
        # swap_duplicate); any other leaves the pte empty, to be refilled by a fault
        if e & _PAGE_DIRTY:
            st.page_flags[frame] |= PG_dirty
        mm = ptep_to_mm(st, pte)
        if st.page_flags[frame] & PG_swapcache:
            slot = st.page_private[frame]
            st.pt[pte] = (slot << 12) | _PTE_SWAP
            st.swap_map[slot] += 1
            st.mm_swapents[mm] += 1
        else:
            st.pt[pte] = 0
            st.tbl_used[pte // st.g[G_PTRS]] -= 1
        st.mm_rss[mm] -= 1
        return 1
    if op == RMAP_MIGRATE:
        # the pte now waits for frame ``arg``; its bits are kept for remove_migration_pte
        st.pt[pte] = (arg << 12) | (e & PTE_FLAGS_MASK & ~_PAGE_PRESENT) | _PTE_MIGRATION
        return 1
    if op == RMAP_REMOVE_MIGRATION:
        st.pt[pte] = (e & ~_PTE_MIGRATION) | _PAGE_PRESENT
        return 1
    return 0
