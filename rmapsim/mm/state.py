"""The simulated kernel's state: struct of arrays, the way mem_map is an array of struct page.

Each subsystem declares the arrays it owns as ``FIELDS`` rows ``(name, dtype, size, fill,
group)``: ``size`` is an expression over the boot sizes (``frames``, ``tables * ptrs``, ...),
``fill`` a number, ``"hash"`` (an empty hash table, ``hashtab.py``) or ``"stack"`` (a free-slot
stack of all the slots, ``("stack", base)`` for slots from ``base``), and ``group`` the growth
group the array grows with (None: fixed for the run). ``State`` (a NamedTuple of the arrays, for
Python) and its compiled view (``structs.struct_view``) are assembled from those rows, and
``grow`` grows a group generically, keeping every type the same so nothing recompiles.

Scalars that compiled code changes live in ``g`` and event counters in ``cnt``, at the named
slots of ``layout.py``. Tables that can fill up are grown from Python between events: the replay
asks ``room`` before each event and returns its ``NEED_*`` code, and the snapshot loader asks
the same rule for the room a whole snapshot needs.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import config as numba_config

from rmapsim.jit import kernel
from rmapsim.mm.layout import *  # noqa: F401,F403  (the constants, for the modules importing them here)
from rmapsim.mm.layout import (G_ADDR_LIMIT, G_BITS, G_CACHE_MODE, G_CHECK, G_LAST_FREED,
                               CTX_LAST_PID, G_LEVELS, G_LOW, G_MAX_ORDER, G_MIN, G_NR_FRAMES,
                               G_PTRS, CTX_REF_NEXT, G_TOKEN, G_ZERO_FRAME, G_ZERO_PAGE)
from rmapsim.mm.layout import (DONE, G_DISK_COUNT, G_FID_COUNT, G_GHOST_FREE_TOP, G_HIGH,
                               G_MM_FREE_TOP, G_NR_OBJ, G_N_DISK, G_N_FID, G_N_KEYS, G_N_MM,
                               G_N_NODES, G_N_OBJ, G_N_ORDERS, G_N_PC, G_N_PID, G_N_PT,
                               G_N_SHMSWAP, G_N_SWAP, G_N_TBL, G_N_TRUTH, G_N_VMA, G_PID_COUNT,
                               G_SHMSWAP_COUNT, G_SWAP_FREE, G_SWAP_SIZE, G_SWAP_UNBOUNDED,
                               G_TBL_FREE_TOP, G_TRUTH_COUNT, G_VMA_FREE_TOP, HASH_EMPTY,
                               N_COUNTERS, N_GLOBALS, N_SC, NEED_HASH, NEED_MM, NEED_PID, NEED_SWAP,
                               NEED_RMAP, NEED_TABLES, NEED_VMA, NR_LISTS)
from rmapsim.mm.layout import (G_N_RMAP, G_RMAP_BURST, G_RMAP_FREE, G_RMAP_PER_PTE, G_RMAP_PER_VMA,
                               N_CONTEXT, N_RMAP_COSTS, N_RMAP_HOOKS)
from rmapsim.mm.layout import (G_CONTIG_LEN, G_KMEM_COUNT, G_N_CONTIG, G_N_KMEM, NEED_CONTIG,
                               N_LOG_COLS)
from rmapsim.mm.rmap import DESIGNS as RMAP_DESIGNS
from rmapsim.mm.layout import (COUNTERS, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT,  # noqa: F401
                               _PAGE_RW, _PTE_SWAP)

# the state's own rows: globals, the execution context of each CPU (one today: a row of
# ``layout.CONTEXT``), counters, the policy's parameters and its hook table
FIELDS = (
    ("g", "int64", "globals", 0, None),
    ("ctx", "int64", "cpus * context", 0, None),
    ("cnt", "int64", "counters", 0, None),
    ("params", "float64", "params", 0, None),
    ("hooks", "int64", "hook_slots", 0, None),
    ("sc", "int64", "scan_control", 0, None),
)

# the subsystems that own arrays, in the order of State's fields; every rmap design's arrays
# are fields too (one State type, one compiled kernel), allocated only for the running design
OWNERS = ("rmapsim.mm.state", "rmapsim.mm.page", "rmapsim.mm.vmscan.nodes",
          "rmapsim.mm.page_alloc", "rmapsim.mm.pgtable", "rmapsim.mm.rmap") + RMAP_DESIGNS + (
          "rmapsim.mm.fork", "rmapsim.mm.mmap", "rmapsim.mm.filemap", "rmapsim.mm.oracle",
          "rmapsim.mm.swapfile", "rmapsim.mm.swap", "rmapsim.mm.highorder", "rmapsim.mm.contig")

# growth groups: the boot size each multiplies, by how much, and the global holding the top of
# its free-slot stack (if it has one); hash groups grow by rehashing, see ``grow``
GROUPS = {"tables": ("tables", 2, G_TBL_FREE_TOP), "mm": ("mms", 2, G_MM_FREE_TOP),
          "vma": ("vmas", 2, G_VMA_FREE_TOP), "swap": ("swap", 2, None), "obj": ("objs", 4, None),
          # the running rmap design's pool (its ``POOL`` units at boot): chain blocks, anon_vmas
          # ... taken from a free stack, or words taken from the pool's end (no stack field)
          "rmap": ("rmap_pool", 2, G_RMAP_FREE),
          # the log of the trace's high-order requests (mm/highorder.py), a row each
          "contig": ("requests", 2, None)}
# growable hash tables: (group = field prefix, global holding its entry count)
HASHES = (("truth", G_TRUTH_COUNT), ("disk", G_DISK_COUNT), ("shmswap", G_SHMSWAP_COUNT),
          ("pid", G_PID_COUNT), ("fid", G_FID_COUNT), ("kmem", G_KMEM_COUNT))
# table sizes compiled code reads from g (raw pointers have no len): global -> field
SIZE_OF = {G_N_ORDERS: "free_head", G_N_SWAP: "swap_map", G_N_MM: "mm_pgd", G_N_TBL: "tbl_mm",
           G_N_PT: "pt", G_N_VMA: "vma_free", G_N_OBJ: "obj_dev", G_N_PC: "pc_keys",
           G_N_TRUTH: "truth_keys", G_N_DISK: "disk_keys", G_N_SHMSWAP: "shmswap_keys",
           G_N_PID: "pid_keys", G_N_FID: "fid_keys", G_N_KEYS: "key_keys", G_N_NODES: "node_prev",
           G_N_KMEM: "kmem_keys"}


def _rows():
    import importlib
    rows = []
    for name in OWNERS:
        for row in importlib.import_module(name).FIELDS:
            rows.append(row)
            _ASSEMBLED.setdefault("owner", {})[row[0]] = name
    return tuple(rows)


_ASSEMBLED = {}


def fields():
    """Every declared row, in State order."""
    if "rows" not in _ASSEMBLED:
        rows = _rows()
        names = [r[0] for r in rows]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise RuntimeError(f"state fields declared twice: {sorted(dup)}")
        _ASSEMBLED["rows"] = rows
        _ASSEMBLED["State"] = namedtuple("State", names)
    return _ASSEMBLED["rows"]


def state_class():
    fields()
    return _ASSEMBLED["State"]


def state_type():
    """The numba type of the compiled view of State (one for every run)."""
    if "type" not in _ASSEMBLED:
        from rmapsim.mm.structs import struct_type
        _ASSEMBLED["type"] = struct_type(fields())
    return _ASSEMBLED["type"]


def __getattr__(name):
    if name == "State":         # ``from rmapsim.mm.state import State``
        return state_class()
    raise AttributeError(name)


def as_struct(nt):
    """The compiled view of a State (same arrays); under NUMBA_DISABLE_JIT the NamedTuple
    itself, which plain Python reads the same way."""
    for gi, name in SIZE_OF.items():
        nt.g[gi] = len(getattr(nt, name))
    # the running design's pool: its arrays of one entry per unit (those of others are empty)
    nt.g[G_N_RMAP] = max([len(getattr(nt, r[0])) for r in fields()
                          if r[4] == "rmap" and r[2] == "rmap_pool"], default=0)
    nt.g[G_N_CONTIG] = len(nt.contig_log) // (N_LOG_COLS + len(nt.free_head))
    if numba_config.DISABLE_JIT:
        return nt
    from rmapsim.mm.structs import struct_view
    return struct_view(nt, state_type())


def _pow2_at_least(n):
    p = 16
    while p < n:
        p <<= 1
    return p


def _hash_arrays(n):
    return np.full(n, HASH_EMPTY, np.int64), np.zeros(n, np.int64)


def ghosts_for(frames):
    """Ghost nodes: twice the frames, what ARC's B1+B2 (<= c), LIRS's non-resident HIR pages
    and S3-FIFO's ghost queue need at most; shadow entries beyond it recycle the oldest."""
    return 2 * frames + 16


def boot_sizes(*, frames, max_order, ptrs, swap, check, n_params, hook_slots, rmap_pool=0):
    """The names a FIELDS size expression may use, at boot."""
    nodes = frames + ghosts_for(frames)
    return dict(frames=frames, nodes=nodes, orders=max_order + 1, ptrs=ptrs, tables=64, mms=16,
                vmas=64, swap=max(swap, 1), objs=1024, pc=_pow2_at_least(4 * frames),
                keys=_pow2_at_least(2 * nodes), oracle=1024 if check else 16, lists=NR_LISTS,
                globals=N_GLOBALS, counters=N_COUNTERS, params=n_params,
                hook_slots=hook_slots, scan_control=N_SC,
                rmap_hooks=N_RMAP_HOOKS, cpus=1, context=N_CONTEXT, rmap_pool=rmap_pool, requests=64,
                rmap_costs=N_RMAP_COSTS)


def _stack(n, base):
    """A free-slot stack holding slots base..base+n-1, the lowest on top."""
    return np.arange(base + n - 1, base - 1, -1, dtype=np.int64)


def make_array(row, sizes, empty=False):
    name, dtype, size, fill, _group = row
    n = 0 if empty else int(eval(size, {}, sizes))
    if fill == "hash":
        return np.full(n, HASH_EMPTY, dtype)
    if fill == "stack" or isinstance(fill, tuple):
        base = 0 if fill == "stack" else int(eval(fill[1], {}, sizes))
        return _stack(n, base).astype(dtype)
    return np.full(n, fill, dtype)


def new_state(*, levels, bits, frames, max_order, cache_mode, watermarks, swap_size,
              swap_unbounded, zero_page, params, check, hook_slots,
              rmap=("rmapsim.mm.rmap.ptechain",), rmap_pool=None):
    """A booted machine's arrays, from plain values (the Machine is the runner's, sim/config);
    ``rmap`` names the modules of the running rmap design and of those it uses, whose arrays
    alone of the rmap designs' are allocated, ``rmap_pool`` the size expression of the running
    design's pool (its ``POOL``)."""
    ptrs = 1 << bits
    swap = 1024 if swap_unbounded else swap_size
    sizes = boot_sizes(frames=frames, max_order=max_order, ptrs=ptrs, swap=swap, check=check,
                       n_params=len(params), hook_slots=hook_slots)
    sizes["rmap_pool"] = int(eval(rmap_pool, {}, sizes)) if rmap_pool else 0
    rows = fields()
    owner = _ASSEMBLED["owner"]
    arrays = {row[0]: make_array(row, sizes, empty=owner[row[0]] in RMAP_DESIGNS
                                 and owner[row[0]] not in rmap) for row in rows}
    arrays["params"][:] = np.asarray(params, np.float64)
    st = state_class()(**arrays)
    g = st.g
    g[G_LEVELS], g[G_BITS], g[G_PTRS] = levels, bits, ptrs
    g[G_ADDR_LIMIT] = 1 << (levels * bits + 12)
    g[G_NR_FRAMES] = frames
    g[G_MAX_ORDER] = max_order
    g[G_CACHE_MODE] = int(cache_mode)
    g[G_MIN], g[G_LOW], g[G_HIGH] = watermarks
    g[G_TOKEN] = 2
    g[G_CHECK] = int(check)
    st.ctx[CTX_REF_NEXT] = -1
    g[G_GHOST_FREE_TOP] = sizes["nodes"] - frames
    g[G_SWAP_SIZE] = swap
    g[G_SWAP_FREE] = swap
    g[G_SWAP_UNBOUNDED] = int(swap_unbounded)
    g[G_TBL_FREE_TOP] = sizes["tables"]
    g[G_MM_FREE_TOP] = sizes["mms"]
    g[G_VMA_FREE_TOP] = sizes["vmas"]
    g[G_RMAP_FREE] = sizes["rmap_pool"]
    st.ctx[CTX_LAST_PID] = -1
    g[G_ZERO_FRAME] = -1
    g[G_ZERO_PAGE] = int(zero_page)
    g[G_LAST_FREED] = -1
    return st


# ---- room and growth ---------------------------------------------------------------------------

@kernel(inline="always")
def hash_needs_room(count, size, burst):
    """Keep load below one half even after a burst of inserts within one event (reclaim can
    write back up to the high watermark's worth of pages in one go)."""
    return 2 * (count + burst) > size


@kernel(inline="always")
def room(st, tables, vmas, mms, entries, ptes):
    """NEED_* if a table could overflow during the next event (which takes up to ``tables``
    page tables, ``vmas`` vmas, ``mms`` mms and ``entries`` hash entries of each kind beyond
    reclaim's burst, and maps up to ``ptes`` ptes), else DONE: the one rule of the replay, of
    ``grow`` and of the snapshot loader."""
    g = st.g
    if g[G_TBL_FREE_TOP] < tables:
        return NEED_TABLES
    if g[G_RMAP_FREE] < g[G_RMAP_PER_PTE] * ptes + g[G_RMAP_PER_VMA] * vmas + g[G_RMAP_BURST]:
        return NEED_RMAP
    if g[G_VMA_FREE_TOP] < vmas:
        return NEED_VMA
    if g[G_MM_FREE_TOP] < mms:
        return NEED_MM
    burst = g[G_HIGH] + 64 + entries
    if hash_needs_room(g[G_DISK_COUNT], g[G_N_DISK], burst) \
            or hash_needs_room(g[G_TRUTH_COUNT], g[G_N_TRUTH], burst) \
            or hash_needs_room(g[G_SHMSWAP_COUNT], g[G_N_SHMSWAP], burst) \
            or hash_needs_room(g[G_PID_COUNT], g[G_N_PID], burst) \
            or hash_needs_room(g[G_FID_COUNT], g[G_N_FID], burst) \
            or hash_needs_room(g[G_KMEM_COUNT], g[G_N_KMEM], 1) \
            or g[G_NR_OBJ] + 64 + entries > g[G_N_OBJ]:
        return NEED_HASH
    if g[G_SWAP_UNBOUNDED] and g[G_SWAP_FREE] < burst:
        return NEED_SWAP
    if g[G_CONTIG_LEN] >= g[G_N_CONTIG]:
        return NEED_CONTIG
    return DONE


def _grown(a, n, fill):
    out = np.full(n, HASH_EMPTY if fill == "hash" else fill, a.dtype)
    out[:len(a)] = a
    return out


def _grow_free_stack(free, top, old, new):
    """Free-slot stacks hold indices in [0, top); new slots old..new-1 go below the old ones."""
    out = np.empty(new, free.dtype)
    fresh = _stack(new - old, old).astype(free.dtype)
    out[:len(fresh)] = fresh
    out[len(fresh):len(fresh) + top] = free[:top]
    return out, top + len(fresh)


def _grow_group(st, group, d):
    """Multiply a group's boot size and re-make its arrays at the new size, contents kept."""
    var, factor, top = GROUPS[group]
    # (the arrays of rmap designs not running are empty, and stay so)
    rows = [r for r in fields() if r[4] == group and len(d[r[0]])]
    g = st.g
    stack = any(r[3] == "stack" for r in rows)
    # the group's current count, from its first array and its size expression at count 1
    sizes = dict(boot_sizes(frames=int(g[G_NR_FRAMES]), max_order=int(g[G_MAX_ORDER]),
                            ptrs=int(g[G_PTRS]), swap=1, check=False, n_params=0, hook_slots=0))
    sizes[var] = 1
    per = int(eval(rows[0][2], {}, sizes))
    old = len(d[rows[0][0]]) // per
    sizes[var] = new = old * factor
    for name, _dtype, size, fill, _g in rows:
        if fill == "stack":
            d[name], g[top] = _grow_free_stack(d[name], g[top], old, new)
        else:
            d[name] = _grown(d[name], int(eval(size, {}, sizes)), fill)
    if top is not None and not stack:
        g[top] += new - old
    if group == "swap":
        g[G_SWAP_FREE] += new - old
        g[G_SWAP_SIZE] = new


def grow(st, code: int, entries: int = 0):
    """The State with room made for what ``room`` asked (code), types unchanged."""
    g = st.g
    d = st._asdict()
    if code == NEED_TABLES:
        _grow_group(st, "tables", d)
    elif code == NEED_MM:
        _grow_group(st, "mm", d)
    elif code == NEED_VMA:
        _grow_group(st, "vma", d)
    elif code == NEED_SWAP:
        _grow_group(st, "swap", d)
    elif code == NEED_RMAP:
        _grow_group(st, "rmap", d)
    elif code == NEED_CONTIG:
        _grow_group(st, "contig", d)
    elif code in (NEED_HASH, NEED_PID):
        from rmapsim.mm.hashtab import rehash
        for name, cidx in HASHES:
            keys = d[name + "_keys"]
            while hash_needs_room(g[cidx], len(keys), g[G_HIGH] + 64 + entries):
                d[name + "_keys"], d[name + "_vals"] = rehash(keys, d[name + "_vals"], 4 * len(keys))
                keys = d[name + "_keys"]
        while g[G_NR_OBJ] + 64 + entries > len(d["obj_dev"]):
            _grow_group(st, "obj", d)
    return type(st)(**d)


def make_room(st, tables=0, vmas=0, mms=0, entries=0, ptes=0):
    """Grow ``st`` until ``room`` is satisfied: (State, its compiled view)."""
    s = as_struct(st)
    while (code := room(s, tables, vmas, mms, entries, ptes)) != DONE:
        st = grow(st, code, entries)
        s = as_struct(st)
    return st, s
