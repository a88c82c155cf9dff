"""A loaded snapshot's agreement with the kernel: the simulated mapcount of every frame
against its kpagecount, each disagreement explained, and the text report."""
from __future__ import annotations

import numpy as np

from rmapsim.sim.snapshot.fileformat import _kpf
from rmapsim.sim.snapshot.plan import Plan


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
