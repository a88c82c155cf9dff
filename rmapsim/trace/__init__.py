"""The trace layer: read every supported trace format as chunks of ``EVENT_DTYPE`` events.

Public API::

    open_trace(path, format=None, *, instructions=True, csv_spec=None) -> Trace
    from_pages(pages, writes=None) -> Trace
    from_events(array) -> Trace
    write_trace(path, trace_or_chunks, format="native", *, bare=None, info=None) -> int
    FORMATS: dict format name -> one-line description; READABLE, WRITABLE: format names

Formats and their sources are described in ``docs/trace-format.md``.
"""
from rmapsim.trace.events import EVENT_DTYPE  # noqa: F401
from rmapsim.trace.base import Trace, from_events, from_pages  # noqa: F401
from rmapsim.trace.formats import FORMATS, READABLE, WRITABLE, open_trace  # noqa: F401
from rmapsim.trace.writer import write_trace  # noqa: F401

__all__ = ["EVENT_DTYPE", "FORMATS", "READABLE", "WRITABLE", "Trace", "from_events", "from_pages", "open_trace",
           "write_trace"]
