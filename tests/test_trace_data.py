"""The readers on the real traces in shared/data, against the documented counts and libCacheSim.

Counts come from shared/data/README.md and the reference CSVs (references, writes, unique pages
of every trace listed there); libCacheSim's own readers read the same cloudPhysicsIO files.
"""
import csv
import os
from pathlib import Path

import numpy as np
import pytest

from rmapsim.trace import open_trace
from rmapsim.trace.events import OP_WRITE


def _data_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (os.environ.get("RMAPSIM_DATA"), here.parent.parent / "shared" / "data",
                      here.parent / "shared" / "data", "/work/shared/data"):
        if candidate and (Path(candidate) / "README.md").exists():
            return Path(candidate)
    return Path("/work/shared/data")


DATA = _data_dir()
CLOUD = DATA / "libcachesim"
pytestmark = pytest.mark.skipif(not (CLOUD / "cloudPhysicsIO.txt").exists(),
                                reason="shared/data is not present")
CLOUD_FILES = {"txt": "cloudPhysicsIO.txt", "oracleGeneral": "cloudPhysicsIO.oracleGeneral.bin",
               "vscsi": "cloudPhysicsIO.vscsi"}


def _reference_rows(name):
    path = DATA / "reference" / name
    if not path.exists():
        return []
    rows = {}
    for r in csv.DictReader(open(path)):
        rows[r["trace"]] = (int(r["references"]), int(r["writes"]), int(r["unique_pages"]))
    return sorted(rows.items())


@pytest.fixture(scope="module")
def cloud():
    return {fmt: open_trace(CLOUD / name) for fmt, name in CLOUD_FILES.items()}


def test_cloudphysics_encodings_agree(cloud):
    events = {fmt: t.read_all() for fmt, t in cloud.items()}
    for fmt, ev in events.items():
        assert cloud[fmt].format == fmt and cloud[fmt].bare
        assert len(ev) == 113_872
        assert len(np.unique(ev["addr"])) == 48_974
        assert (ev["pid"] == 0).all()
    assert np.array_equal(events["txt"]["addr"], events["oracleGeneral"]["addr"])
    assert np.array_equal(events["txt"]["addr"], events["vscsi"]["addr"])
    assert (events["txt"]["op"] == 0).all() and (events["oracleGeneral"]["op"] == 0).all()
    assert int((events["vscsi"]["op"] == OP_WRITE).sum()) == 66_898


def test_cloudphysics_next_access_is_consistent(cloud):
    ev, nxt = map(np.concatenate, zip(*cloud["oracleGeneral"].chunks(10_000, with_next=True)))
    pages = ev["addr"]
    has = np.flatnonzero(nxt >= 0)
    assert (nxt[nxt < 0] == -1).all()
    assert np.array_equal(pages[nxt[has] - 1], pages[has])    # 1-based index of the next use
    assert (nxt[has] - 1 > has).all()


# --- libCacheSim's own readers ---------------------------------------------------------------

def _libcachesim_requests(name, trace_type):
    lcs = pytest.importorskip("libcachesim")
    reader = lcs.TraceReader(str(CLOUD / name), getattr(lcs.TraceType, trace_type))
    return [(r.obj_id, int(r.op), r.next_access_vtime) for r in reader]


@pytest.mark.parametrize("fmt,trace_type", [("txt", "PLAIN_TXT_TRACE"),
                                            ("oracleGeneral", "ORACLE_GENERAL_TRACE"),
                                            ("vscsi", "VSCSI_TRACE")])
def test_agrees_with_libcachesim_readers(cloud, fmt, trace_type):
    lcs = pytest.importorskip("libcachesim")
    theirs = _libcachesim_requests(CLOUD_FILES[fmt], trace_type)
    ev = cloud[fmt].read_all()
    assert len(theirs) == len(ev)
    assert np.array_equal(np.array([t[0] for t in theirs], np.uint64), ev["addr"] >> np.uint64(12))
    if fmt == "vscsi":
        writes = np.array([t[1] == int(lcs.ReqOp.OP_WRITE) for t in theirs])
        assert np.array_equal(writes, ev["op"] == OP_WRITE)
    if fmt == "oracleGeneral":
        nxt = np.concatenate([n for _, n in cloud[fmt].chunks(with_next=True)])
        theirs_next = np.array([t[2] for t in theirs], np.int64)
        assert np.array_equal(np.where(nxt == -1, np.iinfo(np.int64).max, nxt), theirs_next)


# --- every trace of the reference CSVs -------------------------------------------------------

@pytest.mark.parametrize("trace,counts", _reference_rows("reference_faults_ucsd.csv")
                         + _reference_rows("reference_faults_lirs.csv"))
def test_reference_trace_counts(trace, counts):
    t = open_trace(DATA / trace)
    assert t.format == ("rwpages" if trace.startswith("spec2000/") else "lirs")
    ev = t.read_all()
    assert (len(ev), int((ev["op"] == OP_WRITE).sum()), len(np.unique(ev["addr"]))) == counts


def test_reference_csvs_list_the_traces():
    names = [t for t, _ in _reference_rows("reference_faults_ucsd.csv") + _reference_rows("reference_faults_lirs.csv")]
    assert len(names) == 5 + 13 and "spec2000/gcc.pages.gz" in names
    assert dict(_reference_rows("reference_faults_ucsd.csv"))["spec2000/gcc.pages.gz"] == (515_683, 197_486, 294)
