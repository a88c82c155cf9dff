"""Object-based reverse mapping for every page: file pages through their object's vmas
(objrmap's i_mmap), anonymous pages through the ``anon_vma`` that every vma of a fork family
shares. Hugh Dickins and Andrea Arcangeli's full objrmap, Linux 2.6.7 to 2.6.33 (mm/rmap.c of
2.6.7; docs/reference/linux-mm-history.md section 2.1).

A vma gets an anon_vma at its first anonymous page (``anon_vma_prepare``); fork puts the
child's vma on its parent's anon_vma (``anon_vma_link``), and so does a split; a page records
the anon_vma and its linear offset (``page->mapping``, ``page->index``) when first mapped.
``rmap_walk`` visits every vma on the anon_vma's list (``rmap_vmas_visited``) and looks up the
page's pte in each: no per-mapping record at all, so fork and exit no longer touch a chain per
pte, but a page COWed by one child of a forking server is looked for in every child's vma:
the O(N) walk that anon_vma_chain (2.6.34) removed. Arcangeli's costs (LKML, March 2004): a
12-byte anon_vma object per family and 12 bytes per vma (the anon_vma pointer and list node)
on i386; here 3 words each, 24 bytes on x86-64 (the lock padded to a word).

Assumed: the list is in insertion order (Linux 2.6.7 kept a list_head); adjacent vmas do not
merge their anon_vmas (find_mergeable_anon_vma is not modelled). Two families can only share a
page when a snapshot says so: then the page's anon_vma absorbs the other.
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import (C_RMAP_BYTES, G_NR_FRAMES, G_N_RMAP, G_N_VMA, G_RMAP_BURST, G_RMAP_FREE,
                               G_RMAP_PER_VMA, PG_anon, PG_lru, RMAP_REFERENCED)
from rmapsim.mm.rmap import objrmap
from rmapsim.mm.rmap.ops import count_steps, pointer_bytes, rmap_bytes_add, rmap_vma
from rmapsim.mm.violation import bad

NAME = "anon-vma"
MODELS = ("Linux 2.6.7-2.6.33: file pages through i_mmap, anonymous pages through the "
          "anon_vma shared by a fork family")
PTE_TABLE_ORDER = 0
USES = ("rmapsim.mm.rmap.objrmap",)
POOL = "vmas"                   # anon_vmas at boot: at most one per vma
ANON_VMA_WORDS = 3              # spinlock_t (padded to a word) and the list_head of vmas
VMA_WORDS = 3                   # vma->anon_vma and the anon_vma_node list_head

FIELDS = (
    ("av_vmas", "int64", "rmap_pool", -1, "rmap"),      # the anon_vma's first vma
    ("av_free", "int64", "rmap_pool", "stack", "rmap"),
    ("vma_av", "int64", "vmas", -1, "vma"),             # vma->anon_vma
    ("vma_av_next", "int64", "vmas", -1, "vma"),        # the next vma of the same anon_vma
    ("page_av", "int64", "frames", -1, None),           # an anonymous page's anon_vma
    ("page_av_index", "int64", "frames", 0, None),      # and its linear offset
)


@kernel
def init(st):
    st.g[G_RMAP_PER_VMA] = 1
    st.g[G_RMAP_BURST] = 1


@kernel(inline="always")
def anon_index(st, vma, addr):
    """linear_page_index: the page's offset in the vma's lineage (splits keep it, as pgoff)."""
    return st.vma_pgoff[vma] + ((addr - st.vma_start[vma]) >> 12)


@kernel
def _join(st, av, vma, after):
    """Put ``vma`` on anon_vma ``av``'s list (after vma ``after``, or first if -1)."""
    st.vma_av[vma] = av
    if after < 0:
        st.vma_av_next[vma] = st.av_vmas[av]
        st.av_vmas[av] = vma
    else:
        st.vma_av_next[vma] = st.vma_av_next[after]
        st.vma_av_next[after] = vma
    rmap_bytes_add(st, VMA_WORDS * pointer_bytes(st))


@kernel
def _prepare(st, vma):
    """anon_vma_prepare: a new anon_vma for the vma's first anonymous page."""
    st.g[G_RMAP_FREE] -= 1
    av = st.av_free[st.g[G_RMAP_FREE]]
    st.av_vmas[av] = -1
    rmap_bytes_add(st, ANON_VMA_WORDS * pointer_bytes(st))
    _join(st, av, vma, -1)
    return av


@kernel
def _free(st, av):
    st.av_vmas[av] = -1
    st.av_free[st.g[G_RMAP_FREE]] = av
    st.g[G_RMAP_FREE] += 1
    rmap_bytes_add(st, -ANON_VMA_WORDS * pointer_bytes(st))


@kernel
def _absorb(st, dst, src):
    """Two families' anon_vmas become one (only a snapshot's shared page asks for it)."""
    v = st.av_vmas[src]
    while v >= 0:
        nx = st.vma_av_next[v]
        st.vma_av[v] = dst
        st.vma_av_next[v] = st.av_vmas[dst]
        st.av_vmas[dst] = v
        v = nx
    for f in range(st.g[G_NR_FRAMES]):
        if st.page_av[f] == src:
            st.page_av[f] = dst
    st.av_vmas[src] = -1
    _free(st, src)


@kernel
def page_add(st, frame, pte, vma, addr):
    if objrmap.file_backed(st, frame):
        return
    av = st.vma_av[vma]
    if av < 0:
        av = _prepare(st, vma)
    if st.page_mapcount[frame] == 0:
        st.page_av[frame] = av
        st.page_av_index[frame] = anon_index(st, vma, addr)
    elif st.page_av[frame] != av:
        _absorb(st, st.page_av[frame], av)


@kernel
def page_remove(st, frame, pte, vma):
    return 1


@kernel
def walk(st, frame, op, arg):
    if objrmap.file_backed(st, frame):
        return objrmap.walk_file(st, frame, op, arg, True)
    return walk_anon(st, frame, op, arg, True)


@kernel(inline="always")
def walk_anon(st, frame, op, arg, apply):
    """Every vma of the page's anon_vma (``apply``: rmap_one on the ptes found, counting the
    vmas; else only the number of ptes found, for the check)."""
    n = 0
    index = st.page_av_index[frame]
    v = st.av_vmas[st.page_av[frame]]
    while v >= 0:
        n += rmap_vma(st, op, frame, v, index, arg, apply)
        v = st.vma_av_next[v]
    return n


@kernel
def page_moved(st, old, new):
    st.page_av[new] = st.page_av[old]
    st.page_av_index[new] = st.page_av_index[old]


@kernel
def vma_link(st, vma):
    st.vma_av[vma] = -1
    objrmap.vma_link(st, vma)


@kernel
def vma_unlink(st, vma):
    """anon_vma_unlink: off the list; the last vma frees the anon_vma."""
    objrmap.vma_unlink(st, vma)
    av = st.vma_av[vma]
    if av < 0:
        return
    p = st.av_vmas[av]
    if p == vma:
        st.av_vmas[av] = st.vma_av_next[vma]
    else:
        steps = 1
        while st.vma_av_next[p] != vma:
            p = st.vma_av_next[p]
            steps += 1
        count_steps(st, steps)
        st.vma_av_next[p] = st.vma_av_next[vma]
    st.vma_av[vma] = -1
    st.vma_av_next[vma] = -1
    rmap_bytes_add(st, -VMA_WORDS * pointer_bytes(st))
    if st.av_vmas[av] < 0:
        _free(st, av)


@kernel
def vma_split(st, vma, new):
    if st.vma_av[vma] >= 0:
        _join(st, st.vma_av[vma], new, vma)


@kernel
def vma_fork(st, parent, child):
    """anon_vma_link: the child's vma shares the parent's anon_vma."""
    if st.vma_av[parent] >= 0:
        _join(st, st.vma_av[parent], child, parent)


@kernel
def check(st):
    """Each vma with an anon_vma is on its list and each listed vma names it; anon_vmas in use
    and free add up to the pool; every mapped page's walk finds as many ptes as its mapcount;
    the bytes are anon_vmas, their vmas' fields and the i_mmap nodes."""
    w = pointer_bytes(st)
    held = objrmap.immap_bytes(st)
    used = 0
    for av in range(st.g[G_N_RMAP]):
        v = st.av_vmas[av]
        if v >= 0:
            used += 1
            held += ANON_VMA_WORDS * w
        while v >= 0:
            if st.vma_av[v] != av:
                return bad(st, 21, -1, v, av)
            held += VMA_WORDS * w
            v = st.vma_av_next[v]
    for v in range(st.g[G_N_VMA]):
        if st.vma_av[v] >= 0 and st.av_vmas[st.vma_av[v]] < 0:
            return bad(st, 21, -1, v, st.vma_av[v])
    if used + st.g[G_RMAP_FREE] != st.g[G_N_RMAP]:
        return bad(st, 19, -1, used + st.g[G_RMAP_FREE], st.g[G_N_RMAP])
    if st.cnt[C_RMAP_BYTES] != held:
        return bad(st, 18, -1, st.cnt[C_RMAP_BYTES], held)
    for f in range(st.g[G_NR_FRAMES]):
        if (st.page_flags[f] & PG_lru) and (st.page_flags[f] & PG_anon) \
                and st.page_mapcount[f] > 0:
            n = walk_anon(st, f, RMAP_REFERENCED, 0, False)
            if n != st.page_mapcount[f]:
                return bad(st, 7, f, n, st.page_mapcount[f])
    return objrmap.check_file_pages(st)
