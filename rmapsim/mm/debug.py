"""Invariant checks of check mode (in the spirit of CONFIG_DEBUG_VM and the seed's circular
debug chains). ``check_invariants`` returns 0 or the number of the first violation found
(``violation.py``), and runs the rmap design's own check. Cost is O(frames + page-table entries
+ swap slots) per check.
"""
import numpy as np
from rmapsim.jit import kernel

from rmapsim.mm.layout import (G_CACHE_MODE, G_NR_FRAMES, G_NR_FREE, G_NR_MAPPED,
                               G_N_MM, G_N_ORDERS, G_N_PC, G_N_SHMSWAP, G_N_SWAP, G_N_TBL,
                               G_PTRS, G_SWAP_FREE, G_ZERO_FRAME, HASH_EMPTY, OBJ_SHIFT,
                               _PAGE_PRESENT, PG_buddy, PG_lru, PG_swapcache, _PTE_SWAP)

from rmapsim.mm.rmap import rmap_check
from rmapsim.mm.violation import VIOLATIONS, bad as _bad  # noqa: F401 (VIOLATIONS for callers)


@kernel
def check_invariants(st):
    g = st.g
    n = g[G_NR_FRAMES]
    ptrs = g[G_PTRS]
    zero = g[G_ZERO_FRAME]
    # 1. buddy free lists
    free = np.zeros(n, np.int8)
    total = 0
    for order in range(st.g[G_N_ORDERS]):
        f = st.free_head[order]
        blocks = 0
        while f >= 0:
            blocks += 1
            if f >= n or not (st.page_flags[f] & PG_buddy) or st.page_private[f] != order \
                    or (not g[G_CACHE_MODE] and (f & ((1 << order) - 1)) != 0):
                return _bad(st, 1, f, f, order)
            for k in range(1 << order):
                free[f + k] = 1
                if st.page_count[f + k] != 0 or st.page_mapcount[f + k] != 0:
                    return _bad(st, 2, f + k, st.page_count[f + k], st.page_mapcount[f + k])
            total += 1 << order
            f = st.free_next[f]
        if blocks != st.free_count[order]:
            return _bad(st, 23, -1, st.free_count[order], blocks)
    if total != g[G_NR_FREE]:
        return _bad(st, 3, -1, g[G_NR_FREE], total)
    # 2. page tables: what the ptes say
    nmap = np.zeros(n, np.int64)
    nswap = np.zeros(st.g[G_N_SWAP], np.int64)
    rss = np.zeros(st.g[G_N_MM], np.int64)
    swapents = np.zeros(st.g[G_N_MM], np.int64)
    for slot in range(st.g[G_N_TBL]):
        mm = st.tbl_mm[slot]
        if mm < 0:
            continue
        used = 0
        for i in range(slot * ptrs, (slot + 1) * ptrs):
            e = st.pt[i]
            if e == 0:
                continue
            used += 1
            if st.tbl_level[slot] != 0:
                continue
            if e & _PAGE_PRESENT:
                f = e >> 12
                if f != zero:
                    if free[f]:
                        return _bad(st, 14, f, i, 0)
                    nmap[f] += 1
                    rss[mm] += 1
            elif e & _PTE_SWAP:
                nswap[e >> 12] += 1
                swapents[mm] += 1
        if used != st.tbl_used[slot]:
            return _bad(st, 8, -1, slot, st.tbl_used[slot])
    for mm in range(st.g[G_N_MM]):
        if st.mm_pgd[mm] >= 0 and rss[mm] != st.mm_rss[mm]:
            return _bad(st, 9, -1, mm, st.mm_rss[mm])
        if st.mm_pgd[mm] >= 0 and swapents[mm] != st.mm_swapents[mm]:
            return _bad(st, 16, -1, mm, st.mm_swapents[mm])
    mapped = 0
    for f in range(n):
        if nmap[f] > 0:
            mapped += 1
    if mapped != g[G_NR_MAPPED]:
        return _bad(st, 17, -1, g[G_NR_MAPPED], mapped)
    # 3. the rmap design's own structures, then struct page against the ptes
    code = rmap_check(st)
    if code:
        return code
    for f in range(n):
        if free[f] or not (st.page_flags[f] & PG_lru):
            continue
        if nmap[f] != st.page_mapcount[f]:
            return _bad(st, 7, f, nmap[f], st.page_mapcount[f])
        refs = st.page_mapcount[f] + (1 if st.page_flags[f] & PG_swapcache else 0) \
            + (1 if st.page_mapping[f] >= 0 else 0)
        if refs != st.page_count[f]:
            return _bad(st, 4, f, st.page_count[f], refs)
    # 4. swap: counts, free slots, the swap cache
    for i in range(st.g[G_N_SHMSWAP]):
        if st.shmswap_keys[i] != HASH_EMPTY:
            nswap[st.shmswap_vals[i]] += 1
    nfree = 0
    for s in range(st.g[G_N_SWAP]):
        f = st.swap_cache[s]
        if f >= 0:
            nswap[s] += 1
            if not (st.page_flags[f] & PG_swapcache) or st.page_private[f] != s:
                return _bad(st, 12, f, st.page_flags[f], st.page_private[f])
        if nswap[s] != st.swap_map[s]:
            return _bad(st, 10, -1, st.swap_map[s], nswap[s])
        if st.swap_map[s] == 0:
            nfree += 1
    if nfree != g[G_SWAP_FREE]:
        return _bad(st, 11, -1, g[G_SWAP_FREE], nfree)
    # 5. page cache
    for i in range(st.g[G_N_PC]):
        k = st.pc_keys[i]
        if k == HASH_EMPTY:
            continue
        f = st.pc_vals[i]
        if st.page_mapping[f] != (k >> OBJ_SHIFT) \
                or st.page_index[f] != (k & ((np.int64(1) << OBJ_SHIFT) - 1)):
            return _bad(st, 13, f, k, (st.page_mapping[f] << OBJ_SHIFT) | st.page_index[f])
    return 0
