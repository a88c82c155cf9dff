"""The kernel's calls into the running policy, through the addresses of its compiled hooks
(``hooks.py``), and put_page, which frees user pages outside reclaim.

No policy is imported here: the kernel compiled above this module is the same for every policy,
and a hook a policy leaves out (address 0) costs one test.
"""
from numba import config as numba_config

from rmapsim.jit import kernel

from rmapsim.mm.layout import (G_PAGE_SERIAL, G_RECORD_KEYS, PG_anon, PG_lru, SC_KSWAPD,
                               SC_MAY_SWAP, SC_MAY_WRITEPAGE, SC_NR_RECLAIMED, SC_NR_SCANNED,
                               SC_NR_TO_RECLAIM, SC_ORDER)
from rmapsim.mm.vmscan.shrink import release_page
from rmapsim.mm.vmscan.hooks import (H_CHECK, H_INIT, H_PAGE_ACCESSED, H_PAGE_ADDED,
                                     H_PAGE_MIGRATED, H_PAGE_REMOVED, H_PRIVATE, H_RECLAIM)
from rmapsim.mm.vmscan.nodes import ANON_KEY

if numba_config.DISABLE_JIT:
    from rmapsim.mm.cfuncs import PY_CALLS

    def call_hook(addr, st, priv, a, b):
        return PY_CALLS[addr](st, a, b)
else:
    from rmapsim.mm.structs import call_hook


@kernel(inline="always")
def _call(st, slot, a, b):
    h = st.hooks[slot]
    if h == 0:
        return 0
    return call_hook(h, st, st.hooks[H_PRIVATE], a, b)


@kernel
def policy_init(st):
    _call(st, H_INIT, 0, 0)


@kernel
def policy_check(st):
    """The policy's own invariants (0: none violated), in check mode."""
    return _call(st, H_CHECK, 0, 0)


@kernel
def page_added(st, frame):
    st.page_flags[frame] |= PG_lru
    if st.g[G_RECORD_KEYS] and (st.page_flags[frame] & PG_anon):
        # the identity pass (sim/future.py) names each anonymous page by its birth
        st.node_key[frame] = ANON_KEY | st.g[G_PAGE_SERIAL]
        st.g[G_PAGE_SERIAL] += 1
    _call(st, H_PAGE_ADDED, frame, 0)


@kernel
def page_accessed(st, frame):
    """A reference to a page in memory, for the policies that see every one (KIND
    "reference"); the realistic ones learn of references only through accessed bits."""
    if st.page_flags[frame] & PG_lru:
        _call(st, H_PAGE_ACCESSED, frame, 0)


@kernel
def page_removed(st, frame):
    if not (st.page_flags[frame] & PG_lru):
        return
    _call(st, H_PAGE_REMOVED, frame, 0)
    st.page_flags[frame] &= ~PG_lru


@kernel
def page_migrated(st, old, new):
    """The page of frame ``old`` now lives in frame ``new`` (migration, compaction)."""
    if st.page_flags[new] & PG_lru:
        _call(st, H_PAGE_MIGRATED, old, new)


@kernel
def reclaim(st, nr_to_reclaim, order, is_kswapd):
    """One reclaim pass of the policy, asked through the scan control: (freed pages)."""
    sc = st.sc
    sc[SC_NR_TO_RECLAIM] = nr_to_reclaim
    sc[SC_ORDER] = order
    sc[SC_KSWAPD] = is_kswapd
    sc[SC_MAY_SWAP] = 1
    sc[SC_MAY_WRITEPAGE] = 1
    sc[SC_NR_SCANNED] = 0
    sc[SC_NR_RECLAIMED] = 0
    freed = _call(st, H_RECLAIM, 0, 0)
    sc[SC_NR_RECLAIMED] = freed
    return freed


@kernel
def put_page(st, frame):
    """Drop one reference; the last one frees the page (put_page -> __free_page)."""
    c = st.page_count[frame] - 1
    st.page_count[frame] = c
    if c == 0:
        page_removed(st, frame)
        release_page(st, frame)
