"""The simulated kernel's state: struct of arrays, the way mem_map is an array of struct page.

All compiled code takes one ``State`` (a NamedTuple of numpy arrays). Scalars that compiled code
changes live in the int64 array ``g`` at the ``G_*`` indices; event counters live in ``cnt`` at
the ``C_*`` indices. Tables that can fill up (page-table pool, mm and vma tables, hash tables,
an unbounded swap device) are grown from Python between events: ``replay`` returns a ``NEED_*``
code and ``grow()`` below replaces the array, keeping every type the same so nothing recompiles.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import config as numba_config, typeof, types
from numba.experimental import structref
from numba.extending import intrinsic

from rmapsim.jit import kernel

from rmapsim.sim.config import GEOMETRIES, Machine

# ---- struct page flags (bits of page_flags). Names from include/linux/page-flags.h --------------
PG_locked = np.uint32(1 << 0)
PG_referenced = np.uint32(1 << 1)
PG_dirty = np.uint32(1 << 2)
PG_swapcache = np.uint32(1 << 3)
PG_reserved = np.uint32(1 << 4)
PG_anon = np.uint32(1 << 5)       # anonymous (private) page; else page cache of mapping
PG_pagetable = np.uint32(1 << 6)  # a page-table page (or the seed's parallel next-pte page)
PG_buddy = np.uint32(1 << 7)      # head of a free buddy block; page_private holds its order
PG_lru = np.uint32(1 << 8)        # on the reclaim policy's view
PG_active = np.uint32(1 << 9)     # for list-based policies
PG_zero = np.uint32(1 << 10)      # the shared ZERO_PAGE
PG_swapbacked = np.uint32(1 << 11)  # shared anonymous (shmem) page: goes to swap, not a file

# ---- pte encoding (x86 bit positions) -------------------------------------------------------
_PAGE_PRESENT = np.int64(0x001)
_PAGE_RW = np.int64(0x002)
_PAGE_ACCESSED = np.int64(0x020)
_PAGE_DIRTY = np.int64(0x040)
_PTE_SWAP = np.int64(0x080)       # non-present pte holding a swap entry: slot << 12
PTE_FRAME_SHIFT = 12
PTE_FLAGS_MASK = np.int64(0xFFF)

# ---- vma flags ------------------------------------------------------------------------------
VM_WRITE = 1
VM_SHARED = 2
VM_FILE = 4           # file-backed (else anonymous)
VM_NOZEROPAGE = 8     # bare page traces: first touch fills a private frame (see sim/replay.py)

# ---- content tokens (the lost-write oracle) -----------------------------------------------------
TOKEN_ZERO = 1        # a zero-filled page; written pages get tokens from G_TOKEN upward
TOKEN_FILE_BIT = np.int64(1 << 62)  # initial content of a file block is mix(key) | this bit

# ---- objects (files and shared anonymous memory) live in one page-cache key space ------------
# A file id from the trace maps to a dense object slot (fid hash); a shared anonymous mapping
# gets a fresh slot of its own. Page-cache key = slot << 36 | pgoff (pgoff < 2**36 pages, the
# x86-64 user address space).
OBJ_SHIFT = 36

# ---- globals (indices into g) ----------------------------------------------------------------
(G_NR_FREE, G_MIN, G_LOW, G_HIGH, G_CACHE_MODE, G_LEVELS, G_BITS, G_PTRS, G_ZERO_FRAME,
 G_NR_FRAMES, G_MAX_ORDER, G_TOKEN, G_CHECK, G_POLICY, G_RMAP, G_HAND, G_SEES_REFS, G_REF_KEY,
 G_REF_NEXT, G_SWAP_SIZE, G_SWAP_FREE, G_SWAP_CURSOR, G_SWAP_UNBOUNDED, G_TBL_FREE_TOP,
 G_MM_FREE_TOP, G_VMA_FREE_TOP, G_NR_OBJ, G_PC_COUNT, G_TRUTH_COUNT, G_DISK_COUNT,
 G_SHMSWAP_COUNT, G_PID_COUNT, G_LAST_PID, G_LAST_MM, G_ERR_KIND, G_ERR_FRAME,
 G_ERR_EVENT, G_IN_RECLAIM, G_INIT_REF, G_ZERO_PAGE, G_LAST_FREED,
 G_NR_TABLES, G_ADDR_LIMIT, G_NR_MM, G_FID_COUNT, G_ERR_A, G_ERR_B) = range(47)
# sizes of the growable tables (compiled code sees raw pointers, which have no len)
(G_N_ORDERS, G_N_SWAP, G_N_MM, G_N_TBL, G_N_PT, G_N_VMA, G_N_OBJ, G_N_PC, G_N_TRUTH, G_N_DISK,
 G_N_SHMSWAP, G_N_PID, G_N_FID) = range(47, 60)
# the policies' node pool (vmscan/nodes.py): free ghost nodes, keys bound, and the two sizes
G_GHOST_FREE_TOP, G_KEY_COUNT, G_N_KEYS, G_N_NODES = range(60, 64)
G_RECORD_KEYS = 64    # the replay writes each reference's page identity (sim/future.py)
G_PAGE_SERIAL = 65    # in that mode, the number of anonymous pages made so far
G_NR_MAPPED = 66      # pages mapped by at least one pte (NR_FILE_MAPPED + NR_ANON_PAGES)
N_GLOBALS = 72
# G_SEES_REFS: the policy is told of every reference (a reference policy; vmscan/__init__.py).
# G_REF_KEY: the page identity of the reference being made (vmscan/nodes.page_key).
# G_REF_NEXT: the index of the next reference to the same page, for opt (-1: none; sim/future.py).
_SIZE_OF = {G_N_ORDERS: "free_head", G_N_SWAP: "swap_map", G_N_MM: "mm_pgd", G_N_TBL: "tbl_mm",
            G_N_PT: "pt", G_N_VMA: "vma_free", G_N_OBJ: "obj_dev", G_N_PC: "pc_keys",
            G_N_TRUTH: "truth_keys", G_N_DISK: "disk_keys", G_N_SHMSWAP: "shmswap_keys",
            G_N_PID: "pid_keys", G_N_FID: "fid_keys", G_N_KEYS: "key_keys", G_N_NODES: "node_prev"}
NR_LISTS = 16         # policy lists (vmscan/nodes.py); a policy numbers its own from 0
NR_POLICY_GLOBALS = 64

# ---- counters (indices into cnt); names are the keys of Result.to_dict() --------------------
COUNTERS = (
    "references", "reads", "writes", "misses", "faults", "minor_faults", "major_faults",
    "cow_faults", "zero_page_maps", "swap_ins", "swap_outs", "file_reads", "writebacks",
    "pages_scanned", "ptes_visited", "pages_freed", "kswapd_wakeups", "direct_reclaims",
    "oom_kills", "segfaults", "integrity_errors", "pages_copied", "pages_zeroed",
    "rmap_chain_steps", "kswapd_pages_scanned", "kswapd_ptes_visited", "kswapd_pages_freed",
    "kswapd_swap_outs", "kswapd_writebacks", "direct_pages_scanned", "direct_ptes_visited",
    "direct_swap_outs", "direct_writebacks", "forks", "execs", "exits", "mmaps", "munmaps",
    "pagetable_pages", "pagetable_pages_peak", "swap_full", "nfs_reads", "nfs_writes",
    "ignored_events", "wp_reuse_faults", "reclaim_failures",
)
for _i, _n in enumerate(COUNTERS):
    globals()["C_" + _n.upper()] = _i
N_COUNTERS = len(COUNTERS)

# ---- replay status codes -----------------------------------------------------------------------
DONE = 0
NEED_TABLES = 1
NEED_MM = 2
NEED_VMA = 3
NEED_SWAP = 4
NEED_HASH = 5
NEED_PID = 6
STOP_INTEGRITY = 7
STOP_BAD_EVENT = 8

# error kinds reported through G_ERR_KIND
ERR_NONE = 0
ERR_TOKEN = 1          # a reference found content other than what was last written
ERR_INVARIANT = 2
ERR_ADDR = 3           # an mmap or bare reference outside the page-table geometry
ERR_MMAP = 4           # malformed mmap (unaligned, zero length, bad file id)
ERR_PID = 5            # fork to a pid in use

State = namedtuple("State", [
    "g", "cnt", "params",
    # struct page
    "page_flags", "page_count", "page_mapcount", "page_mapping", "page_index", "page_private",
    "page_chain", "page_token", "page_age",
    # the reclaim policy's view (vmscan/nodes.py): nodes 0..frames-1 are the frames, the rest
    # are ghosts (pages no longer in memory that a policy remembers); doubly linked lists of
    # nodes, a key -> node table, an indexed heap of frames, and the policy's own globals
    "node_prev", "node_next", "node_list", "node_key", "node_val", "node_val2",
    "list_head", "list_tail", "list_len", "ghost_free", "key_keys", "key_vals", "heap",
    "heap_pos", "pol_g",
    # buddy free lists: head per order, doubly linked through the frames
    "free_head", "free_next", "free_prev",
    # page-table pool: one table = PTRS entries; pt_next is the seed's parallel next-pte page
    "pt", "pt_next", "pt_tok", "tbl_parent", "tbl_level", "tbl_used", "tbl_frame", "tbl_mm",
    "tbl_base", "tbl_free",
    # processes
    "mm_pgd", "mm_rss", "mm_pid", "mm_vmas", "mm_mmap_cache", "mm_swap_address", "mm_swap_cnt",
    "mm_swapents", "mm_pgtables",
    "mm_free", "pid_keys", "pid_vals",
    # vmas, singly linked per mm in address order
    "vma_start", "vma_end", "vma_flags", "vma_obj", "vma_pgoff", "vma_next", "vma_free",
    # files and shared anonymous objects: file id -> slot, and per slot its device, number of
    # vmas mapping it and whether it is swap-backed (shared anonymous memory)
    "fid_keys", "fid_vals", "obj_dev", "obj_maps", "obj_shm",
    # page cache (obj<<36|pgoff -> frame), and the oracle's truth for objects and disk blocks
    "pc_keys", "pc_vals", "truth_keys", "truth_vals", "disk_keys", "disk_vals",
    "shmswap_keys", "shmswap_vals",
    # swap device
    "swap_map", "swap_cache", "swap_token",
])


# Compiled code gets the state as a StructRef whose fields are raw pointers to the arrays'
# data. A StructRef is passed by pointer, so a call costs one argument however many arrays the
# state holds (a NamedTuple is passed by value, and with sixty arrays that made every call, and
# its compilation, slow); raw pointers, unlike array fields, are not reference counted at every
# read, which was most of the replay time. Python keeps the NamedTuple, which owns the arrays,
# for as long as the StructRef is used; ``as_struct`` makes a new view after every (re)build,
# and the table sizes the pointers do not carry are in ``g[G_N_*]``.
@structref.register
class StateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((n, types.unliteral(t)) for n, t in fields)


class StateStruct(structref.StructRefProxy):
    pass


structref.define_boxing(StateType, StateStruct)


@intrinsic
def _ptr(typingctx, arr):
    """The data pointer of an array, as a typed raw pointer."""
    sig = types.CPointer(arr.dtype)(arr)

    def codegen(context, builder, signature, args):
        return context.make_array(signature.args[0])(context, builder, args[0]).data
    return sig, codegen


@kernel
def _to_struct(nt, ty):
    st = structref.new(ty)
    st.g = _ptr(nt.g)
    st.cnt = _ptr(nt.cnt)
    st.params = _ptr(nt.params)
    st.page_flags = _ptr(nt.page_flags)
    st.page_count = _ptr(nt.page_count)
    st.page_mapcount = _ptr(nt.page_mapcount)
    st.page_mapping = _ptr(nt.page_mapping)
    st.page_index = _ptr(nt.page_index)
    st.page_private = _ptr(nt.page_private)
    st.page_chain = _ptr(nt.page_chain)
    st.page_token = _ptr(nt.page_token)
    st.page_age = _ptr(nt.page_age)
    st.node_prev = _ptr(nt.node_prev)
    st.node_next = _ptr(nt.node_next)
    st.node_list = _ptr(nt.node_list)
    st.node_key = _ptr(nt.node_key)
    st.node_val = _ptr(nt.node_val)
    st.node_val2 = _ptr(nt.node_val2)
    st.list_head = _ptr(nt.list_head)
    st.list_tail = _ptr(nt.list_tail)
    st.list_len = _ptr(nt.list_len)
    st.ghost_free = _ptr(nt.ghost_free)
    st.key_keys = _ptr(nt.key_keys)
    st.key_vals = _ptr(nt.key_vals)
    st.heap = _ptr(nt.heap)
    st.heap_pos = _ptr(nt.heap_pos)
    st.pol_g = _ptr(nt.pol_g)
    st.free_head = _ptr(nt.free_head)
    st.free_next = _ptr(nt.free_next)
    st.free_prev = _ptr(nt.free_prev)
    st.pt = _ptr(nt.pt)
    st.pt_next = _ptr(nt.pt_next)
    st.pt_tok = _ptr(nt.pt_tok)
    st.tbl_parent = _ptr(nt.tbl_parent)
    st.tbl_level = _ptr(nt.tbl_level)
    st.tbl_used = _ptr(nt.tbl_used)
    st.tbl_frame = _ptr(nt.tbl_frame)
    st.tbl_mm = _ptr(nt.tbl_mm)
    st.tbl_base = _ptr(nt.tbl_base)
    st.tbl_free = _ptr(nt.tbl_free)
    st.mm_pgd = _ptr(nt.mm_pgd)
    st.mm_rss = _ptr(nt.mm_rss)
    st.mm_pid = _ptr(nt.mm_pid)
    st.mm_vmas = _ptr(nt.mm_vmas)
    st.mm_mmap_cache = _ptr(nt.mm_mmap_cache)
    st.mm_swap_address = _ptr(nt.mm_swap_address)
    st.mm_swap_cnt = _ptr(nt.mm_swap_cnt)
    st.mm_swapents = _ptr(nt.mm_swapents)
    st.mm_pgtables = _ptr(nt.mm_pgtables)
    st.mm_free = _ptr(nt.mm_free)
    st.pid_keys = _ptr(nt.pid_keys)
    st.pid_vals = _ptr(nt.pid_vals)
    st.vma_start = _ptr(nt.vma_start)
    st.vma_end = _ptr(nt.vma_end)
    st.vma_flags = _ptr(nt.vma_flags)
    st.vma_obj = _ptr(nt.vma_obj)
    st.vma_pgoff = _ptr(nt.vma_pgoff)
    st.vma_next = _ptr(nt.vma_next)
    st.vma_free = _ptr(nt.vma_free)
    st.fid_keys = _ptr(nt.fid_keys)
    st.fid_vals = _ptr(nt.fid_vals)
    st.obj_dev = _ptr(nt.obj_dev)
    st.obj_maps = _ptr(nt.obj_maps)
    st.obj_shm = _ptr(nt.obj_shm)
    st.pc_keys = _ptr(nt.pc_keys)
    st.pc_vals = _ptr(nt.pc_vals)
    st.truth_keys = _ptr(nt.truth_keys)
    st.truth_vals = _ptr(nt.truth_vals)
    st.disk_keys = _ptr(nt.disk_keys)
    st.disk_vals = _ptr(nt.disk_vals)
    st.shmswap_keys = _ptr(nt.shmswap_keys)
    st.shmswap_vals = _ptr(nt.shmswap_vals)
    st.swap_map = _ptr(nt.swap_map)
    st.swap_cache = _ptr(nt.swap_cache)
    st.swap_token = _ptr(nt.swap_token)
    return st


_STATE_TYPE = []


def as_struct(nt):
    """The StructRef view of a State (same arrays); under NUMBA_DISABLE_JIT the NamedTuple
    itself, which plain Python reads the same way."""
    for gi, name in _SIZE_OF.items():
        nt.g[gi] = len(getattr(nt, name))
    if numba_config.DISABLE_JIT:
        return nt
    if not _STATE_TYPE:
        _STATE_TYPE.append(StateType([(n, types.CPointer(typeof(getattr(nt, n)).dtype))
                                      for n in nt._fields]))
    return _to_struct(nt, _STATE_TYPE[0])


HASH_EMPTY = np.int64(-1)
# growable hash tables: (field prefix, global holding its entry count)
HASHES = (("truth", G_TRUTH_COUNT), ("disk", G_DISK_COUNT), ("shmswap", G_SHMSWAP_COUNT),
          ("pid", G_PID_COUNT), ("fid", G_FID_COUNT))


def hash_needs_room(count, size, burst):
    """Keep load below one half even after a burst of inserts within one event (reclaim can
    write back up to the high watermark's worth of pages in one go)."""
    return 2 * (count + burst) > size


def _hash_arrays(n):
    return np.full(n, HASH_EMPTY, np.int64), np.zeros(n, np.int64)


def _pow2_at_least(n):
    p = 16
    while p < n:
        p <<= 1
    return p


def ghosts_for(frames):
    """Ghost nodes: twice the frames, what ARC's B1+B2 (<= c), LIRS's non-resident HIR pages
    and S3-FIFO's ghost queue need at most; shadow entries beyond it recycle the oldest."""
    return 2 * frames + 16


def new_state(m: Machine, policy_id: int, params: np.ndarray, check: bool,
              rmap_id: int = 0) -> State:
    levels, bits, _ = GEOMETRIES[m.geometry]
    ptrs = 1 << bits
    n = m.frames
    n_tables = 64
    n_mm = 16
    n_vma = 64
    swap = m.swap_size if not (m.cache_mode and m.swap_pages is None) else 1024
    files = 1024
    nodes = n + ghosts_for(n)
    st = State(
        g=np.zeros(N_GLOBALS, np.int64),
        cnt=np.zeros(N_COUNTERS, np.int64),
        params=np.asarray(params, np.float64),
        page_flags=np.zeros(n, np.uint32),
        page_count=np.zeros(n, np.int32),
        page_mapcount=np.zeros(n, np.int32),
        page_mapping=np.full(n, -1, np.int64),
        page_index=np.zeros(n, np.int64),
        page_private=np.zeros(n, np.int64),
        page_chain=np.full(n, -1, np.int64),
        page_token=np.zeros(n, np.int64),
        page_age=np.zeros(n, np.int32),
        node_prev=np.full(nodes, -1, np.int64),
        node_next=np.full(nodes, -1, np.int64),
        node_list=np.full(nodes, -1, np.int32),
        node_key=np.full(nodes, -1, np.int64),
        node_val=np.zeros(nodes, np.int64),
        node_val2=np.zeros(nodes, np.int64),
        list_head=np.full(NR_LISTS, -1, np.int64),
        list_tail=np.full(NR_LISTS, -1, np.int64),
        list_len=np.zeros(NR_LISTS, np.int64),
        ghost_free=np.arange(nodes - 1, n - 1, -1, dtype=np.int64),
        key_keys=np.full(_pow2_at_least(2 * nodes), HASH_EMPTY, np.int64),
        key_vals=np.zeros(_pow2_at_least(2 * nodes), np.int64),
        heap=np.full(n, -1, np.int64),
        heap_pos=np.full(n, -1, np.int64),
        pol_g=np.zeros(NR_POLICY_GLOBALS, np.int64),
        free_head=np.full(m.max_order + 1, -1, np.int64),
        free_next=np.full(n, -1, np.int64),
        free_prev=np.full(n, -1, np.int64),
        pt=np.zeros(n_tables * ptrs, np.int64),
        pt_next=np.full(n_tables * ptrs, -1, np.int64),
        pt_tok=np.zeros(n_tables * ptrs, np.int64),
        tbl_parent=np.full(n_tables, -1, np.int64),
        tbl_level=np.zeros(n_tables, np.int32),
        tbl_used=np.zeros(n_tables, np.int32),
        tbl_frame=np.full(n_tables, -1, np.int64),
        tbl_mm=np.full(n_tables, -1, np.int64),
        tbl_base=np.zeros(n_tables, np.int64),
        tbl_free=np.arange(n_tables - 1, -1, -1, dtype=np.int64),
        mm_pgd=np.full(n_mm, -1, np.int64),
        mm_rss=np.zeros(n_mm, np.int64),
        mm_pid=np.full(n_mm, -1, np.int64),
        mm_vmas=np.full(n_mm, -1, np.int64),
        mm_mmap_cache=np.full(n_mm, -1, np.int64),
        mm_swap_address=np.zeros(n_mm, np.int64),
        mm_swap_cnt=np.zeros(n_mm, np.int64),
        mm_swapents=np.zeros(n_mm, np.int64),
        mm_pgtables=np.zeros(n_mm, np.int64),
        mm_free=np.arange(n_mm - 1, -1, -1, dtype=np.int64),
        pid_keys=np.full(64, HASH_EMPTY, np.int64),
        pid_vals=np.zeros(64, np.int64),
        vma_start=np.zeros(n_vma, np.int64),
        vma_end=np.zeros(n_vma, np.int64),
        vma_flags=np.zeros(n_vma, np.int64),
        vma_obj=np.full(n_vma, -1, np.int64),
        vma_pgoff=np.zeros(n_vma, np.int64),
        vma_next=np.full(n_vma, -1, np.int64),
        vma_free=np.arange(n_vma - 1, -1, -1, dtype=np.int64),
        fid_keys=np.full(64, HASH_EMPTY, np.int64),
        fid_vals=np.zeros(64, np.int64),
        obj_dev=np.zeros(files, np.int8),
        obj_maps=np.zeros(files, np.int64),
        obj_shm=np.zeros(files, np.int8),
        pc_keys=np.full(_pow2_at_least(4 * n), HASH_EMPTY, np.int64),
        pc_vals=np.zeros(_pow2_at_least(4 * n), np.int64),
        truth_keys=np.full(1024 if check else 16, HASH_EMPTY, np.int64),
        truth_vals=np.zeros(1024 if check else 16, np.int64),
        disk_keys=np.full(1024 if check else 16, HASH_EMPTY, np.int64),
        disk_vals=np.zeros(1024 if check else 16, np.int64),
        shmswap_keys=np.full(64, HASH_EMPTY, np.int64),
        shmswap_vals=np.zeros(64, np.int64),
        swap_map=np.zeros(max(swap, 1), np.int32),
        swap_cache=np.full(max(swap, 1), -1, np.int64),
        swap_token=np.zeros(max(swap, 1), np.int64),
    )
    g = st.g
    g[G_LEVELS], g[G_BITS], g[G_PTRS] = levels, bits, ptrs
    g[G_ADDR_LIMIT] = 1 << (levels * bits + 12)
    g[G_NR_FRAMES] = n
    g[G_MAX_ORDER] = m.max_order
    g[G_CACHE_MODE] = int(m.cache_mode)
    g[G_MIN], g[G_LOW], g[G_HIGH] = m.watermarks
    g[G_TOKEN] = 2
    g[G_CHECK] = int(check)
    g[G_POLICY] = policy_id
    g[G_RMAP] = rmap_id
    g[G_HAND] = 0
    g[G_REF_NEXT] = -1
    g[G_GHOST_FREE_TOP] = nodes - n
    g[G_SWAP_SIZE] = m.swap_size if not (m.cache_mode and m.swap_pages is None) else swap
    g[G_SWAP_FREE] = g[G_SWAP_SIZE]
    g[G_SWAP_UNBOUNDED] = int(m.cache_mode and m.swap_pages is None)
    g[G_TBL_FREE_TOP] = n_tables
    g[G_MM_FREE_TOP] = n_mm
    g[G_VMA_FREE_TOP] = n_vma
    g[G_NR_OBJ] = 0
    g[G_LAST_PID] = -1
    g[G_ZERO_FRAME] = -1
    g[G_ZERO_PAGE] = int(m.zero_page)
    g[G_LAST_FREED] = -1
    return st


# ---- growth (Python side) ----------------------------------------------------------------------

def _grow1(a, n, fill):
    out = np.full(n, fill, a.dtype)
    out[:len(a)] = a
    return out


def _grow_free_stack(free, top, old, new):
    """Free-slot stacks hold indices in [0, top); new slots old..new-1 go below the old ones."""
    out = np.empty(new, free.dtype)
    fresh = np.arange(new - 1, old - 1, -1, dtype=free.dtype)
    out[:len(fresh)] = fresh
    out[len(fresh):len(fresh) + top] = free[:top]
    return out, top + len(fresh)


def grow(st: State, code: int) -> State:
    g = st.g
    d = st._asdict()
    if code == NEED_TABLES:
        old = len(st.tbl_level)
        new = old * 2
        ptrs = int(g[G_PTRS])
        d["pt"] = _grow1(st.pt, new * ptrs, 0)
        d["pt_next"] = _grow1(st.pt_next, new * ptrs, -1)
        d["pt_tok"] = _grow1(st.pt_tok, new * ptrs, 0)
        for k, fill in (("tbl_parent", -1), ("tbl_level", 0), ("tbl_used", 0), ("tbl_frame", -1),
                        ("tbl_mm", -1), ("tbl_base", 0)):
            d[k] = _grow1(d[k], new, fill)
        d["tbl_free"], g[G_TBL_FREE_TOP] = _grow_free_stack(st.tbl_free, g[G_TBL_FREE_TOP], old, new)
    elif code == NEED_MM:
        old = len(st.mm_pgd)
        new = old * 2
        for k, fill in (("mm_pgd", -1), ("mm_rss", 0), ("mm_pid", -1), ("mm_vmas", -1),
                        ("mm_mmap_cache", -1), ("mm_swap_address", 0), ("mm_swap_cnt", 0),
                        ("mm_swapents", 0), ("mm_pgtables", 0)):
            d[k] = _grow1(d[k], new, fill)
        d["mm_free"], g[G_MM_FREE_TOP] = _grow_free_stack(st.mm_free, g[G_MM_FREE_TOP], old, new)
    elif code == NEED_VMA:
        old = len(st.vma_start)
        new = old * 2
        for k, fill in (("vma_start", 0), ("vma_end", 0), ("vma_flags", 0), ("vma_obj", -1),
                        ("vma_pgoff", 0), ("vma_next", -1)):
            d[k] = _grow1(d[k], new, fill)
        d["vma_free"], g[G_VMA_FREE_TOP] = _grow_free_stack(st.vma_free, g[G_VMA_FREE_TOP], old, new)
    elif code == NEED_SWAP:
        old = len(st.swap_map)
        new = old * 2
        d["swap_map"] = _grow1(st.swap_map, new, 0)
        d["swap_cache"] = _grow1(st.swap_cache, new, -1)
        d["swap_token"] = _grow1(st.swap_token, new, 0)
        g[G_SWAP_FREE] += new - old
        g[G_SWAP_SIZE] = new
    elif code in (NEED_HASH, NEED_PID):
        from rmapsim.mm.hashtab import rehash
        for name, cidx in HASHES:
            keys = d[name + "_keys"]
            if hash_needs_room(g[cidx], len(keys), g[G_HIGH] + 64):
                d[name + "_keys"], d[name + "_vals"] = rehash(keys, d[name + "_vals"], 4 * len(keys))
        nobj = len(st.obj_dev)
        if g[G_NR_OBJ] + 64 > nobj:
            for k in ("obj_dev", "obj_maps", "obj_shm"):
                d[k] = _grow1(d[k], 4 * nobj, 0)
    return State(**d)
