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
        rows = [r for r in csv.DictReader(f) if r["algorithm"] in ("FIFO", "Clock", "Clock_initref1")]
    return rows


OBJCOUNT = _objcount_rows()
# a spread of the 23 sizes in the CSV: tiny, odd, powers of two, 10%..100% of the 48,974 objects
CLOUD_SIZES = (1, 2, 3, 5, 10, 50, 100, 128, 200, 500, 1000, 1024, 5000, 10000, 20000, 30000,
               40000, 48974)


@pytest.mark.parametrize("row", [pytest.param(r, id=f"{r['algorithm']}-{r['cache_size_objects']}")
                                 for r in OBJCOUNT if int(r["cache_size_objects"]) in CLOUD_SIZES])
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


@pytest.mark.parametrize("fmt", [None, "oracleGeneral"])
def test_cloudphysics_explicit_format(fmt):
    d = run_cache(str(CLOUD_OG), 1000, "Clock_initref1", format=fmt)
    assert d["misses"] == _objcount("Clock_initref1", 1000)


@pytest.mark.parametrize("path,fmt", [(CLOUD_TXT, None), (CLOUD_TXT, "txt"),
                                      (CLOUD_VSCSI, None), (CLOUD_VSCSI, "vscsi")],
                         ids=["txt-auto", "txt", "vscsi-auto", "vscsi"])
@pytest.mark.parametrize("algorithm,frames", [("FIFO", 100), ("Clock", 5000),
                                              ("Clock_initref1", 20000)])
def test_cloudphysics_other_encodings(path, fmt, algorithm, frames):
    d = run_cache(str(path), frames, algorithm, format=fmt)
    assert d["references"] == 113872
    assert d["misses"] == _objcount(algorithm, frames)


@pytest.mark.parametrize("algorithm,frames", [("FIFO", 100), ("Clock", 5000),
                                              ("Clock_initref1", 20000)])
def test_cloudphysics_vscsi_writebacks(algorithm, frames):
    """The vscsi encoding carries reads (0x28) and writes (0x2a): a dirty page evicted goes to
    swap.  No published number exists, so the count is the literal textbook transcription's
    (tests/test_textbook.py), fed the same pages and write flags."""
    from test_textbook import textbook_replay
    name = {"FIFO": "FIFO", "Clock": "CLOCK_useBitClearOnLoad",
            "Clock_initref1": "CLOCK_useBitSetOnLoad"}[algorithm]
    faults, writebacks = textbook_replay(cloud_pages().tolist(), frames, name,
                                         cloud_vscsi_writes().tolist())
    assert faults == _objcount(algorithm, frames)
    d = run_cache(str(CLOUD_VSCSI), frames, algorithm)
    assert (d["misses"], d["swap_outs"]) == (faults, writebacks)
    d2 = run_pages(cloud_pages(), frames, algorithm, writes=cloud_vscsi_writes())
    assert (d2["misses"], d2["swap_outs"]) == (faults, writebacks)


@pytest.mark.parametrize("algorithm", ["FIFO", "Clock", "Clock_initref1"])
def test_cloudphysics_from_pages_equals_file(algorithm):
    """The in-memory trace and the file reader give the same run."""
    a = run_pages(cloud_pages(), 777, algorithm)
    b = run_cache(str(CLOUD_OG), 777, algorithm)
    assert a == b


# ---- reference_faults_{lirs,ucsd}.csv: classic block and SPEC2000 page traces ------------------

FAULT_ALGOS = ("FIFO", "CLOCK_ref0", "CLOCK_ref1")
# Rows are cheap except for the biggest traces at the smallest sizes where nearly every
# reference faults; every trace keeps its smallest, largest and some middle sizes.
MAX_REFS_ALL_SIZES = 200_000


def _fault_rows():
    rows = []
    for name in ("reference_faults_lirs.csv", "reference_faults_ucsd.csv"):
        path = REF / name
        if not path.exists():
            continue
        with open(path, newline="") as f:
            rows += [r for r in csv.DictReader(f) if r["algorithm"] in FAULT_ALGOS]
    by_trace: dict[str, list[int]] = {}
    for r in rows:
        by_trace.setdefault(r["trace"], []).append(int(r["frames"]))
    keep = []
    for r in rows:
        sizes = sorted(set(by_trace[r["trace"]]))
        frames = int(r["frames"])
        if int(r["references"]) > MAX_REFS_ALL_SIZES and frames not in (
                sizes[0], sizes[1], sizes[len(sizes) // 2], sizes[-1]):
            continue
        keep.append(pytest.param(r, id=f"{r['trace'].split('/')[-1].split('.')[0]}-"
                                       f"{r['algorithm']}-{frames}"))
    return keep


FAULT_ROWS = _fault_rows()


def test_fault_rows_cover_every_trace():
    traces = {p.values[0]["trace"] for p in FAULT_ROWS}
    on_disk = {f"{d.name}/{f.name}" for d in (DATA / "lirs", DATA / "spec2000")
               for f in d.glob("*.gz")}
    assert traces == on_disk


@pytest.mark.parametrize("row", FAULT_ROWS)
def test_reference_faults(row):
    assert row["agree"] == "yes"
    pages, writes = load_page_trace(row["trace"])
    assert len(pages) == int(row["references"])
    assert int(writes.sum()) == int(row["writes"])
    frames = int(row["frames"])
    d = run_pages(pages, frames, row["algorithm"], writes=writes if writes.any() else None)
    expected = (int(row["faults_independent"]), int(row["writebacks_independent"]))
    assert d["references"] == len(pages)
    assert (d["misses"], d["swap_outs"]) == expected, (
        f"{row['trace']} frames={frames} {row['algorithm']}: expected (faults, writebacks) = "
        f"{expected}, rmapsim ({d['misses']}, {d['swap_outs']})")


_TRACE_FILES = sorted({r.values[0]["trace"] for r in FAULT_ROWS})


@pytest.mark.parametrize("rel", _TRACE_FILES)
def test_reference_traces_through_reader(rel):
    """Each trace once through rmapsim's own reader (format auto-detected, gzip): same
    reference count, same faults and write-backs as the CSV at the middle size."""
    rows = [p.values[0] for p in FAULT_ROWS if p.values[0]["trace"] == rel
            and p.values[0]["algorithm"] == "CLOCK_ref1"]
    rows.sort(key=lambda r: int(r["frames"]))
    row = rows[len(rows) // 2]
    d = run_cache(str(DATA / rel), int(row["frames"]), "CLOCK_ref1")
    assert d["references"] == int(row["references"])
    assert (d["misses"], d["swap_outs"]) == (int(row["faults_independent"]),
                                             int(row["writebacks_independent"]))


@pytest.mark.parametrize("rel,fmt", [("lirs/loop.trace.gz", "lirs"),
                                     ("spec2000/swim.pages.gz", "rwpages")])
def test_reference_traces_explicit_format(rel, fmt):
    rows = [p.values[0] for p in FAULT_ROWS if p.values[0]["trace"] == rel
            and p.values[0]["algorithm"] == "FIFO"]
    row = min(rows, key=lambda r: int(r["frames"]))
    d = run_cache(str(DATA / rel), int(row["frames"]), "FIFO", format=fmt)
    assert (d["misses"], d["swap_outs"]) == (int(row["faults_independent"]),
                                             int(row["writebacks_independent"]))


# ---- libCacheSim itself, live ------------------------------------------------------------------

@needs_libcachesim
@pytest.mark.parametrize("frames", [7, 333, 4096, 12345])
@pytest.mark.parametrize("algorithm", ["FIFO", "Clock", "Clock_initref1"])
def test_live_libcachesim_cloudphysics(algorithm, frames):
    n, misses = libcachesim_misses(CLOUD_OG, algorithm, frames)
    d = run_cache(str(CLOUD_OG), frames, algorithm)
    assert d["references"] == n
    assert d["misses"] == misses


@needs_libcachesim
@pytest.mark.parametrize("rel,frames", [("lirs/sprite.trace.gz", 700), ("lirs/multi3.trace.gz", 999),
                                        ("spec2000/gzip.pages.gz", 300), ("spec2000/mcf.pages.gz", 37)])
@pytest.mark.parametrize("algorithm", ["FIFO", "CLOCK_ref0", "CLOCK_ref1"])
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
@pytest.mark.parametrize("seed,alpha,npages,frames", [(1, 1.0, 5000, 500), (2, 0.8, 20000, 64),
                                                      (3, 1.2, 3000, 1)])
@pytest.mark.parametrize("algorithm", ["FIFO", "CLOCK_ref0", "CLOCK_ref1"])
def test_live_libcachesim_zipf(tmp_path, seed, alpha, npages, frames, algorithm):
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, npages + 1) ** alpha
    pages = rng.choice(npages, size=50_000, p=w / w.sum()).astype(np.uint64) * 7 + 3
    og = write_oracle_general(tmp_path / "z.oracleGeneral.bin", pages)
    n, misses = libcachesim_misses(og, algorithm, frames)
    assert run_pages(pages, frames, algorithm)["misses"] == misses


# ---- the compiled replay equals the interpreted one -------------------------------------------

_NOJIT_SCRIPT = r"""
import json, sys
import numpy as np
import rmapsim
from rmapsim.trace import from_pages
spec = json.loads(sys.argv[1])
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
    proc = subprocess.run([sys.executable, "-c", _NOJIT_SCRIPT, json.dumps(cases)],
                          capture_output=True, text=True, env=env, timeout=600)
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

@pytest.mark.parametrize("algorithm,frames", [("FIFO", 1), ("Clock", 3), ("Clock_initref1", 1000),
                                              ("FIFO", 48974)])
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
