"""The snapshot file: its format, ``save`` and ``read``.

The format (documented in ``docs/snapshot.md``): a numpy ``.npz`` (zip, deflate) whose
``header`` is UTF-8 JSON (``format``: "rmapsim-snapshot", ``version``: 1, kernel, time, counts,
process lists) and whose arrays are::

    proc_pid      int64[P]   pids read, in capture order (names in header "comm")
    vma_proc      int32[V]   process index of each vma, vmas in address order per process
    vma_start     uint64[V]  first byte; vma_end one past the last
    vma_end       uint64[V]
    vma_prot      uint8[V]   r 1 | w 2 | x 4 | shared 8
    vma_pgoff     uint64[V]  file offset in pages
    vma_dev       uint64[V]  major << 32 | minor
    vma_inode     uint64[V]
    vma_vmflags   uint32[V]  VmFlags we use: pfnmap 1, io 2, mixedmap 4, hugepage 8
    vma_names     uint8[*]   the vmas' path names, newline separated
    pte_vma       int32[N]   one row per present or swapped page: its vma,
    pte_addr      uint64[N]  virtual address,
    pte_entry     uint64[N]  and raw pagemap entry
    frame_pfn     uint64[F]  every PFN a present entry maps, sorted
    frame_count   int64[F]   its kpagecount after the pagemaps were read,
    frame_count0  int64[F]   before they were read,
    frame_flags   uint64[F]  and its kpageflags (after)

The constants below give the arrays' types and the meaning of their bits.
"""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from rmapsim.errors import UserError

FORMAT = "rmapsim-snapshot"
VERSION = 1
PAGE = 4096

# pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst)
PM_PRESENT = np.uint64(1 << 63)
PM_SWAP = np.uint64(1 << 62)
PM_FILE = np.uint64(1 << 61)
PM_EXCLUSIVE = np.uint64(1 << 56)
PM_PFN = np.uint64((1 << 55) - 1)

# kpageflags bits (include/uapi/linux/kernel-page-flags.h)
KPF = dict(LOCKED=0, ERROR=1, REFERENCED=2, UPTODATE=3, DIRTY=4, LRU=5, ACTIVE=6, SLAB=7,
           WRITEBACK=8, RECLAIM=9, BUDDY=10, MMAP=11, ANON=12, SWAPCACHE=13, SWAPBACKED=14,
           COMPOUND_HEAD=15, COMPOUND_TAIL=16, HUGE=17, UNEVICTABLE=18, HWPOISON=19, NOPAGE=20,
           KSM=21, THP=22, OFFLINE=23, ZERO_PAGE=24, IDLE=25, PGTABLE=26)


def _kpf(name):
    return np.uint64(1 << KPF[name])


PROT_R, PROT_W, PROT_X, PROT_S = 1, 2, 4, 8
VMF_PFNMAP, VMF_IO, VMF_MIXEDMAP, VMF_HUGEPAGE = 1, 2, 4, 8

ARRAYS = {
    "proc_pid": np.int64, "vma_proc": np.int32, "vma_start": np.uint64, "vma_end": np.uint64,
    "vma_prot": np.uint8, "vma_pgoff": np.uint64, "vma_dev": np.uint64, "vma_inode": np.uint64,
    "vma_vmflags": np.uint32, "vma_names": np.uint8, "pte_vma": np.int32, "pte_addr": np.uint64,
    "pte_entry": np.uint64, "frame_pfn": np.uint64, "frame_count": np.int64,
    "frame_count0": np.int64, "frame_flags": np.uint64,
}
_PER_VMA = ("vma_proc", "vma_start", "vma_end", "vma_prot", "vma_pgoff", "vma_dev", "vma_inode",
            "vma_vmflags")
_PER_PTE = ("pte_vma", "pte_addr", "pte_entry")
_PER_FRAME = ("frame_pfn", "frame_count", "frame_count0", "frame_flags")


class SnapshotError(UserError):
    """A snapshot that cannot be taken or a file that is not a readable snapshot."""


def save(path, snap) -> None:
    from rmapsim.fileio import write_atomic
    buf = io.BytesIO()
    arrays = {k: np.ascontiguousarray(snap[k], ARRAYS[k]) for k in ARRAYS}
    arrays["header"] = np.frombuffer(json.dumps(snap["header"]).encode(), np.uint8)
    np.savez_compressed(buf, **arrays)
    write_atomic(path, buf.getvalue())


# ---- reading a snapshot file ------------------------------------------------------------------

def read(path) -> dict:
    """The arrays and header of a snapshot file, checked for consistency; a SnapshotError (one
    line) for anything that is not a complete snapshot of this format."""
    path = os.fspath(path)

    def bad(why):
        return SnapshotError(f"{path}: not a readable rmapsim snapshot ({why})")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            missing = sorted((set(ARRAYS) | {"header"}) - files)
            if missing:
                raise bad(f"missing {', '.join(missing[:3])}")
            snap = {k: z[k] for k in ARRAYS}
            raw = z["header"]
    except SnapshotError:
        raise
    except FileNotFoundError:
        raise SnapshotError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SnapshotError(f"{path}: is a directory") from None
    except PermissionError:
        raise SnapshotError(f"{path}: permission denied") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise bad(str(e).split("\n")[0] or type(e).__name__) from None
    try:
        header = json.loads(bytes(raw.astype(np.uint8)).decode())
    except (ValueError, UnicodeDecodeError):
        raise bad("header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise bad("header does not name the format")
    if header.get("version") != VERSION:
        raise bad(f"version {header.get('version')!r}, this rmapsim reads {VERSION}")
    for k, t in ARRAYS.items():
        a = snap[k]
        if a.ndim != 1 or a.dtype != np.dtype(t):
            raise bad(f"array {k} has type {a.dtype}{list(a.shape)}, expected {np.dtype(t)}[n]")
    for group in (_PER_VMA, _PER_PTE, _PER_FRAME):
        lens = {len(snap[k]) for k in group}
        if len(lens) != 1:
            raise bad(f"arrays {', '.join(group)} differ in length")
    nproc, nvma = len(snap["proc_pid"]), len(snap["vma_start"])
    vp, pv = snap["vma_proc"], snap["pte_vma"]
    if nvma and (vp.min() < 0 or vp.max() >= nproc):
        raise bad("a vma names a process that is not there")
    if len(pv) and (pv.min() < 0 or pv.max() >= nvma):
        raise bad("a page names a vma that is not there")
    if np.any(snap["vma_end"] <= snap["vma_start"]) or np.any(
            (snap["vma_start"] | snap["vma_end"]) % np.uint64(PAGE)):
        raise bad("a vma is empty or not page aligned")
    if len(pv) and (np.any(snap["pte_addr"] < snap["vma_start"][pv])
                    or np.any(snap["pte_addr"] >= snap["vma_end"][pv])):
        raise bad("a page lies outside its vma")
    pfn = snap["frame_pfn"]
    if len(pfn) > 1 and np.any(pfn[1:] <= pfn[:-1]):
        raise bad("frame numbers are not sorted and unique")
    pres = (snap["pte_entry"] & PM_PRESENT) != 0
    want = snap["pte_entry"][pres] & PM_PFN
    pos = np.searchsorted(pfn, want)
    if len(want) and (np.any(pos >= len(pfn)) or np.any(pfn[np.minimum(pos, len(pfn) - 1)] != want)):
        raise bad("a page maps a frame the frame table lacks")
    names = bytes(snap["vma_names"]).decode("utf-8", "replace").split("\n") if nvma else []
    if len(names) != nvma:
        raise bad("vma names do not match the vmas")
    snap["header"] = header
    snap["names"] = names
    return snap
