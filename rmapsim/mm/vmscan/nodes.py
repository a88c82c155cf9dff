"""What a policy keeps about pages: lists of nodes, ghosts, page identities, and a heap.

Node ``f < frames`` stands for frame f; nodes from ``frames`` up are *ghosts*, pages no longer in
memory that a policy still remembers (ARC's B1/B2, LIRS's non-resident HIR pages, CLOCK-Pro's
non-resident test pages, S3-FIFO's ghost queue, the shadow entries of mm/workingset.c). A node
is on at most one of ``NR_LISTS`` doubly linked lists (include/linux/list.h as the LRU lists use
it); ``node_list`` says which, the head end is the oldest. ``node_key`` is the page's identity
and ``key -> node`` is a hash table, so a fault can ask "was this page here before?".

Identity (``page_key``): a page-cache page is ``(object, index)``, the key of its page-cache
slot, where Linux leaves its shadow entry; an anonymous page is the (process, virtual page) of
the reference that faulted it in. Linux keys anonymous shadows by swap slot (5.9+); a
(process, page) key is the same thing while the page is out, and it also names a never-written
anonymous page, which the simulator drops rather than swaps.

``node_val``/``node_val2`` are the policy's per-node fields (its other state is its own
``FIELDS``, ``vmscan/hooks.py``). The heap is an indexed binary max-heap of frames ordered by
``node_val`` (opt's next-use time); ``g[G_HEAP_LEN]`` is the number of frames in it.
"""
import numpy as np

from rmapsim.jit import kernel

from rmapsim.mm.filemap import pc_key
from rmapsim.mm.hashtab import ht_del, ht_get, ht_put
from rmapsim.mm.layout import (G_GHOST_FREE_TOP, G_HEAP_LEN, G_KEY_COUNT, G_N_KEYS, G_NR_FRAMES,
                               CTX_REF_KEY, PG_anon)

# The reclaim policy's view: nodes 0..frames-1 are the frames, the rest are ghosts (pages no
# longer in memory that a policy remembers); doubly linked lists of nodes, a key -> node table
# and an indexed heap of frames.
FIELDS = (
    ("node_prev", "int64", "nodes", -1, None),
    ("node_next", "int64", "nodes", -1, None),
    ("node_list", "int32", "nodes", -1, None),
    ("node_key", "int64", "nodes", -1, None),
    ("node_val", "int64", "nodes", 0, None),
    ("node_val2", "int64", "nodes", 0, None),
    ("list_head", "int64", "lists", -1, None),
    ("list_tail", "int64", "lists", -1, None),
    ("list_len", "int64", "lists", 0, None),
    ("ghost_free", "int64", "nodes - frames", ("stack", "frames"), None),
    ("key_keys", "int64", "keys", "hash", None),
    ("key_vals", "int64", "keys", 0, None),
    ("heap", "int64", "frames", -1, None),
    ("heap_pos", "int64", "frames", -1, None),
)

ANON_KEY = np.int64(1) << 62


@kernel(inline="always")
def ref_key(mm, addr):
    """The identity of an anonymous page by the reference that touches it."""
    return ANON_KEY | (np.int64(mm) << 36) | (addr >> 12)


@kernel(inline="always")
def page_key(st, frame):
    if st.page_flags[frame] & PG_anon:
        return st.ctx[CTX_REF_KEY]
    return pc_key(st.page_mapping[frame], st.page_index[frame])


# ---- lists --------------------------------------------------------------------------------------

@kernel(inline="always")
def list_add_tail(st, k, node):
    """Append node to list k (the young end)."""
    tail = st.list_tail[k]
    st.node_prev[node] = tail
    st.node_next[node] = -1
    if tail >= 0:
        st.node_next[tail] = node
    else:
        st.list_head[k] = node
    st.list_tail[k] = node
    st.list_len[k] += 1
    st.node_list[node] = k


@kernel(inline="always")
def list_add_head(st, k, node):
    """Prepend node to list k (the old end)."""
    head = st.list_head[k]
    st.node_next[node] = head
    st.node_prev[node] = -1
    if head >= 0:
        st.node_prev[head] = node
    else:
        st.list_tail[k] = node
    st.list_head[k] = node
    st.list_len[k] += 1
    st.node_list[node] = k


@kernel(inline="always")
def list_del(st, node):
    """Take node off its list (no-op if it is on none)."""
    k = st.node_list[node]
    if k < 0:
        return
    pv = st.node_prev[node]
    nx = st.node_next[node]
    if pv >= 0:
        st.node_next[pv] = nx
    else:
        st.list_head[k] = nx
    if nx >= 0:
        st.node_prev[nx] = pv
    else:
        st.list_tail[k] = pv
    st.node_prev[node] = -1
    st.node_next[node] = -1
    st.node_list[node] = -1
    st.list_len[k] -= 1


@kernel(inline="always")
def list_replace(st, old, new):
    """new takes old's place on old's list; old is left on none (list_replace_init)."""
    k = st.node_list[old]
    pv = st.node_prev[old]
    nx = st.node_next[old]
    st.node_prev[new] = pv
    st.node_next[new] = nx
    st.node_list[new] = k
    if pv >= 0:
        st.node_next[pv] = new
    else:
        st.list_head[k] = new
    if nx >= 0:
        st.node_prev[nx] = new
    else:
        st.list_tail[k] = new
    st.node_prev[old] = -1
    st.node_next[old] = -1
    st.node_list[old] = -1


@kernel(inline="always")
def page_is_file(st, frame):
    """page_is_file_cache / folio_is_file_lru: 1 for a page-cache page of a file, 0 for an
    anonymous or a shared-anonymous (swap-backed, shmem) page."""
    if st.page_flags[frame] & PG_anon:
        return 0
    m = st.page_mapping[frame]
    if m >= 0 and st.obj_shm[m]:
        return 0
    return 1


@kernel(inline="always")
def list_move_tail(st, k, node):
    list_del(st, node)
    list_add_tail(st, k, node)


# ---- identities ---------------------------------------------------------------------------------

@kernel(inline="always")
def key_bind(st, key, node):
    """key now names node. A page in memory that had the key loses it (node_key -1, no ghost
    when it goes): after fork, the parent's copy-on-write gives its new copy the (process,
    page) of the original, which the child still maps."""
    old = ht_get(st.key_keys, st.key_vals, st.g[G_N_KEYS], key)
    if old >= 0 and old != node and old < st.g[G_NR_FRAMES]:
        st.node_key[old] = -1
    st.node_key[node] = key
    st.g[G_KEY_COUNT] += ht_put(st.key_keys, st.key_vals, st.g[G_N_KEYS], key, node)


@kernel(inline="always")
def key_node(st, key):
    """The node (frame or ghost) bound to key, or -1."""
    return ht_get(st.key_keys, st.key_vals, st.g[G_N_KEYS], key)


@kernel(inline="always")
def key_unbind(st, node):
    key = st.node_key[node]
    if key >= 0:
        if ht_get(st.key_keys, st.key_vals, st.g[G_N_KEYS], key) == node:
            st.g[G_KEY_COUNT] -= ht_del(st.key_keys, st.key_vals, st.g[G_N_KEYS], key)
        st.node_key[node] = -1


# ---- ghosts -------------------------------------------------------------------------------------

@kernel(inline="always")
def ghost_new(st, key):
    """A ghost node remembering key (bound to it, on no list, vals zero); -1 if the pool is
    empty, in which case the policy must first release its oldest ghost. A page with no
    identity (key -1, see key_bind) leaves no ghost: callers test the key first."""
    top = st.g[G_GHOST_FREE_TOP]
    if top == 0:
        return -1
    top -= 1
    st.g[G_GHOST_FREE_TOP] = top
    node = st.ghost_free[top]
    st.node_val[node] = 0
    st.node_val2[node] = 0
    key_bind(st, key, node)
    return node


@kernel(inline="always")
def ghost_free(st, node):
    list_del(st, node)
    key_unbind(st, node)
    st.ghost_free[st.g[G_GHOST_FREE_TOP]] = node
    st.g[G_GHOST_FREE_TOP] += 1


@kernel(inline="always")
def forget_frame(st, frame):
    """A frame leaves the policy's view: off its list, key unbound, fields cleared."""
    list_del(st, frame)
    key_unbind(st, frame)
    st.node_val[frame] = 0
    st.node_val2[frame] = 0


# ---- indexed max-heap of frames by node_val ---------------------------------------------------

@kernel(inline="always")
def _heap_swap(st, i, j):
    a = st.heap[i]
    b = st.heap[j]
    st.heap[i] = b
    st.heap[j] = a
    st.heap_pos[a] = j
    st.heap_pos[b] = i


@kernel
def heap_fix(st, frame):
    """Restore heap order around frame after its node_val changed."""
    i = st.heap_pos[frame]
    while i > 0:
        p = (i - 1) >> 1
        if st.node_val[st.heap[p]] >= st.node_val[st.heap[i]]:
            break
        _heap_swap(st, i, p)
        i = p
    n = st.g[G_HEAP_LEN]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and st.node_val[st.heap[c + 1]] > st.node_val[st.heap[c]]:
            c += 1
        if st.node_val[st.heap[c]] <= st.node_val[st.heap[i]]:
            break
        _heap_swap(st, i, c)
        i = c


@kernel
def heap_push(st, frame):
    n = st.g[G_HEAP_LEN]
    st.heap[n] = frame
    st.heap_pos[frame] = n
    st.g[G_HEAP_LEN] = n + 1
    heap_fix(st, frame)


@kernel
def heap_remove(st, frame):
    i = st.heap_pos[frame]
    if i < 0:
        return
    n = st.g[G_HEAP_LEN] - 1
    st.g[G_HEAP_LEN] = n
    st.heap_pos[frame] = -1
    if i != n:
        last = st.heap[n]
        st.heap[i] = last
        st.heap_pos[last] = i
        heap_fix(st, last)
    st.heap[n] = -1


@kernel
def node_move(st, old, new):
    """Frame ``old``'s page now lives in frame ``new`` (page migration): its node keeps its
    place on its list, its fields, its identity and its heap slot, so a policy sees a move and
    not an eviction plus a fault (migrate_page_states and the LRU's putback, mm/migrate.c).
    The default ``page_migrated`` of every policy."""
    if st.node_list[old] >= 0:
        list_replace(st, old, new)
    st.node_val[new] = st.node_val[old]
    st.node_val2[new] = st.node_val2[old]
    st.node_val[old] = 0
    st.node_val2[old] = 0
    key = st.node_key[old]
    st.node_key[new] = key
    st.node_key[old] = -1
    if key >= 0:
        st.g[G_KEY_COUNT] += ht_put(st.key_keys, st.key_vals, st.g[G_N_KEYS], key, new)
    pos = st.heap_pos[old]
    if pos >= 0:
        st.heap[pos] = new
        st.heap_pos[new] = pos
        st.heap_pos[old] = -1
