"""Object-based reverse mapping for file pages, pte chains for anonymous ones: the partial
objrmap of 2.5/early 2.6 (Dave McCracken, "[PATCH 2.5.62] Partial object-based rmap
implementation", 20 Feb 2003; docs/reference/linux-mm-history.md section 2.2).

A page of the page cache needs no per-mapping record: its object (``page_mapping``) keeps the
list of vmas that map it (``i_mmap``, here a singly linked list through ``vma_immap_next``), and
its offset (``page_index``) gives the address in each vma, ``vma_start + (index - vma_pgoff) *
PAGE_SIZE`` (Linux kept two lists, ``i_mmap`` and ``i_mmap_shared``; one serves here); the walk
looks up that address's pte in the vma's mm and uses it if it maps the page (``ops.pte_maps``,
as ``page_check_address``). What this saves is the chain per mapping; what it costs is a walk
over every vma of the object, mapping the page or not (``rmap_vmas_visited``): Morton's worst
case, "1000 processes, each holding 1000 vma's against the same file, we need to visit 1,000,000
vma's to unmap one page", which the prio tree of 2.6.7 answered (not modelled: the list is
linear). Anonymous pages keep the seed's pte chains (``USES``): in the kernel they kept 2.5's
pte_chain structs until anon_vma; here the seed's parallel next-pte page stands for them, so the
page-table order stays 1 and results equal pte-chain's except in these counters.
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import (C_RMAP_BYTES, G_N_VMA, G_NR_FRAMES, PG_anon,
                               PG_lru, RMAP_REFERENCED)
from rmapsim.mm.rmap import ptechain
from rmapsim.mm.rmap.ops import pointer_bytes, rmap_bytes_add, rmap_vma
from rmapsim.mm.violation import bad

NAME = "objrmap"
MODELS = ("McCracken 2003 (2.5.62 patch), early 2.6: file pages found through their object's "
          "vmas, anonymous pages on pte chains")
PTE_TABLE_ORDER = 1
USES = ("rmapsim.mm.rmap.ptechain",)
VMA_NODE_WORDS = 2       # the i_mmap list_head in vm_area_struct (two pointers)

FIELDS = (
    ("obj_immap", "int64", "objs", -1, "obj"),          # the object's first vma
    ("vma_immap_next", "int64", "vmas", -1, "vma"),     # the next vma of the same object
)


@kernel(inline="always")
def file_backed(st, frame):
    return not (st.page_flags[frame] & PG_anon) and st.page_mapping[frame] >= 0


@kernel
def init(st):
    ptechain.init(st)


@kernel
def page_add(st, frame, pte, vma, addr):
    if not file_backed(st, frame):
        ptechain.page_add(st, frame, pte, vma, addr)


@kernel
def page_remove(st, frame, pte, vma):
    if not file_backed(st, frame):
        return ptechain.page_remove(st, frame, pte, vma)
    return 1


@kernel(inline="always")
def walk_file(st, frame, op, arg, apply):
    """Every vma of the page's object, and in it the pte at the page's offset if it maps the
    page: ``rmap_one`` on each such pte and the sum (``apply``), or only their number (the
    check), neither counted as work."""
    n = 0
    index = st.page_index[frame]
    v = st.obj_immap[st.page_mapping[frame]]
    while v >= 0:
        n += rmap_vma(st, op, frame, v, index, arg, apply)
        v = st.vma_immap_next[v]
    return n


@kernel
def walk(st, frame, op, arg):
    if not file_backed(st, frame):
        return ptechain.walk(st, frame, op, arg)
    return walk_file(st, frame, op, arg, True)


@kernel
def page_moved(st, old, new):
    if not file_backed(st, new):
        ptechain.page_moved(st, old, new)


@kernel
def vma_link(st, vma):
    obj = st.vma_obj[vma]
    if obj >= 0:
        st.vma_immap_next[vma] = st.obj_immap[obj]
        st.obj_immap[obj] = vma
        rmap_bytes_add(st, VMA_NODE_WORDS * pointer_bytes(st))


@kernel
def vma_unlink(st, vma):
    obj = st.vma_obj[vma]
    if obj < 0:
        return
    p = st.obj_immap[obj]
    if p == vma:
        st.obj_immap[obj] = st.vma_immap_next[vma]
    else:
        while p >= 0 and st.vma_immap_next[p] != vma:
            p = st.vma_immap_next[p]
        if p >= 0:
            st.vma_immap_next[p] = st.vma_immap_next[vma]
    st.vma_immap_next[vma] = -1
    rmap_bytes_add(st, -VMA_NODE_WORDS * pointer_bytes(st))


@kernel
def immap_bytes(st):
    """One i_mmap list node per vma of an object."""
    held = 0
    for v in range(st.g[G_N_VMA]):
        if st.vma_mm[v] >= 0 and st.vma_obj[v] >= 0 and st.vma_end[v] > st.vma_start[v]:
            held += VMA_NODE_WORDS * pointer_bytes(st)
    return held


@kernel
def check_file_pages(st):
    """The walk finds as many ptes of each page-cache page as its mapcount."""
    for f in range(st.g[G_NR_FRAMES]):
        if (st.page_flags[f] & PG_lru) and file_backed(st, f):
            n = walk_file(st, f, RMAP_REFERENCED, 0, False)
            if n != st.page_mapcount[f]:
                return bad(st, 7, f, n, st.page_mapcount[f])
    return 0


@kernel
def check(st):
    """Anonymous pages: the seed's chains. File pages: the walk finds as many ptes as the
    mapcount. Metadata: the chains' bytes and one list node per file vma."""
    held = ptechain.chain_bytes(st) + immap_bytes(st)
    if st.cnt[C_RMAP_BYTES] != held:
        return bad(st, 18, -1, st.cnt[C_RMAP_BYTES], held)
    code = ptechain.check_chains(st, 1)
    if code:
        return code
    return check_file_pages(st)

