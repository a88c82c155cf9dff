"""Every reverse-mapping design on the scenarios made for them, beside the published figures.

    python -m rmapsim.report.rmap_table [--jobs N] [-o FILE.md] [--plot FILE.png]

For each scenario (``kernel-build``, ``shm-database``, ``objrmap-worst``, ``forking-server``,
``prefork``), on its own machine and memory size, and with i386 page tables as well as
x86-64 ones (the designs' structures are sized in the machine's word: 4 bytes or 8), every
design of ``rmapsim.mm.rmap.designs()``: its metadata at the peak, the ptes and vmas its walks
visited, its chain or list steps, and the simulated time of its rmap work per operation
(``rmap_ops``). Each scenario's published figure is then set against the matching number
measured here, with whether the shape is reproduced: the criterion is written next to it.
Runs go to a pool of ``--jobs`` processes; the output does not depend on their order.
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor

SCENARIOS = ("kernel-build", "shm-database", "objrmap-worst", "forking-server", "prefork")
GEOMETRIES = ("x86-64", "i386")
# shm-database with room for the whole segment, so no mapping is reclaimed before the peak
SHM_ALL_MAPPED = "64M"


def _run(job):
    scenario, geometry, rmap, mem = job
    import rmapsim
    from rmapsim.scenarios import SCENARIOS as ALL, scenario_trace
    d = ALL[scenario].DEFAULTS
    r = rmapsim.run(scenario_trace(scenario), machine=d.get("machine", "modern"),
                    mem=mem or d.get("mem"), rmap=rmap, params={"geometry": geometry})
    return job, r.to_dict()


def measure(jobs: int = 2) -> dict:
    """{(scenario, geometry, design, mem): the run's to_dict()}."""
    from rmapsim.mm.rmap import designs
    names = [m.NAME for m in designs()]
    todo = [(s, g, n, None) for s in SCENARIOS for g in GEOMETRIES for n in names]
    todo += [("shm-database", g, "pte-chain-direct", SHM_ALL_MAPPED) for g in GEOMETRIES]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(_run, todo))


def _chain_bytes(d):
    """Metadata beyond the pointer every struct page has (the chain designs' page->pte)."""
    word = 4 if d["geometry"] == "i386" else 8
    has_page_pointer = d["rmap"] in ("pte-chain", "pte-chain-direct", "pools", "objrmap")
    return d["rmap_bytes_peak"] - (word * d["frames"] if has_page_pointer else 0)


def anchors(res: dict) -> list[tuple[str, str, str, bool]]:
    """(scenario, published, measured here, reproduced) for each published figure."""
    def r(s, rmap, g="x86-64", mem=None):
        return res[(s, g, rmap, mem)]
    out = []
    seed, direct = r("kernel-build", "pte-chain"), r("kernel-build", "pte-chain-direct")
    ratio = _chain_bytes(seed) / max(1, _chain_bytes(direct))
    out.append(("kernel-build", "Bligh 2003, make -j256: 24,116 pte_chain objects fell to 716 "
                "with direct pointers (34x), most anonymous pages being mapped once",
                f"chain metadata at the peak {_chain_bytes(seed):,} B (pte-chain) against "
                f"{_chain_bytes(direct):,} B (pte-chain-direct): {ratio:.1f}x", ratio > 5))
    per = {}
    for g in GEOMETRIES:
        d = r("shm-database", "pte-chain-direct", g, SHM_ALL_MAPPED)
        per[g] = _chain_bytes(d) / (1024 * 101)
    out.append(("shm-database", "Arcangeli 2004: 8 bytes of pte_chain per page per mapper "
                "(100 mappers of 2.7 GiB: 0.53 GiB)",
                f"pte-chain-direct, all 1,024 pages mapped by 101 processes: "
                f"{per['x86-64']:.2f} B per page per mapper on x86-64, {per['i386']:.2f} on "
                f"i386 (a 4- or 8-byte pointer and 1/7 of a block header)",
                3 < per["i386"] < 6 and 7 < per["x86-64"] < 11))
    obj = r("objrmap-worst", "objrmap")
    per_page = obj["rmap_vmas_visited"] / max(1, obj["pages_scanned"])
    per_pte = obj["rmap_vmas_visited"] / max(1, obj["ptes_visited"])
    out.append(("objrmap-worst", "Morton 2003: 1000 processes x 1000 vmas of one file: "
                "1,000,000 vmas visited to unmap one page, whether they map it or not",
                f"30 processes x 30 vmas: objrmap looks in {per_page:,.0f} vmas per page "
                f"scanned (a walk looks in all 900; a scan may walk twice) and {per_pte:.0f} "
                f"per pte it finds; pte-chain in none", per_page >= 450 and per_pte > 30))
    av, avc = r("forking-server", "anon-vma"), r("forking-server", "anon-vma-chain")
    a = av["rmap_vmas_visited"] / max(1, av["ptes_visited"])
    c = avc["rmap_vmas_visited"] / max(1, avc["ptes_visited"])
    out.append(("forking-server", "van Riel 2010 (2.6.34): a walk of an anonymous page falls "
                "from O(N) vmas (N children) to about 2",
                f"101 processes: {a:.1f} vmas per pte found under anon-vma, {c:.2f} under "
                f"anon-vma-chain", a > 50 and c <= 2))
    return out


def _n(v):
    return f"{v:,}"


def markdown(res: dict) -> str:
    from rmapsim.mm.rmap import designs
    names = [m.NAME for m in designs()]
    lines = []
    for s in SCENARIOS:
        lines += [f"#### {s}", "",
                  "| design | bytes peak x86-64 | bytes peak i386 | faults | ptes visited | "
                  "vmas visited | chain steps | rmap time fork + teardown | rmap time reclaim |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for n in names:
            d, i = res[(s, "x86-64", n, None)], res[(s, "i386", n, None)]
            ops = d["rmap_ops"]
            lines.append(
                f"| {n} | {_n(d['rmap_bytes_peak'])} | {_n(i['rmap_bytes_peak'])} | "
                f"{_n(d['faults'])} | {_n(d['ptes_visited'])} | {_n(d['rmap_vmas_visited'])} | "
                f"{_n(d['rmap_chain_steps'])} | "
                f"{(ops['fork_time_ns'] + ops['teardown_time_ns']) / 1e6:.2f} ms | "
                f"{(ops['referenced_time_ns'] + ops['unmap_time_ns']) / 1e6:.2f} ms |")
        lines.append("")
    lines += ["| scenario | published | measured here | shape reproduced |", "|---|---|---|---|"]
    for s, pub, got, ok in anchors(res):
        lines.append(f"| {s} | {pub} | {got} | {'yes' if ok else 'no'} |")
    return "\n".join(lines) + "\n"


def plot(res: dict, path: str) -> None:
    """Metadata at the peak, per design and scenario (x86-64), log scale."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rmapsim.mm.rmap import designs
    names = [m.NAME for m in designs()]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(names)
    cmap = plt.get_cmap("tab10")
    for k, n in enumerate(names):
        xs = [j + k * width for j in range(len(SCENARIOS))]
        ax.bar(xs, [res[(s, "x86-64", n, None)]["rmap_bytes_peak"] for s in SCENARIOS],
               width, label=n, color=cmap(k))
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(SCENARIOS))], SCENARIOS)
    ax.set_yscale("log")
    ax.set_ylabel("rmap metadata at the peak (bytes, x86-64)")
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rmapsim.report.rmap_table",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("-o", "--output", help="write the Markdown here (default: stdout)")
    p.add_argument("--plot", help="write a PNG of the metadata per design here")
    a = p.parse_args(argv)
    res = measure(a.jobs)
    text = markdown(res)
    if a.plot:
        plot(res, a.plot)
    if a.output:
        from rmapsim.fileio import write_atomic
        write_atomic(a.output, text.encode())
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
