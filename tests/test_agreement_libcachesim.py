"""rmapsim's cache mode against libCacheSim and independently computed fault counts.

Truth lives in /work/shared/data (see its README.md); nothing here was produced by rmapsim.

In cache mode (``cache_mode=True, frames=N``) memory holds exactly N user pages, so on a
single-process page trace:

==================  =========================  =============================================
reference name      rmapsim                    libCacheSim
==================  =========================  =============================================
FIFO                policy="fifo"              FIFO
Clock_initref1      policy="clock" (default)   Clock(init_freq=1): the faulting reference
 / CLOCK_ref1                                  sets the accessed bit
Clock / CLOCK_ref0  policy="clock",            Clock(init_freq=0), libCacheSim's default
                    params={"init_ref": 0}
==================  =========================  =============================================

``misses`` (references that found their page non-resident) is compared with libCacheSim's
misses / the independent ``faults`` columns; ``swap_outs`` (a bare page trace is one process of
anonymous memory, so an evicted dirty page goes to swap) with ``writebacks_independent``.

By default a spread of the reference rows runs (every trace, every algorithm, small and large
memories; chosen by the fault counts in the CSVs so the file stays well under a minute).
``RMAPSIM_FULL_AGREEMENT=1`` runs every FIFO / Clock row of the reference CSVs and every
live-libCacheSim combination (about 30 M simulated faults: minutes).
"""
from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import rmapsim
from rmapsim.trace import from_pages

DATA = Path("/work/shared/data")
CLOUD = DATA / "libcachesim" / "cloudPhysicsIO"
CLOUD_OG = CLOUD.with_suffix(".oracleGeneral.bin")
CLOUD_TXT = CLOUD.with_suffix(".txt")
CLOUD_VSCSI = CLOUD.with_suffix(".vscsi")
REF = DATA / "reference"

pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"{DATA} not present")
FULL = os.environ.get("RMAPSIM_FULL_AGREEMENT", "") not in ("", "0")

ORACLE_DTYPE = np.dtype([("t", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
VSCSI_DTYPE = np.dtype([("sn", "<u4"), ("len", "<u4"), ("nsg", "<u4"), ("cmd", "<u2"),
                        ("ver", "<u2"), ("lbn", "<u8"), ("ts", "<u8")])
VSCSI_WRITE = 0x2A

# reference algorithm name -> (rmapsim policy, params)
POLICY = {
    "FIFO": ("fifo", None),
    "Clock": ("clock", {"init_ref": 0}),
    "Clock_initref1": ("clock", None),
    "CLOCK_ref0": ("clock", {"init_ref": 0}),
    "CLOCK_ref1": ("clock", None),
    "LRU": ("lru", None),
    "Belady": ("opt", None),
    "OPT": ("opt", None),
}

try:
    import libcachesim as lcs
except ImportError:                                     # optional GPL extra
    lcs = None
needs_libcachesim = pytest.mark.skipif(lcs is None, reason="libcachesim (optional GPL extra) "
                                                           "is not installed")


# ---- independent trace loading (not rmapsim's readers) ----------------------------------------

@lru_cache(maxsize=None)
def cloud_pages() -> np.ndarray:
    return np.fromfile(CLOUD_OG, dtype=ORACLE_DTYPE)["id"].copy()


@lru_cache(maxsize=None)
def cloud_vscsi_writes() -> np.ndarray:
    return np.fromfile(CLOUD_VSCSI, dtype=VSCSI_DTYPE)["cmd"] == VSCSI_WRITE


@lru_cache(maxsize=None)
def load_page_trace(rel: str) -> tuple[np.ndarray, np.ndarray]:
    """(pages, writes) of a lirs/*.trace.gz (one block per line, `*` = checkpoint marker, maybe
    CRLF) or spec2000/*.pages.gz (`R|W <hex page>`)."""
    pages, writes = [], []
    with gzip.open(DATA / rel, "rt", newline=None) as f:
        if rel.startswith("lirs/"):
            for line in f:
                s = line.strip()
                if s and s != "*":
                    pages.append(int(s))
                    writes.append(False)
        else:
            for line in f:
                s = line.split()
                if s:
                    writes.append(s[0] == "W")
                    pages.append(int(s[1], 16))
    return np.array(pages, dtype=np.uint64), np.array(writes, dtype=bool)


def run_cache(trace, frames, algorithm, **kw) -> dict:
    policy, params = POLICY[algorithm]
    return rmapsim.run(trace, cache_mode=True, frames=frames, policy=policy, params=params,
                       **kw).to_dict()


def run_pages(pages, frames, algorithm, writes=None, **kw) -> dict:
    return run_cache(from_pages(pages, writes=writes), frames, algorithm, **kw)


def write_oracle_general(path: Path, ids: np.ndarray) -> Path:
    """ids -> libCacheSim oracleGeneral file (size 1, next_access_vtime = 1-based index of the
    next request to the same object, -1 if none)."""
    ids = np.asarray(ids, dtype=np.uint64)
    n = len(ids)
    rec = np.zeros(n, dtype=ORACLE_DTYPE)
    rec["t"] = np.arange(n, dtype=np.uint32)
    rec["id"] = ids
    rec["size"] = 1
    order = np.argsort(ids, kind="stable")
    same = ids[order[1:]] == ids[order[:-1]]
    nxt = np.full(n, -1, dtype=np.int64)
    nxt[order[:-1][same]] = order[1:][same] + 1
    rec["next"] = nxt
    rec.tofile(path)
    return path


def libcachesim_misses(path: Path, algorithm: str, frames: int) -> tuple[int, int]:
    """(requests, misses) of libCacheSim on an oracleGeneral file, every object of size 1
    (``ignore_obj_size``), so the cache size counts objects."""
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE,
                             lcs.ReaderInitParam(ignore_obj_size=True))
    cache = {"FIFO": lambda: lcs.FIFO(frames),
             "Clock": lambda: lcs.Clock(frames, init_freq=0),
             "CLOCK_ref0": lambda: lcs.Clock(frames, init_freq=0),
             "Clock_initref1": lambda: lcs.Clock(frames, init_freq=1),
             "CLOCK_ref1": lambda: lcs.Clock(frames, init_freq=1)}[algorithm]()
    miss_ratio, _ = cache.process_trace(reader)
    n = reader.n_read_req
    return n, int(round(miss_ratio * n))


# ---- libcachesim_objcount_reference.csv: cloudPhysicsIO, FIFO and both Clocks ------------------

def _objcount_rows():
    path = REF / "libcachesim_objcount_reference.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f)
                if r["algorithm"] in ("FIFO", "Clock", "Clock_initref1", "LRU", "Belady")]
    return rows


OBJCOUNT = _objcount_rows()
# default spread of the CSV's 23 sizes: every algorithm at tiny memories (nearly every
# reference faults), 10, 100, 1000, 20000 and the whole footprint of 48,974 objects, plus one
# more size each (a power of two, an odd one, one between the two knees of the curve)
CLOUD_DEFAULT = {(a, f) for a in ("FIFO", "Clock", "Clock_initref1", "LRU", "Belady")
                 for f in (1, 2, 3, 10, 100, 1000, 20000, 48974)}
CLOUD_DEFAULT |= {("FIFO", 40000), ("Clock", 128), ("Clock_initref1", 5000), ("LRU", 30000),
                  ("Belady", 5000)}


def _cloud_selected(r):
    return FULL or (r["algorithm"], int(r["cache_size_objects"])) in CLOUD_DEFAULT


@pytest.mark.parametrize("row", [pytest.param(r, id=f"{r['algorithm']}-{r['cache_size_objects']}")
                                 for r in OBJCOUNT if _cloud_selected(r)])
def test_cloudphysics_oracle_general(row):
    frames = int(row["cache_size_objects"])
    assert row["agree"] == "yes"
    d = run_cache(str(CLOUD_OG), frames, row["algorithm"])
    assert d["references"] == int(row["requests"])
    assert d["misses"] == int(row["misses"]), (
        f"cloudPhysicsIO.oracleGeneral.bin frames={frames} {row['algorithm']}: libCacheSim "
        f"{row['misses']}, rmapsim {d['misses']}")
    assert d["swap_outs"] == 0            # oracleGeneral has no writes


def _objcount(algorithm, frames):
    for r in OBJCOUNT:
        if r["algorithm"] == algorithm and int(r["cache_size_objects"]) == frames:
            return int(r["misses"])
    raise KeyError((algorithm, frames))


def test_cloudphysics_explicit_format():
    d = run_cache(str(CLOUD_OG), 48974, "Clock", format="oracleGeneral")
    assert d["misses"] == _objcount("Clock", 48974)


_ENCODINGS = [pytest.param(CLOUD_TXT, None, "Clock_initref1", 40000, id="txt-auto"),
              pytest.param(CLOUD_VSCSI, "vscsi", "Clock", 30000, id="vscsi")]
if FULL:
    _ENCODINGS += [pytest.param(path, fmt, alg, frames, id=f"{path.suffix[1:]}-{fmt or 'auto'}-{alg}-{frames}")
                   for path, fmt in ((CLOUD_TXT, "txt"), (CLOUD_TXT, None), (CLOUD_VSCSI, None),
                                     (CLOUD_VSCSI, "vscsi"))
                   for alg, frames in (("FIFO", 100), ("Clock", 5000), ("Clock_initref1", 20000))]


@pytest.mark.parametrize("path,fmt,algorithm,frames", _ENCODINGS)
def test_cloudphysics_other_encodings(path, fmt, algorithm, frames):
    d = run_cache(str(path), frames, algorithm, format=fmt)
    assert d["references"] == 113872
    assert d["misses"] == _objcount(algorithm, frames)


@pytest.mark.parametrize("algorithm,frames", [("Clock_initref1", 40000)] + (
    [("FIFO", 100), ("Clock", 5000), ("Clock_initref1", 20000)] if FULL else []))
def test_cloudphysics_vscsi_writebacks(algorithm, frames):
    """The vscsi encoding carries reads (0x28) and writes (0x2a): a dirty page evicted goes to
    swap.  No published number exists, so the count is the literal textbook transcription's
    (tests/test_textbook.py), fed the same pages and write flags.  The same pages and writes
    through ``from_pages`` must give the identical run (all counters)."""
    from test_textbook import textbook_replay
    name = {"FIFO": "FIFO", "Clock": "CLOCK_useBitClearOnLoad",
            "Clock_initref1": "CLOCK_useBitSetOnLoad"}[algorithm]
    faults, writebacks = textbook_replay(cloud_pages().tolist(), frames, name,
                                         cloud_vscsi_writes().tolist())
    assert faults == _objcount(algorithm, frames)
    assert writebacks > 0
    d = run_cache(str(CLOUD_VSCSI), frames, algorithm)
    assert (d["misses"], d["swap_outs"]) == (faults, writebacks)
    d2 = run_pages(cloud_pages(), frames, algorithm, writes=cloud_vscsi_writes())
    assert d.pop("trace") == str(CLOUD_VSCSI)
    d2.pop("trace")
    assert d2 == d


# ---- reference_faults_{lirs,ucsd}.csv: classic block and SPEC2000 page traces ------------------

FAULT_ALGOS = ("FIFO", "CLOCK_ref0", "CLOCK_ref1", "LRU", "OPT")
# Default: per trace, up to one row per algorithm, at the frame counts with the fewest faults
# (CLOCK_ref1 the cheapest, CLOCK_ref0 the next, FIFO the third), while the trace's rows stay
# under TRACE_FAULT_BUDGET faults; every trace keeps at least one row.  The first row of each
# trace is read by rmapsim's own reader from the .gz file (format auto-detected), the others
# come from an independent parse through from_pages.
TRACE_FAULT_BUDGET = 60_000


def _fault_rows():
    rows = []
    for name in ("reference_faults_lirs.csv", "reference_faults_ucsd.csv"):
        path = REF / name
        if not path.exists():
            continue
        with open(path, newline="") as f:
            rows += [r for r in csv.DictReader(f) if r["algorithm"] in FAULT_ALGOS]
    by_trace: dict[str, list[dict]] = {}
    for r in rows:
        by_trace.setdefault(r["trace"], []).append(r)
    keep = []
    for trace, rs in by_trace.items():
        if FULL:
            chosen = sorted(rs, key=lambda r: (int(r["frames"]), r["algorithm"]))
        else:
            cost = {}
            for r in rs:
                cost[int(r["frames"])] = cost.get(int(r["frames"]), 0) + int(r["faults_independent"])
            sizes = sorted(cost, key=lambda f: (cost[f], -f))
            chosen, total = [], 0
            for k, algorithm in enumerate(("CLOCK_ref1", "OPT", "CLOCK_ref0", "LRU", "FIFO")):
                f = sizes[min(k, len(sizes) - 1)]
                r = next(r for r in rs if r["algorithm"] == algorithm and int(r["frames"]) == f)
                if chosen and total + int(r["faults_independent"]) > TRACE_FAULT_BUDGET:
                    continue
                chosen.append(r)
                total += int(r["faults_independent"])
        for i, r in enumerate(chosen):
            via = "file" if i == 0 else "memory"
            keep.append(pytest.param(r, via, id=f"{trace.split('/')[-1].split('.')[0]}-"
                                                f"{r['algorithm']}-{r['frames']}-{via}"))
    return keep


FAULT_ROWS = _fault_rows()


def test_fault_rows_cover_every_trace_and_algorithm():
    traces = {p.values[0]["trace"] for p in FAULT_ROWS}
    on_disk = {f"{d.name}/{f.name}" for d in (DATA / "lirs", DATA / "spec2000")
               for f in d.glob("*.gz")}
    assert traces == on_disk
    assert {p.values[0]["algorithm"] for p in FAULT_ROWS} == set(FAULT_ALGOS)
    assert any(int(p.values[0]["writebacks_independent"]) > 0 for p in FAULT_ROWS)


@pytest.mark.parametrize("row,via", FAULT_ROWS)
def test_reference_faults(row, via):
    assert row["agree"] == "yes"
    frames = int(row["frames"])
    if via == "file":
        d = run_cache(str(DATA / row["trace"]), frames, row["algorithm"])
    else:
        pages, writes = load_page_trace(row["trace"])
        assert len(pages) == int(row["references"])
        assert int(writes.sum()) == int(row["writes"])
        d = run_pages(pages, frames, row["algorithm"], writes=writes if writes.any() else None)
    expected = (int(row["faults_independent"]), int(row["writebacks_independent"]))
    assert d["references"] == int(row["references"])
    assert d["writes"] == int(row["writes"])
    if row["algorithm"] == "OPT":
        # which of the pages never used again MIN evicts is a free choice; the faults do not
        # depend on it, the write-backs do (a dirty or a clean one)
        expected = (expected[0], d["swap_outs"])
    assert (d["misses"], d["swap_outs"]) == expected, (
        f"{row['trace']} frames={frames} {row['algorithm']} (via {via}): expected (faults, "
        f"writebacks) = {expected}, rmapsim ({d['misses']}, {d['swap_outs']})")


@pytest.mark.parametrize("rel,fmt,algorithm,frames", [("lirs/cpp.trace.gz", "lirs", "FIFO", 100),
                                                      ("spec2000/swim.pages.gz", "rwpages", "CLOCK_ref0", 16)])
def test_reference_traces_explicit_format(rel, fmt, algorithm, frames):
    path = REF / ("reference_faults_lirs.csv" if rel.startswith("lirs") else "reference_faults_ucsd.csv")
    with open(path, newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["trace"] == rel
                   and r["algorithm"] == algorithm and int(r["frames"]) == frames)
    d = run_cache(str(DATA / rel), frames, algorithm, format=fmt)
    assert (d["misses"], d["swap_outs"]) == (int(row["faults_independent"]),
                                             int(row["writebacks_independent"]))


# ---- libCacheSim itself, live ------------------------------------------------------------------

def _live(combos, default):
    return [pytest.param(*c, id="-".join(str(x).split("/")[-1] for x in c))
            for c in combos if FULL or c in default]


@needs_libcachesim
@pytest.mark.parametrize("algorithm,frames", _live(
    [(a, f) for a in ("FIFO", "Clock", "Clock_initref1") for f in (7, 333, 4096, 12345)],
    {("Clock", 4096), ("Clock_initref1", 12345)}))
def test_live_libcachesim_cloudphysics(algorithm, frames):
    n, misses = libcachesim_misses(CLOUD_OG, algorithm, frames)
    d = run_cache(str(CLOUD_OG), frames, algorithm)
    assert d["references"] == n
    assert d["misses"] == misses


@needs_libcachesim
@pytest.mark.parametrize("rel,frames,algorithm", _live(
    [(r, f, a) for r, f in (("lirs/sprite.trace.gz", 700), ("lirs/multi3.trace.gz", 999),
                            ("spec2000/gzip.pages.gz", 300), ("spec2000/mcf.pages.gz", 37))
     for a in ("FIFO", "CLOCK_ref0", "CLOCK_ref1")],
    {("lirs/sprite.trace.gz", 700, "CLOCK_ref0"), ("spec2000/mcf.pages.gz", 37, "FIFO"),
     ("lirs/multi3.trace.gz", 999, "CLOCK_ref1")}))
def test_live_libcachesim_page_traces(tmp_path, rel, frames, algorithm):
    pages, writes = load_page_trace(rel)
    og = write_oracle_general(tmp_path / "t.oracleGeneral.bin", pages)
    n, misses = libcachesim_misses(og, algorithm, frames)
    d = run_pages(pages, frames, algorithm, writes=writes)
    assert d["references"] == n == len(pages)
    assert d["misses"] == misses
    # the oracleGeneral file we wrote reads back through rmapsim too
    assert run_cache(str(og), frames, algorithm)["misses"] == misses


@needs_libcachesim
@pytest.mark.parametrize("seed,alpha,npages,frames,algorithm", _live(
    [(s, al, n, f, a) for s, al, n, f in ((1, 1.0, 5000, 500), (2, 0.8, 20000, 64), (3, 1.2, 3000, 1))
     for a in ("FIFO", "CLOCK_ref0", "CLOCK_ref1")],
    {(1, 1.0, 5000, 500, "CLOCK_ref1"), (2, 0.8, 20000, 64, "CLOCK_ref0"), (3, 1.2, 3000, 1, "FIFO")}))
def test_live_libcachesim_zipf(tmp_path, seed, alpha, npages, frames, algorithm):
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, npages + 1) ** alpha
    pages = rng.choice(npages, size=30_000, p=w / w.sum()).astype(np.uint64) * 7 + 3
    og = write_oracle_general(tmp_path / "z.oracleGeneral.bin", pages)
    n, misses = libcachesim_misses(og, algorithm, frames)
    assert run_pages(pages, frames, algorithm)["misses"] == misses


# ---- the compiled replay equals the interpreted one -------------------------------------------

_NOJIT_SCRIPT = r"""
import json, sys
import numba
import numpy as np
import rmapsim
from rmapsim.sim import replay
assert numba.config.DISABLE_JIT, "NUMBA_DISABLE_JIT was not honoured"
assert not hasattr(replay.replay_chunk, "signatures"), "replay_chunk is still a numba dispatcher"
from rmapsim.trace import from_pages
spec = json.loads(sys.stdin.read())
out = []
for case in spec:
    pages = np.array(case["pages"], dtype=np.uint64)
    writes = np.array(case["writes"], dtype=bool)
    res = rmapsim.run(from_pages(pages, writes=writes), **case["kw"])
    out.append(res.to_dict())
print(json.dumps(out))
"""

WALL_CLOCK_KEYS = ("wall", "elapsed", "seconds", "runtime", "duration")


def _comparable(d):
    return {k: v for k, v in d.items() if not any(w in k for w in WALL_CLOCK_KEYS)}


def _nojit_cases():
    pages = cloud_pages()[:2000]
    writes = cloud_vscsi_writes()[:2000]
    gcc_pages, gcc_writes = load_page_trace("spec2000/gcc.pages.gz")
    cases = []
    for algorithm, frames in (("FIFO", 100), ("Clock", 50), ("Clock_initref1", 300)):
        policy, params = POLICY[algorithm]
        cases.append(dict(pages=pages.tolist(), writes=writes.tolist(),
                          kw=dict(cache_mode=True, frames=frames, policy=policy, params=params)))
    # kernel mode, x86-64 "modern" machine, memory smaller than the 294-page working set
    cases.append(dict(pages=gcc_pages[:3000].tolist(), writes=gcc_writes[:3000].tolist(),
                      kw=dict(frames=160, policy="clock", check=True)))
    return cases


def test_numba_disable_jit_gives_same_numbers():
    cases = _nojit_cases()
    compiled = []
    for c in cases:
        res = rmapsim.run(from_pages(np.array(c["pages"], dtype=np.uint64),
                                     writes=np.array(c["writes"], dtype=bool)), **c["kw"])
        compiled.append(json.loads(json.dumps(res.to_dict())))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", _NOJIT_SCRIPT], input=json.dumps(cases),
                          capture_output=True, text=True, env=env, timeout=600,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr[-4000:]
    interpreted = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(interpreted) == len(compiled)
    for c, a, b in zip(cases, compiled, interpreted):
        a, b = _comparable(a), _comparable(b)
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], float) or isinstance(b[k], float):
                assert a[k] == pytest.approx(b[k], rel=1e-12, abs=1e-9), (k, c["kw"])
            else:
                assert a[k] == b[k], (k, c["kw"])
        assert a["misses"] > 0


# ---- check=True: the simulator's own invariant checker finds nothing ---------------------------

@pytest.mark.parametrize("algorithm,frames", [("FIFO", 48974), ("Clock_initref1", 40000)] + (
    [("FIFO", 1), ("Clock", 3), ("Clock_initref1", 1000)] if FULL else []))
def test_check_cache_mode_cloudphysics(algorithm, frames):
    d = run_cache(str(CLOUD_OG), frames, algorithm, check=True)
    assert d["integrity_errors"] == 0
    assert d["misses"] == _objcount(algorithm, frames)


@pytest.mark.parametrize("algorithm,frames", [("CLOCK_ref1", 16), ("CLOCK_ref0", 64), ("FIFO", 8)])
def test_check_cache_mode_with_writes(algorithm, frames):
    pages, writes = load_page_trace("spec2000/mcf.pages.gz")
    d = run_pages(pages[:100_000], frames, algorithm, writes=writes[:100_000], check=True)
    assert d["integrity_errors"] == 0
    assert d["swap_outs"] > 0


@pytest.mark.parametrize("rel,frames", [("spec2000/gcc.pages.gz", 200), ("spec2000/twolf.pages.gz", 120),
                                        ("lirs/cpp.trace.gz", 600)])
def test_check_kernel_mode(rel, frames):
    """Kernel mode (x86-64 "modern" machine, reserve and watermarks, page tables) with the
    integrity checker on: memory is tight enough that reclaim runs."""
    pages, writes = load_page_trace(rel)
    n = 100_000
    d = rmapsim.run(from_pages(pages[:n], writes=writes[:n]), frames=frames, policy="clock",
                    machine="modern", check=True).to_dict()
    assert d["integrity_errors"] == 0
    assert d["references"] == min(n, len(pages))
    assert d["oom_kills"] == 0
    # every reference either hit or missed; misses are faults of one kind or another
    assert d["misses"] <= d["references"]
