"""``rmapsim compare``: replay one trace under several policies, several reverse-mapping
designs, or a grid of both, and set the results side by side.

``compare(trace, policies, rmaps=None, **run_options)`` runs each policy on the same trace (a
path, a ``Trace`` or an event array; the trace is re-read from the start for every run), under
each design of ``rmaps`` if given (policy-major order), and returns the ``Result`` objects.
``rows(results)`` gives one dict per run: the keys of ``Result.to_dict()`` (those of ``rmapsim
run --json``, ``policy`` and ``rmap`` among them) plus the derived ratios ``scanned_per_freed``
and ``ptes_per_freed`` (None when nothing was freed); with ``relative_to`` a policy,
``misses_relative``: misses (faults that had to bring a page into memory; minor faults on pages
still in memory are not a policy's doing) as a multiple of that policy's (under the same
design). With ``opt``, how far each policy is from the floor Belady's MIN sets. When designs
are compared (``by_rmap``, by default when the runs have more than one), each row also says
whether its faults differ from the first design's under the same policy (``faults_differ``):
a design only finds ptes, so they should not, unless it changes what the kernel has (the
page-table order changes the RAM left to processes).

The column being varied decides the columns: for policies, faults and the reclaim's work and
time; for designs, the faults (the same for every design), the design's metadata
(``rmap_bytes_peak``, ``rmap_bytes`` at the end) and walking (``ptes_visited``,
``rmap_chain_steps``, ``rmap_vmas_visited``) and the simulated time. ``format_table``,
``format_csv``, ``format_json`` and ``plot_png`` render either; ``write_atomic`` writes text or
bytes through a temporary file renamed over the target.

``compare(..., contigs=...)`` also runs each contiguity strategy (``mm/contig/``) on a trace
with high-order requests; the rows are then compared by ``CONTIG_COLUMNS``: requests met, pages
reclaimed and migrated, the faults the workload took, and the time.
"""
from __future__ import annotations

import csv
import io
import json

from rmapsim.errors import ConfigError, did_you_mean, option
from rmapsim.fileio import write_atomic  # noqa: F401  (re-exported for callers)

# (key, table heading, kind): kind "t" text, "n" integer, "r" ratio, "s" simulated ns shown in
# seconds. The columns of a comparison of policies:
COLUMNS = (
    ("minor_faults", "minor faults", "n"),
    ("major_faults", "major faults", "n"),
    ("scanned_per_freed", "scanned/freed", "r"),
    ("ptes_per_freed", "ptes/freed", "r"),
    ("kswapd_time_ns", "kswapd time", "s"),
    ("direct_reclaims", "direct reclaims", "n"),
    ("sim_time_ns", "total time", "s"),
    ("oom_kills", "OOM kills", "n"),
)
# of reverse-mapping designs: what must not change, what the design keeps and walks, and the time
CONTIG_COLUMNS = (
    ("highorder_requests", "requests", "n"),
    ("highorder_ok", "met", "n"),
    ("pages_freed", "pages reclaimed", "n"),
    ("pages_migrated", "pages migrated", "n"),
    ("compact_stalls", "compact stalls", "n"),
    ("major_faults", "major faults", "n"),
    ("sim_time_ns", "simulated time", "s"),
)
RMAP_COLUMNS = (
    ("faults", "faults", "n"),
    ("misses", "misses", "n"),
    ("rmap_bytes_peak", "rmap bytes peak", "n"),
    ("rmap_bytes", "rmap bytes end", "n"),
    ("ptes_visited", "ptes visited", "n"),
    ("rmap_chain_steps", "chain steps", "n"),
    ("rmap_vmas_visited", "vmas visited", "n"),
    ("sim_time_ns", "total time", "s"),
)
# what a design must leave as it is: the faults the same trace takes under the same policy
SAME_UNDER_EVERY_DESIGN = ("faults", "misses", "minor_faults", "major_faults")


def _names(text, what: str, one: str, known=None, canon=str) -> list[str]:
    """'a,b,c' -> ['a', 'b', 'c'], none empty, each in ``known`` if given, each as ``canon``
    spells it, none twice. ``what`` names the argument (``policies``, ``rmaps``)."""
    arg = option(what)
    names = [p.strip() for p in str(text).split(",")]
    if not text or any(not p for p in names):
        raise ConfigError(f"{arg} expects a comma-separated list of {_WHAT[what]}, not {text!r}")
    for p in names if known is not None else ():
        if p not in known:
            raise ConfigError(f"{arg}: unknown {one} {p!r}{did_you_mean(p, known)} "
                              f"(known: {', '.join(known)})")
    names = [canon(p) for p in names]
    dup = sorted({p for p in names if names.count(p) > 1})
    if dup:
        raise ConfigError(f"{one} {dup[0]!r} given twice in {arg}")
    return names


_WHAT = {"policies": "policies", "rmaps": "reverse-mapping designs (or all)"}


def parse_policies(text: str) -> list[str]:
    """'a,b,c' -> ['a', 'b', 'c'], each a known policy (its registered name for any spelling
    ``policy_name`` knows) or a policy file, none twice."""
    from rmapsim.mm.vmscan import get_policy, policy_name
    names = _names(text, "policies", "policy", canon=policy_name)
    for p in names:
        get_policy(p)
    return names


def parse_rmaps(value) -> list[str]:
    """'a,b' (or a list of names) -> ['a', 'b'], each a registered reverse-mapping design
    (``rmapsim.mm.rmap.designs()``), none twice; 'all' -> every design, in registry order."""
    from rmapsim.mm.rmap import designs
    known = [m.NAME for m in designs()]
    if not isinstance(value, str):
        value = ",".join(map(str, value))
    if value.strip() == "all":
        return known
    return _names(value, "rmaps", "reverse-mapping design", known)


def split_params(policies, params) -> dict:
    """Per policy, the parameters that reach it: its own parameters and every machine or cost
    parameter. A name no policy of the list and no machine knows is an error."""
    from rmapsim.mm.vmscan import get_policy
    from rmapsim.sim.config import check_param_names, cost_fields, machine_fields
    params = dict(params or {})
    machine = machine_fields() | cost_fields()
    mods = {p: get_policy(p) for p in policies}
    check_param_names(params, list(mods.values()))
    return {p: {k: v for k, v in params.items() if k in machine or k in m.PARAMS}
            for p, m in mods.items()}


def parse_contigs(value) -> list[str]:
    """'none,lumpy' or a list -> strategy names (``rmapsim.mm.contig``); 'all' -> every one."""
    from rmapsim.mm.contig import strategies
    names = [m.NAME for m in strategies()]
    if not isinstance(value, str):
        value = ",".join(value)
    if value == "all":
        return names
    return _names(value, "contig", "contiguity strategy", names)


def compare(trace, policies, *, rmaps=None, params=None, progress=False, contigs=None,
            **run_options) -> list:
    """Run every policy of ``policies`` on ``trace``, under each reverse-mapping design of
    ``rmaps`` if given (names, 'a,b' or 'all'; else under ``rmap``, default pte-chain); the
    Results in policy-major order (pass ``timeline=True`` to sample each run for
    ``plot_png``'s lines)."""
    from rmapsim.mm.rmap import DEFAULT
    from rmapsim.sim.api import _as_trace, run
    if isinstance(policies, str):
        policies = parse_policies(policies)
    if rmaps is None:
        designs = [run_options.pop("rmap", DEFAULT)]
    elif "rmap" in run_options:
        raise ConfigError("give rmap (one design for every run) or rmaps (each), not both")
    else:
        designs = parse_rmaps(rmaps)
    per_policy = split_params(policies, params)
    t = _as_trace(trace, run_options.pop("format", None))
    strategies = [run_options.pop("contig", "none")] if contigs is None else parse_contigs(contigs)
    return [run(t, policy=p, params=per_policy[p], progress=progress, rmap=d, contig=c,
                **run_options)
            for p in policies for d in designs for c in strategies]


def _ratio(a, b):
    return a / b if b else None


def rows(results, relative_to: str | None = None, by_rmap: bool | None = None) -> list[dict]:
    """One dict per run (see the module's docstring). ``by_rmap``: the designs are what is
    compared (default: when the runs have more than one)."""
    out = []
    for r in results:
        d = r.to_dict()
        d["scanned_per_freed"] = _ratio(d["pages_scanned"], d["pages_freed"])
        d["ptes_per_freed"] = _ratio(d["ptes_visited"], d["pages_freed"])
        d.setdefault("contig", "none")
        d["highorder_ok"] = d.get("highorder_requests", 0) - d.get("highorder_failed", 0)
        out.append(d)
    if by_rmap is None:
        by_rmap = len({d["rmap"] for d in out}) > 1
    if by_rmap:
        # a design's page-table order changes the RAM left for pages (the seed's next-pte page
        # doubles every leaf table), so faults are the same only among designs of one order
        from rmapsim.mm.rmap import get_design
        first = {}
        for d in out:
            d["pte_table_order"] = get_design(d["rmap"]).PTE_TABLE_ORDER
            f = first.setdefault((d["policy"], d["pte_table_order"]), d)
            d["faults_differ"] = any(d[k] != f[k] for k in SAME_UNDER_EVERY_DESIGN)
    if relative_to is not None:
        from rmapsim.mm.vmscan import policy_name
        relative_to = policy_name(relative_to)
        for d in out:
            base = next((b for b in out if b["policy"] == relative_to
                         and b["rmap"] == d["rmap"]), None)
            if base is None:
                raise ConfigError(f"{option('relative_to', relative_to)}: that policy is not among "
                                  f"the runs")
            d["misses_relative"] = _ratio(d["misses"], base["misses"])
            d["relative_to"] = relative_to
    return out


def with_baseline(policies: list[str], relative_to: str | None) -> list[str]:
    """The policies to run: the given ones, plus the baseline at the end if it is missing."""
    if relative_to is None:
        return list(policies)
    names = parse_policies(relative_to)
    if len(names) != 1:
        raise ConfigError(f"{option('relative_to', relative_to)}: one policy, not {len(names)}")
    relative_to = names[0]
    return list(policies) + ([] if relative_to in policies else [relative_to])


def _by_rmap(rs) -> bool:
    return bool(rs) and "faults_differ" in rs[0]


def _by_contig(rs) -> bool:
    return len({r["contig"] for r in rs}) > 1


def _keys(rs):
    """The columns naming a run: the policy, the design, the strategy, or several (a grid)."""
    keys = []
    if not (_by_rmap(rs) or _by_contig(rs)) or len({r["policy"] for r in rs}) > 1:
        keys.append(("policy", "policy", "t"))
    if _by_rmap(rs):
        keys.append(("rmap", "rmap", "t"))
    if _by_contig(rs):
        keys.append(("contig", "contig", "t"))
    return keys


def labels(rs) -> list[str]:
    """Each run's name in the comparison: its policy, its design, or policy/design."""
    keys = [k for k, _, _ in _keys(rs)]
    return ["/".join(r[k] for k in keys) for r in rs]


def _columns(rs):
    cols = list(CONTIG_COLUMNS if _by_contig(rs) else RMAP_COLUMNS if _by_rmap(rs) else COLUMNS)
    if any(r["references"] != r.get("trace_references", r["references"]) for r in rs):
        # a run left events out (an OOM kill, a segfault): what it replayed, not the trace
        cols.insert(0, ("references", "refs replayed", "n"))
    if rs and "misses_relative" in rs[0]:
        if ("misses", "misses", "n") not in cols:
            cols.insert(0, ("misses", "misses", "n"))
        at = cols.index(("misses", "misses", "n")) + 1
        cols.insert(at, ("misses_relative", f"misses/{rs[0]['relative_to']}", "r"))
    return _keys(rs) + cols


def faults_note(rs) -> str | None:
    """For a comparison of designs, one line: the faults are the same under every design of
    one page-table order, or where they differ; and what a larger page-table order cost."""
    if not _by_rmap(rs):
        return None
    first = {}
    for r in rs:
        first.setdefault((r["policy"], r["pte_table_order"]), r)
    differ = [r for r in rs if r["faults_differ"]]
    if differ:
        parts = []
        for r in differ:
            f = first[(r["policy"], r["pte_table_order"])]
            parts.append(f"{r['rmap']} {r['faults']:,} faults / {r['misses']:,} misses against "
                         f"{f['rmap']}'s {f['faults']:,} / {f['misses']:,} under {r['policy']}")
        return ("faults DIFFER between rmap designs of the same page-table order: "
                + "; ".join(parts))
    orders = sorted({r["pte_table_order"] for r in rs})
    if len(orders) == 1:
        return "faults and misses: the same under every rmap design"
    parts = []
    for (policy, order), f in first.items():
        if order == orders[0]:
            continue
        b = first[(policy, orders[0])]
        parts.append(f"under {policy}: {f['pagetable_pages_peak'] - b['pagetable_pages_peak']:,} "
                     f"more frames of page tables at the peak, {f['faults']:,} faults against "
                     f"{b['faults']:,}")
    names = ", ".join(sorted({r["rmap"] for r in rs if r["pte_table_order"] != orders[0]}))
    return (f"faults and misses: the same under every rmap design of one page-table order; "
            f"order-{orders[-1]} page tables under {names} (the seed's next-pte page beside "
            f"each pte page): " + "; ".join(parts))


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
    """A plain-text table, one line per run, with a heading naming the trace, the machine and
    what is the same in every run; for designs, a last line on their faults."""
    cols = _columns(rs)
    if any(r.get("integrity_errors") or r.get("violation") for r in rs):
        cols.append(("integrity_errors", "integrity errors", "n"))
    nkeys = len(_keys(rs))
    head = [h for _, h, _ in cols]
    body = [[_cell(r.get(k), kind) for k, _, kind in cols] for r in rs]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = []
    if rs:
        r = rs[0]
        fixed = "".join(f", {k} {r[k]}" for k in ("policy", "rmap")
                        if k not in {c for c, _, _ in _keys(rs)})
        refs = r.get("trace_references", r["references"])
        lines.append(f"trace {r['trace']}: {r['frames']:,} frames "
                     f"({r['frames'] * 4096 / 2**20:g} MiB), {r['geometry']} page tables, "
                     f"{refs:,} references{fixed}")
    fmt = lambda cells: "  ".join(c.ljust(w) if i < nkeys else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    lines.append(fmt(head))
    lines += [fmt(b) for b in body]
    note = faults_note(rs)
    if note:
        lines.append(note)
    return "\n".join(lines)


def format_csv(rs: list[dict]) -> str:
    """CSV of the table's columns with raw values (ns, full-precision ratios; empty = none),
    plus whether the faults differ (designs), integrity errors, frames, the trace, and the
    policy and design where they are not columns already."""
    keys = [k for k, _, _ in _columns(rs)]
    keys += ["faults_differ"] if _by_rmap(rs) else []
    keys += ["integrity_errors", "frames", "trace"] + [k for k in ("policy", "rmap")
                                                         if k not in keys]
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
    """The comparison as bar charts, one panel per column, one bar per run, and, given the
    runs' ``Timeline``s, free memory and cumulative faults over simulated time as lines, one per
    run; PNG bytes."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    names = labels(rs)
    plot_columns = _columns(rs)[len(_keys(rs)):]
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
