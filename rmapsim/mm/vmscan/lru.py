"""A doubly linked list of frames through ``lru_prev``/``lru_next`` (include/linux/list.h as
used by the LRU lists). Head and tail live in ``g``; the head end is the oldest page."""
from rmapsim.jit import kernel

from rmapsim.mm.state import G_LRU_HEAD, G_LRU_TAIL, G_NR_LRU


@kernel(inline="always")
def lru_add_tail(st, frame):
    g = st.g
    tail = g[G_LRU_TAIL]
    st.lru_prev[frame] = tail
    st.lru_next[frame] = -1
    if tail >= 0:
        st.lru_next[tail] = frame
    else:
        g[G_LRU_HEAD] = frame
    g[G_LRU_TAIL] = frame
    g[G_NR_LRU] += 1


@kernel(inline="always")
def lru_del(st, frame):
    g = st.g
    pv = st.lru_prev[frame]
    nx = st.lru_next[frame]
    if pv >= 0:
        st.lru_next[pv] = nx
    else:
        g[G_LRU_HEAD] = nx
    if nx >= 0:
        st.lru_prev[nx] = pv
    else:
        g[G_LRU_TAIL] = pv
    st.lru_prev[frame] = -1
    st.lru_next[frame] = -1
    g[G_NR_LRU] -= 1
