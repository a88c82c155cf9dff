"""Capture the running Linux system from ``/proc`` (as root) into a snapshot dict.

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

The dict's arrays and header are those of the file (``fileformat``); ``save`` writes it.
"""
from __future__ import annotations

import os
import re
import time

import numpy as np

from rmapsim.errors import ConfigError
from rmapsim.sim.snapshot.fileformat import (FORMAT, PAGE, PM_PFN, PM_PRESENT, PM_SWAP, PROT_R,
                                             PROT_S, PROT_W, PROT_X, VERSION, VMF_HUGEPAGE,
                                             VMF_IO, VMF_MIXEDMAP, VMF_PFNMAP, SnapshotError,
                                             _kpf)

_VMFLAG_BITS = {"pf": VMF_PFNMAP, "io": VMF_IO, "mm": VMF_MIXEDMAP, "hg": VMF_HUGEPAGE}
_HEAD = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ([r-])([w-])([x-])([ps]) ([0-9a-f]+) "
                   r"([0-9a-f]+):([0-9a-f]+) (\d+)\s*(.*)$")
_READ_PAGES = 1 << 16          # pagemap entries per read
_SMALL_VMA = 1 << 30           # pagemap is read over every vma up to this size
_UNKNOWN_VMA_MAX = 16 << 30    # a vma new since smaps was read: read its pagemap up to this size


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
