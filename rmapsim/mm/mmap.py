"""Address spaces: vmas, mmap, munmap and teardown (mm/mmap.c, mm/memory.c zap_page_range).

Each mm keeps its vmas in a singly linked list in address order (``mm_vmas``, ``vma_next``) with
a one-entry ``mmap_cache``, as Linux before the rbtree kept ``mm->mmap`` and ``mmap_cache``.
Addresses are bytes, page aligned; a vma covers [vma_start, vma_end).

Nothing here allocates memory, so OOM handling (``alloc.py``) may call ``exit_mmap``.
"""
from rmapsim.jit import kernel

from rmapsim.mm.filemap import obj_slot, remove_from_page_cache, shm_obj_new
from rmapsim.mm.hashtab import ht_del, ht_get, ht_put
from rmapsim.mm.page_alloc import free_pages
from rmapsim.mm.pagewalk import WALK_DONE, WALK_TABLE_END, walk_next, walk_start
from rmapsim.mm.pgtable import table_order, table_release
from rmapsim.mm.rmap import (page_remove_rmap, rmap_vma_adjust, rmap_vma_link, rmap_vma_split,
                             rmap_vma_unlink)
from rmapsim.mm.layout import (C_MMAPS, C_MUNMAPS, CTX_LAST_PID, G_LEVELS, G_MM_FREE_TOP,
                               G_NR_MM, G_N_PC, G_N_PID, G_N_SHMSWAP, G_N_TRUTH, G_PTRS,
                               G_SHMSWAP_COUNT, G_TRUTH_COUNT, G_VMA_FREE_TOP, G_ZERO_FRAME,
                               HASH_EMPTY, OBJ_SHIFT, _PAGE_DIRTY, _PAGE_PRESENT, PG_anon, PG_dirty,
                               PG_swapcache, _PTE_SWAP, VM_FILE, VM_SHARED, VM_WRITE)
from rmapsim.mm.layout import CTX_RMAP_OP, RMAP_OP_FAULT, RMAP_OP_TEARDOWN
from rmapsim.mm.swap import delete_from_swap_cache
from rmapsim.mm.swapfile import swap_free
from rmapsim.mm.vmscan.dispatch import page_removed, put_page
from rmapsim.mm.vmscan.shrink import release_page
from rmapsim.trace.events import MAP_FILE, MAP_SHARED, PROT_WRITE

# vm_area_struct, singly linked per mm in address order, and a free-slot stack of them.
FIELDS = (
    ("vma_start", "int64", "vmas", 0, "vma"),
    ("vma_end", "int64", "vmas", 0, "vma"),
    ("vma_flags", "int64", "vmas", 0, "vma"),
    ("vma_obj", "int64", "vmas", -1, "vma"),
    ("vma_pgoff", "int64", "vmas", 0, "vma"),
    ("vma_next", "int64", "vmas", -1, "vma"),
    ("vma_mm", "int64", "vmas", -1, "vma"),
    ("vma_free", "int64", "vmas", "stack", "vma"),
)


@kernel(inline="always")
def find_vma(st, mm, addr):
    """The vma containing addr, or -1."""
    c = st.mm_mmap_cache[mm]
    if c >= 0 and st.vma_start[c] <= addr < st.vma_end[c]:
        return c
    v = st.mm_vmas[mm]
    while v >= 0:
        if addr < st.vma_end[v]:
            if addr >= st.vma_start[v]:
                st.mm_mmap_cache[mm] = v
                return v
            return -1
        v = st.vma_next[v]
    return -1


@kernel
def vma_link(st, mm, start, end, flags, obj, pgoff):
    """Insert a new vma in address order (the range must be free). Returns its index."""
    top = st.g[G_VMA_FREE_TOP] - 1
    v = st.vma_free[top]
    st.g[G_VMA_FREE_TOP] = top
    st.vma_start[v] = start
    st.vma_end[v] = end
    st.vma_flags[v] = flags
    st.vma_mm[v] = mm
    st.vma_obj[v] = obj
    st.vma_pgoff[v] = pgoff
    if obj >= 0:
        st.obj_maps[obj] += 1
    prev = -1
    cur = st.mm_vmas[mm]
    while cur >= 0 and st.vma_start[cur] < start:
        prev = cur
        cur = st.vma_next[cur]
    st.vma_next[v] = cur
    if prev < 0:
        st.mm_vmas[mm] = v
    else:
        st.vma_next[prev] = v
    rmap_vma_link(st, v)
    return v


@kernel
def _vma_free(st, v):
    rmap_vma_unlink(st, v)
    obj = st.vma_obj[v]
    if obj >= 0:
        st.obj_maps[obj] -= 1
        if st.obj_maps[obj] == 0 and st.obj_shm[obj]:
            shm_release(st, obj)
    st.vma_obj[v] = -1
    st.vma_mm[v] = -1
    st.vma_next[v] = -1
    top = st.g[G_VMA_FREE_TOP]
    st.vma_free[top] = v
    st.g[G_VMA_FREE_TOP] = top + 1


@kernel
def shm_release(st, obj):
    """The last mapping of a shared anonymous object is gone: its pages and swap slots go too.
    Scans the page-cache and shmswap tables; objects die rarely."""
    for i in range(st.g[G_N_PC]):
        k = st.pc_keys[i]
        if k != HASH_EMPTY and (k >> OBJ_SHIFT) == obj:
            f = st.pc_vals[i]
            if st.page_mapcount[f] == 0:
                remove_from_page_cache(st, f)
                if st.page_count[f] == 0:
                    page_removed(st, f)
                    release_page(st, f)
    for i in range(st.g[G_N_SHMSWAP]):
        k = st.shmswap_keys[i]
        if k != HASH_EMPTY and (k >> OBJ_SHIFT) == obj:
            swap_free(st, st.shmswap_vals[i])
    st.g[G_SHMSWAP_COUNT] -= drop_object(st.shmswap_keys, st.shmswap_vals, st.g[G_N_SHMSWAP], obj)
    st.g[G_TRUTH_COUNT] -= drop_object(st.truth_keys, st.truth_vals, st.g[G_N_TRUTH], obj)


@kernel
def drop_object(keys, vals, size, obj):
    """Delete every key of one object from a page-cache-keyed table; how many went."""
    n = 0
    again = True
    while again:           # a deletion shifts later entries back: rescan until none is left
        again = False
        for i in range(size):
            k = keys[i]
            if k != HASH_EMPTY and (k >> OBJ_SHIFT) == obj:
                n += ht_del(keys, vals, size, k)
                again = True
    return n


@kernel
def free_swap_and_cache(st, slot):
    """Drop a pte's swap reference; if only the swap cache still holds the slot and nobody
    maps the cached page, free the page now rather than leave it for reclaim."""
    swap_free(st, slot)
    if st.swap_map[slot] == 1:
        f = st.swap_cache[slot]
        if f >= 0 and st.page_mapcount[f] == 0:
            delete_from_swap_cache(st, f)
            if st.page_count[f] == 0:
                page_removed(st, f)
                release_page(st, f)


@kernel
def zap_pte(st, mm, v, p):
    """Clear one pte (of vma ``v``), dropping what it held."""
    e = st.pt[p]
    if e & _PAGE_PRESENT:
        f = e >> 12
        if f != st.g[G_ZERO_FRAME]:
            if e & _PAGE_DIRTY:
                st.page_flags[f] |= PG_dirty
            page_remove_rmap(st, f, p, v)
            st.mm_rss[mm] -= 1
            anon_swapcache = (st.page_flags[f] & PG_anon) and (st.page_flags[f] & PG_swapcache)
            put_page(st, f)
            if anon_swapcache and st.page_count[f] == 1 and st.page_mapcount[f] == 0 \
                    and st.swap_map[st.page_private[f]] == 1:
                delete_from_swap_cache(st, f)
                page_removed(st, f)
                release_page(st, f)
    elif e & _PTE_SWAP:
        st.mm_swapents[mm] -= 1
        free_swap_and_cache(st, e >> 12)
    st.pt[p] = 0
    st.pt_tok[p] = 0


@kernel
def free_empty_tables(st, slot):
    """Free a pte table left empty and every parent that becomes empty (not the pgd)."""
    ptrs = st.g[G_PTRS]
    top = st.g[G_LEVELS] - 1
    while st.tbl_level[slot] < top and st.tbl_used[slot] == 0:
        parent = st.tbl_parent[slot] // ptrs
        frame = st.tbl_frame[slot]
        order = table_order(st, slot)
        table_release(st, slot)
        if frame >= 0:
            for k in range(1 << order):
                st.page_flags[frame + k] = 0
                st.page_count[frame + k] = 0
            free_pages(st, frame, order)
        slot = parent


@kernel
def zap_page_range(st, mm, v, start, end):
    """Clear the ptes of [start, end) within vma ``v``, freeing tables left empty."""
    w = walk_start(start)
    while True:
        p, _a, slot, w = walk_next(st, mm, w, end)
        if p == WALK_DONE:
            break
        if p == WALK_TABLE_END:
            if st.tbl_used[slot] == 0:
                free_empty_tables(st, slot)
            continue
        zap_pte(st, mm, v, p)
        st.tbl_used[slot] -= 1


@kernel
def do_munmap(st, mm, start, end):
    """Unmap [start, end): zap the ptes, then trim, split or remove the vmas it overlaps
    (needs one free vma slot for a split)."""
    st.ctx[CTX_RMAP_OP] = RMAP_OP_TEARDOWN
    st.mm_mmap_cache[mm] = -1
    prev = -1
    v = st.mm_vmas[mm]
    while v >= 0:
        nxt = st.vma_next[v]
        vs = st.vma_start[v]
        ve = st.vma_end[v]
        if ve <= start:
            prev = v
            v = nxt
            continue
        if vs >= end:
            break
        lo = max(vs, start)
        hi = min(ve, end)
        zap_page_range(st, mm, v, lo, hi)
        if lo == vs and hi == ve:
            if prev < 0:
                st.mm_vmas[mm] = nxt
            else:
                st.vma_next[prev] = nxt
            _vma_free(st, v)
            v = nxt
            continue
        if lo == vs:
            st.vma_pgoff[v] += (hi - vs) >> 12
            st.vma_start[v] = hi
            rmap_vma_adjust(st, v)
        elif hi == ve:
            st.vma_end[v] = lo
            rmap_vma_adjust(st, v)
        else:
            # split: v keeps the head, a new vma the tail (the design hears of both at once)
            st.vma_end[v] = lo
            nv = vma_link(st, mm, hi, ve, st.vma_flags[v], st.vma_obj[v],
                          st.vma_pgoff[v] + ((hi - vs) >> 12))
            rmap_vma_split(st, v, nv)
        prev = v
        v = st.vma_next[v]
    st.ctx[CTX_RMAP_OP] = RMAP_OP_FAULT


@kernel
def exit_mmap(st, mm):
    """Tear down an address space: every vma unmapped, every table freed, the mm slot and its
    pid released (exit_mmap + mmput)."""
    st.ctx[CTX_RMAP_OP] = RMAP_OP_TEARDOWN
    v = st.mm_vmas[mm]
    while v >= 0:
        nxt = st.vma_next[v]
        zap_page_range(st, mm, v, st.vma_start[v], st.vma_end[v])
        _vma_free(st, v)
        v = nxt
    st.mm_vmas[mm] = -1
    st.mm_mmap_cache[mm] = -1
    pgd = st.mm_pgd[mm]
    if pgd >= 0:
        frame = st.tbl_frame[pgd]
        table_release(st, pgd)
        if frame >= 0:
            st.page_flags[frame] = 0
            st.page_count[frame] = 0
            free_pages(st, frame, 0)
    st.mm_pgd[mm] = -1
    st.mm_rss[mm] = 0
    st.mm_swapents[mm] = 0
    pid = st.mm_pid[mm]
    st.mm_pid[mm] = -1
    if ht_get(st.pid_keys, st.pid_vals, st.g[G_N_PID], pid) == mm:
        # a dead pid stays in the table as -2 so its later events are ignored, not revived
        ht_put(st.pid_keys, st.pid_vals, st.g[G_N_PID], pid, -2)
    st.ctx[CTX_LAST_PID] = -1
    top = st.g[G_MM_FREE_TOP]
    st.mm_free[top] = mm
    st.g[G_MM_FREE_TOP] = top + 1
    st.g[G_NR_MM] -= 1
    st.ctx[CTX_RMAP_OP] = RMAP_OP_FAULT


@kernel
def do_mmap(st, mm, addr, length, mflags, fid, pgoff, extra_vm_flags):
    """Map [addr, addr+length) with MAP_FIXED semantics: what was there is unmapped first."""
    st.cnt[C_MMAPS] += 1
    end = addr + length
    do_munmap(st, mm, addr, end)
    vf = extra_vm_flags
    if mflags & PROT_WRITE:
        vf |= VM_WRITE
    if mflags & MAP_SHARED:
        vf |= VM_SHARED
    obj = -1
    if mflags & MAP_FILE:
        vf |= VM_FILE
        obj = obj_slot(st, fid)
    elif mflags & MAP_SHARED:
        obj = shm_obj_new(st)
    vma_link(st, mm, addr, end, vf, obj, pgoff)
    st.mm_mmap_cache[mm] = -1


@kernel
def sys_munmap(st, mm, addr, length):
    st.cnt[C_MUNMAPS] += 1
    do_munmap(st, mm, addr, addr + length)
