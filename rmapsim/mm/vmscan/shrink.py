"""What every reclaim policy does to a page it has chosen (the body of 2.6's shrink_page_list,
with the seed's one-go unmap): give an anonymous page a swap slot, unmap it from every mapping
through rmap, write it out if dirty, drop it from the swap or page cache. The policy decides
*which* page; this decides nothing.

``shrink_page`` returns a named outcome (``layout.PAGE_*``, as 2.6's ``pageout_t``): PAGE_FREED
when no reference is left, after which the policy takes the page off its own lists and calls
``reclaimed``; PAGE_KEEP (locked or reserved), PAGE_NO_SWAP (dirty anonymous memory and no free
swap slot) or PAGE_IN_USE (a reference remains) otherwise.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, PAGE_IN_USE, PAGE_KEEP, PAGE_NO_SWAP

from rmapsim.mm.filemap import pc_key, remove_from_page_cache, writepage
from rmapsim.mm.hashtab import ht_put
from rmapsim.mm.page_alloc import free_pages
from rmapsim.mm.rmap import page_test_dirty, try_to_unmap
from rmapsim.mm.layout import (C_PAGES_FREED, C_SWAP_OUTS, G_CHECK, G_LAST_FREED, G_N_SHMSWAP,
                               G_SHMSWAP_COUNT, PG_anon, PG_dirty, PG_locked, PG_reserved,
                               PG_swapcache)
from rmapsim.mm.swap import add_to_swap_cache, delete_from_swap_cache, swap_writepage
from rmapsim.mm.swapfile import get_swap_page


@kernel
def shrink_page(st, frame):
    f = st.page_flags[frame]
    if f & (PG_locked | PG_reserved):
        return PAGE_KEEP
    if f & PG_anon:
        if not (f & PG_swapcache):
            # add_to_swap. A clean anonymous page outside the swap cache was never written
            # (it was filled with zeroes on first touch), so it needs no slot: its ptes are
            # cleared and the next touch fills zeroes again.
            if page_test_dirty(st, frame):
                slot = get_swap_page(st)
                if slot < 0:
                    return PAGE_NO_SWAP
                add_to_swap_cache(st, frame, slot)
        try_to_unmap(st, frame)
        if st.page_flags[frame] & PG_dirty:
            swap_writepage(st, frame, st.page_private[frame])
            st.page_flags[frame] &= ~PG_dirty
        if st.page_flags[frame] & PG_swapcache:
            delete_from_swap_cache(st, frame)
    else:
        obj = st.page_mapping[frame]
        if st.obj_shm[obj]:
            # shmem_writepage: a dirty shared-anonymous page moves to a swap slot remembered
            # per (object, index); a clean one was never written and holds zeroes.
            if page_test_dirty(st, frame):
                slot = get_swap_page(st)
                if slot < 0:
                    return PAGE_NO_SWAP
                try_to_unmap(st, frame)
                st.cnt[C_SWAP_OUTS] += 1
                if st.g[G_CHECK]:
                    st.swap_token[slot] = st.page_token[frame]
                st.g[G_SHMSWAP_COUNT] += ht_put(st.shmswap_keys, st.shmswap_vals, st.g[G_N_SHMSWAP],
                                                pc_key(obj, st.page_index[frame]), slot)
                st.page_flags[frame] &= ~PG_dirty
            else:
                try_to_unmap(st, frame)
        else:
            try_to_unmap(st, frame)
            if st.page_flags[frame] & PG_dirty:
                writepage(st, frame)
                st.page_flags[frame] &= ~PG_dirty
        remove_from_page_cache(st, frame)
    return PAGE_FREED if st.page_count[frame] == 0 else PAGE_IN_USE


@kernel(inline="always")
def release_page(st, frame):
    """The last reference is gone: reset struct page and give the frame back (__free_page)."""
    reset_page(st, frame)
    free_pages(st, frame, 0)
    st.g[G_LAST_FREED] = frame


@kernel(inline="always")
def reset_page(st, frame):
    """struct page as a free frame's (the frame itself is the caller's)."""
    st.page_flags[frame] = 0
    st.page_count[frame] = 0
    st.page_mapcount[frame] = 0
    st.page_mapping[frame] = -1
    st.page_index[frame] = 0
    st.page_private[frame] = 0
    st.page_token[frame] = 0
    st.page_age[frame] = 0


@kernel(inline="always")
def reclaimed(st, frame):
    """Account a page freed by reclaim and release it."""
    st.cnt[C_PAGES_FREED] += 1
    release_page(st, frame)
