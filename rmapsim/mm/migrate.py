"""Page migration: move a page to another frame (the seed's ``try_to_flip_page_to``; Linux's
``migrate_pages``, Christoph Lameter, 2.6.16, migration ptes by 2.6.18; mm/migrate.c).

The steps of ``Documentation/vm/page_migration`` (2.6.20), minus locking, which one simulated
CPU does not need: the page must be movable (on the LRU, not locked, reserved, a page table,
the ZERO_PAGE or a kernel block, and without references beyond its mappings and caches:
``migrate_page_move_mapping``'s expected count); every pte becomes a migration entry
(``try_to_migrate``, through the running rmap design); the page-cache slot or swap-cache slot
is switched to the new frame; contents and flags are copied; the migration entries become
ptes of the new frame (``remove_migration_ptes``, which moves the design's metadata first);
the policy is told (``page_migrated``: its node moves, the page keeps its place and age). The
old frame is the caller's to free.
"""
from rmapsim.jit import kernel

from rmapsim.mm.filemap import pc_key
from rmapsim.mm.hashtab import ht_put
from rmapsim.mm.layout import (C_MIGRATE_FAILURES, C_PAGES_MIGRATED, G_N_PC, PG_buddy,
                               PG_kernel, PG_locked, PG_lru, PG_pagetable, PG_reserved,
                               PG_swapcache, PG_zero)
from rmapsim.mm.rmap import remove_migration_ptes, try_to_migrate
from rmapsim.mm.vmscan.dispatch import page_migrated
from rmapsim.mm.vmscan.shrink import reset_page

_UNMOVABLE = PG_locked | PG_reserved | PG_pagetable | PG_zero | PG_buddy | PG_kernel


@kernel(inline="always")
def page_movable(st, frame):
    """Whether migration may move the page now (isolate_lru_page and the expected count)."""
    f = st.page_flags[frame]
    if not (f & PG_lru) or (f & _UNMOVABLE):
        return False
    expected = st.page_mapcount[frame] + (1 if f & PG_swapcache else 0) \
        + (1 if st.page_mapping[frame] >= 0 else 0)
    return st.page_count[frame] == expected     # more: pinned by someone (get_user_pages)


@kernel
def migrate_page(st, old, new):
    """Move the page in frame ``old`` to ``new``, a frame the caller took from the allocator;
    True if moved (``old`` is then an empty struct page, still the caller's), False if the
    page cannot move (``new`` is untouched)."""
    if not page_movable(st, old):
        st.cnt[C_MIGRATE_FAILURES] += 1
        return False
    try_to_migrate(st, old, new)
    # migrate_page_copy: struct page and contents (the token is the oracle's content)
    st.page_flags[new] = st.page_flags[old]
    st.page_count[new] = st.page_count[old]
    st.page_mapcount[new] = st.page_mapcount[old]
    st.page_mapping[new] = st.page_mapping[old]
    st.page_index[new] = st.page_index[old]
    st.page_private[new] = st.page_private[old]
    st.page_token[new] = st.page_token[old]
    st.page_age[new] = st.page_age[old]
    # migrate_page_move_mapping: the cache slot now points at the new page
    if st.page_mapping[old] >= 0:
        ht_put(st.pc_keys, st.pc_vals, st.g[G_N_PC],
               pc_key(st.page_mapping[old], st.page_index[old]), new)
    if st.page_flags[old] & PG_swapcache:
        st.swap_cache[st.page_private[old]] = new
    remove_migration_ptes(st, old, new)
    page_migrated(st, old, new)
    reset_page(st, old)
    st.cnt[C_PAGES_MIGRATED] += 1
    return True
