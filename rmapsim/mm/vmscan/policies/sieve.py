"""SIEVE: one FIFO queue, a visited bit per page and a hand that sifts from old to new.

Zhang, Yang, Yue, Vigfusson and Rashmi, "SIEVE is Simpler than LRU: an Efficient Turn-Key
Eviction Algorithm for Web Caches", NSDI 2024. A new page enters at the young end with its
visited bit clear; a reference sets the bit (it does not move the page). To evict, the hand,
starting where it stopped last time (at the oldest page the first time or after it fell off the
young end), walks towards the young end clearing set bits, wrapping to the oldest page, and
evicts the first page whose bit is clear; it then rests on that page's younger neighbour.
Unlike CLOCK, survivors are not moved: new pages stay behind the hand until it wraps.

A reference policy: the visited bit is set on every reference (``page_accessed``), as
libCacheSim's ``Sieve.c`` (``Sieve_find`` sets ``freq = 1``, ``Sieve_evict`` walks
``queue.prev`` from ``params->pointer`` or the tail). In cache mode on a single-process trace
it gives exactly libCacheSim's Sieve misses at every size. No parameters, no ghosts.

Layout: list ``QUEUE``, head = oldest (libCacheSim's tail), tail = youngest; ``node_val`` is the
visited bit; the hand is the node in ``hand`` (-1: no hand, start at the oldest page). A page
freed outside reclaim moves the hand to its younger neighbour first (``Sieve_remove_obj``). A
page that cannot be freed now (locked, swap full) is passed over like a visited page but keeps
its bit; after two full turns without freeing anything reclaim gives up.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.layout import C_PAGES_SCANNED, C_RECLAIM_FAILURES, PG_lru
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import node_move, forget_frame, list_add_tail, list_del

QUEUE = 0
FIELDS = (
    ("hand", "int64", "1", -1, None),      # the hand's node (-1: none)
)

NAME = "sieve"
KIND = "reference"
MODELS = "SIEVE (Zhang et al., NSDI 2024; libCacheSim Sieve)"
PARAMS = {}


@kernel(inline="always")
def page_added(st, ps, frame):
    st.node_val[frame] = 0                  # Sieve_insert: freq = 0, at the young end
    list_add_tail(st, QUEUE, frame)


@kernel(inline="always")
def page_accessed(st, ps, frame):
    st.node_val[frame] = 1                  # Sieve_find: freq = 1


@kernel(inline="always")
def _unhand(st, ps, frame):
    """If the hand rests on frame, move it to the younger neighbour (or none)."""
    if ps.hand[0] == frame:
        ps.hand[0] = st.node_next[frame]


@kernel(inline="always")
def page_removed(st, ps, frame):
    _unhand(st, ps, frame)
    list_del(st, frame)


@kernel(inline="always")
def _step(st, node):
    """The hand's next position: the younger neighbour, wrapping to the oldest page."""
    nx = st.node_next[node]
    return st.list_head[QUEUE] if nx < 0 else nx


@kernel
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    freed = 0
    idle = 0
    while freed < nr_to_free and st.list_len[QUEUE] > 0 and idle <= 2 * st.list_len[QUEUE]:
        f = ps.hand[0]
        if f < 0:
            f = st.list_head[QUEUE]
        while st.node_val[f] > 0 and idle <= 2 * st.list_len[QUEUE]:
            st.node_val[f] = 0              # Sieve_evict: freq -= 1 (freq is 0 or 1)
            st.cnt[C_PAGES_SCANNED] += 1
            idle += 1
            f = _step(st, f)
        if st.node_val[f] > 0:
            break
        st.cnt[C_PAGES_SCANNED] += 1
        ps.hand[0] = st.node_next[f]                # pointer = obj->queue.prev (may be none)
        if shrink_page(st, f) == PAGE_FREED:
            forget_frame(st, f)
            st.page_flags[f] &= ~PG_lru
            reclaimed(st, f)
            freed += 1
            idle = 0
        else:
            st.cnt[C_RECLAIM_FAILURES] += 1
            idle += 1
    return freed


@kernel
def page_migrated(st, ps, old, new):
    """The page moved frames (migration): its node moves, and the hand with it."""
    node_move(st, old, new)
    if ps.hand[0] == old:
        ps.hand[0] = new
