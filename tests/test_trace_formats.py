"""Trace readers and writer on small files made here: round trips, chunking, locate, detection.

``sample_files`` (also used by ``test_trace_errors``) writes one small file per format with the
events it must read as.
"""
import gzip
import os

import numpy as np
import pytest

from rmapsim.errors import ConfigError, TraceError
from rmapsim.trace import (EVENT_DTYPE, FORMATS, Trace, from_events, from_pages, open_trace,
                           textscan, write_trace)
from rmapsim.trace.events import (MAP_FILE, MAP_SHARED, N_OPS, OP_EXEC, OP_EXIT, OP_FILE, OP_FORK,
                                  OP_MMAP, OP_MUNMAP, OP_READ, OP_WRITE, PROT_WRITE, page_refs)
from rmapsim.trace.libcachesim_formats import ORACLE_GENERAL, VSCSI1

COMPRESSIONS = ["", ".gz", ".xz", ".zst"]


def mixed_events(n, seed=0):
    """``n`` valid events of every kind, fields at random within the rules."""
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    op = rng.integers(0, N_OPS, n).astype(np.uint8)
    ev["op"] = op
    ev["pid"] = np.where(op == OP_FILE, 0, rng.integers(0, 1 << 32, n, dtype=np.uint64))
    rw = op <= OP_WRITE
    ev["addr"] = np.where(rw, rng.integers(0, 1 << 64, n, dtype=np.uint64),
                          rng.integers(0, 1 << 35, n, dtype=np.uint64) << np.uint64(12))
    ranges = (op == OP_MMAP) | (op == OP_MUNMAP)
    ev["addr"][~rw & ~ranges] = 0
    ev["length"] = np.where(ranges, rng.integers(1, 1 << 20, n, dtype=np.uint64) << np.uint64(12), 0)
    mm = op == OP_MMAP
    flags = np.where(mm, rng.integers(0, 8, n), 0).astype(np.uint8)
    ev["flags"] = flags
    is_file = mm & ((flags & MAP_FILE) != 0)
    ev["file"] = np.where(is_file | (op == OP_FILE), rng.integers(1, 1 << 32, n, dtype=np.uint64), 0)
    ev["pgoff"] = np.where(is_file, rng.integers(0, 1 << 40, n, dtype=np.uint64), 0)
    ev["length"][op == OP_FILE] = rng.integers(0, 1 << 30, int((op == OP_FILE).sum()))
    ev["arg"] = np.where(op == OP_FILE, rng.integers(0, 2, n), 0)
    fork = op == OP_FORK
    ev["arg"][fork] = (ev["pid"][fork].astype(np.uint64) + 1) % (1 << 32)
    return ev


def _pages(pages, writes=None):
    return page_refs(np.asarray(pages, np.uint64), None if writes is None else np.asarray(writes, bool))


def _raw(records, dtype, **fields):
    arr = np.zeros(records, dtype)
    for name, values in fields.items():
        arr[name] = values
    return arr.tobytes()


def sample_files(root, repeat=1):
    """{format: (path, expected events)} for every readable format; ``repeat`` copies the body."""
    root = str(root)
    out = {}

    def text_file(name, fname, body: bytes, expected):
        path = os.path.join(root, fname)
        with open(path, "wb") as f:
            f.write(body * repeat)
        out[name] = (path, np.concatenate([expected] * repeat))

    text_file("txt", "s.txt", b"5\n7\n5\n\n12\n", _pages([5, 7, 5, 12]))
    text_file("lirs", "s.trace", b"1\r\n*\r\n2\r\n\r\n3\r\n", _pages([1, 2, 3]))
    text_file("rwpages", "s.pages", b"R 1f\nW 0x20\n# c\nr 3\n", _pages([0x1F, 0x20, 3], [0, 1, 0]))
    lackey = _pages([0x4000, 0x1, 0x2, 0x2, 0x3, 0x3], [0, 0, 0, 1, 0, 1])
    lackey["addr"] = [0x4000000, 0x1FF8, 0x2000, 0x2000, 0x3000, 0x3000]
    text_file("lackey", "s.lackey", b"==12== Lackey\nI  04000000,3\n L 00001ff8,16\n S 00002000,4\n"
                                    b" M 00003000,8\n==12== done\n", lackey)
    ev = np.concatenate([mixed_events(40, seed=1)] * repeat)
    for name, fname in (("native", "s.rmt"), ("text", "s.rmtxt")):
        path = os.path.join(root, fname)
        write_trace(path, ev, format=name)
        out[name] = (path, ev)
    n = 30 * repeat
    ids = np.arange(n, dtype=np.uint64) * np.uint64(7) % np.uint64(11)
    path = os.path.join(root, "s.oracleGeneral.bin")
    with open(path, "wb") as f:
        f.write(_raw(n, ORACLE_GENERAL, id=ids, size=512, next=-1))
    out["oracleGeneral"] = (path, _pages(ids))
    writes = np.arange(n) % 3 == 0
    path = os.path.join(root, "s.vscsi")
    with open(path, "wb") as f:
        f.write(_raw(n, VSCSI1, lbn=ids, cmd=np.where(writes, 0x2A, 0x28), ver=0x100, len=512))
    out["vscsi"] = (path, _pages(ids, writes))
    vmsim = _pages([0x41F, 0x2, 0x1], [0, 1, 1])
    vmsim["addr"] = [0x41F7A0, 0x2000, 0x1FFF]
    text_file("vmsim", "s.vmsim", b"0041f7a0 R\n# c\n0x2000 w\n\n1fff W\n", vmsim)
    path = os.path.join(root, "s.csv")                    # the header only once
    with open(path, "wb") as f:
        f.write(b"time,page,op\n" + b"1,5,R\n2,0x7,W\n3,5,read\n" * repeat)
    out["csv"] = (path, np.concatenate([_pages([5, 7, 5], [0, 1, 0])] * repeat))
    path = os.path.join(root, "s.lcs")
    from rmapsim.trace import lcs
    with open(path, "wb") as f:
        f.write(lcs.header({"n_req": n}) + _raw(n, lcs.V2, id=ids, size=4096, next=-1,
                                                 optenant=np.where(writes, 13, 1)))
    out["lcs"] = (path, _pages(ids, writes))
    path = os.path.join(root, "s.damon")
    with open(path, "wb") as f:
        f.write(damon_record([(9, [(0x3000, 0x5000, 2), (0x9000, 0xA000, 1)])] * repeat))
    out["damon"] = (path, _pages([3, 4, 9, 3, 4] * repeat))
    assert set(out) == set(FORMATS)
    return out


def damon_record(snapshots, version=2):
    """damo's binary ``record`` format: ``[(target_id, [(start, end, nr_accesses), ...]), ...]``."""
    import struct
    b = bytearray(b"damon_recfmt_ver" + struct.pack("<i", version))
    for i, (target, regions) in enumerate(snapshots):
        b += struct.pack("<qqI", 100 + i, 5, 1)
        b += struct.pack("<i" if version == 1 else "<Q", target) + struct.pack("<I", len(regions))
        for start, end, nr in regions:
            b += struct.pack("<QQI", start, end, nr)
    return bytes(b)


def _compress(path, suffix):
    """A compressed copy of ``path`` named ``path + suffix``."""
    import lzma

    import zstandard
    data = open(path, "rb").read()
    packed = {"": lambda d: d, ".gz": gzip.compress, ".xz": lzma.compress,
              ".zst": lambda d: zstandard.ZstdCompressor().compress(d)}[suffix](data)
    with open(path + suffix, "wb") as f:
        f.write(packed)
    return path + suffix


# --- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", COMPRESSIONS)
@pytest.mark.parametrize("fmt,ext", [("native", ".rmt"), ("text", ".rmtxt")])
def test_round_trip_events(tmp_path, fmt, ext, suffix):
    ev = mixed_events(2000)
    path = tmp_path / f"t{ext}{suffix}"
    assert write_trace(path, from_events(ev), format=fmt) == len(ev)
    t = open_trace(path)
    assert (t.format, t.bare) == (fmt, False)
    assert np.array_equal(t.read_all(), ev)
    assert np.array_equal(open_trace(path, format=fmt).read_all(), ev)
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.parametrize("suffix", COMPRESSIONS)
@pytest.mark.parametrize("fmt", ["native", "text"])
def test_round_trip_bare(tmp_path, fmt, suffix):
    rng = np.random.default_rng(2)
    pages = rng.integers(0, 1 << 52, 5000, dtype=np.uint64)
    writes = rng.random(5000) < 0.4
    trace = from_pages(pages, writes)
    assert trace.bare and trace.path == "<memory>"
    path = tmp_path / f"b.{fmt}{suffix}"
    write_trace(path, trace, format=fmt)
    back = open_trace(path, format=fmt)
    assert back.bare
    assert np.array_equal(back.read_all(), trace.read_all())


def test_round_trip_chunk_iterable_and_empty(tmp_path):
    ev = mixed_events(100)
    write_trace(tmp_path / "a.rmt", (ev[i:i + 9] for i in range(0, 100, 9)))
    assert np.array_equal(open_trace(tmp_path / "a.rmt").read_all(), ev)
    write_trace(tmp_path / "e.rmt", [])            # a header and no events: an empty trace
    assert len(open_trace(tmp_path / "e.rmt").read_all()) == 0


def test_text_is_readable(tmp_path):
    ev = np.zeros(3, EVENT_DTYPE)
    ev[0] = (OP_MMAP, MAP_FILE | MAP_SHARED | PROT_WRITE, 0, 3, 0x10000, 0x2000, 9, 0, 4)
    ev[1] = (OP_WRITE, 0, 0, 3, 0x10008, 0, 0, 0, 0)
    ev[2] = (OP_EXIT, 0, 0, 3, 0, 0, 0, 0, 0)
    write_trace(tmp_path / "x.rmtxt", ev, format="text")
    assert (tmp_path / "x.rmtxt").read_text() == (
        "#rmapsim-trace v2\nMMAP 3 0x10000 0x2000 file:9+4 shared rw\nW 3 0x10008\nEXIT 3\n")


def test_text_accepts_hand_written_forms(tmp_path):
    (tmp_path / "h.rmtxt").write_text(
        "# no header line\n\nFILE 0x9 16 nfs  # a comment\nMMAP 1 4096 8192 anon private ro\r\n"
        "R\t1\t0X1FFF\nW 1 8191\nFORK 1 0x2\nEXEC 2\nMUNMAP 1 0x1000 0x2000\nEXIT 1")
    ev = open_trace(tmp_path / "h.rmtxt").read_all()
    assert ev["op"].tolist() == [OP_FILE, OP_MMAP, OP_READ, OP_WRITE, OP_FORK, OP_EXEC, OP_MUNMAP, OP_EXIT]
    assert ev["addr"].tolist() == [0, 4096, 0x1FFF, 8191, 0, 0, 0x1000, 0]
    assert (ev["file"][0], ev["length"][0], ev["arg"][0]) == (9, 16, 1)
    assert ev["flags"][1] == 0 and ev["arg"][4] == 2


# --- the writer is atomic --------------------------------------------------------------------

def test_writer_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.rmt.gz"
    target.write_bytes(b"old contents")

    def chunks():
        yield mixed_events(10)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_trace(target, chunks())
    bad = mixed_events(10)
    bad["op"][4] = OP_MMAP
    bad["addr"][4] = 0x1001
    with pytest.raises(TraceError, match="event 4: address not page aligned"):
        write_trace(target, bad)
    with pytest.raises(TraceError, match="bare"):
        write_trace(target, mixed_events(10), bare=True)
    assert os.listdir(tmp_path) == ["out.rmt.gz"]
    assert target.read_bytes() == b"old contents"


def test_writer_rejects_unknown_formats(tmp_path):
    with pytest.raises(ConfigError, match="writable formats: native, text"):
        write_trace(tmp_path / "x", mixed_events(3), format="damon")
    with pytest.raises(ConfigError, match="known formats: native, text, lackey"):
        write_trace(tmp_path / "x", mixed_events(3), format="parquet")
    with pytest.raises(TraceError, match="cannot write"):
        write_trace(tmp_path / "no" / "such" / "dir.rmt", mixed_events(3))


# --- every reader: chunking, locate, progress --------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_reader_reads_its_sample(tmp_path, fmt):
    path, expected = sample_files(tmp_path)[fmt]
    t = open_trace(path)
    assert t.format == fmt and t.bare == (fmt not in ("native", "text"))
    assert np.array_equal(t.read_all(), expected)
    assert t.total_bytes == os.path.getsize(path) and t.bytes_done == t.total_bytes


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_tiny_chunks_and_tiny_blocks_give_the_same_events(tmp_path, fmt, monkeypatch):
    path, expected = sample_files(tmp_path, repeat=7)[fmt]
    path = _compress(path, ".gz")
    t = open_trace(path, format=fmt)
    for size in (1, 2, 3, 7, 64, 1 << 20):
        chunks = list(t.chunks(size))
        assert all(1 <= len(c) <= size for c in chunks)
        assert np.array_equal(np.concatenate(chunks), expected)
    monkeypatch.setattr(textscan, "BLOCK", 13)    # lines cut across reads everywhere
    assert np.array_equal(np.concatenate(list(t.chunks(7))), expected)


@pytest.mark.parametrize("fmt,body,events_per_line", [
    ("txt", b"5\n\n7\n5\n12\n", [1, 0, 1, 1, 1]),
    ("lirs", b"*\n1\n*\n2\n\n3\n", [0, 1, 0, 1, 0, 1]),
    ("rwpages", b"# x\nR 1f\nW 20\n\nR 3\n", [0, 1, 1, 0, 1]),
    ("lackey", b"==1== x\nI  0400,3\n L 0ff8,16\n M 20,4\n S 30,4\n", [0, 1, 2, 2, 1]),
    ("text", b"#rmapsim-trace v1\nR 1 0x1\n\nMMAP 1 0x1000 0x1000 anon private rw\n# c\nEXIT 1\n",
     [0, 1, 0, 1, 0, 1]),
])
def test_locate_names_the_line_of_each_event(tmp_path, fmt, body, events_per_line):
    path = tmp_path / "t.in"
    path.write_bytes(body)
    t = open_trace(path, format=fmt)
    want = [f"line {ln}" for ln, k in enumerate(events_per_line, 1) for _ in range(k)]
    assert [t.locate(i) for i in range(len(want))] == want


@pytest.mark.parametrize("fmt", ["native", "oracleGeneral", "vscsi"])
def test_locate_binary(tmp_path, fmt):
    path, _ = sample_files(tmp_path)[fmt]
    t = open_trace(path)
    header = 64 if fmt == "native" else 0
    record = {"native": 40, "oracleGeneral": 24, "vscsi": 32}[fmt]
    assert t.locate(5) == f"byte offset {header + 5 * record}"


@pytest.mark.parametrize("fmt,good,bad", [
    ("txt", b"1\n", b"x1\n"),
    ("lirs", b"*\r\n", b"1 2\n"),
    ("rwpages", b"R 1\n", b"R\n"),
    ("lackey", b" L 10,4\n", b" Q 10,4\n"),
    ("text", b"R 1 0x10\n", b"R 1 0x10 7\n"),
])
@pytest.mark.parametrize("bad_line", [1, 2, 1000, 40000])
def test_error_names_the_bad_line_among_many(tmp_path, fmt, good, bad, bad_line):
    path = tmp_path / "t.in"
    path.write_bytes(good * (bad_line - 1) + bad + good * 5)
    t = open_trace(path, format=fmt)
    with pytest.raises(TraceError) as e:
        t.read_all()
    assert e.value.line == bad_line and str(e.value).startswith(f"{path}:{bad_line}: ")
    with pytest.raises(TraceError) as e:
        for _ in t.chunks(3):
            pass
    assert e.value.line == bad_line


def test_with_next_column(tmp_path):
    path = tmp_path / "o.oracleGeneral"
    nxt = np.array([3, -1, -1, 5, -1] * 4, np.int64)
    path.write_bytes(_raw(20, ORACLE_GENERAL, id=np.arange(20) % 4, next=nxt))
    t = open_trace(path)
    assert t.has_next
    pairs = list(t.chunks(6, with_next=True))
    assert [len(e) for e, _ in pairs] == [6, 6, 6, 2]
    assert all(len(e) == len(n) for e, n in pairs)
    assert np.array_equal(np.concatenate([n for _, n in pairs]), nxt)
    trace = from_pages([1, 2, 3])
    assert not trace.has_next
    with pytest.raises(TraceError, match="no next-access column"):
        trace.chunks(with_next=True)


def test_bytes_done_grows_to_total(tmp_path):
    path = tmp_path / "big.txt.zst"
    write = "\n".join(str(i % 1000) for i in range(300_000)).encode()
    import zstandard
    path.write_bytes(zstandard.ZstdCompressor().compress(write))
    t = open_trace(path)
    seen = []
    for chunk in t.chunks(50_000):
        seen.append(t.bytes_done)
    assert seen == sorted(seen) and 0 < seen[0] <= t.total_bytes
    assert t.bytes_done == t.total_bytes == path.stat().st_size


# --- format detection ------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_detection_by_content_and_by_magic_not_name(tmp_path, fmt):
    path, expected = sample_files(tmp_path, repeat=3)[fmt]
    anonymous = tmp_path / "trace.dat"
    os.rename(path, anonymous)
    assert open_trace(anonymous).format == fmt
    packed = _compress(str(anonymous), ".xz")
    misnamed = str(tmp_path / "trace.gz")                  # xz data under a .gz name
    os.rename(packed, misnamed)
    t = open_trace(misnamed)
    assert t.format == fmt and np.array_equal(t.read_all(), expected)


def test_detection_by_extension(tmp_path):
    path = tmp_path / "numbers.trc.gz"
    path.write_bytes(gzip.compress(b"1\n2\n"))
    assert open_trace(path).format == "lirs"
    assert open_trace(path, format="TXT").format == "txt"


def test_unknown_format_and_undetectable(tmp_path):
    path = tmp_path / "x.dat"
    path.write_bytes(b"hello world\n")
    with pytest.raises(ConfigError, match="unknown trace format 'parquet'; known formats: native, text"):
        open_trace(path, format="parquet")
    with pytest.raises(TraceError, match="cannot tell the trace format"):
        open_trace(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(TraceError, match="cannot open"):
        open_trace(tmp_path / "absent.txt")
    with pytest.raises(TraceError, match="cannot open"):
        open_trace(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(TraceError, match="byte offset 0: empty file"):
        open_trace(tmp_path / "empty.txt")
    (tmp_path / "comments.pages").write_bytes(b"# nothing here\n")
    assert len(open_trace(tmp_path / "comments.pages").read_all()) == 0


# --- reader specifics ------------------------------------------------------------------------

def test_lackey_instructions_can_be_excluded(tmp_path):
    path, _ = sample_files(tmp_path)["lackey"]
    ev = open_trace(path, instructions=False).read_all()
    assert ev["addr"].tolist() == [0x1FF8, 0x2000, 0x2000, 0x3000, 0x3000]
    assert ev["op"].tolist() == [OP_READ, OP_READ, OP_WRITE, OP_READ, OP_WRITE]


def test_lackey_page_crossing_modify(tmp_path):
    path = tmp_path / "m.lackey"
    path.write_bytes(b" M 0ffe,4\n L 0fff,1\n S 1ffc,4\n")
    ev = open_trace(path).read_all()
    assert list(zip(ev["op"].tolist(), ev["addr"].tolist())) == [
        (OP_READ, 0xFFE), (OP_READ, 0x1000), (OP_WRITE, 0xFFE), (OP_WRITE, 0x1000),
        (OP_READ, 0xFFF), (OP_WRITE, 0x1FFC)]


def test_memory_traces():
    t = from_pages(np.array([3, 1, 3]), writes=[False, True, False])
    assert isinstance(t, Trace) and t.bare and t.total_bytes is None
    ev = t.read_all()
    assert ev["addr"].tolist() == [3 << 12, 1 << 12, 3 << 12] and ev["op"].tolist() == [0, 1, 0]
    assert t.locate(2) == "event 2"
    with pytest.raises(TraceError, match="event 1: page number -4"):
        from_pages([1, -4])
    with pytest.raises(TraceError, match="writes has shape"):
        from_pages([1, 2], [True])
    bad = mixed_events(5)
    bad["op"][3] = 99
    with pytest.raises(TraceError, match="event 3: unknown op code 99"):
        from_events(bad)
    assert not from_events(mixed_events(5)).bare


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError):
        from_pages([1]).chunks(0)


# --- the kernels' fast paths agree with their careful paths ------------------------------------

def _canonical_lines(fmt, rng, n):
    pages = rng.integers(0, 1 << 52, n, dtype=np.uint64) >> rng.integers(0, 52, n).astype(np.uint64)
    if fmt in ("txt", "lirs"):
        return [f"{p}" for p in pages.tolist()]
    if fmt == "rwpages":
        return [f"{'RW'[w]} {p:x}" for w, p in zip(rng.integers(0, 2, n).tolist(), pages.tolist())]
    if fmt == "lackey":
        kinds = rng.choice(["I ", " L", " S", " M"], n)
        addrs = rng.integers(0, 1 << 60, n, dtype=np.uint64) >> rng.integers(0, 60, n).astype(np.uint64)
        sizes = rng.choice([1, 2, 4, 8, 16, 64, 512, 4096], n)
        return [f"{k} {a:08x},{s}" for k, a, s in zip(kinds, addrs.tolist(), sizes.tolist())]
    return [f"{'RW'[w]} {p} {a:#x}" for w, p, a in zip(rng.integers(0, 2, n).tolist(),
                                                       rng.integers(0, 1 << 32, n).tolist(),
                                                       rng.integers(0, 1 << 64, n, dtype=np.uint64).tolist())]


@pytest.mark.parametrize("fmt", ["txt", "lirs", "rwpages", "lackey", "text"])
def test_fast_and_careful_paths_agree(tmp_path, fmt):
    lines = _canonical_lines(fmt, np.random.default_rng(5), 3000)
    fast, careful = tmp_path / "fast", tmp_path / "careful"
    fast.write_text("\n".join(lines) + "\n")
    careful.write_text("".join(f" {ln} \r\n" for ln in lines))      # blanks force the careful path
    a = open_trace(fast, format=fmt).read_all()
    b = open_trace(careful, format=fmt).read_all()
    assert len(a) >= len(lines) and np.array_equal(a, b)
