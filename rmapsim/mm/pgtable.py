"""Page tables: geometry, walks, and page-table pages allocated as in the seed.

Tables live in one pool (``st.pt``) of PTRS entries each; a table's slot number is its identity
and the physical frame holding it (``tbl_frame``) is charged to RAM in kernel mode. As in
LaHaise's patch, a pte table is allocated with order 1 under his rmap design: the page of ptes
and, beside it, the parallel page of "next pte" links (``rmap/ptechain.py``) that threads every
pte mapping a page into that page's chain; the order is the design's (``table_order``). Upper
levels (pgd; pud and pmd on x86-64) take one
frame each. On i386 the pmd is folded into the pgd, as in 2.0-2.4 ``pgtable-2level.h``.

Levels are numbered from the leaf: 0 = pte table, levels-1 = pgd. Entries of upper tables hold
``slot << 12 | _PAGE_PRESENT``. A "pte address" is an index into ``st.pt``.

The seed's walk back from a pte to its owner, ``pte_getpmd`` -> ``pmd_getpgd`` -> ``pgd_getmm``,
uses ``tbl_parent`` (the address of the entry that points at a table) and ``tbl_mm``, the
information 2.5's rmap later kept in the page-table page's struct page (``mapping`` = mm,
``index`` = base address; see docs/reference/linux-mm-history.md section 2.1).
"""
from numba import njit

from rmapsim.jit import kernel

from rmapsim.mm.layout import (_PAGE_PRESENT, G_BITS, G_LEVELS, G_PTE_TABLE_ORDER, G_PTRS,
                               G_TBL_FREE_TOP,
                               C_PAGETABLE_PAGES, C_PAGETABLE_PAGES_PEAK, C_RMAP_BYTES,
                               C_RMAP_BYTES_PEAK, G_NR_TABLES)

# The page-table pool: table t holds entries t*PTRS .. t*PTRS+PTRS-1 of ``pt`` (and the oracle's
# token of each pte in ``pt_tok``); a free-slot stack ``tbl_free`` below g[G_TBL_FREE_TOP].
FIELDS = (
    ("pt", "int64", "tables * ptrs", 0, "tables"),
    ("pt_tok", "int64", "tables * ptrs", 0, "tables"),
    ("tbl_parent", "int64", "tables", -1, "tables"),
    ("tbl_level", "int32", "tables", 0, "tables"),
    ("tbl_used", "int32", "tables", 0, "tables"),
    ("tbl_frame", "int64", "tables", -1, "tables"),
    ("tbl_mm", "int64", "tables", -1, "tables"),
    ("tbl_base", "int64", "tables", 0, "tables"),
    ("tbl_free", "int64", "tables", "stack", "tables"),
)


@njit(cache=True, inline="always")
def pt_index(st, level, vaddr):
    return ((vaddr >> 12) >> (st.g[G_BITS] * level)) & (st.g[G_PTRS] - 1)


@kernel
def pte_offset(st, mm, vaddr):
    """Walk mm's tables to the pte for vaddr without allocating; -1 if a table is missing."""
    g = st.g
    ptrs = g[G_PTRS]
    slot = st.mm_pgd[mm]
    for level in range(g[G_LEVELS] - 1, 0, -1):
        e = st.pt[slot * ptrs + pt_index(st, level, vaddr)]
        if e == 0:
            return -1
        slot = e >> 12
    return slot * ptrs + pt_index(st, 0, vaddr)


@kernel
def table_take(st, mm, level, base, parent_entry, frame):
    """Install a fresh table (a pool slot backed by ``frame``, -1 off-RAM in cache mode)."""
    g = st.g
    top = g[G_TBL_FREE_TOP] - 1
    slot = st.tbl_free[top]
    g[G_TBL_FREE_TOP] = top
    ptrs = g[G_PTRS]
    b = slot * ptrs
    for i in range(ptrs):
        st.pt[b + i] = 0
        st.pt_tok[b + i] = 0
    st.tbl_parent[slot] = parent_entry
    st.tbl_level[slot] = level
    st.tbl_used[slot] = 0
    st.tbl_frame[slot] = frame
    st.tbl_mm[slot] = mm
    st.tbl_base[slot] = base
    if parent_entry >= 0:
        st.pt[parent_entry] = (slot << 12) | _PAGE_PRESENT
        st.tbl_used[parent_entry // ptrs] += 1
    g[G_NR_TABLES] += 1
    pages = table_pages(st, slot)
    if frame >= 0:                     # MM_PGTABLES: RAM the tables cost (the OOM badness)
        st.mm_pgtables[mm] += pages
    st.cnt[C_PAGETABLE_PAGES] += pages
    # the pages beyond the ptes (the seed's next-pte page) are the rmap design's metadata
    st.cnt[C_RMAP_BYTES] += (pages - 1) * 4096
    if st.cnt[C_RMAP_BYTES] > st.cnt[C_RMAP_BYTES_PEAK]:
        st.cnt[C_RMAP_BYTES_PEAK] = st.cnt[C_RMAP_BYTES]
    if st.cnt[C_PAGETABLE_PAGES] > st.cnt[C_PAGETABLE_PAGES_PEAK]:
        st.cnt[C_PAGETABLE_PAGES_PEAK] = st.cnt[C_PAGETABLE_PAGES]
    return slot


@kernel
def table_release(st, slot):
    """Unhook an empty table from its parent and return its slot; the caller frees the frame
    (``tbl_frame``) with the order it was allocated with (``table_order``)."""
    g = st.g
    ptrs = g[G_PTRS]
    pe = st.tbl_parent[slot]
    if pe >= 0:
        st.pt[pe] = 0
        st.tbl_used[pe // ptrs] -= 1
    pages = table_pages(st, slot)
    st.cnt[C_PAGETABLE_PAGES] -= pages
    st.cnt[C_RMAP_BYTES] -= (pages - 1) * 4096
    if st.tbl_frame[slot] >= 0:
        st.mm_pgtables[st.tbl_mm[slot]] -= pages
    st.tbl_mm[slot] = -1
    st.tbl_parent[slot] = -1
    st.tbl_frame[slot] = -1
    top = g[G_TBL_FREE_TOP]
    st.tbl_free[top] = slot
    g[G_TBL_FREE_TOP] = top + 1
    g[G_NR_TABLES] -= 1


@kernel(inline="always")
def table_order(st, slot):
    """The allocation order of a table: a pte table's is the rmap design's (the seed's is 1,
    for the parallel next-pte page), an upper table's 0."""
    return st.g[G_PTE_TABLE_ORDER] if st.tbl_level[slot] == 0 else 0


@kernel(inline="always")
def table_pages(st, slot):
    return 1 << table_order(st, slot)


@kernel(inline="always")
def pte_getpmd(st, pte):
    """The seed's pte_getpmd: address of the pmd entry that points at this pte's table. With
    the pmd folded (i386 two-level) that is the pgd entry itself."""
    return st.tbl_parent[pte // st.g[G_PTRS]]


@kernel(inline="always")
def pmd_getpgd(st, pmd):
    """The seed's pmd_getpgd: climb from a pmd entry to the pgd entry above it (through the pud
    on four-level tables); identity when the pmd is folded."""
    ptrs = st.g[G_PTRS]
    top = st.g[G_LEVELS] - 1
    e = pmd
    while st.tbl_level[e // ptrs] < top:
        e = st.tbl_parent[e // ptrs]
    return e


@kernel(inline="always")
def pgd_getmm(st, pgd):
    """The seed's pgd_getmm: the mm_struct that owns a pgd."""
    return st.tbl_mm[pgd // st.g[G_PTRS]]


@kernel(inline="always")
def ptep_to_mm(st, pte):
    return pgd_getmm(st, pmd_getpgd(st, pte_getpmd(st, pte)))


@kernel
def ptep_to_address(st, pte):
    """2.5's ptep_to_address: table base + index * PAGE_SIZE."""
    ptrs = st.g[G_PTRS]
    return st.tbl_base[pte // ptrs] + ((pte % ptrs) << 12)


@kernel
def next_leaf(st, mm, addr, end):
    """The first pte table at or after addr (below end) that exists in mm, and the part of
    [addr, end) it covers: (slot, lo, hi), or (-1, end, end). Skips absent upper-level entries
    whole, so walking a huge sparse vma (a bare trace maps the entire address space) costs only
    what is populated. Callers loop ``addr = hi`` until ``slot < 0``."""
    g = st.g
    ptrs = g[G_PTRS]
    bits = g[G_BITS]
    levels = g[G_LEVELS]
    while addr < end:
        slot = st.mm_pgd[mm]
        level = levels - 1
        skipped = False
        while level > 0:
            e = st.pt[slot * ptrs + pt_index(st, level, addr)]
            if e == 0:
                span = 1 << (12 + bits * level)
                addr = (addr | (span - 1)) + 1
                skipped = True
                break
            slot = e >> 12
            level -= 1
        if not skipped:
            span = 1 << (12 + bits)
            return slot, addr, min(end, (addr & ~(span - 1)) + span)
    return -1, end, end
