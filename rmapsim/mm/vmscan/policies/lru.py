"""Exact LRU: every reference moves its page to the young end; reclaim takes the oldest.

A reference policy: no kernel sees every reference (the MMU only sets an accessed bit), so this
is the ideal the kernel's approximations (clock, the active/inactive lists) aim at. In cache
mode on a single-process trace it gives exactly the misses of libCacheSim's LRU. Everything but
``page_accessed`` is fifo's: the list order is all that differs.
"""
from rmapsim.jit import kernel

from rmapsim.mm.vmscan.policies.fifo import QUEUE, page_added, page_removed, reclaim  # noqa: F401
from rmapsim.mm.vmscan.nodes import list_move_tail

NAME = "lru"
KIND = "reference"
MODELS = "exact least-recently-used (libCacheSim LRU)"
PARAMS = {}


@kernel(inline="always")
def page_accessed(st, ps, frame):
    list_move_tail(st, QUEUE, frame)
