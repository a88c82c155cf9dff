"""The event model: what a trace says happened, one fixed-size record per event.

Every reader produces chunks of ``EVENT_DTYPE`` records and the replay loop consumes them in
compiled code, so this dtype is the contract between the trace layer and the simulated kernel.
It is also the record layout of the native binary format (see ``docs/trace-format.md``).

Field use per op (unused fields are 0):

==========  =====  ========================================================================
op          pid    other fields
==========  =====  ========================================================================
READ        pid    addr = virtual byte address
WRITE       pid    addr = virtual byte address
MMAP        pid    addr = start (page aligned), length = bytes, file = file id (0 = anon),
                   pgoff = file offset in pages, flags = MAP_SHARED | MAP_FILE | PROT_WRITE
MUNMAP      pid    addr = start, length = bytes
FORK        pid    arg = child pid
EXEC        pid    (the address space is replaced by an empty one)
EXIT        pid
FILE        0      file = file id, length = size in pages, arg = device (DEV_*)
ALLOC       owner  addr = handle (< 2**32, the owner's name for the block), arg = order,
                   flags = ALLOC_HUGE for a huge page a process asked for (else a kernel
                   allocation: a stack, a network buffer); owner 0 is the kernel itself
FREE        owner  addr = handle of a block this owner allocated
==========  =====  ========================================================================

ALLOC and FREE are format version 2 (native and text); version 1 files still read.
"""
import numpy as np

EVENT_DTYPE = np.dtype([
    ("op", "u1"),
    ("flags", "u1"),
    ("_pad", "<u2"),
    ("pid", "<u4"),
    ("addr", "<u8"),
    ("length", "<u8"),
    ("file", "<u4"),
    ("arg", "<u4"),
    ("pgoff", "<u8"),
])
assert EVENT_DTYPE.itemsize == 40

OP_READ = 0
OP_WRITE = 1
OP_MMAP = 2
OP_MUNMAP = 3
OP_FORK = 4
OP_EXEC = 5
OP_EXIT = 6
OP_FILE = 7
OP_ALLOC = 8
OP_FREE = 9
OP_NAMES = ("R", "W", "MMAP", "MUNMAP", "FORK", "EXEC", "EXIT", "FILE", "ALLOC", "FREE")
N_OPS = len(OP_NAMES)

# MMAP flags
MAP_SHARED = 1      # else private (copy-on-write)
MAP_FILE = 2        # else anonymous
PROT_WRITE = 4      # else read-only
# ALLOC flags
ALLOC_HUGE = 1      # a huge page for a process (else a kernel allocation)
ALLOC_KINDS = ("kernel", "huge")
MAX_ALLOC_ORDER = 20  # the format's bound; a machine's own max_order may be lower

# file devices (cost model charges their latency on a page-cache miss or write-back)
DEV_DISK = 0
DEV_NFS = 1
DEV_NAMES = ("disk", "nfs")

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT


# A bare page trace also streams in a compact form, 8 bytes a reference instead of 40:
# ``(page << 1) | is_write`` as uint64 (``Trace.ref_chunks``). The replay loop of bare traces
# reads this form; reading it straight from a binary format skips building events at all.
REF_DTYPE = np.dtype("<u8")


def refs_from_events(ev: np.ndarray) -> np.ndarray:
    """The compact form of a chunk of READ/WRITE events."""
    return ((ev["addr"] >> np.uint64(PAGE_SHIFT)) << np.uint64(1)) | (ev["op"] == OP_WRITE)


def refs_from_pages(pages: np.ndarray, writes: np.ndarray | None = None) -> np.ndarray:
    r = np.asarray(pages, dtype=np.uint64) << np.uint64(1)
    if writes is not None:
        r |= np.asarray(writes, dtype=np.uint64) & np.uint64(1)
    return r


def events_from_refs(refs: np.ndarray) -> np.ndarray:
    ev = np.zeros(len(refs), dtype=EVENT_DTYPE)
    ev["addr"] = (refs >> np.uint64(1)) << np.uint64(PAGE_SHIFT)
    ev["op"] = refs & np.uint64(1)
    return ev


def empty(n: int) -> np.ndarray:
    return np.zeros(n, dtype=EVENT_DTYPE)


def page_refs(pages: np.ndarray, writes: np.ndarray | None = None, pid: int = 0) -> np.ndarray:
    """Events for a bare page trace: one READ (or WRITE where ``writes``) per page number."""
    ev = np.zeros(len(pages), dtype=EVENT_DTYPE)
    ev["addr"] = np.asarray(pages, dtype=np.uint64) << np.uint64(PAGE_SHIFT)
    if writes is not None:
        ev["op"] = np.asarray(writes, dtype=np.uint8)
    ev["pid"] = pid
    return ev
