"""Page allocation under memory pressure: watermarks, kswapd, direct reclaim, and the OOM
killer (``oom_kill.py``) when reclaim fails.

Kernel mode follows Linux 2.2's ``__get_free_pages`` with the seed's kswapd:

- an allocation succeeds while it leaves at least ``min`` pages free (reclaim itself, which in
  Linux runs PF_MEMALLOC, may dip below);
- when free pages fall below ``low``, kswapd is woken and frees until ``high`` (2.2's kswapd
  loop ``while nr_free_pages < freepages.high``);
- an allocation that would go below ``min`` reclaims synchronously, SWAP_CLUSTER_MAX (32) pages
  per try (``try_to_free_pages``), counted as a direct-reclaim stall;
- when reclaim frees nothing and the allocation still cannot be met, the OOM killer kills the
  process with the largest badness (resident + swapped-out + page-table pages, as
  ``oom_badness`` since 2.6.36) and the allocation retries. The run reports the kill and goes on.

Model limit: kswapd runs to completion at the moment it is woken, in the allocating context's
simulated time but charged to its own CPU time; a real kswapd runs concurrently, so direct
reclaim here happens only when kswapd cannot keep up at all (it freed too little).

Cache mode has no watermarks and no kswapd: a fault into full memory reclaims exactly one page.
"""
from rmapsim.jit import kernel

from rmapsim.mm.oom_kill import oom_kill
from rmapsim.mm.page_alloc import rmqueue
from rmapsim.mm.layout import (C_DIRECT_PAGES_SCANNED, C_DIRECT_PTES_VISITED, C_DIRECT_RECLAIMS,
                               C_DIRECT_SWAP_OUTS, C_DIRECT_WRITEBACKS, C_KSWAPD_PAGES_FREED,
                               C_KSWAPD_PAGES_SCANNED, C_KSWAPD_PTES_VISITED, C_KSWAPD_SWAP_OUTS,
                               C_KSWAPD_WAKEUPS, C_KSWAPD_WRITEBACKS, C_PAGES_FREED,
                               C_PAGES_SCANNED, C_PTES_VISITED, C_SWAP_OUTS, C_WRITEBACKS,
                               G_CACHE_MODE, G_HIGH, CTX_IN_RECLAIM, G_LOW, G_MIN, G_NR_FREE)
from rmapsim.mm.vmscan.dispatch import reclaim

SWAP_CLUSTER_MAX = 32


@kernel(inline="always")
def _reclaim_as(st, nr, order, is_kswapd, scanned, ptes, freed_c, swapouts, writebacks):
    """Run the policy's reclaim and credit its work to one context's counters."""
    c = st.cnt
    s0, p0, f0, w0, b0 = (c[C_PAGES_SCANNED], c[C_PTES_VISITED], c[C_PAGES_FREED],
                          c[C_SWAP_OUTS], c[C_WRITEBACKS])
    st.ctx[CTX_IN_RECLAIM] = 1
    freed = reclaim(st, nr, order, is_kswapd)
    st.ctx[CTX_IN_RECLAIM] = 0
    c[scanned] += c[C_PAGES_SCANNED] - s0
    c[ptes] += c[C_PTES_VISITED] - p0
    if freed_c >= 0:
        c[freed_c] += c[C_PAGES_FREED] - f0
    c[swapouts] += c[C_SWAP_OUTS] - w0
    c[writebacks] += c[C_WRITEBACKS] - b0
    return freed


@kernel
def kswapd(st):
    """Woken below ``low``: free pages until ``high`` or until a pass frees nothing."""
    g = st.g
    st.cnt[C_KSWAPD_WAKEUPS] += 1
    while g[G_NR_FREE] < g[G_HIGH]:
        freed = _reclaim_as(st, g[G_HIGH] - g[G_NR_FREE], 0, 1, C_KSWAPD_PAGES_SCANNED,
                            C_KSWAPD_PTES_VISITED, C_KSWAPD_PAGES_FREED, C_KSWAPD_SWAP_OUTS,
                            C_KSWAPD_WRITEBACKS)
        if freed == 0:
            break


@kernel
def alloc_pages(st, order, mm):
    """A block of 2**order frames for process ``mm`` (-1 for the kernel itself), or -1 when
    there is none even after reclaim and OOM kills, or when ``mm`` itself was killed: the
    caller must then abandon what it was doing."""
    g = st.g
    need = 1 << order
    cache_mode = g[G_CACHE_MODE]
    while True:
        if mm >= 0 and st.mm_pgd[mm] < 0:
            return -1
        if cache_mode or g[G_NR_FREE] - need >= g[G_MIN] or st.ctx[CTX_IN_RECLAIM]:
            f = rmqueue(st, order)
            if f >= 0:
                if not cache_mode and g[G_NR_FREE] < g[G_LOW] and not st.ctx[CTX_IN_RECLAIM]:
                    kswapd(st)
                return f
        if cache_mode:
            freed = _reclaim_as(st, need, order, 0, C_DIRECT_PAGES_SCANNED, C_DIRECT_PTES_VISITED, -1,
                                C_DIRECT_SWAP_OUTS, C_DIRECT_WRITEBACKS)
        else:
            st.cnt[C_DIRECT_RECLAIMS] += 1
            freed = _reclaim_as(st, SWAP_CLUSTER_MAX, order, 0, C_DIRECT_PAGES_SCANNED,
                                C_DIRECT_PTES_VISITED, -1, C_DIRECT_SWAP_OUTS,
                                C_DIRECT_WRITEBACKS)
        if freed == 0:
            if not oom_kill(st):
                return -1
