"""Writing traces in every writable format, compressed per the name's suffix, atomically.

``native`` and ``text`` hold any trace. The other writable formats are bare page traces: they
hold the READ/WRITE references of one process only, so a trace with other events (MMAP, FORK,
...) or references of a second process is refused with a one-line ``TraceError`` (nothing is
written). ``oracleGeneral`` and ``lcs`` store each reference's next-access index, computed by
a first pass over the trace (``rmapsim.sim.future.next_use``); an iterator of chunks that cannot
be read twice is held in memory for that.

The data goes to a temporary file in the target's directory that is renamed over the target
only when complete, so a failure (bad event, full disk, interrupt) leaves nothing half-written.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from rmapsim.errors import ConfigError, TraceError
from rmapsim.sim.future import next_use
from rmapsim.trace import encoders, native, text
from rmapsim.trace.base import Trace
from rmapsim.trace.compress import open_output, split_suffix
from rmapsim.trace.events import EVENT_DTYPE, OP_NAMES, OP_WRITE, PAGE_SHIFT
from rmapsim.trace.formats import WRITABLE, canonical
from rmapsim.trace.validate import first_bad
from rmapsim.fileio import new_file_mode

_ENCODERS = {"native": (native.header, native.encode), "text": (text.header, text.encode)}


def _source(trace_or_chunks, bare):
    if isinstance(trace_or_chunks, Trace):
        return trace_or_chunks.chunks(), trace_or_chunks.bare if bare is None else bare
    if isinstance(trace_or_chunks, np.ndarray):
        return [trace_or_chunks], bool(bare)
    return iter(trace_or_chunks), bool(bare)


def write_trace(path, trace_or_chunks, format: str = "native", *, bare: bool | None = None,
                info: dict | None = None) -> int:
    """Write a ``Trace``, an event array or an iterable of event arrays to ``path``.

    ``format``: one of ``WRITABLE``; a ``.gz``/``.xz``/``.zst`` suffix compresses. ``bare``
    (native and text only) defaults to the trace's own flag (False for arrays). Returns the
    number of events written; ``info``, a dict, receives ``events``, ``references``,
    ``writes`` and ``writes_dropped`` (writes the format stores as plain references).
    """
    path = os.fspath(path)
    format = canonical(format)
    if format not in WRITABLE:
        raise ConfigError(f"cannot write format {format!r}; writable formats: {', '.join(WRITABLE)}")
    chunks, bare = _source(trace_or_chunks, bare)
    stats = {"events": 0, "references": 0, "writes": 0, "writes_dropped": 0}
    if format in _ENCODERS:
        make_header, encode = _ENCODERS[format]

        def body(out):
            out.write(make_header(bare))
            for chunk in chunks:
                _check_type(chunk)
                bad = first_bad(chunk, bare)
                if bad:
                    raise TraceError(path, f"event {stats['events'] + bad[0]}: {bad[1]}; nothing written")
                out.write(encode(chunk))
                _count(stats, chunk)
    else:
        body = _bare_body(path, format, trace_or_chunks, chunks, stats)
    _write_atomic(path, body)
    if info is not None:
        info.update(stats)
    return stats["events"]


def _check_type(chunk):
    if not isinstance(chunk, np.ndarray) or chunk.dtype != EVENT_DTYPE:
        raise TypeError(f"write_trace needs arrays of EVENT_DTYPE, got {type(chunk).__name__}")


def _count(stats, chunk):
    stats["events"] += len(chunk)
    refs = chunk["op"] <= OP_WRITE
    stats["references"] += int(refs.sum())
    stats["writes"] += int((chunk["op"] == OP_WRITE).sum())


class _OneProcess:
    """Checks that chunks hold only references of one process, for a bare format."""

    def __init__(self, path, format):
        self.path, self.format, self.pid, self.index = path, format, None, 0

    def __call__(self, chunk):
        _check_type(chunk)
        if len(chunk) and self.pid is None:
            self.pid = int(chunk["pid"][0])
        other = (chunk["op"] > OP_WRITE) | (chunk["pid"] != self.pid)
        if other.any():
            i = int(np.argmax(other))
            code, pid = int(chunk["op"][i]), int(chunk["pid"][i])
            op = OP_NAMES[code] if code < len(OP_NAMES) else f"op-{code}"
            what = (f"a {op} event (pid {pid})" if chunk["op"][i] > OP_WRITE
                    else f"a reference of a second process (pid {pid}, after pid {self.pid})")
            raise TraceError(self.path, f"the {self.format} format holds the page references of "
                             f"one process only, and event {self.index + i} is {what}; write "
                             "native or text instead (nothing written)")
        self.index += len(chunk)
        return chunk


def _bare_body(path, format, source, chunks, stats):
    encode, make_header, needs_next, keeps_rw = encoders.BARE[format]
    check = _OneProcess(path, format)
    if not needs_next:
        def body(out):
            if make_header:
                out.write(make_header({}))
            base = 0
            for chunk in chunks:
                check(chunk)
                out.write(encode(chunk, None, base))
                base += len(chunk)
                _count(stats, chunk)
            if not keeps_rw:
                stats["writes_dropped"] = stats["writes"]
        return body

    if isinstance(source, Trace):
        again = source.chunks
    else:
        held = list(chunks)
        again = lambda: iter(held)          # noqa: E731

    def body(out):
        keys, first = [], {}
        for chunk in again():               # pass 1: check, count, page keys
            check(chunk)
            _count(stats, chunk)
            keys.append((chunk["addr"] >> np.uint64(PAGE_SHIFT)).astype(np.int64))
        allkeys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        del keys
        nxt = next_use(allkeys)
        first["n_req"] = len(allkeys)
        first["n_obj"] = int(len(np.unique(allkeys)))
        first["n_write"] = stats["writes"]
        first["n_read"] = stats["references"] - stats["writes"]
        del allkeys
        if make_header:
            out.write(make_header(first))
        base = 0
        for chunk in again():               # pass 2: the records
            if len(chunk) and base + len(chunk) > len(nxt):
                raise RuntimeError("trace chunks changed between the two passes")
            out.write(encode(chunk, nxt[base:base + len(chunk)], base))
            base += len(chunk)
        if not keeps_rw:
            stats["writes_dropped"] = stats["writes"]
    return body


def _write_atomic(path, body):
    codec = split_suffix(path)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                   dir=os.path.dirname(os.path.abspath(path)))
    except OSError as e:
        raise TraceError(path, f"cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            out = open_output(f, codec)
            body(out)
            out.close()
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode(path))
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise TraceError(path, f"cannot write: {e.strerror or e}") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass
