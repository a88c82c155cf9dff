"""The kernel's constants: struct page flags, pte bits, vma flags, and the named slots of the
global array ``g`` and the counter array ``cnt``, with the replay's status and error codes.

Constants only, so that every subsystem can import them without importing state assembly
(``state.py``). A global or a counter is added by adding its name to ``GLOBALS`` or ``COUNTERS``
and one line below it; ``tests/test_architecture.py`` checks that each constant is its name's
position.
"""
import numpy as np

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
PG_kernel = np.uint32(1 << 12)    # a frame of a kernel allocation of the trace's (ALLOC event)
PG_huge = np.uint32(1 << 13)      # a frame of a huge page a process asked for (ALLOC huge)

# ---- pte encoding (x86 bit positions) -------------------------------------------------------
_PAGE_PRESENT = np.int64(0x001)
_PAGE_RW = np.int64(0x002)
_PAGE_ACCESSED = np.int64(0x020)
_PAGE_DIRTY = np.int64(0x040)
_PTE_SWAP = np.int64(0x080)       # non-present pte holding a swap entry: slot << 12
_PTE_MIGRATION = np.int64(0x100)  # non-present pte held by a migration: new frame << 12, the
                                  # old bits kept (mm/migrate.c's migration entry)
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

# ---- globals: the scalars compiled code changes, one slot of ``g`` each -------------------------
GLOBALS = (
    "nr_free", "min", "low", "high", "cache_mode", "levels", "bits", "ptrs", "zero_frame",
    "nr_frames", "max_order", "token", "check", "policy", "rmap", "hand", "sees_refs", "swap_size",
    "swap_free", "swap_cursor", "swap_unbounded", "tbl_free_top", "mm_free_top", "vma_free_top",
    "nr_obj", "pc_count", "truth_count", "disk_count", "shmswap_count", "pid_count", "init_ref",
    "zero_page", "last_freed", "nr_tables", "addr_limit", "nr_mm", "fid_count", "n_orders",
    "n_swap", "n_mm", "n_tbl", "n_pt", "n_vma", "n_obj", "n_pc", "n_truth", "n_disk", "n_shmswap",
    "n_pid", "n_fid", "ghost_free_top", "key_count", "n_keys", "n_nodes", "record_keys",
    "page_serial", "nr_mapped", "pte_table_order", "heap_len", "rmap_free", "rmap_per_pte",
    "rmap_per_vma", "rmap_burst", "n_rmap", "contig", "kmem_count", "n_kmem", "contig_len",
    "n_contig", "compact_considered", "compact_defer_shift",
)
G_NR_FREE = 0
G_MIN = 1
G_LOW = 2
G_HIGH = 3
G_CACHE_MODE = 4
G_LEVELS = 5
G_BITS = 6
G_PTRS = 7
G_ZERO_FRAME = 8
G_NR_FRAMES = 9
G_MAX_ORDER = 10
G_TOKEN = 11
G_CHECK = 12
G_POLICY = 13
G_RMAP = 14
G_HAND = 15
G_SEES_REFS = 16
G_SWAP_SIZE = 17
G_SWAP_FREE = 18
G_SWAP_CURSOR = 19
G_SWAP_UNBOUNDED = 20
G_TBL_FREE_TOP = 21
G_MM_FREE_TOP = 22
G_VMA_FREE_TOP = 23
G_NR_OBJ = 24
G_PC_COUNT = 25
G_TRUTH_COUNT = 26
G_DISK_COUNT = 27
G_SHMSWAP_COUNT = 28
G_PID_COUNT = 29
G_INIT_REF = 30
G_ZERO_PAGE = 31
G_LAST_FREED = 32
G_NR_TABLES = 33
G_ADDR_LIMIT = 34
G_NR_MM = 35
G_FID_COUNT = 36
G_N_ORDERS = 37
G_N_SWAP = 38
G_N_MM = 39
G_N_TBL = 40
G_N_PT = 41
G_N_VMA = 42
G_N_OBJ = 43
G_N_PC = 44
G_N_TRUTH = 45
G_N_DISK = 46
G_N_SHMSWAP = 47
G_N_PID = 48
G_N_FID = 49
G_GHOST_FREE_TOP = 50
G_KEY_COUNT = 51
G_N_KEYS = 52
G_N_NODES = 53
G_RECORD_KEYS = 54
G_PAGE_SERIAL = 55
G_NR_MAPPED = 56
G_PTE_TABLE_ORDER = 57
G_HEAP_LEN = 58
G_RMAP_FREE = 59
G_RMAP_PER_PTE = 60
G_RMAP_PER_VMA = 61
G_RMAP_BURST = 62
G_N_RMAP = 63
G_CONTIG = 64
G_KMEM_COUNT = 65
G_N_KMEM = 66
G_CONTIG_LEN = 67
G_N_CONTIG = 68
G_COMPACT_CONSIDERED = 69
G_COMPACT_DEFER_SHIFT = 70
N_GLOBALS = len(GLOBALS) + 5     # a few spare slots
# G_N_*: sizes of the growable tables (compiled code sees raw pointers, which have no len).
# G_SEES_REFS: the policy is told of every reference (a reference policy; vmscan/__init__.py).
# G_RECORD_KEYS: the replay writes each reference's page identity (sim/future.py), and
# G_PAGE_SERIAL counts the anonymous pages made so far in that mode.
# G_NR_MAPPED: pages mapped by at least one pte (NR_FILE_MAPPED + NR_ANON_PAGES).
# G_PTE_TABLE_ORDER: the order of a pte table's allocation, the rmap design's (the seed's is 1:
# the pte page and its parallel next-pte page).
# G_HEAP_LEN: the frames in the indexed heap of vmscan/nodes.py (opt's).
# G_RMAP_*: the running rmap design's own pool (its "rmap" growth group, state.py): units free,
# and what the next event may take of them: per pte it maps, per vma it makes, and at most in
# one allocation (the design keeps these up to date; all 0 for a design without a pool), and
# G_N_RMAP the pool's units.
# G_CONTIG: the contiguity strategy (mm/contig/); G_KMEM_COUNT the high-order blocks held by
# handle (mm/highorder.py), G_CONTIG_LEN the rows of its request log (G_N_CONTIG of room);
# G_COMPACT_*: the deferral of direct compaction after a failure (2.6.35 defer_compaction).
# ---- the execution context: what the running CPU is doing, one row of ``ctx`` per CPU (one CPU
# today), so that nothing about the current reference, process or error is global -------------
CONTEXT = ("ref_key", "ref_next", "last_pid", "last_mm", "in_reclaim", "err_kind", "err_frame",
           "err_event", "err_a", "err_b", "rmap_op")
CTX_REF_KEY = 0       # the page identity of the reference being made (vmscan/nodes.page_key)
CTX_REF_NEXT = 1      # the index of the next reference to the same page, for opt (-1: none)
CTX_LAST_PID = 2      # the pid of the last event and its mm (the replay's one-entry cache)
CTX_LAST_MM = 3
CTX_IN_RECLAIM = 4    # reclaim is running (a nested allocation must not reclaim again)
CTX_ERR_KIND = 5      # what stopped the replay (ERR_*), on which frame, at which event, and
CTX_ERR_FRAME = 6     # two details (check mode's violations: violation.py)
CTX_ERR_EVENT = 7
CTX_ERR_A = 8
CTX_ERR_B = 9
CTX_RMAP_OP = 10      # the operation the rmap work now done is charged to (RMAP_OP_*)
N_CONTEXT = len(CONTEXT)

NR_LISTS = 16         # policy lists (vmscan/nodes.py); a policy numbers its own from 0

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
    "ignored_events", "wp_reuse_faults", "reclaim_failures", "rmap_bytes", "rmap_bytes_peak",
    "rmap_vmas_visited", "highorder_requests", "highorder_failed", "pages_migrated",
    "migrate_failures", "compact_stalls", "compact_migrate_scanned", "compact_free_scanned",
    "lumpy_taken", "lumpy_dirty", "lumpy_failed", "steal_blocks",
)
C_REFERENCES = 0
C_READS = 1
C_WRITES = 2
C_MISSES = 3
C_FAULTS = 4
C_MINOR_FAULTS = 5
C_MAJOR_FAULTS = 6
C_COW_FAULTS = 7
C_ZERO_PAGE_MAPS = 8
C_SWAP_INS = 9
C_SWAP_OUTS = 10
C_FILE_READS = 11
C_WRITEBACKS = 12
C_PAGES_SCANNED = 13
C_PTES_VISITED = 14
C_PAGES_FREED = 15
C_KSWAPD_WAKEUPS = 16
C_DIRECT_RECLAIMS = 17
C_OOM_KILLS = 18
C_SEGFAULTS = 19
C_INTEGRITY_ERRORS = 20
C_PAGES_COPIED = 21
C_PAGES_ZEROED = 22
C_RMAP_CHAIN_STEPS = 23
C_KSWAPD_PAGES_SCANNED = 24
C_KSWAPD_PTES_VISITED = 25
C_KSWAPD_PAGES_FREED = 26
C_KSWAPD_SWAP_OUTS = 27
C_KSWAPD_WRITEBACKS = 28
C_DIRECT_PAGES_SCANNED = 29
C_DIRECT_PTES_VISITED = 30
C_DIRECT_SWAP_OUTS = 31
C_DIRECT_WRITEBACKS = 32
C_FORKS = 33
C_EXECS = 34
C_EXITS = 35
C_MMAPS = 36
C_MUNMAPS = 37
C_PAGETABLE_PAGES = 38
C_PAGETABLE_PAGES_PEAK = 39
C_SWAP_FULL = 40
C_NFS_READS = 41
C_NFS_WRITES = 42
C_IGNORED_EVENTS = 43
C_WP_REUSE_FAULTS = 44
C_RECLAIM_FAILURES = 45
C_RMAP_BYTES = 46         # bytes of reverse-mapping metadata now (the design's: rmap/ops.py)
C_RMAP_BYTES_PEAK = 47
C_RMAP_VMAS_VISITED = 48  # vmas an object-based walk looked in (objrmap, anon_vma)
C_HIGHORDER_REQUESTS = 49  # the trace's ALLOC events (mm/highorder.py) and those that failed
C_HIGHORDER_FAILED = 50
C_PAGES_MIGRATED = 51     # pages moved to another frame (mm/migrate.py), and moves refused
C_MIGRATE_FAILURES = 52
C_COMPACT_STALLS = 53     # direct compaction runs, and their scanners' pages (vmstat names)
C_COMPACT_MIGRATE_SCANNED = 54
C_COMPACT_FREE_SCANNED = 55
C_LUMPY_TAKEN = 56        # lumpy reclaim's counters as removed in 3.5 (mm/contig/lumpy.py)
C_LUMPY_DIRTY = 57
C_LUMPY_FAILED = 58
C_STEAL_BLOCKS = 59       # blocks steal_specific_page chose to empty (mm/contig/steal.py)
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
NEED_RMAP = 9
NEED_CONTIG = 10

# error kinds reported through G_ERR_KIND
ERR_NONE = 0
ERR_TOKEN = 1          # a reference found content other than what was last written
ERR_INVARIANT = 2
ERR_ADDR = 3           # an mmap or bare reference outside the page-table geometry
ERR_MMAP = 4           # malformed mmap (unaligned, zero length, bad file id)
ERR_PID = 5            # fork to a pid in use
ERR_HANDLE = 6         # ALLOC of a handle held, or FREE of one never allocated

HASH_EMPTY = np.int64(-1)    # a free slot of a hash table (hashtab.py)

# ---- scan control (slots of st.sc): what a reclaim pass is asked to do, as Linux's struct
# scan_control (mm/vmscan.c) carries it; a policy's reclaim(st, ps, sc) reads it -------------
SC_NR_TO_RECLAIM = 0  # pages to free
SC_ORDER = 1          # the order of the allocation that needs them (0: single pages)
SC_KSWAPD = 2         # 1: kswapd's balancing pass; 0: direct reclaim in the allocating context
SC_MAY_SWAP = 3       # anonymous pages may go to swap
SC_MAY_WRITEPAGE = 4  # dirty file pages may be written back
SC_NR_SCANNED = 5     # out: pages scanned by this pass
SC_NR_RECLAIMED = 6   # out: pages freed by this pass
N_SC = 8

# ---- outcomes of shrink_page (vmscan/shrink.py), as 2.6's pageout_t / shrink_page_list -------
PAGE_FREED = 1        # no reference left: the policy takes it off its lists and releases it
PAGE_KEEP = 0         # locked or reserved: not a candidate now
PAGE_NO_SWAP = 2      # anonymous (or shmem) and dirty, and no swap slot is free
PAGE_IN_USE = 3       # unmapped and written, but a reference remains (a page-table walk or pin)

# ---- reverse mapping (mm/rmap/): what rmap_walk does to each pte mapping a page, as the
# rmap_one callbacks of Linux's rmap_walk_control (mm/rmap.c) --------------------------------
RMAP_REFERENCED = 0   # test and clear the accessed bit (page_referenced_one)
RMAP_TEST_DIRTY = 1   # move the dirty bit into PG_dirty (page_mkclean_one's test)
RMAP_UNMAP = 2        # clear the pte or leave a swap entry (try_to_unmap_one)
RMAP_MIGRATE = 3      # leave a migration entry for frame ``arg`` (try_to_migrate_one)
RMAP_REMOVE_MIGRATION = 4  # make a migration entry a present pte again (remove_migration_pte)

# slots of st.rmap_hooks: the running design's hooks (mm/rmap/hooks.py), 0 where it has none
RMAP_HOOK_NAMES = ("init", "page_add", "page_remove", "walk", "page_moved", "vma_link",
                   "vma_unlink", "vma_adjust", "vma_split", "vma_fork", "check")
(R_INIT, R_PAGE_ADD, R_PAGE_REMOVE, R_WALK, R_PAGE_MOVED, R_VMA_LINK, R_VMA_UNLINK,
 R_VMA_ADJUST, R_VMA_SPLIT, R_VMA_FORK, R_CHECK) = range(len(RMAP_HOOK_NAMES))
N_RMAP_HOOKS = len(RMAP_HOOK_NAMES)

# what the rmap work is counted for, per operation (st.rmap_cost, a row of RMAP_METRICS each):
# adding and removing mappings and the vma hooks in a fault (and mmap), a fork or a teardown
# (exit, exec, munmap), and the walks of reclaim and migration
RMAP_OPS = ("fault", "fork", "teardown", "referenced", "unmap", "migrate")
(RMAP_OP_FAULT, RMAP_OP_FORK, RMAP_OP_TEARDOWN, RMAP_OP_REFERENCED, RMAP_OP_UNMAP,
 RMAP_OP_MIGRATE) = range(len(RMAP_OPS))
RMAP_METRICS = ("ptes_visited", "vmas_visited", "chain_steps")
N_RMAP_COSTS = len(RMAP_OPS) * len(RMAP_METRICS)

# ---- high-order requests (mm/highorder.py): how each was met, one row of st.contig_log each --
OUTCOMES = ("at_once", "after_reclaim", "after_compaction", "failed", "impossible")
(OUT_AT_ONCE, OUT_AFTER_RECLAIM, OUT_AFTER_COMPACTION, OUT_FAILED, OUT_IMPOSSIBLE) = range(5)
# a row: the event, the order, the kind (0 kernel, 1 huge), the outcome, the work it took
# (pages scanned, freed by reclaim, migrated, written out), free pages before, then the free
# blocks per order before the request (/proc/buddyinfo: the run's fragmentation timeline)
LOG_COLS = ("event", "order", "kind", "outcome", "scanned", "reclaimed", "migrated", "written",
            "free_before")
N_LOG_COLS = len(LOG_COLS)
PAGE_ALLOC_COSTLY_ORDER = 3     # include/linux/mmzone.h (2.6.23): above it, no retry loop
