"""Route the policy hooks by ``g[G_POLICY]``, and free user pages outside reclaim.

The hooks are compiled once here rather than inlined at every call site: with a dozen policies
an inlined chain would be copied into each fault path. A new policy adds one branch per hook.
"""
from rmapsim.jit import kernel

from rmapsim.mm.state import G_PAGE_SERIAL, G_POLICY, G_RECORD_KEYS, PG_anon, PG_lru
from rmapsim.mm.vmscan import (arc, clock, clockpro, fifo, lirs, lists24, lists26, lru, mglru, opt,
                               s3fifo, sieve, splitlru, virtual20, virtual22)
from rmapsim.mm.vmscan.common import release_page
from rmapsim.mm.vmscan.nodes import ANON_KEY


@kernel
def page_added(st, frame):
    st.page_flags[frame] |= PG_lru
    if st.g[G_RECORD_KEYS] and (st.page_flags[frame] & PG_anon):
        # the identity pass (sim/future.py) names each anonymous page by its birth
        st.node_key[frame] = ANON_KEY | st.g[G_PAGE_SERIAL]
        st.g[G_PAGE_SERIAL] += 1
    p = st.g[G_POLICY]
    if p == clock.ID:
        clock.page_added(st, frame)
    elif p == fifo.ID:
        fifo.page_added(st, frame)
    elif p == virtual20.ID:
        virtual20.page_added(st, frame)
    elif p == virtual22.ID:
        virtual22.page_added(st, frame)
    elif p == lru.ID:
        lru.page_added(st, frame)
    elif p == opt.ID:
        opt.page_added(st, frame)
    elif p == splitlru.ID:
        splitlru.page_added(st, frame)
    elif p == mglru.ID:
        mglru.page_added(st, frame)
    elif p == lirs.ID:
        lirs.page_added(st, frame)
    elif p == clockpro.ID:
        clockpro.page_added(st, frame)
    elif p == arc.ID:
        arc.page_added(st, frame)
    elif p == s3fifo.ID:
        s3fifo.page_added(st, frame)
    elif p == sieve.ID:
        sieve.page_added(st, frame)
    elif p == lists24.ID:
        lists24.page_added(st, frame)
    elif p == lists26.ID:
        lists26.page_added(st, frame)


@kernel
def page_accessed(st, frame):
    """A reference to a page in memory, for the policies that see every one (KIND
    "reference"); the realistic ones learn of references only through accessed bits."""
    if not (st.page_flags[frame] & PG_lru):
        return
    p = st.g[G_POLICY]
    if p == lru.ID:
        lru.page_accessed(st, frame)
    elif p == opt.ID:
        opt.page_accessed(st, frame)
    elif p == lirs.ID:
        lirs.page_accessed(st, frame)
    elif p == arc.ID:
        arc.page_accessed(st, frame)
    elif p == s3fifo.ID:
        s3fifo.page_accessed(st, frame)
    elif p == sieve.ID:
        sieve.page_accessed(st, frame)


@kernel
def page_removed(st, frame):
    if not (st.page_flags[frame] & PG_lru):
        return
    p = st.g[G_POLICY]
    if p == clock.ID:
        clock.page_removed(st, frame)
    elif p == fifo.ID:
        fifo.page_removed(st, frame)
    elif p == virtual20.ID:
        virtual20.page_removed(st, frame)
    elif p == virtual22.ID:
        virtual22.page_removed(st, frame)
    elif p == lru.ID:
        lru.page_removed(st, frame)
    elif p == opt.ID:
        opt.page_removed(st, frame)
    elif p == splitlru.ID:
        splitlru.page_removed(st, frame)
    elif p == mglru.ID:
        mglru.page_removed(st, frame)
    elif p == lirs.ID:
        lirs.page_removed(st, frame)
    elif p == clockpro.ID:
        clockpro.page_removed(st, frame)
    elif p == arc.ID:
        arc.page_removed(st, frame)
    elif p == s3fifo.ID:
        s3fifo.page_removed(st, frame)
    elif p == sieve.ID:
        sieve.page_removed(st, frame)
    elif p == lists24.ID:
        lists24.page_removed(st, frame)
    elif p == lists26.ID:
        lists26.page_removed(st, frame)
    st.page_flags[frame] &= ~PG_lru


@kernel
def reclaim(st, nr_to_free):
    p = st.g[G_POLICY]
    if p == clock.ID:
        return clock.reclaim(st, nr_to_free)
    if p == fifo.ID:
        return fifo.reclaim(st, nr_to_free)
    if p == virtual20.ID:
        return virtual20.reclaim(st, nr_to_free)
    if p == virtual22.ID:
        return virtual22.reclaim(st, nr_to_free)
    if p == lru.ID:
        return lru.reclaim(st, nr_to_free)
    if p == opt.ID:
        return opt.reclaim(st, nr_to_free)
    if p == splitlru.ID:
        return splitlru.reclaim(st, nr_to_free)
    if p == mglru.ID:
        return mglru.reclaim(st, nr_to_free)
    if p == lirs.ID:
        return lirs.reclaim(st, nr_to_free)
    if p == clockpro.ID:
        return clockpro.reclaim(st, nr_to_free)
    if p == arc.ID:
        return arc.reclaim(st, nr_to_free)
    if p == s3fifo.ID:
        return s3fifo.reclaim(st, nr_to_free)
    if p == sieve.ID:
        return sieve.reclaim(st, nr_to_free)
    if p == lists24.ID:
        return lists24.reclaim(st, nr_to_free)
    if p == lists26.ID:
        return lists26.reclaim(st, nr_to_free)
    return 0


@kernel
def put_page(st, frame):
    """Drop one reference; the last one frees the page (put_page -> __free_page)."""
    c = st.page_count[frame] - 1
    st.page_count[frame] = c
    if c == 0:
        page_removed(st, frame)
        release_page(st, frame)
