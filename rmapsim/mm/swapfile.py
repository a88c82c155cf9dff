"""The swap device and its map (mm/swapfile.c).

``swap_map[slot]`` counts the references to a slot: one per pte holding its swap entry, one for
the swap cache while a page is there, one per shared-anonymous page-cache index parked in it.
A slot with count 0 is free. Slots are handed out next-fit from a cursor, as 2.2's
``scan_swap_map`` walks ``lowest_bit``..``highest_bit``. Content tokens for the lost-write
oracle are kept per slot in check mode.
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import C_SWAP_FULL, G_SWAP_CURSOR, G_SWAP_FREE, G_SWAP_SIZE

# The swap device: use count and the oracle's token per slot; and shared anonymous pages
# written to swap, (object, index) -> slot.
FIELDS = (
    ("swap_map", "int32", "swap", 0, "swap"),
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
