"""Writing every format and reading it back, `rmapsim trace convert`, and the readers and writers
checked against libCacheSim's own readers on the same files (``shared/data/libcachesim``).
"""
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from rmapsim.cli import main
from rmapsim.errors import ConfigError, TraceError
from rmapsim.sim.future import next_use
from rmapsim.trace import EVENT_DTYPE, WRITABLE, from_events, from_pages, open_trace, write_trace
from rmapsim.trace.csvtrace import parse_spec
from rmapsim.trace.events import OP_MMAP, OP_WRITE
from test_trace_formats import damon_record, mixed_events

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
CLOUD = DATA / "libcachesim"
BARE_WRITABLE = [f for f in WRITABLE if f not in ("native", "text")]
KEEPS_RW = {"native", "text", "lackey", "rwpages", "vmsim", "csv", "lcs", "vscsi"}
BYTE_ADDRESSES = {"native", "text", "lackey", "vmsim"}
EXT = {"native": ".rmt", "text": ".rmtxt", "lackey": ".lackey", "rwpages": ".pages",
       "vmsim": ".vmsim", "txt": ".txt", "csv": ".csv", "lirs": ".lirs",
       "oracleGeneral": ".oracleGeneral", "lcs": ".lcs", "vscsi": ".vscsi"}


def _bare_trace(n=3000, seed=5):
    rng = np.random.default_rng(seed)
    pages = rng.zipf(1.3, n).astype(np.uint64) % np.uint64(1 << 40)
    return from_pages(pages, rng.random(n) < 0.3)


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


# --- round trips: every writable format, every compression -----------------------------------

@pytest.mark.parametrize("suffix", ["", ".gz", ".xz", ".zst"])
@pytest.mark.parametrize("fmt", WRITABLE)
def test_round_trip_every_format(tmp_path, fmt, suffix):
    trace = _bare_trace()
    ev = trace.read_all()
    ev["addr"] |= np.uint64(0x123) if fmt in BYTE_ADDRESSES else np.uint64(0)
    path = tmp_path / f"t{EXT[fmt]}{suffix}"
    info = {}
    assert write_trace(path, from_events(ev) if fmt in ("native", "text") else [ev], fmt,
                       info=info) == len(ev)
    back = open_trace(path)                              # detected from the name
    assert back.format == fmt or (fmt, back.format) == ("lirs", "lirs")
    got = back.read_all()
    assert len(got) == len(ev)
    shift = np.uint64(0 if fmt in BYTE_ADDRESSES else 12)
    assert np.array_equal(got["addr"] >> shift, ev["addr"] >> shift)
    writes = int((ev["op"] == OP_WRITE).sum())
    if fmt in KEEPS_RW:
        assert np.array_equal(got["op"], ev["op"]) and info["writes_dropped"] == 0
    else:
        assert (got["op"] == 0).all() and info["writes_dropped"] == writes
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("fmt", ["oracleGeneral", "lcs"])
def test_next_access_column_is_written(tmp_path, fmt):
    trace = _bare_trace(5000)
    path = tmp_path / f"n{EXT[fmt]}.zst"
    write_trace(path, (c for c in trace.chunks(777)), fmt)      # a one-shot iterator
    back = open_trace(path)
    assert back.has_next
    ev, nxt = map(np.concatenate, zip(*back.chunks(1000, with_next=True)))
    want = next_use((trace.read_all()["addr"] >> np.uint64(12)).astype(np.int64))
    assert np.array_equal(nxt, np.where(want >= 0, want + 1, -1))


def test_cloudphysics_next_access_recomputed_exactly(tmp_path):
    """vscsi -> oracleGeneral recomputes the shipped oracleGeneral file's next-access column."""
    out = tmp_path / "cp.oracleGeneral"
    write_trace(out, open_trace(CLOUD / "cloudPhysicsIO.vscsi"), "oracleGeneral")
    ours = np.concatenate([n for _, n in open_trace(out).chunks(with_next=True)])
    shipped = np.concatenate([n for _, n in open_trace(CLOUD / "cloudPhysicsIO.oracleGeneral.bin")
                              .chunks(with_next=True)])
    assert np.array_equal(ours, shipped)


def test_multi_process_trace_to_a_bare_format_is_refused(tmp_path, capsys):
    src = tmp_path / "m.rmt"
    write_trace(src, mixed_events(50, seed=3))
    for fmt in BARE_WRITABLE:
        target = tmp_path / f"o{EXT[fmt]}"
        target.write_bytes(b"old")
        status, out, err = _run(capsys, "trace", "convert", src, target)
        assert status == 2 and out == ""
        assert err.count("\n") == 1 and f"the {fmt} format holds the page references of one process" in err
        assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["m.rmt"] + [f"o{EXT[f]}" for f in BARE_WRITABLE])
    refs = mixed_events(20)
    refs["op"] = 0
    refs["pid"] = [1] * 10 + [2] * 10                     # references only, but two processes
    with pytest.raises(TraceError, match="event 10 is a reference of a second process"):
        write_trace(tmp_path / "two.txt", refs, "txt")
    refs["pid"] = 7                                        # one process, any pid: fine
    assert write_trace(tmp_path / "one.txt", refs, "txt") == 20


def test_convert_cli(tmp_path, capsys):
    src = CLOUD / "cloudPhysicsIO.vscsi"
    status, _, err = _run(capsys, "trace", "convert", src, tmp_path / "cp.csv.gz")
    assert status == 0 and "113,872 events (vscsi -> csv)" in err
    status, _, err = _run(capsys, "trace", "convert", tmp_path / "cp.csv.gz", tmp_path / "cp.out",
                          "--to", "oracleGeneral")
    assert status == 0 and "66,898 writes are plain references" in err
    a = open_trace(src).read_all()
    b = open_trace(tmp_path / "cp.out", format="oracleGeneral").read_all()
    assert np.array_equal(a["addr"], b["addr"])
    status, _, err = _run(capsys, "trace", "convert", src, tmp_path / "x.unknown")
    assert status == 2 and "give --to FORMAT" in err
    status, _, err = _run(capsys, "trace", "convert", src, tmp_path / "x.damon")
    assert status == 2 and "cannot write format 'damon'" in err
    status, _, err = _run(capsys, "trace", "convert", tmp_path / "cp.csv.gz", tmp_path / "y.txt",
                          "--from", "csv", "--csv-spec", "obj=9")
    assert status == 2 and ":2: expected at least 9 fields" in err
    assert not (tmp_path / "y.txt").exists()


def test_formats_lists_read_write(capsys):
    status, out, _ = _run(capsys, "formats")
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines()[1:-1]}
    assert rows["damon"] == ["yes", "no"] and rows["lcs"] == ["yes", "yes"]
    assert all(rows[f] == ["yes", "yes"] for f in WRITABLE)


# --- the readers of the new formats ------------------------------------------------------------

@pytest.mark.parametrize("spec,body,pages,writes", [
    (None, b"page,op\n3,R\n4,W\n", [3, 4], [0, 1]),
    (None, b"3\n0x4\n", [3, 4], [0, 0]),
    (None, b"ts,addr,rw\n1,0x5000,write\n2,8191,read\n", [5, 1], [1, 0]),   # addr: bytes
    ("obj=2,op=3,header=1,sep=,", b"t,o,x\n1,7,get\n2,8,set\n", [7, 8], [0, 1]),
    ("obj=1,sep=tab,header=0", b"9\tW\n10\tR\n", [9, 10], [0, 0]),
    ("obj=2,op=1,sep=;", b"W;11\nr;12\n\n# comment\n", [11, 12], [1, 0]),
    ("obj=1,unit=byte,sep=space", b"  0x3000   x\n4096 y\n", [3, 1], [0, 0]),
    ("sep=|,obj=1,op=2", b'"5"|"W"\n', [5], [1]),
])
def test_csv_specs(tmp_path, spec, body, pages, writes):
    path = tmp_path / "t.csv"
    path.write_bytes(body)
    ev = open_trace(path, csv_spec=spec).read_all()
    assert (ev["addr"] >> np.uint64(12)).tolist() == pages
    assert ev["op"].tolist() == writes


@pytest.mark.parametrize("spec,message", [
    ("obj=0", "column number"), ("obj=1,op=1", "same column"), ("sep=ab", "sep takes"),
    ("foo=1", "unknown key"), ("obj=1,obj=2", "given twice"), ("header=maybe", "header takes"),
])
def test_csv_bad_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec(spec)


def test_vmsim_reader(tmp_path):
    path = tmp_path / "t.vmsim"
    path.write_bytes(b"0041f7a0 R\n0x13f5e2c0 w # store\r\n\n 7 W\n")
    ev = open_trace(path).read_all()
    assert ev["addr"].tolist() == [0x41F7A0, 0x13F5E2C0, 7] and ev["op"].tolist() == [0, 1, 1]
    path.write_bytes(b"0041f7a0 R\n0041f7a0 X\n")
    with pytest.raises(TraceError, match=r"t.vmsim:2: expected '<hex address> R'"):
        open_trace(path).read_all()


def _damo_replay(snapshots):
    """What ``damo replay`` touches, page by page, for the first target's snapshots."""
    out, first = [], snapshots[0][0]
    for target, regions in snapshots:
        if target != first:
            continue
        for k in range(max([nr for _, _, nr in regions] or [0])):
            out += [a // 4096 for s, e, nr in regions if k < nr for a in range(s, e, 4096)]
    return out


DAMON_SNAPSHOTS = [(42, [(0x1000, 0x5000, 2), (0x10000, 0x12000, 3), (0x20000, 0x20000, 9)]),
                   (7, [(0, 0x100000, 5)]),
                   (42, [(0x2000, 0x3000, 1), (0x7000, 0x9000, 4)])]


@pytest.mark.parametrize("version", [1, 2])
def test_damon_binary_record_expands_like_damo_replay(tmp_path, version):
    path = tmp_path / "damon.data"
    data = damon_record(DAMON_SNAPSHOTS, version)
    # damo's fake last snapshot (nr_regions 1 and no region) after a one-snapshot record
    data += struct.pack("<qqI", 999, 0, 1) + struct.pack("<i" if version == 1 else "<Q", 42) \
        + struct.pack("<I", 1)
    path.write_bytes(data)
    t = open_trace(path)
    assert t.format == "damon" and t.bare
    ev = t.read_all()
    assert (ev["addr"] >> np.uint64(12)).tolist() == _damo_replay(DAMON_SNAPSHOTS)
    assert (ev["op"] == 0).all()
    assert t.locate(0).startswith("byte offset ")


@pytest.mark.parametrize("compressed", [False, True])
def test_damon_json_records(tmp_path, compressed):
    records = [{"kdamond_idx": 0, "context_idx": 0, "target_id": 42, "scheme_idx": None,
                "intervals": {"sample_us": "5000", "aggr_us": "100000", "ops_update_us": "1000000"},
                "snapshots": [{"start_time": "0", "end_time": "100000000", "total_bytes": "1",
                               "regions": [{"start": str(s), "end": e, "age": {"usec": None},
                                            "nr_accesses": {"samples": nr, "percent": None}}
                                           for s, e, nr in regions]}
                              for target, regions in DAMON_SNAPSHOTS if target == 42]},
               {"target_id": 7, "snapshots": [{"regions": [{"start": 0, "end": 4096,
                                                            "nr_accesses": {"samples": 1}}]}]}]
    data = json.dumps(records, indent=4).encode()
    path = tmp_path / "d.bin"
    path.write_bytes(zlib.compress(data) if compressed else data)
    ev = open_trace(path).read_all()                   # detected from the content
    assert (ev["addr"] >> np.uint64(12)).tolist() == _damo_replay(DAMON_SNAPSHOTS)
    for region in records[0]["snapshots"][0]["regions"]:     # the same in percent
        region["nr_accesses"] = {"samples": None, "percent": region["nr_accesses"]["samples"] * 5}
    path.write_bytes(json.dumps(records).encode())
    ev = open_trace(path).read_all()                   # 20 samples per aggregation: 5 % each
    assert (ev["addr"] >> np.uint64(12)).tolist() == _damo_replay(DAMON_SNAPSHOTS)
    records[0]["snapshots"][1]["regions"][1]["end"] = 0x10
    path.write_bytes(json.dumps(records).encode())
    with pytest.raises(TraceError, match="DAMON JSON record 0, snapshot 1, region 1: region end "
                                         "before its start"):
        open_trace(path, "damon").read_all()


def test_damon_errors_name_the_byte_offset(tmp_path):
    path = tmp_path / "t.damon"
    good = damon_record(DAMON_SNAPSHOTS)
    path.write_bytes(good[:-7])
    with pytest.raises(TraceError) as e:
        open_trace(path).read_all()
    assert "truncated DAMON record" in str(e.value) and e.value.offset is not None
    path.write_bytes(damon_record([(1, [(0x5000, 0x1000, 1)])]))
    with pytest.raises(TraceError, match="byte offset 52: region end before its start"):
        open_trace(path).read_all()


# --- libCacheSim's readers on the same files ---------------------------------------------------

def _theirs(path, trace_type, **params):
    lcs = pytest.importorskip("libcachesim")
    p = None
    if params:
        p = lcs.ReaderInitParam()
        for k, v in params.items():
            setattr(p, k, v)
    reader = lcs.TraceReader(str(path), getattr(lcs.TraceType, trace_type), p) if p else \
        lcs.TraceReader(str(path), getattr(lcs.TraceType, trace_type))
    reqs = [(r.obj_id, int(r.op), r.next_access_vtime) for r in reader]
    ids = np.array([r[0] for r in reqs], np.uint64)
    writes = np.array([r[1] == int(lcs.ReqOp.OP_WRITE) for r in reqs], bool)
    nxt = np.array([r[2] for r in reqs], np.int64)
    return ids, writes, nxt


@pytest.mark.parametrize("fmt,trace_type,params", [
    ("txt", "PLAIN_TXT_TRACE", {}),
    ("oracleGeneral", "ORACLE_GENERAL_TRACE", {}),
    ("lcs", "LCS_TRACE", {}),
    ("vscsi", "VSCSI_TRACE", {}),
    ("csv", "CSV_TRACE", {"obj_id_field": 1, "op_field": 2, "has_header": True, "delimiter": ","}),
])
def test_libcachesim_reads_what_we_write(tmp_path, fmt, trace_type, params):
    """Our writer's output read by libCacheSim, and by us: the same request count and ids."""
    src = open_trace(CLOUD / "cloudPhysicsIO.vscsi")
    ev = src.read_all()
    path = tmp_path / f"cp{EXT[fmt]}"
    write_trace(path, src, fmt)
    ids, writes, nxt = _theirs(path, trace_type, **params)
    pages = ev["addr"] >> np.uint64(12)
    assert len(ids) == len(ev) == 113_872
    assert np.array_equal(ids, pages)
    ours = open_trace(path).read_all()
    assert np.array_equal(ours["addr"] >> np.uint64(12), ids)
    if fmt in KEEPS_RW:
        assert np.array_equal(writes, ev["op"] == OP_WRITE)
        assert np.array_equal(ours["op"] == OP_WRITE, writes)
    if fmt in ("oracleGeneral", "lcs"):
        mine = np.concatenate([n for _, n in open_trace(path).chunks(with_next=True)])
        assert np.array_equal(np.where(mine == -1, np.iinfo(np.int64).max, mine), nxt)


@pytest.mark.parametrize("spec,params", [
    (None, {"obj_id_field": 1, "has_header": False, "delimiter": ","}),
    ("obj=2,op=3,header=1,sep=,", {"obj_id_field": 2, "op_field": 3, "has_header": True,
                                   "delimiter": ","}),
    ("obj=3,sep=tab,header=0", {"obj_id_field": 3, "has_header": False, "delimiter": "\t"}),
])
def test_csv_reader_agrees_with_libcachesim(tmp_path, spec, params):
    ids = (CLOUD / "cloudPhysicsIO.txt").read_text().split()
    ops = ["read" if int(i) % 3 else "write" for i in ids[:20000]]
    rows = {None: [f"{i},4096" for i in ids],      # libCacheSim needs the delimiter in a row
            "obj=2,op=3,header=1,sep=,": ["time,id,op"] + [f"{n},{i},{o}" for n, (i, o) in
                                                          enumerate(zip(ids, ops))],
            "obj=3,sep=tab,header=0": [f"{n}\tx\t{i}" for n, i in enumerate(ids)]}[spec]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    theirs, writes, _ = _theirs(path, "CSV_TRACE", **params)
    ev = open_trace(path, csv_spec=spec).read_all()
    assert len(theirs) == len(ev) and np.array_equal(theirs, ev["addr"] >> np.uint64(12))
    if "op_field" in params:
        assert np.array_equal(writes, ev["op"] == OP_WRITE)


def test_mmap_in_source_named_in_error(tmp_path):
    ev = np.zeros(5, EVENT_DTYPE)
    ev["op"] = [0, 0, OP_MMAP, 0, 0]
    ev["pid"] = 1
    ev["addr"][2], ev["length"][2] = 0x1000, 4096
    with pytest.raises(TraceError, match="event 2 is a MMAP event"):
        write_trace(tmp_path / "x.pages", from_events(ev), "rwpages")
    assert not list(tmp_path.iterdir())


def test_csv_fast_and_careful_paths_agree(tmp_path, monkeypatch):
    from rmapsim.trace import csvtrace, textscan
    rng = np.random.default_rng(8)
    rows = ["time,page,op"]
    for n in range(3000):
        page = int(rng.integers(0, 1 << 40))
        form = rng.integers(0, 6)
        cell = [str(page), hex(page), f'"{page}"', f" {page} ", str(page).zfill(19), str(page)][form]
        op = ["R", "w", "read", "SET", "W ", "r"][rng.integers(0, 6)]
        rows.append(f"{n},{cell},{op}" + ("\r" if n % 7 == 0 else "") + ("\n# note" if n % 13 == 0 else ""))
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    fast = open_trace(path).read_all()
    monkeypatch.setattr(csvtrace.CsvReader, "scan", lambda self, src, size, check=True: textscan.scan(
        src, csvtrace.python_lines, (), size, slow=self._parser()))
    careful = open_trace(path)
    assert np.array_equal(careful.read_all(), fast) and len(fast) == 3000
    last = 1 + 3000 + len(range(0, 2999, 13))           # header, rows, '# note' lines before
    assert careful.locate(2999) == open_trace(path).locate(2999) == f"line {last}"
