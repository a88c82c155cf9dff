#!/usr/bin/env python
"""Replay throughput of rmapsim against libCacheSim, and start-up cost of the command line.

Run by hand (not a test):

    python benchmarks/bench_replay.py                     # 10M refs, Zipf(1.0) over 1M pages
    python benchmarks/bench_replay.py --refs 1e6 --pages 1e5   # quick
    python benchmarks/bench_replay.py --json              # results as JSON on stdout

What it does:

1. Generates (once; cached under benchmarks/data/, gitignored) a deterministic Zipf(alpha)
   trace of ``--refs`` references over a universe of ``--pages`` pages in libCacheSim's
   oracleGeneral format: 24-byte little-endian records ``u32 time, u64 obj_id, u32 obj_size,
   i64 next_access_vtime`` where next_access_vtime is the 1-based index of the next request to
   the same object (-1 if none).  Ranks are drawn by inverse-CDF sampling with numpy's PCG64
   (``--seed``) and scattered over page ids 1..pages by a fixed random permutation; every object
   has size 1.
2. Measures references per second, each on the same file, end to end (file reading included:
   libCacheSim's ``process_trace`` reads the trace as it goes, and rmapsim is timed the same
   way, ``rmapsim.run(path)``).  rmapsim's API also takes an in-memory trace (``from_pages``),
   so each rmapsim row is repeated on the trace read beforehand with numpy: replay alone
   (``--no-preload`` skips these rows).  The ratio column always divides by libCacheSim's
   end-to-end rate with the same init bit.
   - libCacheSim ``Clock`` (Python binding; ``ignore_obj_size`` makes every object size 1, so the
     cache size counts objects), cache size = 10% of the distinct pages of the trace, with
     ``init_freq=0`` (its default) and ``init_freq=1``;
   - rmapsim cache mode, ``frames`` = the same 10%, ``policy="clock"`` with ``init_ref=0`` and
     with the default (the faulting reference sets the accessed bit); the miss counts must
     equal libCacheSim's and are printed side by side;
   - rmapsim kernel mode (x86-64 "modern" machine), ``policy="clock"``, frames = 10% of the
     working set for user pages + the page-table pages the trace's address range needs +
     the kernel reserve (mem_map, zero page) + the high watermark; the page-table count is
     measured by a probe run of rmapsim (one reference per 2 MiB region the trace touches).
   rmapsim figures are warm: one small run of the same mode first compiles (or loads) the
   numba code, the measured run is the second.
3. Times the command line ``rmapsim run SMALLTRACE --frames 64 --cache-mode`` in a fresh
   process with an empty ``NUMBA_CACHE_DIR`` (cold: compiles) and again with the cache it
   populated (warm), next to the bare ``python -c "import rmapsim"`` floor.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "data"
# this checkout's rmapsim first (an editable install made before rmapsim/__init__.py existed
# resolves ``import rmapsim`` to an empty namespace package outside the repository root)
sys.path.insert(0, str(REPO))
ORACLE_DTYPE = np.dtype([("t", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
assert ORACLE_DTYPE.itemsize == 24


# ---- the trace -----------------------------------------------------------------------------------

def zipf_ids(refs: int, pages: int, alpha: float, seed: int) -> np.ndarray:
    """``refs`` page ids in 1..pages, rank r drawn with probability ~ 1/r**alpha."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(np.arange(1, pages + 1, dtype=np.float64) ** -alpha)
    cdf /= cdf[-1]
    rank = np.searchsorted(cdf, rng.random(refs), side="right")
    np.minimum(rank, pages - 1, out=rank)
    ids = rng.permutation(pages).astype(np.uint64) + np.uint64(1)   # popular pages scattered
    return ids[rank]


def next_access_vtime(ids: np.ndarray) -> np.ndarray:
    """1-based index of the next request to the same id, -1 if none (vectorised)."""
    n = len(ids)
    order = np.argsort(ids, kind="stable")
    same = ids[order[1:]] == ids[order[:-1]]
    nxt = np.full(n, -1, dtype=np.int64)
    nxt[order[:-1][same]] = order[1:][same] + 1
    return nxt


def write_oracle_general(path: Path, ids: np.ndarray) -> None:
    rec = np.empty(len(ids), dtype=ORACLE_DTYPE)
    rec["t"] = np.arange(len(ids), dtype=np.uint64).astype(np.uint32)   # one request per "second"
    rec["id"] = ids
    rec["size"] = 1
    rec["next"] = next_access_vtime(ids)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    rec.tofile(tmp)
    os.replace(tmp, path)


def get_trace(refs: int, pages: int, alpha: float, seed: int, log) -> tuple[Path, dict]:
    DATA.mkdir(parents=True, exist_ok=True)
    stem = f"zipf_a{alpha:g}_r{refs}_p{pages}_s{seed}"
    path = DATA / f"{stem}.oracleGeneral.bin"
    meta_path = DATA / f"{stem}.json"
    if path.exists() and meta_path.exists() and path.stat().st_size == refs * ORACLE_DTYPE.itemsize:
        return path, json.loads(meta_path.read_text())
    log(f"generating {path} ...")
    t0 = time.perf_counter()
    ids = zipf_ids(refs, pages, alpha, seed)
    write_oracle_general(path, ids)
    uniq = np.unique(ids)
    meta = dict(refs=refs, universe_pages=pages, alpha=alpha, seed=seed,
                distinct_pages=int(uniq.size), **page_table_pages(uniq))
    meta_path.write_text(json.dumps(meta, indent=1))
    log(f"  {refs:,} refs, {uniq.size:,} distinct pages, {time.perf_counter() - t0:.1f} s")
    return path, meta


def page_table_pages(uniq_vpns: np.ndarray) -> dict:
    """Page-table pages an x86-64 4-level table needs to map these virtual page numbers."""
    v = uniq_vpns.astype(np.uint64)
    pte = np.unique(v >> np.uint64(9)).size
    pmd = np.unique(v >> np.uint64(18)).size
    pud = np.unique(v >> np.uint64(27)).size
    return dict(pt_pte_pages=int(pte), pt_pmd_pages=int(pmd), pt_pud_pages=int(pud),
                pt_pages=int(pte + pmd + pud + 1))


# ---- machine -------------------------------------------------------------------------------------

def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()
    info = dict(cpu=cpu, nproc=nproc, cpu_count=os.cpu_count(), platform=platform.platform(),
                python=platform.python_version(), numpy=np.__version__)
    for mod in ("numba", "libcachesim"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:                            # noqa: BLE001 - optional
            info[mod] = None
    try:
        info["rmapsim_commit"] = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True).stdout.strip() or None
    except OSError:
        info["rmapsim_commit"] = None
    return info


# ---- libCacheSim -------------------------------------------------------------------------------

def bench_libcachesim(path: Path, frames: int, init_freq: int, repeat: int = 1) -> dict:
    """Best of ``repeat`` runs of libCacheSim Clock over the file (a fresh reader and cache each
    time; ``process_trace`` reads the file as it replays)."""
    import libcachesim as lcs
    best = None
    for _ in range(repeat):
        reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE,
                                 lcs.ReaderInitParam(ignore_obj_size=True))
        cache = lcs.Clock(frames, init_freq=init_freq)
        t0 = time.perf_counter()
        miss_ratio, _ = cache.process_trace(reader)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    n = reader.n_read_req
    return dict(seconds=best, references=n, misses=int(round(miss_ratio * n)), rate=n / best,
                repeat=repeat)


# ---- rmapsim -----------------------------------------------------------------------------------

def probe_page_tables(path: Path) -> int:
    """Page-table pages rmapsim builds for this trace's address space: replay one reference
    per 2 MiB region the trace touches (cache mode, nothing evicted) and read
    ``pagetable_pages_peak``.  (rmapsim's count is about twice the bare x86-64 table count of
    ``page_table_pages``: its leaf tables are order-1 allocations, as ``pgtable.table_order``
    says, the pte page plus a page of back pointers.)"""
    import rmapsim
    from rmapsim.trace import from_pages
    ids = np.unique(np.fromfile(path, dtype=ORACLE_DTYPE)["id"] >> np.uint64(9)) << np.uint64(9)
    d = rmapsim.run(from_pages(ids), cache_mode=True, frames=len(ids)).to_dict()
    return int(d["pagetable_pages_peak"])


def kernel_frames(user_pages: int, pt_pages: int) -> dict:
    """Smallest RAM (frames) leaving ``user_pages`` for user memory after the kernel reserve
    (mem_map + zero page), the high watermark and the page tables, per rmapsim's config."""
    from rmapsim.sim.config import build_machine
    f = user_pages + pt_pages
    while True:
        m = build_machine("modern", frames=f)
        reserve, high = m.kernel_reserved, m.watermarks[2]
        spare = f - reserve - high - pt_pages
        if spare >= user_pages:
            return dict(frames=f, user=user_pages, kernel_reserved=reserve, high_watermark=high,
                        page_tables=pt_pages)
        f += user_pages - spare


def bench_rmapsim(path: Path, warm_path: Path, preload: bool, repeat: int = 1, **kw) -> dict:
    """Warm timing of ``rmapsim.run``: a small run of the same mode first (compiles or loads
    the numba code), then the measured one.  ``preload``: the trace is read beforehand with
    numpy and handed over as an in-memory ``from_pages`` trace, so the timing is the replay
    alone (file reading and event construction excluded, reported as ``load_seconds``)."""
    import rmapsim
    from rmapsim.trace import from_pages
    if preload:
        small = np.fromfile(warm_path, dtype=ORACLE_DTYPE)["id"]
        rmapsim.run(from_pages(small), **kw)
        t0 = time.perf_counter()
        src = from_pages(np.fromfile(path, dtype=ORACLE_DTYPE)["id"])
        load_s = time.perf_counter() - t0
    else:
        rmapsim.run(str(warm_path), **kw)
        load_s, src = None, str(path)
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        d = rmapsim.run(src, **kw).to_dict()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    n = d["references"]
    return dict(seconds=best, references=n, misses=d["misses"], rate=n / best,
                load_seconds=load_s, repeat=repeat, result=d)


# ---- command line cold / warm ------------------------------------------------------------------

def rmapsim_command() -> list[str]:
    exe = Path(sys.executable).parent / "rmapsim"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("rmapsim")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from rmapsim.cli import main; sys.exit(main())"]


def _timed(cmd, env) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    return time.perf_counter() - t0, p


def bench_cli(small: Path, warm_runs: int = 3) -> dict:
    cmd = rmapsim_command() + ["run", str(small), "--frames", "64", "--cache-mode"]
    out = dict(command=" ".join(["rmapsim"] + cmd[-5:]))
    with tempfile.TemporaryDirectory(prefix="rmapsim-numba-cache-") as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir,
                   PYTHONPATH=os.pathsep.join([str(REPO)] + [x for x in os.environ.get(
                       "PYTHONPATH", "").split(os.pathsep) if x]))
        env.pop("NUMBA_DISABLE_JIT", None)
        floor, p = _timed([sys.executable, "-c", "import rmapsim"], env)
        out["import_rmapsim_seconds"] = floor
        cold, p = _timed(cmd, env)
        if p.returncode != 0:
            raise RuntimeError(f"{out['command']} failed ({p.returncode}): {p.stderr[-2000:]}")
        out["cold_seconds"] = cold
        out["numba_cache_files"] = sum(len(f) for _, _, f in os.walk(cache_dir))
        warm = []
        for _ in range(warm_runs):
            dt, p = _timed(cmd, env)
            if p.returncode != 0:
                raise RuntimeError(f"{out['command']} failed ({p.returncode}): {p.stderr[-2000:]}")
            warm.append(dt)
        out["warm_seconds"] = warm[0]
        out["warm_seconds_all"] = warm
        out["stdout_tail"] = p.stdout.strip().splitlines()[-3:]
    return out


# ---- main --------------------------------------------------------------------------------------

def _int(s: str) -> int:
    return int(float(s))


def trace_args(ap, refs, pages):
    """The options naming the Zipf trace (``get_trace``), shared by the replay benchmarks."""
    ap.add_argument("--refs", type=_int, default=refs, help=f"references (default {refs:.0e})")
    ap.add_argument("--pages", type=_int, default=pages, help=f"page universe (default {pages:.0e})")
    ap.add_argument("--alpha", type=float, default=1.0, help="Zipf exponent (default 1.0)")
    ap.add_argument("--seed", type=int, default=42)


def bench_traces(a, log):
    """The trace the options name, a small one of the same law to compile on, and the cache
    size of the policy benchmarks (10% of the distinct pages): (path, meta, warm, frames)."""
    path, meta = get_trace(a.refs, a.pages, a.alpha, a.seed, log)
    warm, _ = get_trace(20_000, 2_000, a.alpha, a.seed, log)
    return path, meta, warm, max(1, meta["distinct_pages"] // 10)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    trace_args(ap, 10_000_000, 1_000_000)
    ap.add_argument("--cache-fraction", type=float, default=0.10,
                    help="cache / user memory as a fraction of the distinct pages (default 0.1)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="time each replay this many times and keep the best (default 3)")
    ap.add_argument("--no-preload", dest="preload", action="store_false",
                    help="skip the rmapsim rows on an in-memory trace (replay without reading)")
    ap.add_argument("--skip-kernel", action="store_true", help="no kernel-mode run")
    ap.add_argument("--skip-cli", action="store_true", help="no command-line cold/warm timing")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)

    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    results: dict = dict(machine=machine_info())
    path, meta = get_trace(args.refs, args.pages, args.alpha, args.seed, log)
    small, _ = get_trace(100_000, 10_000, args.alpha, args.seed, log)
    frames = max(1, int(round(args.cache_fraction * meta["distinct_pages"])))
    results["trace"] = dict(path=str(path), small_trace=str(small), **meta)
    results["cache_frames"] = frames
    results["repeat"] = args.repeat
    rows = []

    def row(name, r, note="", base=None):
        rows.append(dict(name=name, note=note, base=base,
                         **{k: v for k, v in r.items() if k != "result"}))
        log(f"  {name}: {r['references']:,} refs in {r['seconds']:.2f} s = "
            f"{r['rate'] / 1e6:.2f} M refs/s, {r['misses']:,} misses")

    lcs_ok = True
    try:
        import libcachesim  # noqa: F401
    except ImportError:
        lcs_ok = False
        log("libcachesim not installed: no libCacheSim figures")

    lcs_r = {}
    if lcs_ok:
        for init in (0, 1):
            lcs_r[init] = bench_libcachesim(path, frames, init, args.repeat)
            row(f"libCacheSim Clock init_freq={init}", lcs_r[init],
                f"cache {frames:,} objects (ignore_obj_size: every object size 1)")

    rm_r = {}
    for init, params in ((0, {"init_ref": 0}), (1, None)):
        rm_r[init] = bench_rmapsim(path, small, False, args.repeat, cache_mode=True, frames=frames,
                                   policy="clock", params=params)
        row(f"rmapsim cache mode clock init_ref={init}", rm_r[init], f"frames={frames:,}",
            base=init)
        if args.preload:
            pre = bench_rmapsim(path, small, True, args.repeat, cache_mode=True, frames=frames,
                                policy="clock", params=params)
            row("  same, in-memory trace (replay only)", pre,
                f"np.fromfile + from_pages {pre['load_seconds']:.2f} s, not timed", base=init)
            assert pre["misses"] == rm_r[init]["misses"]

    agree = {}
    for init in (0, 1):
        if init in lcs_r:
            agree[f"init_{init}"] = dict(libcachesim=lcs_r[init]["misses"],
                                         rmapsim=rm_r[init]["misses"],
                                         equal=lcs_r[init]["misses"] == rm_r[init]["misses"])
    results["clock_miss_agreement"] = agree

    if not args.skip_kernel:
        kf = kernel_frames(frames, probe_page_tables(path))
        kf["x86_64_table_pages"] = meta["pt_pages"]
        results["kernel_machine"] = kf
        kr = bench_rmapsim(path, small, False, args.repeat, frames=kf["frames"], machine="modern",
                           policy="clock")
        results["kernel_result"] = kr["result"]
        if kr["references"] != meta["refs"]:
            log(f"WARNING: kernel mode replayed {kr['references']:,} of {meta['refs']:,} "
                f"references ({kr['result'].get('ignored_events')} ignored)")
        row("rmapsim kernel mode clock (x86-64)", kr,
            f"frames={kf['frames']:,} = {kf['user']:,} user + {kf['page_tables']:,} page "
            f"tables + {kf['kernel_reserved']:,} reserve + {kf['high_watermark']:,} high wmark",
            base=1)
        if args.preload:
            pre = bench_rmapsim(path, small, True, args.repeat, frames=kf["frames"], machine="modern",
                                policy="clock")
            row("  same, in-memory trace (replay only)", pre,
                f"np.fromfile + from_pages {pre['load_seconds']:.2f} s, not timed", base=1)
    results["replay"] = rows
    for r in rows:
        base = lcs_r.get(r["base"]) if r["base"] is not None else None
        r["ratio_vs_libcachesim"] = r["rate"] / base["rate"] if base else None

    if not args.skip_cli:
        log("timing the command line (cold = empty NUMBA_CACHE_DIR) ...")
        try:
            results["cli"] = bench_cli(small)
        except RuntimeError as e:                     # the command line is not there yet
            results["cli"] = dict(error=str(e).strip().splitlines()[-1][:300])
            log(f"  command line unavailable: {results['cli']['error']}")

    if args.json:
        print(json.dumps(results, indent=1, default=str))
    else:
        print_table(results)
    ok = all(a["equal"] for a in agree.values())
    return 0 if ok else 1


def print_table(res: dict) -> None:
    m, t = res["machine"], res["trace"]
    print()
    print(f"machine : {m['cpu']}, nproc={m['nproc']} (cpu_count={m['cpu_count']}), {m['platform']}")
    print(f"software: python {m['python']}, numpy {m['numpy']}, numba {m['numba']}, "
          f"libcachesim {m['libcachesim']}, rmapsim {m['rmapsim_commit']}")
    print(f"trace   : {t['path']}")
    print(f"          Zipf(alpha={t['alpha']:g}) seed {t['seed']}: {t['refs']:,} refs over a "
          f"universe of {t['universe_pages']:,} pages, {t['distinct_pages']:,} distinct pages "
          f"referenced; cache = {res['cache_frames']:,} pages (10% of distinct)")
    print(f"timing  : best of {res['repeat']}, end to end on the oracleGeneral file (reading "
          "included) unless the row says in-memory;\n          rmapsim warm (numba compiled by a prior small run); ratio = "
          "rmapsim rate / libCacheSim end-to-end rate (init bit 0 vs 0, 1 vs 1; kernel vs 1)")
    print()
    hdr = f"{'replay':<44} {'refs/s':>12} {'seconds':>9} {'misses':>12} {'vs libCacheSim':>15}"
    print(hdr)
    print("-" * len(hdr))
    for r in res["replay"]:
        ratio = f"{r['ratio_vs_libcachesim']:.3f}x" if r.get("ratio_vs_libcachesim") else ""
        print(f"{r['name']:<44} {r['rate']:>12,.0f} {r['seconds']:>9.2f} {r['misses']:>12,} "
              f"{ratio:>15}")
        if r["note"]:
            print(f"    {r['note']}")
    print()
    for k, a in res["clock_miss_agreement"].items():
        print(f"Clock {k.replace('_', '=')}: libCacheSim misses {a['libcachesim']:,}, rmapsim "
              f"misses {a['rmapsim']:,} -> {'EQUAL' if a['equal'] else 'DIFFERENT'}")
    if "kernel_result" in res:
        k = res["kernel_result"]
        keys = ("references", "misses", "major_faults", "minor_faults", "swap_outs",
                "pages_scanned", "kswapd_wakeups", "direct_reclaims", "oom_kills",
                "ignored_events", "pagetable_pages_peak")
        print("kernel mode: " + ", ".join(f"{x}={k.get(x)}" for x in keys))
    if "cli" in res and "error" in res["cli"]:
        print()
        print(f"command line: not measured ({res['cli']['error']})")
    elif "cli" in res:
        c = res["cli"]
        print()
        print(f"command line: {c['command']}")
        print(f"  python -c 'import rmapsim'          {c['import_rmapsim_seconds']:7.2f} s")
        print(f"  cold (empty NUMBA_CACHE_DIR)         {c['cold_seconds']:7.2f} s "
              f"({c['numba_cache_files']} files cached)")
        print(f"  warm (populated NUMBA_CACHE_DIR)     {c['warm_seconds']:7.2f} s "
              f"(runs: {', '.join(f'{x:.2f}' for x in c['warm_seconds_all'])})")


if __name__ == "__main__":
    sys.exit(main())
