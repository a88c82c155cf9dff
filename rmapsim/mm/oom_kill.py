"""The OOM killer (mm/oom_kill.c): when reclaim frees nothing and an allocation still cannot be
met, the process whose death gives back the most memory is killed; the run reports the kill
(``oom_kills``) and goes on.

Nothing here allocates, so the allocator (``alloc.py``) may call it.
"""
from rmapsim.jit import kernel

from rmapsim.mm.layout import C_OOM_KILLS, G_N_MM
from rmapsim.mm.mmap import exit_mmap


@kernel
def oom_badness(st, mm):
    """Linux's oom_badness (mm/oom_kill.c, 2.6.36 on): resident pages + swap entries + page-table
    pages -- what killing the process gives back."""
    return st.mm_rss[mm] + st.mm_swapents[mm] + st.mm_pgtables[mm]


@kernel
def oom_kill(st):
    """Kill the process with the largest badness; False if there is none to kill."""
    best = -1
    best_points = 0
    for mm in range(st.g[G_N_MM]):
        if st.mm_pgd[mm] >= 0:
            points = oom_badness(st, mm)
            if points > best_points:
                best = mm
                best_points = points
    if best < 0:
        return False
    st.cnt[C_OOM_KILLS] += 1
    exit_mmap(st, best)
    return True
