"""Swap device, swap map and swap cache (mm/swapfile.c, mm/swap_state.c, mm/page_io.c).

``swap_map[slot]`` counts the references to a slot: one per pte holding its swap entry, one for
the swap cache while a page is there, one per shared-anonymous page-cache index parked in it.
A slot with count 0 is free. Slots are handed out next-fit from a cursor, as 2.2's
``scan_swap_map`` walks ``lowest_bit``..``highest_bit``.

The swap cache maps a slot to the frame holding its contents (``swap_cache[slot]``); such a page
has PG_swapcache and its slot in ``page_private`` (Linux keeps the entry in page->private).
Content tokens for the lost-write oracle travel with the I/O in check mode.
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import (C_SWAP_FULL, C_SWAP_INS, C_SWAP_OUTS, G_CHECK, G_SWAP_CURSOR,
                               G_SWAP_FREE, G_SWAP_SIZE, PG_swapcache)

# The swap device: use count, swap-cache frame and the oracle's token per slot; and shared
# anonymous pages written to swap, (object, index) -> slot.
FIELDS = (
    ("swap_map", "int32", "swap", 0, "swap"),
    ("swap_cache", "int64", "swap", -1, "swap"),
    ("swap_token", "int64", "swap", 0, "swap"),
    ("shmswap_keys", "int64", "64", "hash", "shmswap"),
    ("shmswap_vals", "int64", "64", 0, "shmswap"),
)


@kernel
def get_swap_page(st):
    """A free slot with count 1 (the caller's reference), or -1 when swap is full."""
    g = st.g
    if g[G_SWAP_FREE] <= 0:
        st.cnt[C_SWAP_FULL] += 1
        return -1
    n = g[G_SWAP_SIZE]
    s = g[G_SWAP_CURSOR]
    for _ in range(n):
        if s >= n:
            s = 0
        if st.swap_map[s] == 0:
            st.swap_map[s] = 1
            g[G_SWAP_FREE] -= 1
            g[G_SWAP_CURSOR] = s + 1
            return s
        s += 1
    return -1


@kernel(inline="always")
def swap_duplicate(st, slot):
    st.swap_map[slot] += 1


@kernel(inline="always")
def swap_free(st, slot):
    c = st.swap_map[slot] - 1
    st.swap_map[slot] = c
    if c == 0:
        st.g[G_SWAP_FREE] += 1
        st.swap_token[slot] = 0


@kernel(inline="always")
def add_to_swap_cache(st, frame, slot):
    """The page takes over the caller's slot reference and gains a page reference."""
    st.page_flags[frame] |= PG_swapcache
    st.page_private[frame] = slot
    st.swap_cache[slot] = frame
    st.page_count[frame] += 1


@kernel(inline="always")
def delete_from_swap_cache(st, frame):
    slot = st.page_private[frame]
    st.swap_cache[slot] = -1
    st.page_flags[frame] &= ~PG_swapcache
    st.page_private[frame] = 0
    st.page_count[frame] -= 1
    swap_free(st, slot)


@kernel(inline="always")
def swap_writepage(st, frame, slot):
    st.cnt[C_SWAP_OUTS] += 1
    if st.g[G_CHECK]:
        st.swap_token[slot] = st.page_token[frame]


@kernel(inline="always")
def swap_readpage(st, frame, slot):
    st.cnt[C_SWAP_INS] += 1
    if st.g[G_CHECK]:
        st.page_token[frame] = st.swap_token[slot]
