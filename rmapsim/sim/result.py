"""What a run reports: the kernel's counters, and simulated time from the cost model.

Simulated time is derived from the counters after the run, so the hot loop keeps only integer
counts. The machine is a uniprocessor (the seed's 486): the process's time, kswapd's CPU time
and the I/O the reclaim waits on add up; no overlap of I/O with computation is modelled.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from rmapsim.mm.layout import COUNTERS, RMAP_METRICS, RMAP_OPS
from rmapsim.sim.config import Costs, Machine


def simulated_times(c: dict, k: Costs) -> dict:
    disk_reads = c["file_reads"] - c["nfs_reads"]
    fault_ns = (c["faults"] * k.minor_fault_ns + c["swap_ins"] * k.swap_read_ns
                + disk_reads * k.disk_read_ns + c["nfs_reads"] * k.nfs_read_ns
                + c["pages_zeroed"] * k.page_zero_ns + c["pages_copied"] * k.page_copy_ns)
    # write-back time per device, split between contexts by their share of write-backs
    wb_ns = ((c["writebacks"] - c["nfs_writes"]) * k.disk_write_ns
             + c["nfs_writes"] * k.nfs_write_ns)
    per_wb = wb_ns / c["writebacks"] if c["writebacks"] else 0.0

    def reclaim_ns(prefix):
        return (c[prefix + "pages_scanned"] * k.page_scan_ns
                + c[prefix + "ptes_visited"] * k.pte_visit_ns
                + c[prefix + "swap_outs"] * k.swap_write_ns
                + c[prefix + "writebacks"] * per_wb)

    kswapd_ns = reclaim_ns("kswapd_")
    direct_ns = reclaim_ns("direct_")
    # the rmap design's own bookkeeping: steps along a pte chain or list (to unlink a pte or a
    # vma), and vmas an object-based walk looked in (each a page-table lookup)
    rmap_ns = c["rmap_chain_steps"] * k.rmap_step_ns + c["rmap_vmas_visited"] * k.vma_visit_ns
    # contiguity work done in the allocating context: pages moved and compaction's scanners
    contig_ns = (c.get("pages_migrated", 0) * k.page_copy_ns
                 + (c.get("compact_migrate_scanned", 0) + c.get("compact_free_scanned", 0))
                 * k.page_scan_ns)
    process_ns = c["references"] * k.reference_ns + fault_ns + direct_ns + rmap_ns + contig_ns
    return {
        "sim_time_ns": int(round(process_ns + kswapd_ns)),
        "process_time_ns": int(round(process_ns)),
        "kswapd_time_ns": int(round(kswapd_ns)),
        "direct_reclaim_time_ns": int(round(direct_ns)),
        "fault_time_ns": int(round(fault_ns)),
    }


def rmap_op_keys():
    """The counters of rmap work per operation: ``rmap_<op>_<metric>`` (layout.RMAP_OPS)."""
    return [f"rmap_{op}_{m}" for op in RMAP_OPS for m in RMAP_METRICS]


def rmap_ops(c: dict, k: Costs) -> dict:
    """The rmap design's work per operation, and its simulated time at the cost model's
    prices: ``{op}_{metric}`` and ``{op}_time_ns``."""
    out = {}
    for op in RMAP_OPS:
        n = [c.get(f"rmap_{op}_{m}", 0) for m in RMAP_METRICS]
        out.update((f"{op}_{m}", v) for m, v in zip(RMAP_METRICS, n))
        out[f"{op}_time_ns"] = int(round(n[0] * k.pte_visit_ns + n[1] * k.vma_visit_ns
                                         + n[2] * k.rmap_step_ns))
    return out


@dataclass
class Timeline:
    """The run sampled every few thousand events: simulated time, free pages and cumulative
    references, faults and major faults at each sample (numpy arrays of equal length)."""
    sim_time_ns: np.ndarray
    free_pages: np.ndarray
    references: np.ndarray
    faults: np.ndarray
    major_faults: np.ndarray

    @classmethod
    def from_samples(cls, samples, costs: Costs) -> "Timeline":
        rows = [dict(zip(COUNTERS, cnt.tolist())) for cnt, _ in samples]
        for r in rows:
            r["references"] = r["reads"] + r["writes"]
        return cls(
            sim_time_ns=np.array([simulated_times(r, costs)["sim_time_ns"] for r in rows], np.int64),
            free_pages=np.array([free for _, free in samples], np.int64),
            references=np.array([r["references"] for r in rows], np.int64),
            faults=np.array([r["faults"] for r in rows], np.int64),
            major_faults=np.array([r["major_faults"] for r in rows], np.int64))


@dataclass
class Result:
    counters: dict
    machine: Machine
    policy: str
    params: dict
    trace: str
    violation: str | None = None
    extra: dict = field(default_factory=dict)
    timeline: Timeline | None = None
    rmap: str = "pte-chain"
    contig: str = "none"
    requests: list = field(default_factory=list)    # one dict per high-order request
    frame_map: object = None                        # what each frame holds at the end

    def to_dict(self) -> dict:
        d = {"trace": self.trace, "policy": self.policy, "rmap": self.rmap}
        if self.contig != "none" or self.counters.get("highorder_requests"):
            d["contig"] = self.contig
        d.update({k: int(self.counters[k]) for k in COUNTERS})
        d.update(simulated_times(self.counters, self.machine.costs))
        d["rmap_ops"] = rmap_ops(self.counters, self.machine.costs)
        d["frames"] = self.machine.frames
        d["geometry"] = self.machine.geometry
        d["cache_mode"] = self.machine.cache_mode
        d["params"] = dict(self.params)
        d.update(self.extra)
        if self.violation:
            d["violation"] = self.violation
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    def format_line(self) -> str:
        """One parseable line: space-separated key=value, the keys of to_dict in order. A
        violation's free text is left out (it is in to_dict and the CLI prints it apart)."""
        d = self.to_dict()
        d.pop("violation", None)
        parts = []
        for k, v in d.items():
            if isinstance(v, dict) and any(isinstance(b, (dict, list)) for b in v.values()):
                v = json.dumps(v, separators=(",", ":"))    # nested (highorder): no spaces
            elif isinstance(v, dict):
                v = ",".join(f"{a}={b}" for a, b in v.items()) or "-"
            parts.append(f"{k}={v}")
        return " ".join(parts)

    def incomplete(self) -> str | None:
        """None if every event of the trace was replayed, else one line: how many were not,
        why, and what would change it."""
        c = self.counters
        if not (c["ignored_events"] or c["oom_kills"] or c["segfaults"]):
            return None
        why = []
        if c["oom_kills"]:
            why.append(f"{c['oom_kills']:,} process{'es' if c['oom_kills'] > 1 else ''} "
                       f"OOM-killed: give more --mem, or swap (--param swap_pages=N)")
        if c["segfaults"]:
            why.append(f"{c['segfaults']:,} killed by a segfault: a reference outside the "
                       f"process's mappings")
        if c["ignored_events"] and not why:
            why.append("events of processes that had exited")
        total = self.extra.get("trace_references")
        of = f" of the trace's {total:,}" if total is not None else ""
        return (f"incomplete: {c['ignored_events']:,} events not replayed ({'; '.join(why)}); "
                f"the counts are of the {c['references']:,} references replayed{of}")

    def __getitem__(self, k):
        return self.to_dict()[k]
