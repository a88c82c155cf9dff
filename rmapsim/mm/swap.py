"""The swap cache and swap I/O (mm/swap_state.c, mm/page_io.c); the device and its slot counts
are ``swapfile.py``'s.

The swap cache maps a slot to the frame holding its contents (``swap_cache[slot]``); such a page
has PG_swapcache and its slot in ``page_private`` (Linux keeps the entry in page->private).
Content tokens for the lost-write oracle travel with the I/O in check mode.
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import C_SWAP_INS, C_SWAP_OUTS, G_CHECK, PG_swapcache
from rmapsim.mm.swapfile import swap_free

# The swap cache: the frame holding each slot's contents
FIELDS = (
    ("swap_cache", "int64", "swap", -1, "swap"),
)


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
