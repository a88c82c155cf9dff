"""Route the policy hooks by ``g[G_POLICY]``, and free user pages outside reclaim."""
from rmapsim.jit import kernel

from rmapsim.mm.state import G_POLICY, PG_lru
from rmapsim.mm.vmscan import clock, fifo, virtual20, virtual22
from rmapsim.mm.vmscan.common import release_page


@kernel(inline="always")
def page_added(st, frame):
    st.page_flags[frame] |= PG_lru
    p = st.g[G_POLICY]
    if p == fifo.ID:
        fifo.page_added(st, frame)
    elif p == virtual20.ID:
        virtual20.page_added(st, frame)
    elif p == virtual22.ID:
        virtual22.page_added(st, frame)
    else:
        clock.page_added(st, frame)


@kernel(inline="always")
def page_removed(st, frame):
    if not (st.page_flags[frame] & PG_lru):
        return
    p = st.g[G_POLICY]
    if p == fifo.ID:
        fifo.page_removed(st, frame)
    elif p == virtual20.ID:
        virtual20.page_removed(st, frame)
    elif p == virtual22.ID:
        virtual22.page_removed(st, frame)
    else:
        clock.page_removed(st, frame)
    st.page_flags[frame] &= ~PG_lru


@kernel(inline="always")
def reclaim(st, nr_to_free):
    p = st.g[G_POLICY]
    if p == fifo.ID:
        return fifo.reclaim(st, nr_to_free)
    if p == virtual20.ID:
        return virtual20.reclaim(st, nr_to_free)
    if p == virtual22.ID:
        return virtual22.reclaim(st, nr_to_free)
    return clock.reclaim(st, nr_to_free)


@kernel
def put_page(st, frame):
    """Drop one reference; the last one frees the page (put_page -> __free_page)."""
    c = st.page_count[frame] - 1
    st.page_count[frame] = c
    if c == 0:
        page_removed(st, frame)
        release_page(st, frame)
