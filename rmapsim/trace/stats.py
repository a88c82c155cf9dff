"""What a trace holds: references, reads and writes, distinct pages, processes, footprint, and
the working-set size over time (``rmapsim trace info``).

The working set is Denning's ``W(t, tau)``: the distinct pages among the ``tau`` references
before virtual time ``t`` (time counted in references). It is sampled at the end of every
window of ``tau`` references, ``t = tau, 2 tau, ...``, i.e. over consecutive, non-overlapping
windows; a last, shorter window is reported with its own length. A page is a (pid, virtual
page) pair, as the simulator sees it; one pass, streamed, with the distinct pages held in memory.
"""
from __future__ import annotations

import numpy as np

from rmapsim.trace.events import OP_WRITE, PAGE_SIZE
from rmapsim.sim.future import ref_keys


def _window_counts(keys: np.ndarray, tau: int) -> np.ndarray:
    """Distinct keys in each run of ``tau`` consecutive keys (``len(keys) % tau == 0``)."""
    win = np.arange(len(keys), dtype=np.int64) // tau
    order = np.lexsort((keys, win))
    k, w = keys[order], win[order]
    new = np.ones(len(k), bool)
    new[1:] = (k[1:] != k[:-1]) | (w[1:] != w[:-1])
    return np.bincount(w[new], minlength=len(keys) // tau)


def trace_info(trace, window: int = 10_000, chunk: int = 1 << 20) -> dict:
    """A dict: format, bare, events, references, reads, writes, distinct_pages, processes,
    footprint_bytes and ``wss`` = {tau, t: [...], pages: [...], last_window}."""
    window = int(window)
    if window < 1:
        raise ValueError(f"window must be at least 1 reference, not {window}")
    events = refs = writes = 0
    pids = np.zeros(0, np.uint32)
    distinct = np.zeros(0, np.int64)
    pending = np.zeros(0, np.int64)
    ts, ws = [], []
    for ev in trace.chunks(chunk):
        events += len(ev)
        is_ref = ev["op"] <= OP_WRITE
        writes += int((ev["op"] == OP_WRITE).sum())
        pids = np.union1d(pids, np.unique(ev["pid"]))
        r = ev[is_ref]
        keys = ref_keys(r, False, 0)
        refs += len(keys)
        distinct = np.union1d(distinct, np.unique(keys))
        keys = np.concatenate([pending, keys]) if len(pending) else keys
        full = len(keys) - len(keys) % window
        if full:
            counts = _window_counts(keys[:full], window)
            start = len(ts)
            ts.extend(range((start + 1) * window, (start + len(counts)) * window + 1, window))
            ws.extend(counts.tolist())
        pending = keys[full:]
    last = None
    if len(pending):
        last = {"t": refs, "refs": len(pending), "pages": int(len(np.unique(pending)))}
    return {
        "path": trace.path, "format": trace.format, "bare": trace.bare,
        "events": events, "references": refs, "reads": refs - writes, "writes": writes,
        "distinct_pages": int(len(distinct)), "processes": int(len(pids)) if events else 0,
        "footprint_bytes": int(len(distinct)) * PAGE_SIZE,
        "wss": {"tau": window, "t": ts, "pages": ws, "last_window": last},
    }


def _mib(pages: int) -> str:
    return f"{pages * PAGE_SIZE / (1 << 20):,.2f}"


def format_table(info: dict, max_rows: int = 40) -> str:
    """The summary and the W(t, tau) samples (at most ``max_rows``, evenly spaced)."""
    w = info["wss"]
    lines = [
        f"trace            {info['path']} ({info['format']}{', bare' if info['bare'] else ''})",
        f"events           {info['events']:,}",
        f"references       {info['references']:,}  (reads {info['reads']:,}, writes {info['writes']:,})",
        f"distinct pages   {info['distinct_pages']:,}",
        f"processes        {info['processes']:,}",
        f"footprint        {_mib(info['distinct_pages'])} MiB ({info['distinct_pages']:,} pages of 4 KiB)",
    ]
    rows = list(zip(w["t"], w["pages"]))
    if w["last_window"]:
        lw = w["last_window"]
        rows.append((lw["t"], lw["pages"]))
    if not rows:
        return "\n".join(lines)
    values = [p for _, p in rows]
    lines.append(f"working set      W(t, tau={w['tau']:,}): distinct pages in the tau references "
                 f"before t; min {min(values):,}, mean {sum(values) / len(values):,.1f}, "
                 f"max {max(values):,} pages")
    shown = rows
    if len(rows) > max_rows:
        pick = np.unique(np.linspace(0, len(rows) - 1, max_rows).round().astype(int))
        shown = [rows[i] for i in pick]
        lines.append(f"                 ({len(shown)} of {len(rows)} samples shown; --json for all)")
    width = max(len(f"{rows[-1][0]:,}"), 1)
    lines.append(f"  {'t':>{width}}  {'W (pages)':>10}  {'MiB':>9}")
    lw = w["last_window"]
    for t, p in shown:
        note = f"  (the last {lw['refs']:,} references)" if lw and t == lw["t"] else ""
        lines.append(f"  {t:>{width},}  {p:>10,}  {_mib(p):>9}{note}")
    return "\n".join(lines)


def plot(info: dict, fmt: str = "png") -> bytes:
    """W(t, tau) against t as an image (``fmt``: png, svg or pdf)."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    w = info["wss"]
    t, p = list(w["t"]), list(w["pages"])
    if w["last_window"]:
        t.append(w["last_window"]["t"])
        p.append(w["last_window"]["pages"])
    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.step(t, p, where="pre", color="C0")
    ax.set_xlabel("virtual time t (references)")
    ax.set_ylabel("W(t, τ) (pages)")
    ax.set_title(f"working set of {info['path']} (τ = {w['tau']:,} references)", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    sec = ax.secondary_yaxis("right", functions=(lambda x: x * PAGE_SIZE / (1 << 20),
                                                 lambda m: m * (1 << 20) / PAGE_SIZE))
    sec.set_ylabel("MiB")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return buf.getvalue()
