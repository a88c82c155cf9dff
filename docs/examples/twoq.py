"""2Q: a FIFO for pages seen once, an LRU for pages seen again, and a ghost list between them.

Johnson and Shasha, "2Q: A Low Overhead High Performance Buffer Management Replacement
Algorithm", VLDB 1994, the full version: a new page enters A1in, a FIFO of Kin frames; when A1in
is over Kin the oldest page of A1in is evicted and its identity goes to A1out, a FIFO of Kout
ghosts; a page faulted in again while its ghost is in A1out enters Am, an LRU list; otherwise
reclaim evicts Am's least recently used page. Kin = 25% and Kout = 50% of the frames, the
paper's recommended values.

A reference policy (it sees every reference, ``page_accessed``). Run it with

    rmapsim run TRACE --frames 1000 --cache-mode --policy docs/examples/twoq.py
"""
import numpy as np

from rmapsim.jit import kernel
from rmapsim.mm.layout import (C_PAGES_SCANNED, C_RECLAIM_FAILURES, G_NR_FRAMES, PAGE_FREED,
                               PG_lru, SC_NR_TO_RECLAIM)
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import (forget_frame, ghost_free, ghost_new, key_bind, key_node,
                                     list_add_tail, list_move_tail, page_key)

NAME = "2q"
KIND = "reference"
MODELS = "2Q (Johnson & Shasha, VLDB 1994), full version with A1in, A1out and Am"
PARAMS = {"kin": (0.25, "A1in's size as a fraction of the frames"),
          "kout": (0.50, "A1out's ghosts as a fraction of the frames")}

A1IN, AM, A1OUT = 0, 1, 2           # lists of nodes.py: head = oldest
# private state: (name, dtype, size, fill, growth group)
FIELDS = (
    ("kin", "int64", "1", 0, None),
    ("kout", "int64", "1", 0, None),
    ("ghost_hits", "int64", "1", 0, None),
)


@kernel
def init(st, ps):
    frames = st.g[G_NR_FRAMES]
    ps.kin[0] = max(np.int64(1), np.int64(st.params[0] * frames))
    ps.kout[0] = max(np.int64(1), np.int64(st.params[1] * frames))


@kernel
def page_added(st, ps, frame):
    key = page_key(st, frame)
    node = key_node(st, key)
    if node >= st.g[G_NR_FRAMES]:          # its ghost is in A1out: seen again
        ghost_free(st, node)
        ps.ghost_hits[0] += 1
        key_bind(st, key, frame)
        list_add_tail(st, AM, frame)
    else:
        key_bind(st, key, frame)
        list_add_tail(st, A1IN, frame)


@kernel
def page_accessed(st, ps, frame):
    if st.node_list[frame] == AM:
        list_move_tail(st, AM, frame)      # LRU; a hit in A1in changes nothing


@kernel
def page_removed(st, ps, frame):
    forget_frame(st, frame)


@kernel
def _remember(st, ps, key):
    """Put key at A1out's young end, dropping its oldest ghosts beyond Kout."""
    if key < 0:
        return
    while st.list_len[A1OUT] >= ps.kout[0]:
        ghost_free(st, st.list_head[A1OUT])
    node = ghost_new(st, key)
    if node >= 0:
        list_add_tail(st, A1OUT, node)


@kernel
def reclaim(st, ps, sc):
    freed = 0
    tries = 2 * (st.list_len[A1IN] + st.list_len[AM]) + 2
    while freed < sc[SC_NR_TO_RECLAIM] and tries > 0:
        tries -= 1
        from_a1in = st.list_len[A1IN] > ps.kin[0] or st.list_len[AM] == 0
        victim = st.list_head[A1IN] if from_a1in else st.list_head[AM]
        if victim < 0:
            break
        st.cnt[C_PAGES_SCANNED] += 1
        if shrink_page(st, victim) != PAGE_FREED:
            st.cnt[C_RECLAIM_FAILURES] += 1
            list_move_tail(st, st.node_list[victim], victim)
            continue
        key = st.node_key[victim]
        forget_frame(st, victim)
        st.page_flags[victim] &= ~PG_lru
        reclaimed(st, victim)
        if from_a1in:
            _remember(st, ps, key)
        freed += 1
    return freed


@kernel
def check(st, ps):
    """0, or 1 if A1out holds more ghosts than Kout."""
    return 1 if st.list_len[A1OUT] > ps.kout[0] else 0
