"""Writing native traces (binary or text), compressed per the name's suffix, atomically.

The data goes to a temporary file in the target's directory that is renamed over the target
only when complete, so a failure (bad event, full disk, interrupt) leaves nothing half-written.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from rmapsim.errors import ConfigError, TraceError
from rmapsim.trace import native, text
from rmapsim.trace.base import Trace
from rmapsim.trace.compress import open_output, split_suffix
from rmapsim.trace.events import EVENT_DTYPE
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


def write_trace(path, trace_or_chunks, format: str = "native", *, bare: bool | None = None) -> int:
    """Write a ``Trace``, an event array or an iterable of event arrays to ``path``.

    ``format``: ``"native"`` (binary) or ``"text"``; a ``.gz``/``.xz``/``.zst`` suffix compresses.
    ``bare`` defaults to the trace's own flag (False for arrays). Returns the number of events.
    """
    path = os.fspath(path)
    format = canonical(format)
    if format not in WRITABLE:
        raise ConfigError(f"cannot write format {format!r}; writable formats: {', '.join(WRITABLE)}")
    make_header, encode = _ENCODERS[format]
    chunks, bare = _source(trace_or_chunks, bare)
    codec = split_suffix(path)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                   dir=os.path.dirname(os.path.abspath(path)))
    except OSError as e:
        raise TraceError(path, f"cannot write: {e.strerror or e}") from None
    count = 0
    try:
        with os.fdopen(fd, "wb") as f:
            out = open_output(f, codec)
            out.write(make_header(bare))
            for chunk in chunks:
                if not isinstance(chunk, np.ndarray) or chunk.dtype != EVENT_DTYPE:
                    raise TypeError(f"write_trace needs arrays of EVENT_DTYPE, got {type(chunk).__name__}")
                bad = first_bad(chunk, bare)
                if bad:
                    raise TraceError(path, f"event {count + bad[0]}: {bad[1]}; nothing written")
                out.write(encode(chunk))
                count += len(chunk)
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
    return count


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass
