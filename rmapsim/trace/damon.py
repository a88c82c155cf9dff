"""DAMON monitoring records as written by ``damo record``, expanded into page references.

DAMON does not record references: every aggregation interval it reports, per monitoring target,
a list of address regions ``[start, end)`` each with ``nr_accesses``, the number of sampling
intervals in which the region was seen accessed. This reader turns a record file into an
**approximate** page trace the way ``damo replay`` replays one: for each snapshot, for
``k = 0, 1, ...`` up to the snapshot's largest ``nr_accesses``, every region whose
``nr_accesses > k`` is touched once, page by page from ``start`` to ``end`` in steps of 4 KiB (a
READ of each page; DAMON cannot tell reads from writes). Only the first monitoring target of the
file is expanded (``damo replay`` replays only the first record too); the result is a bare trace.
The reference order inside a sampling interval, the exact number of references to a page and
any page-level skew within a region are not in the data: they are what the expansion invents.

Inputs read (damo's ``--output_type``/``-f`` formats; gzip/xz/zstd on top as everywhere):

- ``record``: damo's binary format. Optionally the 16 bytes ``damon_recfmt_ver`` and an ``i32``
  version (1 or 2; absent: 0), then snapshots to the end of the data: ``i64 sec, i64 nsec``
  (end time), ``u32 nr_targets``, then per target ``target_id`` (``i32`` in version 1, ``u64``
  else), ``u32 nr_regions`` and ``nr_regions`` packed ``u64 start, u64 end, u32 nr_accesses``.
  damo writes ``nr_regions = 1`` and no region for the fake last snapshot it adds to a record
  of one snapshot; such a final snapshot header with no data is skipped.
- ``json`` and ``json_compressed`` (zlib): ``[{"target_id": ..., "intervals": ...,
  "snapshots": [{"start_time", "end_time", "regions": [{"start", "end", "nr_accesses":
  {"samples": N, ...}, ...}]}]}]``; numbers may be JSON numbers or damo's raw number strings;
  ``nr_accesses`` given only in ``percent`` is converted as damo does, with the record's
  ``intervals``: ``samples = int(percent * (aggr_us / sample_us) / 100)``.

Errors give the byte offset of the bad field (binary) or the record/snapshot/region path (JSON).
"""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from rmapsim.errors import TraceError
from rmapsim.trace.compress import Source
from rmapsim.trace.events import PAGE_SHIFT, events_from_refs

MARK = b"damon_recfmt_ver"
PAGE = 1 << PAGE_SHIFT
PAGE_MAX = (1 << 52) - 1
REGION = np.dtype([("start", "<u8"), ("end", "<u8"), ("nr", "<u4")])
assert REGION.itemsize == 20
ZLIB_HEADS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
# The expansion of a large record is enormous (every page of every region, nr_accesses times
# per snapshot): past this many references it is an error rather than hours of replay.
MAX_REFERENCES = 1 << 32


def looks_like_damon(head: bytes) -> bool:
    """The binary format's version mark, or JSON (plain or zlib) with snapshots of regions."""
    if head.startswith(MARK):
        return True
    if head[:2] in ZLIB_HEADS:
        try:
            head = zlib.decompressobj().decompress(head, 1 << 16)
        except zlib.error:
            return False
    return head.lstrip()[:1] == b"[" and b'"snapshots"' in head and b'"regions"' in head


class DamonReader:
    bare = True
    has_next = False

    def __init__(self, path: str, **options):
        self.path = str(path)

    def prepare(self, head: bytes) -> None:
        self.kind = "binary"
        if head[:2] in ZLIB_HEADS and not head.startswith(MARK):
            self.kind = "zjson"
        elif head.lstrip()[:1] in (b"[", b"{"):
            self.kind = "json"

    def open(self):
        return Source(self.path)

    # --- snapshots: (regions array, byte offset or JSON location) of the first target ------

    def _fail(self, message, offset=None):
        raise TraceError(self.path, message, offset=offset)

    def _binary_snapshots(self, src):
        def read(n, what):
            at = src.pos
            b = src.read(n)
            if len(b) != n:
                self._fail(f"truncated DAMON record: the data ends inside {what} "
                           f"({len(b)} of {n} bytes)", at)
            return b, at

        version = 0
        head = src.read(len(MARK))
        if head == MARK:
            v, at = read(4, "the format version")
            version = struct.unpack("<i", v)[0]
            if version not in (1, 2):
                self._fail(f"unknown DAMON record format version {version} (known: 1, 2)", at)
            head = b""
        pending = head
        first_target = None
        while True:
            at = src.pos - len(pending)
            t = pending + src.read(16 - len(pending))
            pending = b""
            if not t:
                return
            if len(t) != 16:
                self._fail(f"truncated DAMON record: the data ends inside a snapshot time "
                           f"({len(t)} of 16 bytes)", at)
            sec, nsec = struct.unpack("<qq", t)
            if sec < 0 or not 0 <= nsec < 1_000_000_000:
                self._fail(f"bad snapshot time {sec} s {nsec} ns", at)
            b, at = read(4, "the number of targets")
            ntargets = struct.unpack("<I", b)[0]
            if ntargets == 0:
                self._fail("snapshot with no monitoring target", at)
            for _ in range(ntargets):
                b, at = read(4 if version == 1 else 8, "a target id")
                target = struct.unpack("<i" if version == 1 else "<Q", b)[0]
                b, at = read(4, "the number of regions")
                nreg = struct.unpack("<I", b)[0]
                start = src.pos
                data = _read_upto(src, nreg * REGION.itemsize)     # nr_regions may be garbage
                if len(data) != nreg * REGION.itemsize:
                    if nreg == 1 and not data:          # damo's fake last snapshot
                        return
                    self._fail(f"truncated DAMON record: {nreg} regions announced, the data ends "
                               f"{len(data)} bytes into them", start + len(data) - len(data) % 20)
                if first_target is None:
                    first_target = target
                if target == first_target:
                    yield np.frombuffer(data, REGION), start

    def _json_snapshots(self, src):
        data = _read_all(src)
        if self.kind == "zjson":
            try:
                data = zlib.decompress(data)
            except zlib.error as e:
                self._fail(f"corrupt zlib-compressed DAMON JSON ({e})", 0)
        try:
            records = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            self._fail("DAMON JSON is not UTF-8 text", e.start)
        except json.JSONDecodeError as e:
            self._fail(f"bad DAMON JSON: {e.msg}", e.pos)
        except RecursionError:
            self._fail("bad DAMON JSON: nested too deeply", 0)
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            self._fail("DAMON JSON must be a list of records", 0)
        if not records:
            return
        rec = records[0]
        where = "DAMON JSON record 0"
        if not isinstance(rec, dict) or not isinstance(rec.get("snapshots"), list):
            raise TraceError(self.path, f"{where}: no 'snapshots' list")
        for s, snap in enumerate(rec["snapshots"]):
            w = f"{where}, snapshot {s}"
            if not isinstance(snap, dict) or not isinstance(snap.get("regions"), list):
                raise TraceError(self.path, f"{w}: no 'regions' list")
            regs = np.zeros(len(snap["regions"]), REGION)
            for r, reg in enumerate(snap["regions"]):
                wr = f"{w}, region {r}"
                if not isinstance(reg, dict):
                    raise TraceError(self.path, f"{wr}: not an object")
                nr = reg.get("nr_accesses")
                if isinstance(nr, dict):
                    if nr.get("samples") is None and nr.get("percent") is not None:
                        nr = self._samples_of_percent(rec, nr["percent"], wr)
                    else:
                        nr = nr.get("samples")
                regs[r] = (_json_number(self.path, reg.get("start"), f"{wr}: start", 64),
                           _json_number(self.path, reg.get("end"), f"{wr}: end", 64),
                           _json_number(self.path, nr, f"{wr}: nr_accesses samples", 32))
            yield regs, w

    def _samples_of_percent(self, rec, percent, where):
        """damo's conversion: samples = percent * (aggr / sample) / 100, truncated."""
        iv = rec.get("intervals")
        if not isinstance(iv, dict):
            raise TraceError(self.path, f"{where}: nr_accesses in percent and no intervals")
        sample = _json_number(self.path, iv.get("sample_us"), f"{where}: intervals sample_us", 64)
        aggr = _json_number(self.path, iv.get("aggr_us"), f"{where}: intervals aggr_us", 64)
        pct = _json_number(self.path, percent, f"{where}: nr_accesses percent", 32)
        if sample == 0:
            raise TraceError(self.path, f"{where}: intervals sample_us is 0")
        return int(pct * (aggr / sample) / 100)

    def snapshots(self, src):
        return self._json_snapshots(src) if self.kind != "binary" else self._binary_snapshots(src)

    # --- expansion -------------------------------------------------------------------------

    def _check(self, regs, where):
        """A region must not end before it starts (pages never pass 2^52: addresses are u64)."""
        bad = np.flatnonzero(regs["end"] < regs["start"])
        if len(bad):
            r = regs[bad[0]]
            text = f"region end before its start: [{int(r['start']):#x}, {int(r['end']):#x})"
            if isinstance(where, str):
                raise TraceError(self.path, f"{where}, region {int(bad[0])}: {text}")
            raise TraceError(self.path, text, offset=where + int(bad[0]) * REGION.itemsize)

    def ref_chunks(self, src, size):
        """Compact references ``page << 1`` of the expansion, chunks of at most ``size``."""
        buf, fill = np.empty(size, np.uint64), 0
        for _, _, refs in self._expand(src, size):
            k = 0
            while k < len(refs):
                take = min(size - fill, len(refs) - k)
                buf[fill:fill + take] = refs[k:k + take]
                fill += take
                k += take
                if fill == size:
                    yield buf
                    buf, fill = np.empty(size, np.uint64), 0
        if fill:
            yield buf[:fill]

    def _expand(self, src, size):
        """``(regions, where, refs)`` pieces, each at most ``size`` references."""
        total = 0
        for regs, where in self.snapshots(src):
            self._check(regs, where)
            regs = regs[regs["end"] > regs["start"]]
            if not len(regs):
                continue
            first = regs["start"] >> np.uint64(PAGE_SHIFT)
            size_b = regs["end"] - regs["start"]          # damo: range(start, end, 4096)
            npages = ((size_b >> np.uint64(PAGE_SHIFT))
                      + ((size_b & np.uint64(PAGE - 1)) != 0)).astype(np.int64)
            nr = regs["nr"].astype(np.int64)
            total += sum(int(a) * int(b) for a, b in zip(npages, nr))
            if total > MAX_REFERENCES:
                msg = (f"the expansion passes {MAX_REFERENCES:,} page references at this "
                       "snapshot: too large a record to replay page by page")
                if isinstance(where, str):
                    raise TraceError(self.path, f"{where}: {msg}")
                raise TraceError(self.path, msg, offset=where)
            for k in range(int(nr.max())):
                live = np.flatnonzero(nr > k)
                counts = npages[live]
                total = int(counts.sum())
                if total <= size:             # every live region at once
                    ends = np.cumsum(counts)
                    base = np.repeat(first[live].astype(np.int64) - (ends - counts), counts)
                    pages = (base + np.arange(total, dtype=np.int64)).astype(np.uint64)
                    yield regs, where, pages << np.uint64(1)
                    continue
                for r in live:                # damo touches start, start + 4 KiB, ... in turn
                    p0, n = int(first[r]), int(npages[r])
                    for s in range(0, n, size):
                        m = min(size, n - s)
                        yield regs, where, np.arange(p0 + s, p0 + s + m, dtype=np.uint64) << np.uint64(1)

    def chunks(self, src, size, with_next):
        for refs in self.ref_chunks(src, size):
            yield events_from_refs(refs)

    def locate(self, index: int) -> str:
        seen = 0
        with self.open() as src:
            for regs, where, refs in self._expand(src, 1 << 20):
                if index < seen + len(refs):
                    return f"byte offset {where}" if not isinstance(where, str) else where
                seen += len(refs)
        return f"event {index} (past the end: the trace has {seen} events)"


def _read_upto(src, n: int) -> bytes:
    """``n`` bytes, or fewer at the end of the data, read 4 MiB at a time."""
    parts, left = [], n
    while left:
        b = src.read(min(left, 1 << 22))
        parts.append(b)
        left -= len(b)
        if len(b) < min(left + len(b), 1 << 22):
            break
    return b"".join(parts)


def _read_all(src) -> bytes:
    parts = []
    while True:
        b = src.read(1 << 22)
        parts.append(b)
        if len(b) < 1 << 22:
            return b"".join(parts)


def _json_number(path, v, what, bits):
    if isinstance(v, bool) or v is None:
        raise TraceError(path, f"{what}: expected a number, not {json.dumps(v)}")
    if isinstance(v, str):
        t = v.replace(",", "").strip()
        if not t.isdigit():
            raise TraceError(path, f"{what}: expected a number, not {v[:40]!r}")
        v = int(t)
    if not isinstance(v, int) or v < 0 or v >> bits:
        raise TraceError(path, f"{what}: expected an unsigned {bits}-bit integer, not {str(v)[:40]}")
    return v
