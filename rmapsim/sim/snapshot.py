"""Live-machine snapshots: capture the running Linux system, load it as a simulation's start.

``rmapsim snapshot -o FILE`` (``capture`` + ``save``) reads, as root, in this order:

1. ``/proc/PID/smaps`` of every process: its vmas (start, end, permissions, file offset,
   device, inode, name), resident size and ``VmFlags``; kernel threads (no vmas) are skipped,
   and so is ``[vsyscall]`` (a fixed kernel page above the user address space, outside
   pagemap). smaps is slow to read, so it comes before the window below.
2. ``/proc/kpagecount`` whole (the count of every frame before).
3. The window: per process ``/proc/PID/maps`` again (a vma changed since, e.g. by exec, is
   taken as it is now) and ``/proc/PID/pagemap`` over its vmas: one 64-bit entry per page,
   bit 63 present, 62 swapped, 61 file page or shared anonymous, 56 exclusively mapped, 0-54
   the page frame number (PFN; zero unless the reader has CAP_SYS_ADMIN). Processes born
   since the listing are read too.
4. ``/proc/kpageflags`` and ``/proc/kpagecount`` of every PFN seen (after); processes born
   meanwhile are read and the counts read once more.

A process that exits before it is read is dropped (listed in the header as ``exited``); one
whose smaps cannot be read (permission denied) is ``unreadable``; one gone by the end, after it
was read, is kept and listed as ``vanished``; pids born after the last listing are
``appeared``. These lists and the two counts explain disagreements (see ``agreement``).

File format (documented in ``docs/snapshot.md``): a numpy ``.npz`` (zip, deflate) whose
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

``load`` turns a snapshot into a booted simulated machine: the frames become dense simulated
frames, the processes and vmas are made, and every present pte is installed by compiled code
(``mm/snapshot.py``), so frames shared in the kernel are shared in the simulation.
"""
from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from dataclasses import dataclass, field

import numpy as np

from rmapsim.errors import ConfigError, UserError

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
_VMFLAG_BITS = {"pf": VMF_PFNMAP, "io": VMF_IO, "mm": VMF_MIXEDMAP, "hg": VMF_HUGEPAGE}

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

_HEAD = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ([r-])([w-])([x-])([ps]) ([0-9a-f]+) "
                   r"([0-9a-f]+):([0-9a-f]+) (\d+)\s*(.*)$")
_READ_PAGES = 1 << 16          # pagemap entries per read
_SMALL_VMA = 1 << 30           # pagemap is read over every vma up to this size
_UNKNOWN_VMA_MAX = 16 << 30    # a vma new since smaps was read: read its pagemap up to this size


class SnapshotError(UserError):
    """A snapshot that cannot be taken or a file that is not a readable snapshot."""


# ---- capture ----------------------------------------------------------------------------------

def _pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def _read_table(path, pfns=None):
    """kpagecount/kpageflags: the whole table, or the entries of sorted ``pfns`` only (read in
    the 4 KiB windows that hold them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if pfns is None:
            parts, off = [], 0
            while True:
                b = os.pread(fd, 1 << 22, off)
                if not b:
                    break
                parts.append(b)
                off += len(b)
            return np.frombuffer(b"".join(parts), np.uint64)
        out = np.zeros(len(pfns), np.uint64)
        win = pfns >> np.uint64(9)
        starts = np.flatnonzero(np.r_[True, win[1:] != win[:-1]])
        for k, s in enumerate(starts):
            e = starts[k + 1] if k + 1 < len(starts) else len(pfns)
            w = int(win[s])
            a = np.frombuffer(os.pread(fd, 4096, w << 12), np.uint64)
            idx = (pfns[s:e] - np.uint64(w << 9)).astype(np.int64)
            ok = idx < len(a)
            out[s:e][ok] = a[idx[ok]]
        return out
    finally:
        os.close(fd)


def _parse_smaps(text):
    """[(start, end, prot, pgoff, dev, inode, name, rss_kb, swap_kb, vmflags)]"""
    vmas = []
    cur = None
    for line in text.splitlines():
        m = _HEAD.match(line)
        if m:
            s, e, r, w, x, p, off, ma, mi, ino, name = m.groups()
            prot = (PROT_R if r == "r" else 0) | (PROT_W if w == "w" else 0) \
                | (PROT_X if x == "x" else 0) | (PROT_S if p == "s" else 0)
            cur = [int(s, 16), int(e, 16), prot, int(off, 16) // PAGE,
                   (int(ma, 16) << 32) | int(mi, 16), int(ino), name.strip(), 0, 0, 0]
            vmas.append(cur)
        elif cur is not None:
            if line.startswith("Rss:"):
                cur[7] = int(line.split()[1])
            elif line.startswith("Swap:"):
                cur[8] = int(line.split()[1])
            elif line.startswith("VmFlags:"):
                for f in line.split()[1:]:
                    cur[9] |= _VMFLAG_BITS.get(f, 0)
    return vmas


def _read_layout(pid):
    """The vmas of one process from its smaps; raises OSError if it cannot be read."""
    with open(f"/proc/{pid}/smaps") as f:
        vmas = _parse_smaps(f.read())
    # [vsyscall]: a fixed kernel page above the user address space, outside pagemap
    return [v for v in vmas if v[6] != "[vsyscall]"]


def _refresh_layout(pid, old):
    """The vmas of a process as they are now (its maps, cheap to read), keeping what its smaps
    said of each vma unchanged since; a new or changed vma is marked resident-unknown (-1)."""
    with open(f"/proc/{pid}/maps") as f:
        now = [v for v in _parse_smaps(f.read()) if v[6] != "[vsyscall]"]
    known = {tuple(v[:6]): v for v in old}
    return [known.get(tuple(v[:6])) or v[:7] + [-1, -1, 0] for v in now]


def _read_pagemap(pid, vmas):
    """[(vma index, addresses, entries)] of the present or swapped pages of the vmas (see
    ``_SMALL_VMA``); raises OSError if the process vanished meanwhile."""
    ptes = []
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        for i, v in enumerate(vmas):
            start, end = v[0], v[1]
            size = end - start
            # smaps's resident size is from phase 1: a vma empty then may have filled since,
            # so every vma up to 1 GiB is read; bigger ones when they had pages, or are new
            if size > _SMALL_VMA and ((v[7] == 0 and v[8] == 0)
                                      or (v[7] < 0 and size > _UNKNOWN_VMA_MAX)):
                continue
            page = start // PAGE
            last = end // PAGE
            while page < last:
                n = min(_READ_PAGES, last - page)
                b = os.pread(fd, 8 * n, 8 * page)
                if len(b) != 8 * n:
                    raise ProcessLookupError(f"pagemap of {pid} ended early")
                ent = np.frombuffer(b, np.uint64)
                keep = np.flatnonzero(ent & (PM_PRESENT | PM_SWAP))
                if len(keep):
                    ptes.append((i, (page + keep).astype(np.uint64) * np.uint64(PAGE), ent[keep]))
                page += n
    finally:
        os.close(fd)
    return ptes


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def capture(pids=None, attempts=1, good=0.998) -> dict:
    """Snapshot the running system (needs root). ``pids`` restricts it to some processes.

    A busy machine changes while it is read (a fork alone adds a mapping to every page of the
    parent). Up to ``attempts`` captures are made, a second apart, until one's own ptes agree
    with kpagecount on at least a ``good`` fraction of its frames (``quick_agreement``, what
    the load will find, but for ptes the load leaves out); the best is kept, and its header
    says which attempt it was and how many frames changed count while it was read."""
    if attempts < 1:
        raise ConfigError(f"--attempts must be at least 1, not {attempts}")
    best = None
    for k in range(1, attempts + 1):
        snap = _capture_once(pids)
        changed = int(np.count_nonzero(snap["frame_count"] != snap["frame_count0"]))
        quick = _quick_agreement(snap)
        snap["header"].update(attempt=k, changed_frames=changed, quick_agreement=quick)
        if best is None or quick > best["header"]["quick_agreement"]:
            best = snap
        if quick >= good:
            break
        if k < attempts:
            time.sleep(1.0)
    return best


def _quick_agreement(snap) -> float:
    """Frames whose present ptes in the snapshot number their kpagecount, over the frames
    mapped (the ZERO_PAGE and VM_PFNMAP/VM_IO vmas left out, as the load leaves them)."""
    e = snap["pte_entry"]
    keep = ((e & PM_PRESENT) != 0) & (
        (snap["vma_vmflags"][snap["pte_vma"]] & (VMF_PFNMAP | VMF_IO)) == 0)
    pfn = snap["frame_pfn"]
    idx = np.searchsorted(pfn, e[keep] & PM_PFN)
    n = np.bincount(idx, minlength=len(pfn))
    mapped = (n > 0) & ((snap["frame_flags"] & _kpf("ZERO_PAGE")) == 0)
    total = int(mapped.sum())
    return float(((n == snap["frame_count"]) & mapped).sum() / total) if total else 1.0


def _capture_once(pids):
    for path in ("/proc/kpagecount", "/proc/kpageflags"):
        try:
            os.close(os.open(path, os.O_RDONLY))
        except OSError as e:
            raise SnapshotError(f"cannot read {path} ({e.strerror}): a snapshot needs root "
                                f"on a Linux kernel with CONFIG_PROC_PAGE_MONITOR") from None
    t0 = time.time()
    unreadable, exited, kthreads = [], [], 0
    layouts, comm_of = {}, {}

    def layout(pid):
        nonlocal kthreads
        try:
            vmas = _read_layout(pid)
        except PermissionError as e:
            unreadable.append([pid, _comm(pid), e.strerror or str(e)])
            return
        except OSError as e:
            exited.append([pid, str(getattr(e, "strerror", None) or e)])
            return
        if vmas:
            layouts[pid] = vmas
            comm_of[pid] = _comm(pid)
        else:
            kthreads += 1
    # phase 1, outside the window: every process's vmas (smaps is slow to read)
    before = _pids() if pids is None else sorted(pids)
    for pid in before:
        layout(pid)
    # kpagecount before any pagemap is read: keep the nonzero entries only
    k0 = _read_table("/proc/kpagecount")
    nz0 = np.flatnonzero(k0)
    c0 = k0[nz0].astype(np.int64)
    del k0
    # phase 2, the window: pagemaps only, as fast as can be; processes that appeared since
    # the listing are taken in too (smaps and all), until no new one turns up. Then the
    # frames' flags and counts; if processes were born meanwhile (they are in the counts),
    # they are read as well and the counts read once more.
    procs, comms, vma_rows, names, pte_parts = [], [], [], [], []
    todo = [pid for pid in before if pid in layouts]
    seen = set(before)
    counted = 0
    for rounds in range(6):
        for pid in todo:
            if pid not in layouts:
                layout(pid)
                if pid not in layouts:
                    continue
            try:
                vmas = layouts[pid] = _refresh_layout(pid, layouts[pid])
                ptes = _read_pagemap(pid, vmas)
            except OSError as e:
                exited.append([pid, str(getattr(e, "strerror", None) or e)])
                continue
            if not vmas:                    # exited meanwhile (a zombie has no vmas)
                exited.append([pid, "no vmas left"])
                continue
            p = len(procs)
            procs.append(pid)
            comms.append(comm_of[pid])
            base = len(vma_rows)
            for v in vmas:
                vma_rows.append((p,) + tuple(v[:6]) + (v[9],))
                names.append(v[6].replace("\n", " "))
            for i, addrs, ents in ptes:
                pte_parts.append((np.full(len(addrs), base + i, np.int32), addrs, ents))
        todo = sorted(set(_pids()) - seen) if pids is None else []
        seen.update(todo)
        if todo and rounds < 2 and not counted:
            continue
        if pte_parts:
            pte_vma = np.concatenate([a for a, _, _ in pte_parts])
            pte_addr = np.concatenate([b for _, b, _ in pte_parts])
            pte_entry = np.concatenate([c for _, _, c in pte_parts])
        else:
            pte_vma = np.zeros(0, np.int32)
            pte_addr = pte_entry = np.zeros(0, np.uint64)
        present = (pte_entry & PM_PRESENT) != 0
        pfn = np.unique(pte_entry[present] & PM_PFN)
        if len(pfn) and not pfn.any():
            raise SnapshotError("pagemap gives no frame numbers (PFNs read as 0): a snapshot "
                                "needs CAP_SYS_ADMIN (run as root)")
        # flags first: a page freed between the two reads then shows count 0 (a change the
        # report explains) rather than the flags of a free page beside a count of 1
        flags = _read_table("/proc/kpageflags", pfn)
        count = _read_table("/proc/kpagecount", pfn).astype(np.int64)
        counted += 1
        todo = sorted(set(_pids()) - seen) if pids is None else []
        seen.update(todo)
        if not todo or counted == 2:
            break
    after = set(_pids())
    vanished = [pid for pid in procs if pid not in after]
    appeared = sorted(after - seen) if pids is None else []
    count0 = np.zeros(len(pfn), np.int64)
    if len(nz0):
        pi = pfn.astype(np.int64)
        pos = np.minimum(np.searchsorted(nz0, pi), len(nz0) - 1)
        count0 = np.where(nz0[pos] == pi, c0[pos], 0).astype(np.int64)
    rows = np.array(vma_rows, dtype=object).reshape(-1, 8)
    snap = {
        "proc_pid": np.array(procs, np.int64),
        "vma_proc": rows[:, 0].astype(np.int32),
        "vma_start": rows[:, 1].astype(np.uint64),
        "vma_end": rows[:, 2].astype(np.uint64),
        "vma_prot": rows[:, 3].astype(np.uint8),
        "vma_pgoff": rows[:, 4].astype(np.uint64),
        "vma_dev": rows[:, 5].astype(np.uint64),
        "vma_inode": rows[:, 6].astype(np.uint64),
        "vma_vmflags": rows[:, 7].astype(np.uint32),
        "vma_names": np.frombuffer("\n".join(names).encode(), np.uint8),
        "pte_vma": pte_vma, "pte_addr": pte_addr, "pte_entry": pte_entry,
        "frame_pfn": pfn, "frame_count": count, "frame_count0": count0, "frame_flags": flags,
    }
    u = os.uname()
    snap["header"] = {
        "format": FORMAT, "version": VERSION, "kernel": f"{u.sysname} {u.release} {u.machine}",
        "host": u.nodename, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
        "seconds": round(time.time() - t0, 3), "page_size": PAGE, "capturer": os.getpid(),
        "processes": len(procs), "kernel_threads": kthreads, "vmas": len(vma_rows),
        "ptes": int(len(pte_addr)), "frames": int(len(pfn)), "comm": comms,
        "unreadable": unreadable, "exited": exited, "vanished": vanished, "appeared": appeared,
    }
    return snap


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


# ---- from a snapshot to install arrays ---------------------------------------------------------

_SPECIAL_SHARED = ("[vdso]", "[vvar]", "[vvar_vclock]", "[uprobes]", "[sigpage]", "[vectors]")


@dataclass
class Plan:
    """What ``snapshot_install`` gets (all int64), and what the report needs."""
    o_fid: np.ndarray
    o_shm: np.ndarray
    o_name: list
    pids: np.ndarray
    v: dict
    f: dict
    p: dict
    frame_pfn: np.ndarray          # pfn of each planned frame
    frame_index: np.ndarray        # index into the snapshot's frame table
    skipped: dict = field(default_factory=dict)
    tables: int = 0


def plan(snap, levels: int, bits: int, addr_limit: int, zero_page: bool) -> Plan:
    from rmapsim.mm.snapshot import FRAME_ANON, FRAME_CACHE, FRAME_ZERO
    from rmapsim.mm.state import (_PAGE_ACCESSED, _PAGE_RW, VM_FILE, VM_SHARED, VM_WRITE)
    nvma = len(snap["vma_start"])
    if nvma and int(snap["vma_end"].max()) > addr_limit:
        raise ConfigError(f"the snapshot maps addresses up to {int(snap['vma_end'].max()):#x}, "
                          f"beyond the {addr_limit.bit_length() - 1}-bit address space of the "
                          f"machine's page-table geometry (use --machine modern)")
    prot = snap["vma_prot"].astype(np.int64)
    inode = snap["vma_inode"]
    names = snap["names"]
    entry = snap["pte_entry"]
    pvma = snap["pte_vma"].astype(np.int64)
    present = (entry & PM_PRESENT) != 0
    special = (snap["vma_vmflags"] & (VMF_PFNMAP | VMF_IO)) != 0
    fidx_all = np.searchsorted(snap["frame_pfn"], entry & PM_PFN)
    fflags = snap["frame_flags"]
    is_zero = (fflags & _kpf("ZERO_PAGE")) != 0
    is_anon = (fflags & _kpf("ANON")) != 0
    skipped = {"swapped ptes": int((~present).sum()),
               "ptes of VM_PFNMAP/VM_IO vmas (no struct page, never rmapped)":
                   int((present & special[pvma]).sum())}
    keep = present & ~special[pvma]
    if not zero_page:
        z = keep & is_zero[np.minimum(fidx_all, len(fflags) - 1)]
        skipped["ZERO_PAGE ptes (the machine has no zero page)"] = int(z.sum())
        keep &= ~z
    pv, paddr, pf = pvma[keep], snap["pte_addr"][keep].astype(np.int64), fidx_all[keep]
    # objects: files by (dev, inode); special mappings by name; other shared vmas and private
    # anonymous vmas that map page-cache frames get an object of their own
    vma_has_file_frame = np.zeros(nvma, bool)
    nonanon = ((entry[keep] & PM_FILE) != 0) & ~is_zero[pf]
    vma_has_file_frame[pv[nonanon]] = True
    okey = []
    for v in range(nvma):
        if inode[v]:
            okey.append(("f", int(snap["vma_dev"][v]), int(inode[v])))
        elif names[v] in _SPECIAL_SHARED:
            okey.append(("n", names[v]))
        elif (prot[v] & PROT_S) or vma_has_file_frame[v]:
            okey.append(("v", v))
        else:
            okey.append(None)
    ids, o_name = {}, []
    v_obj = np.full(nvma, -1, np.int64)
    for v, k in enumerate(okey):
        if k is None:
            continue
        if k not in ids:
            ids[k] = len(ids)
            o_name.append(names[v] or f"[anon shared @{int(snap['vma_start'][v]):#x}]")
        v_obj[v] = ids[k]
    nobj = len(ids)
    o_shm = np.zeros(nobj, np.int64)
    for k, o in ids.items():
        if k[0] == "v" and prot[k[1]] & PROT_S:
            o_shm[o] = 1
    # shmem (tmpfs, memfd, SysV shm, shared anonymous): frames swap-backed but not anonymous
    shmem_frame = ((fflags & _kpf("SWAPBACKED")) != 0) & ~is_anon & ~is_zero
    sel = v_obj[pv] >= 0
    o_shm[np.unique(v_obj[pv][sel & shmem_frame[pf]])] = 1
    # frames: the unique ones the kept ptes map, in frame-number order
    uf, p_frame = np.unique(pf, return_inverse=True)
    nfr = len(uf)
    first = np.full(nfr, -1, np.int64)
    first[p_frame[::-1]] = np.arange(len(pf) - 1, -1, -1)       # first pte of each frame
    fv = pv[first]
    # anonymous or not as pagemap saw the page through its pte (bit 61: file page or shared
    # anonymous), which is read with the pte; kpageflags comes a moment later
    file_bit = (entry[keep][first] & PM_FILE) != 0
    f_kind = np.where(is_zero[uf], FRAME_ZERO, np.where(file_bit, FRAME_CACHE, FRAME_ANON))
    f_obj = np.where(f_kind == FRAME_CACHE, v_obj[fv], -1)
    f_kind = np.where((f_kind == FRAME_CACHE) & (f_obj < 0), FRAME_ANON, f_kind)
    f_pgoff = np.where(f_kind == FRAME_CACHE, snap["vma_pgoff"][fv].astype(np.int64)
                       + ((paddr[first] - snap["vma_start"][fv].astype(np.int64)) >> 12), 0)
    dirty = (f_kind == FRAME_ANON) | ((fflags[uf] & _kpf("DIRTY")) != 0)
    dirty |= (f_kind == FRAME_CACHE) & (o_shm[np.maximum(f_obj, 0)] == 1)
    # ptes: writable where the vma is and the page is not shared copy-on-write; accessed where
    # the kernel saw the page referenced or active
    mapc = np.bincount(p_frame, minlength=nfr)
    vflags = np.where(prot & PROT_W, VM_WRITE, 0) | np.where(prot & PROT_S, VM_SHARED, 0) \
        | np.where(v_obj >= 0, VM_FILE, 0)
    vflags = np.where((v_obj >= 0) & (o_shm[np.maximum(v_obj, 0)] == 1) & (inode == 0),
                      vflags & ~VM_FILE, vflags)
    shared_vma = (prot[pv] & PROT_S) != 0
    kind = f_kind[p_frame]
    rw = (prot[pv] & PROT_W != 0) & (shared_vma | ((kind == FRAME_ANON) & (mapc[p_frame] == 1)))
    young = (fflags[pf] & (_kpf("REFERENCED") | _kpf("ACTIVE"))) != 0
    p_flags = np.where(rw, int(_PAGE_RW), 0) | np.where(young, int(_PAGE_ACCESSED), 0)
    # page-table pages the ptes need: order-1 pte tables, one frame per upper table, a pgd each
    mm_of = snap["vma_proc"].astype(np.int64)[pv]
    tables = 2 * len(np.unique((mm_of << 40) | (paddr >> (12 + bits)))) if len(pv) else 0
    for level in range(2, levels):
        tables += len(np.unique((mm_of << 40) | (paddr >> (12 + bits * level))))
    tables += len(snap["proc_pid"])
    i64 = lambda a: np.ascontiguousarray(a, np.int64)     # noqa: E731
    return Plan(
        o_fid=np.arange(1, nobj + 1, dtype=np.int64), o_shm=o_shm, o_name=o_name,
        pids=i64(snap["proc_pid"]),
        v=dict(v_proc=i64(snap["vma_proc"]), v_start=i64(snap["vma_start"]),
               v_end=i64(snap["vma_end"]), v_flags=i64(vflags), v_obj=v_obj,
               v_pgoff=i64(snap["vma_pgoff"])),
        f=dict(f_kind=i64(f_kind), f_obj=i64(f_obj), f_pgoff=i64(f_pgoff), f_dirty=i64(dirty)),
        p=dict(p_vma=i64(pv), p_addr=i64(paddr), p_frame=i64(p_frame), p_flags=i64(p_flags)),
        frame_pfn=snap["frame_pfn"][uf], frame_index=uf, skipped=skipped, tables=tables)


# ---- loading ----------------------------------------------------------------------------------

def _presize(st, n_tables, n_mm, n_vma, n_obj):
    """Grow the state's tables before the install so it never runs out midway."""
    from rmapsim.mm.state import (G_HIGH, G_MM_FREE_TOP, G_TBL_FREE_TOP, G_VMA_FREE_TOP,
                                  NEED_MM, NEED_TABLES, NEED_VMA, State, _hash_arrays,
                                  _pow2_at_least, grow)
    g = st.g
    for top, code, n in ((G_TBL_FREE_TOP, NEED_TABLES, n_tables), (G_MM_FREE_TOP, NEED_MM, n_mm),
                         (G_VMA_FREE_TOP, NEED_VMA, n_vma)):
        while g[top] < n:
            st = grow(st, code)
    d = st._asdict()
    burst = int(g[G_HIGH]) + 64
    for name, n in (("pid", n_mm), ("fid", n_obj)):
        size = _pow2_at_least(2 * (n + burst) + 2)
        if size > len(d[name + "_keys"]):          # still empty at boot: no rehash needed
            d[name + "_keys"], d[name + "_vals"] = _hash_arrays(size)
    nobj = _pow2_at_least(n_obj + 128)
    if nobj > len(d["obj_dev"]):
        for k in ("obj_dev", "obj_maps", "obj_shm"):
            a = np.zeros(nobj, d[k].dtype)
            a[:len(d[k])] = d[k]
            d[k] = a
    return State(**d)


def _needed(m, pl: Plan) -> int:
    """Frames a machine like ``m`` needs to hold the snapshot with its free pages at the high
    watermark (so loading wakes no kswapd)."""
    data = int(np.count_nonzero(pl.f["f_kind"] != 2))
    return m.kernel_reserved + data + pl.tables + m.watermarks[2] + 8


def _fit(probe, pl: Plan, spare: int) -> int:
    """The fewest frames of a machine like ``probe`` that hold the snapshot with ``spare``
    frames free above the high watermark."""
    from dataclasses import replace
    data = int(np.count_nonzero(pl.f["f_kind"] != 2))
    n = data + pl.tables + spare
    for _ in range(50):
        want = _needed(replace(probe, frames=n), pl) + spare
        if want <= n:
            break
        n = want
    return n


def frames_for(path, spare=0, machine="modern", params=None) -> int:
    """RAM (frames) for ``run --from-snapshot``: the snapshot at ``path`` and ``spare`` frames
    free above the high watermark, no more: a trace then puts it under pressure at once."""
    from rmapsim.sim.config import GEOMETRIES, build_machine
    probe = build_machine(machine, None, 1 << 20, False, params)
    levels, bits, _ = GEOMETRIES[probe.geometry]
    pl = plan(read(path), levels, bits, 1 << (levels * bits + 12), probe.zero_page)
    return _fit(probe, pl, spare)


@dataclass
class Loaded:
    path: str
    header: dict
    plan: Plan
    sim_frames: np.ndarray      # simulated frame of each planned frame
    report: dict


def load(path, *, policy="clock", params=None, mem=None, frames=None, machine="modern",
         check=False, cache_mode=False):
    """Boot a machine holding the snapshot at ``path``: (pol, pvals, Machine, State, StructRef,
    Loaded). RAM defaults to what the snapshot needs plus an eighth of its frames free."""
    from rmapsim.mm.debug import check_invariants
    from rmapsim.mm.snapshot import INSTALL_OK, snapshot_install
    from rmapsim.mm.state import G_ADDR_LIMIT, G_NR_FREE, G_ZERO_FRAME, as_struct
    from rmapsim.mm.vmscan import get_policy, policy_params
    from rmapsim.sim.api import _boot_state
    from rmapsim.sim.config import GEOMETRIES, build_machine
    if cache_mode:
        raise ConfigError("a snapshot loads into kernel mode (page tables, ZERO_PAGE, "
                          "watermarks): drop --cache-mode")
    snap = read(path)
    pol = get_policy(policy)
    pvals, rest = policy_params(pol, params)
    probe = build_machine(machine, mem, frames if (mem is not None or frames is not None)
                          else 1 << 20, False, rest)
    levels, bits, _ = GEOMETRIES[probe.geometry]
    pl = plan(snap, levels, bits, 1 << (levels * bits + 12), probe.zero_page)
    if mem is None and frames is None:
        data = int(np.count_nonzero(pl.f["f_kind"] != 2))
        m = build_machine(machine, None, _fit(probe, pl, max(256, data // 8)), False, rest)
    else:
        m = probe
        need = _needed(m, pl)
        if m.frames < need:
            raise ConfigError(f"the snapshot needs at least {need} frames "
                              f"({-(-need * PAGE // (1 << 20))} MiB) of RAM: {need - m.frames} "
                              f"more than --mem/--frames gives")
    pol, pvals, m, st, s = _boot_state(pol, pvals, m, check)
    st = _presize(st, pl.tables + levels + 8, len(pl.pids) + 8, len(pl.v["v_start"]) + 8,
                  len(pl.o_fid))
    s = as_struct(st)
    mms = np.full(len(pl.pids), -1, np.int64)
    sim = np.full(len(pl.f["f_kind"]), -1, np.int64)
    kind_before = pl.f["f_kind"].copy()
    code = snapshot_install(s, pl.o_fid, pl.o_shm, pl.pids, *pl.v.values(), *pl.f.values(),
                            *pl.p.values(), mms, sim)
    if code != INSTALL_OK:
        raise ConfigError(f"the snapshot did not fit in {m.frames} frames (install stopped "
                          f"with code {code}); give more --mem")
    conflicts = int(np.count_nonzero(kind_before != pl.f["f_kind"]))
    bad = check_invariants(s)
    report = agreement(snap, pl, st, sim)
    report.update(path=os.fspath(path), frames=m.frames, free=int(st.g[G_NR_FREE]),
                  processes=len(pl.pids), vmas=len(pl.v["v_start"]), ptes=len(pl.p["p_vma"]),
                  objects=len(pl.o_fid), shmem_objects=int(pl.o_shm.sum()),
                  page_table_frames=pl.tables, identity_conflicts=conflicts,
                  skipped=pl.skipped, invariants="ok" if bad == 0 else f"violation {bad}",
                  zero_frame=int(st.g[G_ZERO_FRAME]), addr_limit=int(st.g[G_ADDR_LIMIT]))
    if bad:
        from rmapsim.sim.api import _describe
        raise RuntimeError(_describe(st, bad, "after loading the snapshot"))
    return pol, pvals, m, st, s, Loaded(os.fspath(path), snap["header"], pl, sim, report)


# ---- agreement with the kernel ----------------------------------------------------------------

def agreement(snap, pl: Plan, st, sim) -> dict:
    """Compare the simulated rmap's mapcount of every frame the snapshot mapped with the
    kernel's kpagecount. A frame agrees when the two are equal; each disagreeing frame is put
    in the first kind that explains it (see ``DISAGREEMENTS``)."""
    h = snap["header"]
    mapped = pl.f["f_kind"] != 2
    fi = pl.frame_index[mapped]
    simc = st.page_mapcount[sim[mapped]].astype(np.int64)
    kc = snap["frame_count"][fi]
    k0 = snap["frame_count0"][fi]
    fl = snap["frame_flags"][fi]
    n = int(mapped.sum())
    agree = simc == kc
    # frames mapped by processes gone by the end of the capture, or by the capturer itself
    proc_of_pte = pl.v["v_proc"][pl.p["p_vma"]]
    pid_of_pte = pl.pids[proc_of_pte]
    by_planned = np.zeros(len(pl.f["f_kind"]), bool)
    vanished = np.isin(pid_of_pte, np.array(h.get("vanished", []), np.int64))
    by_planned[pl.p["p_frame"][vanished]] = True
    vanished_f = by_planned[mapped]
    kinds = {}
    left = ~agree
    comp = (fl & (_kpf("COMPOUND_HEAD") | _kpf("COMPOUND_TAIL"))) != 0
    tests = (
        ("count changed during capture", k0 != kc),
        ("mapped only during capture", (k0 == 0) & (kc == 0)),
        ("process exited during capture", vanished_f & (simc > kc)),
        ("large folio", comp),
        ("KSM page", (fl & _kpf("KSM")) != 0),
        ("mapped by processes not captured", simc < kc),
        ("unmapped during capture", simc > kc),
    )
    for name, mask in tests:
        hit = left & mask
        c = int(hit.sum())
        if c:
            kinds[name] = {"frames": c, "kernel_minus_sim": int((kc - simc)[hit].sum())}
        left &= ~mask
    # frames the machine left alone while it was read: the kernel's count the same before and
    # after, not a page that existed only in between, not mapped by a process that went away
    steady = (k0 == kc) & ~((k0 == 0) & (kc == 0)) & ~vanished_f
    ns = int(steady.sum())
    zero_ptes = int(np.count_nonzero(pl.f["f_kind"][pl.p["p_frame"]] == 2))
    zi = pl.frame_index[pl.f["f_kind"] == 2]
    return {
        "frames_mapped": n, "frames_agreeing": int(agree.sum()),
        "agreement": float(agree.sum() / n) if n else 1.0,
        "disagreements": kinds,
        "frames_steady": ns, "frames_steady_agreeing": int((agree & steady).sum()),
        "steady_agreement": float((agree & steady).sum() / ns) if ns else 1.0,
        "changed_frames": int(h.get("changed_frames", int((k0 != kc).sum()))),
        "sim_mappings": int(simc.sum()), "kernel_mappings": int(kc.sum()),
        "zero_page_ptes": zero_ptes,
        "zero_page_kpagecount": [int(x) for x in snap["frame_count"][zi]],
        "captured": {k: h.get(k) for k in ("time", "kernel", "seconds", "processes",
                                            "kernel_threads", "attempt")},
        "unreadable": h.get("unreadable", []), "exited": h.get("exited", []),
        "vanished": h.get("vanished", []), "appeared": h.get("appeared", []),
    }


DISAGREEMENTS = {
    "count changed during capture":
        "the kernel's count of the frame differed before and after the pagemaps were read: "
        "a process forked, faulted, unmapped or exited while the capture ran",
    "mapped only during capture":
        "count 0 both before and after: a page mapped briefly while the capture ran (e.g. the "
        "capturing process's own read buffers)",
    "process exited during capture":
        "mapped by a process whose pagemap was read but which was gone by the end",
    "large folio":
        "part of a large folio (THP or mTHP): the kernel may count its mappings per folio, "
        "the simulation per 4 KiB frame",
    "KSM page": "a KSM-merged page (its mappings may include ones the snapshot missed)",
    "mapped by processes not captured":
        "the kernel counts more mappings than the snapshot saw: the frame is also mapped by a "
        "process whose pagemap could not be read (see unreadable) or that started during "
        "the capture (see appeared)",
    "unmapped during capture":
        "the snapshot saw more mappings than the kernel counted afterwards: unmapped between "
        "its pagemap read and the kpagecount read",
}


def _pct(x):
    """A percentage with three decimals, rounded down (99.9996% is not 100.000%)."""
    return f"{np.floor(x * 100_000) / 1000:.3f}"


def format_report(r: dict) -> str:
    c = r["captured"]
    lines = [
        f"snapshot {r['path']}: {c['processes']} processes ({c['kernel_threads']} kernel "
        f"threads skipped), captured {c['time']} on {c['kernel']} in {c['seconds']} s "
        f"(attempt {c.get('attempt') or 1}; {r['changed_frames']} frames changed count "
        f"meanwhile)",
        f"loaded: {r['processes']} processes, {r['vmas']} vmas, {r['ptes']} present ptes, "
        f"{r['objects']} files/objects ({r['shmem_objects']} shmem), {r['frames_mapped']} "
        f"mapped frames + {r['page_table_frames']} page-table frames in a machine of "
        f"{r['frames']} frames ({r['free']} free); invariants {r['invariants']}",
        f"agreement with kpagecount: {r['frames_agreeing']} / {r['frames_mapped']} frames = "
        f"{_pct(r['agreement'])}% (simulated mappings {r['sim_mappings']}, kernel "
        f"{r['kernel_mappings']})",
    ]
    lines.append(f"  frames the machine left alone while it was read (kpagecount the same "
                 f"before and after, no mapper gone): {r['frames_steady_agreeing']} / "
                 f"{r['frames_steady']} "
                 f"agree = {_pct(r['steady_agreement'])}%")
    for name, d in r["disagreements"].items():
        lines.append(f"  {d['frames']:>7} frames: {name} (kernel - simulated = "
                     f"{d['kernel_minus_sim']:+d}): {DISAGREEMENTS[name]}")
    lines.append(f"  ZERO_PAGE: {r['zero_page_ptes']} ptes map it (never rmapped; its "
                 f"kpagecount is {r['zero_page_kpagecount'] or '-'})")
    for what, v in r["skipped"].items():
        if v:
            lines.append(f"  not installed: {v} {what}")
    if r["identity_conflicts"]:
        lines.append(f"  {r['identity_conflicts']} file frames claimed a page-cache block "
                     f"already taken; loaded as anonymous pages")
    if r["unreadable"]:
        lines.append("  unreadable processes: " + ", ".join(
            f"{p} {n} ({why})" for p, n, why in r["unreadable"]))
    for what in ("exited", "vanished", "appeared"):
        if r[what]:
            ids = [str(x[0] if isinstance(x, list) else x) for x in r[what]]
            lines.append(f"  {what} during capture: {', '.join(ids[:20])}"
                         + (" ..." if len(ids) > 20 else ""))
    return "\n".join(lines)
