"""The results of a run's high-order requests (``mm/highorder.py``'s log) and of its
fragmentation (``mm/vmstat.py``), as Python values for Result and reports."""
from __future__ import annotations

import numpy as np

from rmapsim.mm.layout import G_CONTIG_LEN, G_MAX_ORDER, LOG_COLS, N_LOG_COLS, OUTCOMES
from rmapsim.mm.vmstat import buddyinfo, extfrag_index, unusable_free_index


def request_log(st) -> list[dict]:
    """One dict per request, in trace order: LOG_COLS, the outcome's name, and ``buddyinfo``
    (free blocks per order just before it)."""
    n_orders = int(st.g[G_MAX_ORDER]) + 1
    rows = np.asarray(st.contig_log[:int(st.g[G_CONTIG_LEN]) * (N_LOG_COLS + n_orders)])
    out = []
    for r in rows.reshape(-1, N_LOG_COLS + n_orders).tolist():
        d = dict(zip(LOG_COLS, r[:N_LOG_COLS]))
        d["kind"] = ("kernel", "huge")[d["kind"]]
        d["outcome"] = OUTCOMES[d["outcome"]]
        d["buddyinfo"] = r[N_LOG_COLS:]
        out.append(d)
    return out


def latency_ns(req: dict, costs) -> float:
    """A request's latency in simulated time: its scans, copies and writes at the cost model's
    prices (an allocation met at once costs nothing beyond the fault it serves)."""
    return (req["scanned"] * costs.page_scan_ns + req["migrated"] * costs.page_copy_ns
            + req["written"] * costs.disk_write_ns)


def summary(requests: list[dict], costs) -> dict:
    """Per order: requests, each outcome, the success rate, the mean latency, and pages
    scanned, reclaimed and migrated per page of a successful block."""
    out = {}
    for order in sorted({r["order"] for r in requests}):
        rs = [r for r in requests if r["order"] == order]
        ok = [r for r in rs if r["outcome"] not in ("failed", "impossible")]
        d = {"requests": len(rs)}
        d.update((o, sum(r["outcome"] == o for r in rs)) for o in OUTCOMES)
        d["success_rate"] = round(len(ok) / len(rs), 6)
        d["mean_latency_ns"] = int(round(sum(latency_ns(r, costs) for r in rs) / len(rs)))
        pages = len(ok) << order
        for k in ("scanned", "reclaimed", "migrated"):
            d[f"{k}_per_page"] = round(sum(r[k] for r in rs) / pages, 4) if pages else None
        out[str(order)] = d
    return out


def fragmentation(st) -> dict:
    """The end state: /proc/buddyinfo and both indices of mm/vmstat.c for every order."""
    counts = buddyinfo(st)
    return {"buddyinfo": counts,
            "unusable_free_index": [unusable_free_index(counts, o) for o in range(len(counts))],
            "extfrag_index": [extfrag_index(counts, o) for o in range(len(counts))]}


FRAME_KINDS = ("free", "anonymous", "file", "page table", "kernel", "huge", "pinned")


def frame_kinds(st) -> np.ndarray:
    """What each frame holds now, an index into FRAME_KINDS (the picture of physical memory)."""
    from rmapsim.mm.layout import (PG_anon, PG_buddy, PG_huge, PG_kernel, PG_locked,
                                   PG_pagetable, PG_reserved, PG_swapcache)
    flags = np.asarray(st.page_flags).astype(np.int64)
    count = np.asarray(st.page_count)
    kinds = np.full(len(flags), FRAME_KINDS.index("kernel"), np.int8)
    expected = (np.asarray(st.page_mapcount) + ((flags & PG_swapcache) != 0)
                + (np.asarray(st.page_mapping) >= 0))
    user = (flags & (PG_reserved | PG_pagetable)) == 0
    kinds[user & ((flags & PG_anon) != 0)] = FRAME_KINDS.index("anonymous")
    kinds[user & ((flags & PG_anon) == 0) & (np.asarray(st.page_mapping) >= 0)] = FRAME_KINDS.index("file")
    kinds[user & ((count > expected) | ((flags & PG_locked) != 0))] = FRAME_KINDS.index("pinned")
    kinds[(flags & PG_pagetable) != 0] = FRAME_KINDS.index("page table")
    kinds[(flags & PG_huge) != 0] = FRAME_KINDS.index("huge")
    kinds[((flags & PG_kernel) != 0)] = FRAME_KINDS.index("kernel")
    kinds[((flags & PG_buddy) != 0) | ((flags == 0) & (count == 0))] = FRAME_KINDS.index("free")
    return kinds
