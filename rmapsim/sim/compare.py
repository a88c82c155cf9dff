"""``rmapsim compare``: replay one trace under several policies and set the results side by side.

``compare(trace, policies, **run_options)`` runs each policy on the same trace (a path, a
``Trace`` or an event array; the trace is re-read from the start for every policy) and returns
the ``Result`` objects. ``rows(results)`` gives one dict per policy: the keys of
``Result.to_dict()`` (those of ``rmapsim run --json``, ``policy`` among them) plus the derived
ratios ``scanned_per_freed`` and ``ptes_per_freed`` (None when nothing was freed), and with
``relative_to`` a policy, ``misses_relative``: misses (faults that had to bring a page into
memory; minor faults on pages still in memory are not a policy's doing) as a multiple of that
policy's. With ``opt``, how far each policy is from the floor Belady's MIN sets.
``format_table``, ``format_csv``, ``format_json`` and ``plot`` render them; ``write_atomic``
writes text or bytes through a temporary file renamed over the target.
"""
from __future__ import annotations

import csv
import io
import json

from rmapsim.errors import ConfigError
from rmapsim.fileio import write_atomic  # noqa: F401  (re-exported for callers)

# (key, table heading, kind): kind "n" integer, "r" ratio, "s" simulated ns shown in seconds
COLUMNS = (
    ("policy", "policy", "t"),
    ("minor_faults", "minor faults", "n"),
    ("major_faults", "major faults", "n"),
    ("scanned_per_freed", "scanned/freed", "r"),
    ("ptes_per_freed", "ptes/freed", "r"),
    ("kswapd_time_ns", "kswapd time", "s"),
    ("direct_reclaims", "direct reclaims", "n"),
    ("sim_time_ns", "total time", "s"),
    ("oom_kills", "OOM kills", "n"),
)


def parse_policies(text: str) -> list[str]:
    """'a,b,c' -> ['a', 'b', 'c'], each a known policy or a policy file, none twice."""
    from rmapsim.mm.vmscan import get_policy
    names = [p.strip() for p in str(text).split(",")]
    if not text or any(not p for p in names):
        raise ConfigError(f"--policies expects a comma-separated list of policies, not {text!r}")
    for p in names:
        get_policy(p)
    dup = sorted({p for p in names if names.count(p) > 1})
    if dup:
        raise ConfigError(f"policy {dup[0]!r} given twice in --policies")
    return names


def split_params(policies, params) -> dict:
    """Per policy, the parameters that reach it: its own parameters and every machine or cost
    parameter. A name no policy of the list and no machine knows is an error."""
    from rmapsim.mm.vmscan import get_policy
    from rmapsim.sim.config import cost_fields, machine_fields
    params = dict(params or {})
    machine = machine_fields() | cost_fields()
    mods = {p: get_policy(p) for p in policies}
    for k in params:
        if k not in machine and not any(k in m.PARAMS for m in mods.values()):
            raise ConfigError(f"parameter {k!r} belongs to none of the policies "
                              f"{', '.join(policies)} and is no machine or cost parameter")
    return {p: {k: v for k, v in params.items() if k in machine or k in m.PARAMS}
            for p, m in mods.items()}


def compare(trace, policies, *, params=None, progress=False, **run_options) -> list:
    """Run every policy of ``policies`` on ``trace``; the Results in the same order (pass
    ``timeline=True`` to sample each run for ``plot_png``'s lines)."""
    from rmapsim.sim.api import _as_trace, run
    if isinstance(policies, str):
        policies = parse_policies(policies)
    per_policy = split_params(policies, params)
    t = _as_trace(trace, run_options.pop("format", None))
    return [run(t, policy=p, params=per_policy[p], progress=progress, **run_options)
            for p in policies]


def _ratio(a, b):
    return a / b if b else None


def rows(results, relative_to: str | None = None) -> list[dict]:
    out = []
    for r in results:
        d = r.to_dict()
        d["scanned_per_freed"] = _ratio(d["pages_scanned"], d["pages_freed"])
        d["ptes_per_freed"] = _ratio(d["ptes_visited"], d["pages_freed"])
        out.append(d)
    if relative_to is not None:
        base = next((d for d in out if d["policy"] == relative_to), None)
        if base is None:
            raise ConfigError(f"--relative-to {relative_to}: that policy is not among the runs")
        for d in out:
            d["misses_relative"] = _ratio(d["misses"], base["misses"])
            d["relative_to"] = relative_to
    return out


def with_baseline(policies: list[str], relative_to: str | None) -> list[str]:
    """The policies to run: the given ones, plus the baseline at the end if it is missing."""
    if relative_to is None or relative_to in policies:
        return list(policies)
    parse_policies(relative_to)
    return list(policies) + [relative_to]


def _columns(rs):
    cols = list(COLUMNS)
    if rs and "misses_relative" in rs[0]:
        cols.insert(1, ("misses", "misses", "n"))
        cols.insert(2, ("misses_relative", f"misses/{rs[0]['relative_to']}", "r"))
    return cols


def _cell(value, kind) -> str:
    if kind == "t":
        return str(value)
    if value is None:
        return "-"
    if kind == "r":
        return f"{value:.2f}"
    if kind == "s":
        return f"{value / 1e9:.3f} s"
    return f"{int(value):,}"


def format_table(rs: list[dict]) -> str:
    """A plain-text table, one line per policy, with a heading naming the trace and machine."""
    cols = _columns(rs)
    if any(r.get("integrity_errors") or r.get("violation") for r in rs):
        cols.append(("integrity_errors", "integrity errors", "n"))
    head = [h for _, h, _ in cols]
    body = [[_cell(r.get(k), kind) for k, _, kind in cols] for r in rs]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = []
    if rs:
        r = rs[0]
        lines.append(f"trace {r['trace']}: {r['frames']:,} frames "
                     f"({r['frames'] * 4096 / 2**20:g} MiB), {r['geometry']} page tables, "
                     f"{r['references']:,} references")
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    lines.append(fmt(head))
    lines += [fmt(b) for b in body]
    return "\n".join(lines)


def format_csv(rs: list[dict]) -> str:
    """CSV of the table's columns with raw values (ns, full-precision ratios; empty = none),
    plus the trace, frames and integrity errors."""
    keys = [k for k, _, _ in _columns(rs)] + ["integrity_errors", "frames", "trace"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys)
    for r in rs:
        w.writerow(["" if r.get(k) is None else (repr(r[k]) if isinstance(r[k], float) else r[k])
                    for k in keys])
    return buf.getvalue().rstrip("\n")


def format_json(rs: list[dict]) -> str:
    return json.dumps(rs, indent=1)


def plot_png(rs: list[dict], timelines=None) -> bytes:
    """The comparison as bar charts, one panel per column, one bar per policy, and, given the
    runs' ``Timeline``s, free memory and cumulative faults over simulated time as lines, one per
    policy; PNG bytes."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    names = [r["policy"] for r in rs]
    plot_columns = [c for c in _columns(rs) if c[0] != "policy"]
    n = len(plot_columns)
    ncols = 4
    lines = [tl for tl in (timelines or []) if tl is not None and len(tl.sim_time_ns)]
    nrows = -(-n // ncols) + (1 if lines else 0)
    fig = Figure(figsize=(3.2 * ncols, 2.8 * nrows), dpi=100)
    colors = [f"C{i % 10}" for i in range(len(names))]
    for i, (key, head, kind) in enumerate(plot_columns):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        vals = [r.get(key) for r in rs]
        vals = [0.0 if v is None else (v / 1e9 if kind == "s" else float(v)) for v in vals]
        ax.bar(range(len(names)), vals, color=colors)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_title(head + (" (s)" if kind == "s" else ""), fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        if not any(vals):
            ax.set_ylim(0, 1)
    if lines:
        first = ncols * (nrows - 1) + 1
        for j, (key, head) in enumerate((("free_pages", "free pages"), ("faults", "faults"),
                                         ("major_faults", "major faults"))):
            ax = fig.add_subplot(nrows, ncols, first + j)
            for name, tl, color in zip(names, timelines, colors):
                if tl is not None and len(tl.sim_time_ns):
                    ax.plot(tl.sim_time_ns / 1e9, getattr(tl, key), color=color, label=name,
                            linewidth=1)
            ax.set_xlabel("simulated time (s)", fontsize=8)
            ax.set_title(head + " over time", fontsize=9)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.legend(fontsize=7)
    if rs:
        fig.suptitle(f"{rs[0]['trace']}: {rs[0]['frames'] * 4096 / 2**20:g} MiB, "
                     f"{rs[0]['geometry']}", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
