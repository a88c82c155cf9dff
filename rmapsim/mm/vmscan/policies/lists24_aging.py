"""Linux 2.4.0's page aging and list moves (``mm/swap.c``) for ``lists24``: the three queues,
the page-age constants, ``age_page_up``, ``activate_page``, ``deactivate_page`` and
``lru_cache_add``, as the 2.4.0 source has them (see ``lists24`` for the model as a whole).
``progress`` counts the steps towards a freeable page by which ``lists24.reclaim`` decides
that it can still get somewhere (in ``ps.progress``, one of the ``FIELDS`` of ``lists24``).
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import PG_anon, PG_referenced, PG_swapcache
from rmapsim.mm.vmscan.nodes import list_move_tail

ACTIVE = 0
INACTIVE_DIRTY = 1
INACTIVE_CLEAN = 2

PAGE_AGE_START = 2
PAGE_AGE_ADV = 3
PAGE_AGE_MAX = 64

# ---- mm/swap.c --------------------------------------------------------------------------------

@kernel(inline="always")
def progress(ps):
    ps.progress[0] += 1


@kernel(inline="always")
def left_swap_cache(st, f):
    """An anonymous page no longer in the swap cache: on no list in 2.4.0."""
    return (st.page_flags[f] & (PG_anon | PG_swapcache)) == PG_anon


@kernel(inline="always")
def activate_page(st, f):
    k = st.node_list[f]
    if k == INACTIVE_DIRTY or k == INACTIVE_CLEAN:
        list_move_tail(st, ACTIVE, f)
    if st.page_age[f] < PAGE_AGE_START:
        st.page_age[f] = PAGE_AGE_START


@kernel(inline="always")
def age_page_up(st, f):
    if st.page_age[f] == 0:
        activate_page(st, f)
    a = st.page_age[f] + PAGE_AGE_ADV
    st.page_age[f] = PAGE_AGE_MAX if a > PAGE_AGE_MAX else a


@kernel(inline="always")
def deactivate_page(st, ps, f, maxcount):
    """deactivate_page_nolock: ``maxcount`` counts the cache and the caller's reference."""
    st.page_age[f] = 0
    st.page_flags[f] &= ~PG_referenced
    if st.node_list[f] == ACTIVE and st.page_count[f] <= maxcount:
        list_move_tail(st, INACTIVE_DIRTY, f)
        progress(ps)


@kernel(inline="always")
def lru_cache_add(st, ps, f):
    list_move_tail(st, ACTIVE, f)
    if st.page_age[f] == 0:
        deactivate_page(st, ps, f, 2)


@kernel(inline="always")
def test_clear_referenced(st, f):
    fl = st.page_flags[f]
    st.page_flags[f] = fl & ~PG_referenced
    return (fl & PG_referenced) != 0
