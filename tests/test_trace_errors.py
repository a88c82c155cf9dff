"""Bad input: every reader fails with a one-line TraceError that names the line or byte offset.

Specific malformations first, then hypothesis fuzzing of every reader with random bytes and with
mutated (and compressed) valid files.
"""
import atexit
import gzip
import lzma
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmapsim.errors import TraceError
from rmapsim.trace import EVENT_DTYPE, FORMATS, open_trace
from rmapsim.trace.events import OP_MMAP, OP_READ
from rmapsim.trace import damon
from rmapsim.trace.libcachesim_formats import ORACLE_GENERAL, VSCSI1
from test_trace_formats import sample_files
from fuzzing import mutate


def _fails(path, fmt=None, **kw):
    with pytest.raises(TraceError) as e:
        open_trace(path, format=fmt, **kw).read_all()
    assert "\n" not in str(e.value)
    return e.value


def _native(records=b"", version=1, record=40, flags=0, magic=b"RMAPTRC\0"):
    return struct.pack("<8sIII", magic, version, record, flags) + bytes(44) + records


def _event(**fields):
    ev = np.zeros(1, EVENT_DTYPE)
    for k, v in fields.items():
        ev[k] = v
    return ev.tobytes()


GOOD = _event(op=OP_READ, pid=1, addr=0x1234)


@pytest.mark.parametrize("data,offset,message", [
    (_native(magic=b"RMAPTRX\0"), 0, "bad magic"),
    (b"RMAPTRC\0\x01", 9, "truncated header"),
    (_native(version=3), 8, "unsupported native trace version 3"),
    (_native(record=48), 12, "record size 48"),
    (_native(flags=6), 16, "unknown header flags 0x6"),
    (_native(GOOD + GOOD[:17]), 104, "truncated record: the file ends 17 bytes into a 40-byte record"),
    (_native(GOOD * 2 + _event(op=10)), 144, "unknown op code 10"),
    (_native(GOOD + _event(op=OP_MMAP, addr=0x1001, length=4096)), 104, "address not page aligned"),
    (_native(GOOD + _event(op=OP_MMAP, addr=0x1000)), 104, "length zero"),
    (_native(GOOD + _event(op=OP_MMAP, addr=0x1000, length=4096, flags=2)), 104, "needs the MAP_FILE flag"),
    (_native(GOOD, flags=1), 64, "bare trace's events must have pid 0"),
    (_native(_event(op=OP_MMAP, addr=0x1000, length=4096), flags=1), 64, "holds only R and W"),
])
def test_native_binary_errors(tmp_path, data, offset, message):
    path = tmp_path / "t.rmt"
    path.write_bytes(data)
    e = _fails(path)
    assert e.offset == offset and message in str(e)
    assert str(e).startswith(f"{path}: byte offset {offset}: ")


def _records(dtype, n, **fields):
    arr = np.zeros(n, dtype)
    for k, v in fields.items():
        arr[k] = v
    return arr.tobytes()


@pytest.mark.parametrize("fmt,data,offset,message", [
    ("oracleGeneral", _records(ORACLE_GENERAL, 3)[:-5], 48, "truncated record"),
    ("oracleGeneral", _records(ORACLE_GENERAL, 3, id=[1, 1 << 52, 2]), 24, "object id 4503599627370496"),
    ("vscsi", _records(VSCSI1, 2, ver=0x100, cmd=0x28) + b"\0" * 31, 64, "truncated record"),
    ("vscsi", _records(VSCSI1, 3, ver=[0x100, 0x100, 0x200], cmd=0x28), 64, "not a vscsi version 1"),
    ("vscsi", _records(VSCSI1, 3, ver=0x100, cmd=[0x28, 0x12, 0x2a]), 32, "SCSI command 0x12"),
])
def test_libcachesim_binary_errors(tmp_path, fmt, data, offset, message):
    path = tmp_path / "t.bin"
    path.write_bytes(data)
    e = _fails(path, fmt)
    assert e.offset == offset and message in str(e)


@pytest.mark.parametrize("fmt,text,line,message", [
    ("txt", "1\n2\nthree\n", 3, "expected one unsigned decimal page number per line: 'three'"),
    ("txt", "1\n-2\n", 2, "negative number"),
    ("txt", "1\n2 3\n", 2, "expected one unsigned decimal"),
    ("txt", "\n\n18446744073709551616\n", 3, "number too large for 64 bits"),
    ("txt", "4503599627370496\n", 1, "page number too large"),
    ("txt", "12abc\n", 1, "expected one"),
    ("lirs", "1\n**\n", 2, "or '*'"),
    ("rwpages", "R 1\nX 2\n", 2, "expected 'R <hex page>' or 'W <hex page>': 'X 2'"),
    ("rwpages", "R 1\nR 10000000000000\n", 2, "page number too large"),
    ("rwpages", "R 1\nW 1g\n", 2, "expected 'R"),
    ("rwpages", "R1\n", 1, "expected 'R"),
    ("lackey", "==1== hi\n L 10,8\n L 10\n", 3, "expected a valgrind lackey line"),
    ("lackey", " L 10,4097\n", 1, "access size larger than a page"),
    ("lackey", " L ffffffffffffffff,2\n", 1, "number too large"),
    ("lackey", " L 10,-1\n", 1, "negative number"),
    ("text", "R 1 2\nJUMP 1\n", 2, "unknown event 'JUMP'"),
    ("text", "R 1 2\nR 1\n", 2, "R takes 2 fields, found 1"),
    ("text", "R 4294967296 2\n", 1, "pid 4294967296 does not fit 32 bits"),
    ("text", "W 1 -3\n", 1, "address must be an unsigned decimal or 0x-hex number, not '-3'"),
    ("text", "FILE 1 2 tape\n", 1, "device must be one of disk|nfs, not 'tape'"),
    ("text", "MMAP 1 0x1000 0x1000 file:x private rw\n", 1, "mapping must be anon or file:ID[+pgoff]"),
    ("text", "MMAP 1 0x1000 0x1000 anon privat rw\n", 1, "sharing must be one of private|shared"),
    ("text", "R 1 2\n\nMMAP 1 0x1001 0x1000 anon private rw\n", 3, "address not page aligned"),
    ("text", "FORK 3 3\n", 1, "FORK child pid equals"),
    ("text", "#rmapsim-trace v3\nR 1 2\n", 1, "unsupported text trace version 'v3'"),
    ("text", "#rmapsim-trace v1 bare\nR 0 2\nR 1 2\n", 3, "pid 0"),
    ("text", "#rmapsim-trace v1 bare\nEXIT 0\n", 2, "holds only R and W"),
])
def test_text_errors(tmp_path, fmt, text, line, message):
    path = tmp_path / "t.in"
    path.write_text(text)
    e = _fails(path, fmt)
    assert e.line == line and message in str(e)
    assert str(e).startswith(f"{path}:{line}: ")


def test_line_too_long_across_blocks(tmp_path, monkeypatch):
    from rmapsim.trace import textscan
    monkeypatch.setattr(textscan, "MAX_LINE", 100)
    monkeypatch.setattr(textscan, "BLOCK", 64)
    path = tmp_path / "t.txt"
    path.write_bytes(b"1\n2\n" + b"3" * 200 + b"\n")
    e = _fails(path)
    assert e.line == 3 and "line longer than 100 bytes" in str(e)


@pytest.mark.parametrize("codec", ["gz", "xz", "zst"])
def test_corrupt_and_truncated_compression(tmp_path, codec):
    body = "\n".join(str(i) for i in range(100_000)).encode()
    packed = {"gz": gzip.compress, "xz": lzma.compress,
              "zst": lambda d: zstandard.ZstdCompressor().compress(d)}[codec](body)
    path = tmp_path / f"t.txt.{codec}"
    path.write_bytes(packed[: len(packed) // 2])
    e = _fails(path)
    assert e.offset is not None and "byte offset" in str(e) and codec in str(e)
    path.write_bytes(packed[:20] + bytes(200) + packed[220:])
    e = _fails(path)
    assert e.offset is not None or e.line is not None


# --- fuzzing ---------------------------------------------------------------------------------

damon.MAX_REFERENCES = 50_000          # a mutated region size must not mean hours of expansion
_DIR = Path(tempfile.mkdtemp(prefix="rmapsim-fuzz-"))
atexit.register(shutil.rmtree, _DIR, True)
_SAMPLES = {fmt: (Path(p).read_bytes(), Path(p).name)
            for fmt, (p, _) in sample_files(_DIR, repeat=3).items()}
_FORMATS = sorted(FORMATS)
_COMPRESS = {"": lambda d: d, ".gz": gzip.compress, ".xz": lzma.compress,
             ".zst": lambda d: zstandard.ZstdCompressor().compress(d)}


def _only_trace_errors(data: bytes, name: str, fmt):
    """Read ``data`` as ``fmt`` (None: detect) and require success or a located TraceError."""
    path = _DIR / name
    path.write_bytes(data)
    try:
        t = open_trace(path, format=fmt)
        for _ in t.chunks(5):
            pass
        t.locate(0)
    except TraceError as e:
        message = str(e)
        assert "\n" not in message
        if fmt is None and "cannot tell the trace format" in message:
            return
        if e.line is not None:
            assert message.startswith(f"{path}:{e.line}: ") and e.line >= 1
        elif e.offset is None:                          # DAMON JSON: located by record path
            assert message.startswith(f"{path}: DAMON JSON record ")
        else:
            assert message.startswith(f"{path}: byte offset {e.offset}: ") and e.offset >= 0


# RMAPSIM_FUZZ_EXAMPLES=20000 for a long run
_settings = settings(max_examples=int(os.environ.get("RMAPSIM_FUZZ_EXAMPLES", 150)), deadline=None,
                     suppress_health_check=list(HealthCheck))


@_settings
@given(fmt=st.sampled_from(_FORMATS + [None]), data=st.binary(max_size=600))
def test_fuzz_random_bytes(fmt, data):
    _only_trace_errors(data, "random.in", fmt)


@_settings
@given(fmt=st.sampled_from(_FORMATS + [None]),
       data=st.lists(st.sampled_from([b"R", b"W", b" ", b"\n", b"\r", b"0x", b"1", b"f", b"-", b"*", b",",
                                      b"#", b"==", b"I", b"L", b"M", b"S", b"MMAP", b"FILE", b"anon",
                                      b"file:", b"+", b"99999999999999999999", b"\t", b"\0"]),
                     max_size=80).map(b"".join))
def test_fuzz_token_soup(fmt, data):
    _only_trace_errors(data, "soup.in", fmt)


@st.composite
def _mutated(draw):
    fmt = draw(st.sampled_from(_FORMATS))
    data, name = _SAMPLES[fmt]
    data = mutate(draw, data)
    suffix = draw(st.sampled_from(list(_COMPRESS)))
    packed = _COMPRESS[suffix](bytes(data))
    if suffix and draw(st.booleans()):                  # damage the compressed stream too
        packed = bytearray(packed)
        at = draw(st.integers(0, len(packed) - 1))
        packed[at] ^= 0xFF
        packed = bytes(packed[: draw(st.integers(at, len(packed)))])
    return fmt, bytes(packed), name + suffix, draw(st.booleans())


@_settings
@given(case=_mutated())
def test_fuzz_mutated_valid_files(case):
    fmt, data, name, detect = case
    _only_trace_errors(data, name, None if detect else fmt)


def test_line_too_long_after_good_lines_in_one_block(tmp_path, monkeypatch):
    from rmapsim.trace import textscan
    monkeypatch.setattr(textscan, "MAX_LINE", 100)
    monkeypatch.setattr(textscan, "BLOCK", 256)       # 50 good lines and 156 bytes of line 51
    path = tmp_path / "t.txt"
    path.write_bytes(b"1\n" * 50 + b"3" * 500 + b"\n")
    e = _fails(path)
    assert e.line == 51 and "line longer than 100 bytes" in str(e)
