"""Belady's MIN (OPT): reclaim the page whose next reference is furthest in the future.

A reference policy that knows the future: before the replay, ``sim/future.py`` gives every
reference the index of the next reference to the same page (``st.ctx[CTX_REF_NEXT]``, -1 for none),
and each page carries the value of its latest reference in ``node_val``. The resident pages
sit in an indexed max-heap on it, so a reference costs O(log frames). With the faulting page
always loaded this is the floor on misses for a given memory size (Belady 1966; Mattson et al.
1970), and in cache mode it matches libCacheSim's Belady exactly. Pages never referenced again
tie at infinity; which of them goes does not change the miss count.

Identity is the trace's (pid, virtual page): with processes sharing pages, a page's next use is
the next reference through the mapping that touched it last, an upper bound when another
mapping touches it sooner. A page that cannot be freed now (locked, swap full) is set aside for
the rest of the call and keeps its place.
"""
import numpy as np

from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.layout import (C_PAGES_SCANNED, C_RECLAIM_FAILURES, CTX_REF_NEXT, G_HEAP_LEN,
                               PG_lru)
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import heap_fix, heap_push, heap_remove

NAME = "opt"
KIND = "reference"
MODELS = "Belady's MIN (1966), the optimal offline policy (libCacheSim Belady)"
PARAMS = {}
FUTURE = True           # needs next-use times (sim/future.py)

NEVER = np.int64(1) << 62


@kernel(inline="always")
def _next(st):
    n = st.ctx[CTX_REF_NEXT]
    return NEVER if n < 0 else n


@kernel(inline="always")
def page_added(st, ps, frame):
    st.node_val[frame] = _next(st)
    heap_push(st, frame)


@kernel(inline="always")
def page_accessed(st, ps, frame):
    st.node_val[frame] = _next(st)
    heap_fix(st, frame)


@kernel(inline="always")
def page_removed(st, ps, frame):
    heap_remove(st, frame)


@kernel
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    freed = 0
    held = np.empty(0, np.int64)
    while freed < nr_to_free and st.g[G_HEAP_LEN] > 0:
        f = st.heap[0]
        st.cnt[C_PAGES_SCANNED] += 1
        heap_remove(st, f)
        if shrink_page(st, f) == PAGE_FREED:
            st.page_flags[f] &= ~PG_lru
            reclaimed(st, f)
            freed += 1
        else:
            st.cnt[C_RECLAIM_FAILURES] += 1
            held = np.append(held, f)
    for f in held:
        heap_push(st, f)
    return freed
