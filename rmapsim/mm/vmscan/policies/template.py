"""A starting point for a policy of your own: FIFO with a second chance, in one file.

``rmapsim policies --template > mine.py`` writes this file; ``rmapsim run TRACE --policy
./mine.py`` runs it compiled, like a built-in policy. docs/writing-a-policy.md walks through a
complete example. The hooks and their arguments are listed in rmapsim/mm/vmscan/hooks.py.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import (C_PAGES_SCANNED, C_RECLAIM_FAILURES, PAGE_FREED, PG_lru,
                               SC_NR_TO_RECLAIM)
from rmapsim.mm.rmap import page_referenced
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import list_add_tail, list_del, list_move_tail

NAME = "second-chance"
KIND = "realistic"          # sees only what a kernel sees ("reference": every reference too)
MODELS = "FIFO with a second chance for pages whose accessed bit is set"
PARAMS = {}                 # {"name": (default, "help", (low, high))}: st.params[i] in order
QUEUE = 0                   # a list of nodes.py (there are 16); head = oldest
FIELDS = (                  # private arrays: (name, dtype, size, fill, growth group)
    ("second_chances", "int64", "1", 0, None),
)


@kernel
def page_added(st, ps, frame):
    list_add_tail(st, QUEUE, frame)


@kernel
def page_removed(st, ps, frame):
    list_del(st, frame)


@kernel
def reclaim(st, ps, sc):
    freed = 0
    budget = 2 * st.list_len[QUEUE] + 2
    while freed < sc[SC_NR_TO_RECLAIM] and st.list_len[QUEUE] > 0 and budget > 0:
        budget -= 1
        f = st.list_head[QUEUE]
        st.cnt[C_PAGES_SCANNED] += 1
        if page_referenced(st, f):          # tests and clears the accessed bit of every pte
            ps.second_chances[0] += 1
            list_move_tail(st, QUEUE, f)
        elif shrink_page(st, f) == PAGE_FREED:
            list_del(st, f)
            st.page_flags[f] &= ~PG_lru
            reclaimed(st, f)
            freed += 1
        else:
            st.cnt[C_RECLAIM_FAILURES] += 1
            list_move_tail(st, QUEUE, f)
    return freed
