"""From a snapshot to install arrays: the objects, processes, vmas, frames and ptes a
snapshot becomes, as the flat int64 arrays ``snapshot_install`` (``mm/snapshot.py``) takes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rmapsim.errors import ConfigError
from rmapsim.sim.snapshot.fileformat import (PM_FILE, PM_PFN, PM_PRESENT, PROT_S, PROT_W,
                                             VMF_IO, VMF_PFNMAP, _kpf)

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
    from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_RW, VM_FILE, VM_SHARED, VM_WRITE)
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
