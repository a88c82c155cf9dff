"""anon_vma_chain: an anon_vma per vma, linked to its ancestors' by chain objects. Rik van Riel,
"mm: change anon_vma linking to fix multi-process server scalability issue" (commit
5beb49305251, Linux 2.6.34), with the reuse rule of Konstantin Khlebnikov's 7a3ef208e662 (3.19:
a fork reuses an anon_vma whose degree is below 2); mm/rmap.c's anon_vma_prepare,
anon_vma_clone, anon_vma_fork and unlink_anon_vmas (docs/reference/linux-mm-history.md
section 2.1). File pages go through i_mmap, as objrmap's.

Each vma has its own anon_vma, where its new (COWed) pages go, and one ``anon_vma_chain`` per
anon_vma it may hold pages of: its own and every ancestor's. The anon_vma lists the chains that
reach it, so a page is looked for only in the vmas that can map it: a page COWed by one of 1000
children is found in one vma, not 1000 ("from O(N) to 2", the commit). A page first mapped from
the swap cache is put on its family's root anon_vma, as Linux does for a page not exclusively
the faulting vma's (__page_set_anon_rmap), that is when another pte still holds its swap slot
(5.19 and later tell by the swap pte's exclusive bit, 2.6.35-5.18 by a write from its only
user); a page found still in the swap cache keeps the anon_vma it had (its slot is remembered
when its last pte goes) if the vma reaches it. A page that two families share (only a snapshot of a real machine can say so) gets
the second family's vma chained to its anon_vma.

Sizes, in words of the machine: an anon_vma is root, parent, the list head (2) and three ints
(lock, refcount, degree): 28 bytes on i386, 48 on x86-64; a chain is vma, anon_vma and two list
heads, 6 words as in 2.6.34; a vma adds its anon_vma pointer and chain list head, 3 words.
Assumed: the anon_vma's chains are a list, as in 2.6.34 (3.7 made it an interval tree, which
also skips vmas not covering the page's offset); adjacent vmas do not merge anon_vmas.

anon_vmas and chains are taken from one pool (the design's ``rmap`` growth group), a slot
being one or the other (``ac_kind``).
"""
import numpy as np

from rmapsim.jit import kernel

from rmapsim.mm.layout import (C_RMAP_BYTES, G_NR_FRAMES, G_N_RMAP,
                               G_N_VMA, G_RMAP_BURST, G_RMAP_FREE, G_RMAP_PER_VMA, PG_anon,
                               PG_lru, PG_swapcache, RMAP_REFERENCED, RMAP_UNMAP)
from rmapsim.mm.layout import CTX_RMAP_OP, RMAP_OP_FORK
from rmapsim.mm.rmap import objrmap
from rmapsim.mm.rmap.anon_vma import anon_index
from rmapsim.mm.rmap.ops import pointer_bytes, rmap_bytes_add, rmap_vma
from rmapsim.mm.violation import bad

NAME = "anon-vma-chain"
MODELS = ("Linux 2.6.34+: an anon_vma per vma, chained to its ancestors' (anon_vma_chain), "
          "anon_vma reuse at degree < 2 (3.19)")
PTE_TABLE_ORDER = 0
USES = ("rmapsim.mm.rmap.objrmap",)
POOL = "2 * vmas"
AVC_WORDS = 6
VMA_WORDS = 3
KIND_FREE, KIND_ANON_VMA, KIND_CHAIN = 0, 1, 2

FIELDS = (
    ("ac_free", "int64", "rmap_pool", "stack", "rmap"),
    ("ac_kind", "int8", "rmap_pool", 0, "rmap"),
    # an anon_vma: root, parent, degree, refcount, first chain on its list
    ("ac_root", "int64", "rmap_pool", -1, "rmap"),
    ("ac_parent", "int64", "rmap_pool", -1, "rmap"),
    ("ac_degree", "int64", "rmap_pool", 0, "rmap"),
    ("ac_refs", "int64", "rmap_pool", 0, "rmap"),
    ("ac_head", "int64", "rmap_pool", -1, "rmap"),
    # a chain: its vma and anon_vma, the vma's next chain, its anon_vma's next and previous
    ("ac_vma", "int64", "rmap_pool", -1, "rmap"),
    ("ac_av", "int64", "rmap_pool", -1, "rmap"),
    ("ac_vnext", "int64", "rmap_pool", -1, "rmap"),
    ("ac_anext", "int64", "rmap_pool", -1, "rmap"),
    ("ac_aprev", "int64", "rmap_pool", -1, "rmap"),
    ("ac_vma_av", "int64", "vmas", -1, "vma"),          # vma->anon_vma
    ("ac_vma_chain", "int64", "vmas", -1, "vma"),       # vma->anon_vma_chain, newest first
    ("ac_page_av", "int64", "frames", -1, None),
    ("ac_page_index", "int64", "frames", 0, None),
    ("ac_page_slot", "int64", "frames", -1, None),      # its swap slot when last unmapped
)


@kernel(inline="always")
def _anon_vma_bytes(st):
    w = pointer_bytes(st)
    return (4 * w + 12 + w - 1) // w * w


@kernel
def init(st):
    """A fault may take an anon_vma and its chain (anon_vma_prepare), and a chain for a page
    two families share; a vma made by fork or split a chain per anon_vma of its source's
    (``_clone`` raises this as chains grow) and one more, and an anon_vma."""
    st.g[G_RMAP_PER_VMA] = 3
    st.g[G_RMAP_BURST] = 3


@kernel(inline="always")
def _take(st, kind):
    st.g[G_RMAP_FREE] -= 1
    s = st.ac_free[st.g[G_RMAP_FREE]]
    st.ac_kind[s] = kind
    return s


@kernel(inline="always")
def _give(st, s):
    st.ac_kind[s] = KIND_FREE
    st.ac_free[st.g[G_RMAP_FREE]] = s
    st.g[G_RMAP_FREE] += 1


@kernel
def _anon_vma_alloc(st):
    av = _take(st, KIND_ANON_VMA)
    st.ac_root[av] = av
    st.ac_parent[av] = av
    st.ac_degree[av] = 1
    st.ac_refs[av] = 1
    st.ac_head[av] = -1
    rmap_bytes_add(st, _anon_vma_bytes(st))
    return av


@kernel
def _put_anon_vma(st, av):
    """put_anon_vma: the last reference frees it, and drops its root's pin."""
    while av >= 0:
        st.ac_refs[av] -= 1
        if st.ac_refs[av] > 0:
            return
        root = st.ac_root[av]
        _give(st, av)
        rmap_bytes_add(st, -_anon_vma_bytes(st))
        av = root if root != av else -1


@kernel
def _chain_link(st, vma, av):
    """anon_vma_chain_link: a chain at the head of the vma's list and of the anon_vma's."""
    c = _take(st, KIND_CHAIN)
    st.ac_vma[c] = vma
    st.ac_av[c] = av
    if st.ac_vma_chain[vma] < 0:
        rmap_bytes_add(st, VMA_WORDS * pointer_bytes(st))
    st.ac_vnext[c] = st.ac_vma_chain[vma]
    st.ac_vma_chain[vma] = c
    h = st.ac_head[av]
    st.ac_anext[c] = h
    st.ac_aprev[c] = -1
    if h >= 0:
        st.ac_aprev[h] = c
    st.ac_head[av] = c
    rmap_bytes_add(st, AVC_WORDS * pointer_bytes(st))


@kernel(inline="always")
def _chain_unlink_av(st, c):
    """The chain off its anon_vma's list; whether the list is now empty."""
    av = st.ac_av[c]
    p = st.ac_aprev[c]
    n = st.ac_anext[c]
    if p >= 0:
        st.ac_anext[p] = n
    else:
        st.ac_head[av] = n
    if n >= 0:
        st.ac_aprev[n] = p
    return st.ac_head[av] < 0


@kernel
def _clone(st, dst, src, reuse):
    """anon_vma_clone: a chain from ``dst`` to each anon_vma of ``src``'s, oldest first (so
    ``dst``'s list has ``src``'s order); a fork (``reuse``) may adopt one of degree < 2 that
    is not ``src``'s own."""
    n = 0
    c = st.ac_vma_chain[src]
    while c >= 0:
        n += 1
        c = st.ac_vnext[c]
    order = np.empty(n, np.int64)
    c = st.ac_vma_chain[src]
    for i in range(n):
        order[n - 1 - i] = st.ac_av[c]
        c = st.ac_vnext[c]
    for i in range(n):
        av = order[i]
        _chain_link(st, dst, av)
        if reuse and st.ac_vma_av[dst] < 0 and av != st.ac_vma_av[src] \
                and st.ac_degree[av] < 2:
            st.ac_vma_av[dst] = av
    if st.ac_vma_av[dst] >= 0:
        st.ac_degree[st.ac_vma_av[dst]] += 1
    # the room the next event may need: a chain per anon_vma of the longest list, and one more
    if n + 3 > st.g[G_RMAP_PER_VMA]:
        st.g[G_RMAP_PER_VMA] = n + 3


@kernel
def _prepare(st, vma):
    """anon_vma_prepare: the vma's first anonymous page gets it an anon_vma of its own."""
    av = _anon_vma_alloc(st)
    st.ac_vma_av[vma] = av
    _chain_link(st, vma, av)
    st.ac_degree[av] += 1           # the vma's reference, and the root's link to itself
    return av


@kernel(inline="always")
def _reaches(st, vma, av):
    """Whether one of the vma's chains is to ``av`` (fork's copies always are)."""
    c = st.ac_vma_chain[vma]
    while c >= 0:
        if st.ac_av[c] == av:
            return True
        c = st.ac_vnext[c]
    return False


@kernel
def page_add(st, frame, pte, vma, addr):
    if objrmap.file_backed(st, frame):
        return
    av = st.ac_vma_av[vma]
    if av < 0:
        av = _prepare(st, vma)
    if st.page_mapcount[frame] == 0:
        if not (st.page_flags[frame] & PG_swapcache) or st.swap_map[st.page_private[frame]] == 1:
            st.ac_page_av[frame] = av           # a new page, or one no other pte holds
        elif st.ac_page_slot[frame] == st.page_private[frame] \
                and _reaches(st, vma, st.ac_page_av[frame]):
            return                              # kept in the swap cache: its anon_vma stays
        else:
            st.ac_page_av[frame] = st.ac_root[av]   # read from swap, not exclusively ours
        st.ac_page_index[frame] = anon_index(st, vma, addr)
    elif st.ctx[CTX_RMAP_OP] != RMAP_OP_FORK and not _reaches(st, vma, st.ac_page_av[frame]):
        # a page two families share, as only a snapshot can say: the vma is chained to the
        # page's anon_vma, as a fork would have done
        _chain_link(st, vma, st.ac_page_av[frame])


@kernel(inline="always")
def _unmapped(st, frame):
    """A page leaving its last pte while in the swap cache keeps its anon_vma there."""
    if st.page_flags[frame] & PG_swapcache:
        st.ac_page_slot[frame] = st.page_private[frame]


@kernel
def page_remove(st, frame, pte, vma):
    if st.page_mapcount[frame] == 1 and not objrmap.file_backed(st, frame):
        _unmapped(st, frame)
    return 1


@kernel(inline="always")
def walk_anon(st, frame, op, arg, apply):
    """The vma of every chain on the page's anon_vma (rmap_walk_anon)."""
    n = 0
    index = st.ac_page_index[frame]
    c = st.ac_head[st.ac_page_av[frame]]
    while c >= 0:
        n += rmap_vma(st, op, frame, st.ac_vma[c], index, arg, apply)
        c = st.ac_anext[c]
    return n


@kernel
def walk(st, frame, op, arg):
    if objrmap.file_backed(st, frame):
        return objrmap.walk_file(st, frame, op, arg, True)
    if op == RMAP_UNMAP:
        _unmapped(st, frame)
    return walk_anon(st, frame, op, arg, True)


@kernel
def page_moved(st, old, new):
    st.ac_page_av[new] = st.ac_page_av[old]
    st.ac_page_index[new] = st.ac_page_index[old]
    st.ac_page_slot[new] = st.ac_page_slot[old]


@kernel
def vma_link(st, vma):
    st.ac_vma_av[vma] = -1
    st.ac_vma_chain[vma] = -1
    objrmap.vma_link(st, vma)


@kernel
def vma_unlink(st, vma):
    """unlink_anon_vmas: each chain off its anon_vma; an anon_vma left with none drops its
    parent's degree and its own reference (freed with its last)."""
    objrmap.vma_unlink(st, vma)
    c = st.ac_vma_chain[vma]
    if c < 0:
        return
    empty = np.empty(0, np.int64)
    while c >= 0:
        nx = st.ac_vnext[c]
        av = st.ac_av[c]
        if _chain_unlink_av(st, c):
            st.ac_degree[st.ac_parent[av]] -= 1
            empty = np.append(empty, av)
        _give(st, c)
        rmap_bytes_add(st, -AVC_WORDS * pointer_bytes(st))
        c = nx
    if st.ac_vma_av[vma] >= 0:
        st.ac_degree[st.ac_vma_av[vma]] -= 1
    for av in empty:
        _put_anon_vma(st, av)
    st.ac_vma_chain[vma] = -1
    st.ac_vma_av[vma] = -1
    rmap_bytes_add(st, -VMA_WORDS * pointer_bytes(st))


@kernel
def vma_split(st, vma, new):
    """__split_vma: the new vma has the old one's anon_vma and chains."""
    if st.ac_vma_chain[vma] >= 0:
        st.ac_vma_av[new] = st.ac_vma_av[vma]
        _clone(st, new, vma, False)


@kernel
def vma_fork(st, parent, child):
    """anon_vma_fork: chains to the parent's anon_vmas, then an anon_vma of the child's own
    (child of the parent's), unless one could be reused."""
    if st.ac_vma_av[parent] < 0:
        return
    _clone(st, child, parent, True)
    if st.ac_vma_av[child] >= 0:
        return
    pav = st.ac_vma_av[parent]
    av = _anon_vma_alloc(st)
    st.ac_root[av] = st.ac_root[pav]
    st.ac_parent[av] = pav
    st.ac_refs[st.ac_root[av]] += 1         # the root is pinned while it has descendants
    st.ac_vma_av[child] = av
    _chain_link(st, child, av)
    st.ac_degree[pav] += 1


@kernel
def check(st):
    """Every chain is on its vma's list and its anon_vma's; each anon_vma's degree is its vmas
    (as vma->anon_vma), its children with chains, and for a root its own link; slots add up to
    the pool; every mapped page's walk finds as many ptes as its mapcount; the bytes."""
    n = st.g[G_N_RMAP]
    w = pointer_bytes(st)
    held = objrmap.immap_bytes(st)
    degree = np.zeros(n, np.int64)
    on_av = np.zeros(n, np.int8)
    used = 0
    for s in range(n):
        if st.ac_kind[s] == KIND_ANON_VMA:
            used += 1
            held += _anon_vma_bytes(st)
            c = st.ac_head[s]
            if c >= 0:
                degree[st.ac_parent[s]] += 1
            while c >= 0:
                if st.ac_kind[c] != KIND_CHAIN or st.ac_av[c] != s:
                    return bad(st, 21, -1, st.ac_vma[c], s)
                on_av[c] = 1
                c = st.ac_anext[c]
        elif st.ac_kind[s] == KIND_CHAIN:
            used += 1
            held += AVC_WORDS * w
    if used + st.g[G_RMAP_FREE] != n:
        return bad(st, 19, -1, used + st.g[G_RMAP_FREE], n)
    for v in range(st.g[G_N_VMA]):
        c = st.ac_vma_chain[v]
        if c >= 0:
            held += VMA_WORDS * w
        if st.ac_vma_av[v] >= 0:
            degree[st.ac_vma_av[v]] += 1
        while c >= 0:
            if st.ac_vma[c] != v or not on_av[c]:
                return bad(st, 21, -1, v, st.ac_av[c])
            c = st.ac_vnext[c]
    for s in range(n):
        if st.ac_kind[s] == KIND_ANON_VMA and st.ac_head[s] >= 0 \
                and degree[s] != st.ac_degree[s]:
            return bad(st, 22, -1, s, st.ac_degree[s])
    if st.cnt[C_RMAP_BYTES] != held:
        return bad(st, 18, -1, st.cnt[C_RMAP_BYTES], held)
    for f in range(st.g[G_NR_FRAMES]):
        if (st.page_flags[f] & PG_lru) and (st.page_flags[f] & PG_anon) \
                and st.page_mapcount[f] > 0:
            k = walk_anon(st, f, RMAP_REFERENCED, 0, False)
            if k != st.page_mapcount[f]:
                return bad(st, 7, f, k, st.page_mapcount[f])
    return objrmap.check_file_pages(st)
