"""First in, first out: reclaim the page that entered memory longest ago, referenced or not.

The simplest policy there is and the baseline of every textbook; it exercises the policy
interface with a list where ``clock`` uses a hand. In cache mode it gives exactly the misses of
libCacheSim's FIFO. A page that cannot be freed now (swap full, locked) goes to the tail.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.layout import C_PAGES_SCANNED, C_RECLAIM_FAILURES, PG_lru
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import list_add_tail, list_del

QUEUE = 0

NAME = "fifo"
KIND = "realistic"
MODELS = "first-in first-out (textbook baseline; libCacheSim FIFO)"
PARAMS = {}


@kernel(inline="always")
def page_added(st, ps, frame):
    list_add_tail(st, QUEUE, frame)


@kernel(inline="always")
def page_removed(st, ps, frame):
    list_del(st, frame)


@kernel(inline="always")
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    freed = 0
    tries = st.list_len[QUEUE]
    while freed < nr_to_free and tries > 0:
        tries -= 1
        f = st.list_head[QUEUE]
        if f < 0:
            break
        st.cnt[C_PAGES_SCANNED] += 1
        list_del(st, f)
        if shrink_page(st, f) == PAGE_FREED:
            st.page_flags[f] &= ~PG_lru
            reclaimed(st, f)
            freed += 1
        else:
            list_add_tail(st, QUEUE, f)
            st.cnt[C_RECLAIM_FAILURES] += 1
    return freed
