"""Fuzzing every reader through the command line: whatever the bytes, `rmapsim trace info` and
`rmapsim trace convert` end with exit 0, or exit 2 and one line on stderr that names the file and
the place (line, byte offset, or for DAMON JSON the record path) -- never another exception.

Also structured fuzzing of the new readers (csv with random column specs, DAMON records and JSON,
lcs headers), and random bare traces round-tripped through every writable format.

``RMAPSIM_FUZZ_EXAMPLES=5000`` for a long run.
"""
import atexit
import contextlib
import gzip
import io
import json
import lzma
import os
import re
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmapsim.cli import main
from rmapsim.trace import FORMATS, WRITABLE, damon, from_pages, lcs, open_trace, write_trace
from test_trace_formats import sample_files
from fuzzing import mutate

damon.MAX_REFERENCES = 20_000        # a mutated region size must not mean hours of expansion
_DIR = Path(tempfile.mkdtemp(prefix="rmapsim-fuzz2-"))
atexit.register(shutil.rmtree, _DIR, True)
_SAMPLES = {fmt: Path(p).read_bytes() for fmt, (p, _) in sample_files(_DIR, repeat=2).items()}
_FORMATS = sorted(FORMATS)
_COMPRESS = {"": lambda d: d, ".gz": gzip.compress, ".xz": lzma.compress,
             ".zst": lambda d: zstandard.ZstdCompressor().compress(d)}
_settings = settings(max_examples=int(os.environ.get("RMAPSIM_FUZZ_EXAMPLES", 60)), deadline=None,
                     suppress_health_check=list(HealthCheck))
_LOCATED = re.compile(r"rmapsim: error: (?P<path>.+?)"
                      r"(?::(?P<line>\d+): |: byte offset \d+: |: DAMON JSON record \d+)")


def _cli(*argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main([str(a) for a in argv])
    return status, err.getvalue()


def _check_cli(data: bytes, name: str, fmt, spec=None):
    """info and convert on ``data``: exit 0, or exit 2 with one located line."""
    path = _DIR / name
    path.write_bytes(data)
    extra = (["--csv-spec", spec] if spec else [])
    for argv in (["trace", "info", path, "--window", "7"] + (["--format", fmt] if fmt else []) + extra,
                 ["trace", "convert", path, _DIR / "out.rmt.gz"] + (["--from", fmt] if fmt else []) + extra):
        status, err = _cli(*argv)
        assert status in (0, 2), err
        if status == 2:
            assert err.count("\n") == 1 and err.startswith("rmapsim: error: "), err
            if "cannot tell the trace format" in err or "csv spec" in err:
                continue
            m = _LOCATED.match(err)
            assert m and m.group("path") == str(path), err
            assert m.group("line") is None or int(m.group("line")) >= 1


@st.composite
def _mutated(draw):
    fmt = draw(st.sampled_from(_FORMATS))
    data = mutate(draw, _SAMPLES[fmt], max_delete=40, max_insert=24)
    suffix = draw(st.sampled_from(list(_COMPRESS)))
    return fmt, _COMPRESS[suffix](bytes(data)), f"m{suffix}", draw(st.booleans())


@_settings
@given(case=_mutated())
def test_cli_on_mutated_files_of_every_format(case):
    fmt, data, name, named = case
    _check_cli(data, name, fmt if named else None)


@_settings
@given(fmt=st.sampled_from(_FORMATS), data=st.binary(max_size=400))
def test_cli_on_random_bytes_as_every_format(fmt, data):
    _check_cli(data, "r.in", fmt)


# --- csv: random specs over random fields ------------------------------------------------------

_SEP_NAME = {",": ",", "\t": "tab", ";": ";", " ": "space"}
_CELL = st.sampled_from(["1", "0x1f", "R", "W", "read", "set", "", " ", '"7"', "-3", "x",
                         "99999999999999999999", "0x", "4503599627370496", "#", "\r"])


@_settings
@given(rows=st.lists(st.lists(_CELL, max_size=5), max_size=12),
       sep=st.sampled_from([",", "\t", ";", " "]),
       spec=st.fixed_dictionaries({}, optional={"obj": st.integers(1, 4), "op": st.integers(1, 4),
                                                "header": st.sampled_from(["0", "1", "auto"]),
                                                "unit": st.sampled_from(["page", "byte"])}))
def test_csv_random_specs(rows, sep, spec):
    text = "\n".join(sep.join(r) for r in rows).encode()
    items = [f"{k}={v}" for k, v in spec.items()] + ["sep=" + _SEP_NAME[sep]]
    _check_cli(text, "c.csv", "csv", ",".join(items))


# --- DAMON: structured records ----------------------------------------------------------------

_U64 = st.one_of(st.integers(0, 1 << 20).map(lambda x: x * 4096), st.integers(0, (1 << 64) - 1))
_REGION = st.tuples(_U64, _U64, st.one_of(st.integers(0, 4), st.integers(0, (1 << 32) - 1)))


@_settings
@given(version=st.sampled_from([None, 0, 1, 2, 3]),
       snaps=st.lists(st.tuples(st.integers(-2, 3), st.integers(0, 3),
                                st.lists(_REGION, max_size=4)), max_size=4),
       cut=st.integers(0, 40))
def test_damon_binary_structured(version, snaps, cut):
    b = bytearray()
    if version is not None:
        b += b"damon_recfmt_ver" + struct.pack("<i", version)
    for sec, target, regions in snaps:
        b += struct.pack("<qqI", sec, 1, 1)
        b += struct.pack("<i" if version == 1 else "<Q", target)
        b += struct.pack("<I", len(regions))
        for r in regions:
            b += struct.pack("<QQI", *r)
    data = bytes(b[: len(b) - cut]) if cut < len(b) else bytes(b)
    _check_cli(data, "d.damon", "damon")


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 1 << 65) | st.text(max_size=5),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(
                         st.sampled_from(["snapshots", "regions", "start", "end", "nr_accesses",
                                          "samples", "target_id"]), c, max_size=4), max_leaves=12)


@_settings
@given(doc=st.one_of(_JSON, st.lists(st.fixed_dictionaries({"snapshots": st.lists(
    st.fixed_dictionaries({"regions": st.lists(st.fixed_dictionaries(
        {"start": _JSON | _U64, "end": _JSON | _U64, "nr_accesses": _JSON | st.fixed_dictionaries(
            {"samples": _JSON | st.integers(0, 3)})}), max_size=3)}), max_size=3)}), max_size=2)),
    packed=st.booleans())
def test_damon_json_structured(doc, packed):
    data = json.dumps(doc).encode()
    _check_cli(zlib.compress(data) if packed else data, "j.damon", "damon")


# --- lcs: headers and records -------------------------------------------------------------------

@_settings
@given(version=st.integers(0, 10), n=st.integers(0, 5), end_ok=st.booleans(),
       ops=st.lists(st.integers(0, 255), min_size=5, max_size=5),
       ids=st.lists(st.integers(0, (1 << 64) - 1), min_size=5, max_size=5), cut=st.integers(0, 30))
def test_lcs_structured(version, n, end_ok, ops, ids, cut):
    h = bytearray(lcs.header({"n_req": n}))
    struct.pack_into("<Q", h, 8, version)
    if not end_ok:
        struct.pack_into("<Q", h, lcs.END_MAGIC_AT, 0)
    dt = lcs.record_dtype(version if version in lcs.VERSIONS else 2)
    rec = np.zeros(n, dt)
    rec["id"] = ids[:n]
    if "optenant" in dt.names:
        rec["optenant"] = ops[:n]
    data = bytes(h) + rec.tobytes()
    _check_cli(data[: len(data) - cut], "l.lcs", "lcs")


# --- random bare traces through every writable format -----------------------------------------

@_settings
@given(pages=st.lists(st.one_of(st.integers(0, 50), st.integers(0, (1 << 52) - 1)), min_size=1, max_size=60),
       writes=st.lists(st.booleans(), min_size=60, max_size=60),
       fmt=st.sampled_from(WRITABLE), suffix=st.sampled_from(list(_COMPRESS)))
def test_random_traces_round_trip(pages, writes, fmt, suffix):
    """(An empty trace is left out: most formats write it as an empty file, which no reader
    takes.)"""
    trace = from_pages(np.array(pages, np.uint64), writes[: len(pages)])
    path = _DIR / f"rt{suffix}"
    info = {}
    write_trace(path, trace, fmt, info=info)
    back = open_trace(path, fmt).read_all()
    ev = trace.read_all()
    assert np.array_equal(back["addr"], ev["addr"])
    assert np.array_equal(back["op"], ev["op"]) or (info["writes_dropped"] == int(ev["op"].sum())
                                                    and not back["op"].any())
