"""Live-machine snapshots: capture the running Linux system, load it as a simulation's start.

One module a job:

- ``capture``: read the running system from ``/proc`` (``rmapsim snapshot -o FILE`` is
  ``capture`` + ``save``);
- ``fileformat``: the snapshot file (the arrays, their bits, ``save`` and ``read``);
- ``plan``: from a snapshot to the flat arrays ``snapshot_install`` (``mm/snapshot.py``) takes;
- ``load``: a booted simulated machine holding a snapshot (``load``, ``frames_for``);
- ``report``: the loaded machine's agreement with the kernel, and its text report.

The names below are the ones callers use, importable from ``rmapsim.sim.snapshot``.
"""
from rmapsim.sim.snapshot.capture import capture
from rmapsim.sim.snapshot.fileformat import (ARRAYS, FORMAT, KPF, PAGE, PM_EXCLUSIVE, PM_FILE,
                                             PM_PFN, PM_PRESENT, PM_SWAP, PROT_R, PROT_S,
                                             PROT_W, PROT_X, VERSION, VMF_HUGEPAGE, VMF_IO,
                                             VMF_MIXEDMAP, VMF_PFNMAP, SnapshotError, _kpf, read,
                                             save)
from rmapsim.sim.snapshot.load import Loaded, frames_for, load
from rmapsim.sim.snapshot.plan import Plan, plan
from rmapsim.sim.snapshot.report import DISAGREEMENTS, agreement, format_report

__all__ = ["ARRAYS", "DISAGREEMENTS", "FORMAT", "KPF", "PAGE", "PM_EXCLUSIVE", "PM_FILE",
           "PM_PFN", "PM_PRESENT", "PM_SWAP", "PROT_R", "PROT_S", "PROT_W", "PROT_X", "VERSION",
           "VMF_HUGEPAGE", "VMF_IO", "VMF_MIXEDMAP", "VMF_PFNMAP", "Loaded", "Plan",
           "SnapshotError", "agreement", "capture", "format_report", "frames_for", "load",
           "plan", "read", "save", "_kpf"]
