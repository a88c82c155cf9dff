"""Process lifecycle: a new mm, fork, exec and exit (kernel/fork.c, fs/exec.c, kernel/exit.c),
and the bare trace's one process.

``dup_mmap``/``copy_page_range`` copy the parent's vmas and every populated pte: a private
writable page becomes copy-on-write in both (the pte write-protected), a shared one stays
writable; each copied pte is linked into its page's chain and each swap entry gains a swap_map
count. This is the fork cost that made pte-chain rmap controversial
(docs/reference/linux-mm-history.md section 2.2).

Functions that allocate can trigger reclaim and the OOM killer; they return False when the
process they work for was killed meanwhile.
"""
from rmapsim.jit import kernel

from rmapsim.mm.hashtab import ht_get, ht_put
from rmapsim.mm.memory import alloc_table_frame, pte_alloc
from rmapsim.mm.mmap import do_mmap, exit_mmap, vma_link
from rmapsim.mm.pagewalk import WALK_DONE, WALK_TABLE_END, walk_next, walk_start
from rmapsim.mm.pgtable import table_take
from rmapsim.mm.rmap import page_add_rmap, rmap_vma_fork
from rmapsim.mm.layout import (C_EXECS, C_EXITS, C_FORKS, C_MMAPS, G_ADDR_LIMIT,
                               CTX_LAST_MM, CTX_LAST_PID, G_LEVELS, G_MM_FREE_TOP, G_NR_MM, G_N_PID,
                               G_PID_COUNT, G_PTRS, G_ZERO_FRAME, _PAGE_ACCESSED, _PAGE_DIRTY,
                               _PAGE_PRESENT, _PAGE_RW, _PTE_SWAP, VM_NOZEROPAGE,
                               VM_SHARED)
from rmapsim.mm.layout import CTX_RMAP_OP, RMAP_OP_FAULT, RMAP_OP_FORK
from rmapsim.mm.swapfile import swap_duplicate
from rmapsim.trace.events import PROT_WRITE

# mm_struct per process, a free-slot stack of them, and the pid -> mm hash table.
FIELDS = (
    ("mm_pgd", "int64", "mms", -1, "mm"),
    ("mm_rss", "int64", "mms", 0, "mm"),
    ("mm_pid", "int64", "mms", -1, "mm"),
    ("mm_vmas", "int64", "mms", -1, "mm"),
    ("mm_mmap_cache", "int64", "mms", -1, "mm"),
    ("mm_swap_address", "int64", "mms", 0, "mm"),
    ("mm_swap_cnt", "int64", "mms", 0, "mm"),
    ("mm_swapents", "int64", "mms", 0, "mm"),
    ("mm_pgtables", "int64", "mms", 0, "mm"),
    ("mm_free", "int64", "mms", "stack", "mm"),
    ("pid_keys", "int64", "64", "hash", "pid"),
    ("pid_vals", "int64", "64", 0, "pid"),
)


@kernel
def find_mm(st, pid):
    """mm of a live pid; -1 if never seen; -2 if it has exited or was killed."""
    return ht_get(st.pid_keys, st.pid_vals, st.g[G_N_PID], pid)


@kernel
def mm_new(st, pid):
    """A process with an empty address space (mm_alloc + pgd_alloc); -1 if no memory."""
    top = st.g[G_MM_FREE_TOP] - 1
    mm = st.mm_free[top]
    st.g[G_MM_FREE_TOP] = top
    st.g[G_NR_MM] += 1
    st.mm_pid[mm] = pid
    st.mm_vmas[mm] = -1
    st.mm_mmap_cache[mm] = -1
    st.mm_rss[mm] = 0
    st.mm_swap_address[mm] = 0
    st.mm_swap_cnt[mm] = 0
    st.mm_swapents[mm] = 0
    st.mm_pgtables[mm] = 0
    st.mm_pgd[mm] = -1
    st.g[G_PID_COUNT] += ht_put(st.pid_keys, st.pid_vals, st.g[G_N_PID], pid, mm)
    # the pgd is taken before the mm is live, so the OOM killer cannot pick this one
    f = alloc_table_frame(st, -1, 0)
    if f == -2:
        exit_mmap(st, mm)
        return -1
    slot = table_take(st, mm, st.g[G_LEVELS] - 1, 0, -1, f)
    if f >= 0:
        st.page_index[f] = slot
    st.mm_pgd[mm] = slot
    return mm


@kernel
def copy_page_range(st, src, dst, dv, start, end, shared):
    """Copy the ptes of [start, end) from mm ``src`` to mm ``dst``'s vma ``dv`` (dup_mmap's
    copy_page_range): private writable pages become COW in both."""
    ptrs = st.g[G_PTRS]
    zero = st.g[G_ZERO_FRAME]
    w = walk_start(start)
    while True:
        sp, a, _slot, w = walk_next(st, src, w, end)
        if sp == WALK_DONE:
            break
        if sp == WALK_TABLE_END:
            continue
        dp = pte_alloc(st, dst, a)
        if dp < 0 or st.mm_pgd[src] < 0:
            return False
        e = st.pt[sp]          # re-read: reclaim may have run inside pte_alloc
        if e == 0:
            continue
        if e & _PAGE_PRESENT:
            f = e >> 12
            if not shared and (e & _PAGE_RW):
                e &= ~_PAGE_RW
                st.pt[sp] = e
            child = e & ~_PAGE_ACCESSED
            if shared:
                child &= ~_PAGE_DIRTY      # 2.4 copy_one_pte: clean in the child
            st.pt[dp] = child
            if f != zero:
                page_add_rmap(st, f, dp, dv, a)
                st.page_count[f] += 1
                st.mm_rss[dst] += 1
        elif e & _PTE_SWAP:
            swap_duplicate(st, e >> 12)
            st.mm_swapents[dst] += 1
            st.pt[dp] = e
        st.pt_tok[dp] = st.pt_tok[sp]
        st.tbl_used[dp // ptrs] += 1
    return True


@kernel
def do_fork(st, parent, child_pid):
    """Returns the child's mm, or -1 if memory ran out (the child is not created) or the parent
    was killed meanwhile."""
    child = mm_new(st, child_pid)
    if child < 0:
        return -1
    st.cnt[C_FORKS] += 1
    st.ctx[CTX_RMAP_OP] = RMAP_OP_FORK
    child = dup_mmap(st, parent, child)
    st.ctx[CTX_RMAP_OP] = RMAP_OP_FAULT
    return child


@kernel
def dup_mmap(st, parent, child):
    """Copy the parent's vmas and ptes (dup_mmap): -1 if memory ran out."""
    v = st.mm_vmas[parent]
    while v >= 0:
        nv = vma_link(st, child, st.vma_start[v], st.vma_end[v], st.vma_flags[v],
                      st.vma_obj[v], st.vma_pgoff[v])
        rmap_vma_fork(st, v, nv)          # anon_vma_fork, before any pte is copied
        ok = copy_page_range(st, parent, child, nv, st.vma_start[nv], st.vma_end[nv],
                             (st.vma_flags[v] & VM_SHARED) != 0)
        if not ok or st.mm_pgd[child] < 0:
            if st.mm_pgd[child] >= 0:
                exit_mmap(st, child)
                st.ctx[CTX_RMAP_OP] = RMAP_OP_FORK
            return -1
        v = st.vma_next[v]
    return child


@kernel
def do_exit(st, mm):
    st.cnt[C_EXITS] += 1
    exit_mmap(st, mm)


@kernel
def do_exec(st, mm):
    """The old address space goes; the pid gets a new empty one. -1 if none could be had."""
    pid = st.mm_pid[mm]
    st.cnt[C_EXECS] += 1
    exit_mmap(st, mm)
    st.ctx[CTX_LAST_PID] = -1
    return mm_new(st, pid)


@kernel
def setup_bare(st):
    """A bare page trace is one process (pid 0) whose single anonymous private writable
    mapping covers the whole address space. Its pages hold data the program had before the
    trace began, so a first read fills a frame of its own instead of mapping ZERO_PAGE."""
    mm = mm_new(st, 0)
    do_mmap(st, mm, 0, st.g[G_ADDR_LIMIT], PROT_WRITE, 0, 0, VM_NOZEROPAGE)
    st.cnt[C_MMAPS] -= 1
    st.ctx[CTX_LAST_MM] = mm
    return mm
