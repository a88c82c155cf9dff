"""Load a snapshot into the simulator: a booted simulated machine holding it.

``load`` turns a snapshot into a booted simulated machine: the frames become dense simulated
frames, the processes and vmas are made, and every present pte is installed by compiled code
(``mm/snapshot.py``), so frames shared in the kernel are shared in the simulation.
``frames_for`` sizes the RAM for it; the report of the load is ``report.agreement``'s.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from rmapsim.errors import ConfigError
from rmapsim.sim.snapshot.fileformat import PAGE, read
from rmapsim.sim.snapshot.plan import Plan, plan
from rmapsim.sim.snapshot.report import agreement


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
         check=False, cache_mode=False, rmap="pte-chain"):
    """Boot a machine holding the snapshot at ``path``: (pol, pvals, Machine, State, StructRef,
    Loaded). RAM defaults to what the snapshot needs plus an eighth of its frames free."""
    from rmapsim.mm.debug import check_invariants
    from rmapsim.mm.snapshot import INSTALL_OK, snapshot_install
    from rmapsim.mm.state import G_ADDR_LIMIT, G_NR_FREE, G_ZERO_FRAME, make_room
    from rmapsim.sim.api import _boot_state, policy_and_params
    from rmapsim.sim.config import GEOMETRIES, build_machine
    if cache_mode:
        raise ConfigError("a snapshot loads into kernel mode (page tables, ZERO_PAGE, "
                          "watermarks): drop --cache-mode")
    snap = read(path)
    pol, pvals, rest = policy_and_params(policy, params)
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
    from rmapsim.mm.rmap import get_design
    pol, pvals, m, st, s = _boot_state(pol, pvals, m, check, get_design(rmap))
    # room for the whole snapshot before the install, so it never runs out midway; a design's
    # pool may need a unit per pte (anon_vma_chain links a vma to each anonymous page's
    # anon_vma that processes not related by fork share, as a real machine's pages can be)
    from rmapsim.mm.layout import G_N_RMAP, G_RMAP_PER_PTE
    per_pte = int(st.g[G_RMAP_PER_PTE])
    if st.g[G_N_RMAP]:
        st.g[G_RMAP_PER_PTE] = max(per_pte, 1)
    st, s = make_room(st, tables=pl.tables + levels + 8, vmas=len(pl.v["v_start"]) + 8,
                      mms=len(pl.pids) + 8, entries=max(len(pl.pids), len(pl.o_fid)) + 8,
                      ptes=len(pl.p["p_vma"]))
    st.g[G_RMAP_PER_PTE] = per_pte
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
