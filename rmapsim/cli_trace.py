"""``rmapsim trace convert|info|record``: the trace group of the command line.

``add_parser(subparsers)`` (called by ``cli.build_parser``) creates the ``trace`` command and
its own sub-command parsers, and returns those. Another module adds a sub-command to the group
by appending a function ``f(trace_subparsers)`` to ``REGISTRARS`` (or calling ``register(f)``)
before ``cli.build_parser`` runs, e.g. at the end of this module's imports::

    # rmapsim/trace_record_cli.py
    def add_record(trace_sub):
        p = trace_sub.add_parser("record", help="...")
        p.set_defaults(func=cmd_record)

    # here: from rmapsim.trace_record_cli import add_record; REGISTRARS.append(add_record)

Each sub-command sets ``func`` (taking the parsed arguments, returning the exit status) as the
top-level commands do; errors are ``UserError``s (one line on stderr, exit 2).
"""
from __future__ import annotations

import json
import os
import sys

from rmapsim.errors import ConfigError

REGISTRARS: list = []


def register(fn):
    """Add ``fn(trace_subparsers)`` to the sub-commands of ``rmapsim trace``; returns ``fn``."""
    REGISTRARS.append(fn)
    return fn


def _open(path, fmt, csv_spec, instructions=True):
    from rmapsim.trace import open_trace
    from rmapsim.trace.csvtrace import parse_spec
    spec = parse_spec(csv_spec) if csv_spec else None
    return open_trace(path, fmt, instructions=instructions, csv_spec=spec)


def cmd_convert(a) -> int:
    from rmapsim.trace import write_trace
    from rmapsim.trace.formats import canonical, format_from_name
    to = canonical(a.to) if a.to else format_from_name(a.output)
    if to is None:
        raise ConfigError(f"cannot tell the output format from the name {a.output!r}: "
                          "give --to FORMAT (see `rmapsim formats`)")
    if a.input != "-" and os.path.exists(a.output) and os.path.samefile(a.input, a.output):
        raise ConfigError(f"{a.output} is the input file: give another output name")
    trace = _open(a.input, a.from_, a.csv_spec, not a.no_instructions)
    info = {}
    n = write_trace(a.output, trace, to, info=info)
    note = ""
    if info["writes_dropped"]:
        note = (f"; the {to} format has no read/write flag: {info['writes_dropped']:,} writes "
                "are plain references in it")
    print(f"{a.output}: {n:,} events ({trace.format} -> {to}){note}", file=sys.stderr)
    return 0


def cmd_info(a) -> int:
    from rmapsim.fileio import write_atomic
    from rmapsim.trace import stats
    if a.window < 1:
        raise ConfigError(f"--window must be at least 1, not {a.window}")
    kind = None
    if a.plot:
        kind = os.path.splitext(a.plot)[1].lower().lstrip(".")
        if kind not in ("png", "svg", "pdf"):
            raise ConfigError(f"--plot writes PNG, SVG or PDF: give a name ending .png, .svg or "
                              f".pdf, not {a.plot!r}")
    trace = _open(a.trace, a.format, a.csv_spec, not a.no_instructions)
    info = stats.trace_info(trace, a.window)
    if a.plot:
        write_atomic(a.plot, stats.plot(info, kind))
    text = json.dumps(info, indent=1) if a.json else stats.format_table(info, a.rows)
    if a.output:
        write_atomic(a.output, text + "\n")
    else:
        print(text)
    return 0


def _common(p):
    p.add_argument("--csv-spec", metavar="SPEC", help="columns of a csv input, e.g. "
                   "obj=2,op=3,header=1,sep=, (see docs/trace-format.md)")
    p.add_argument("--no-instructions", action="store_true", help="lackey input: skip "
                   "instruction fetches (I lines)")


def add_parser(subparsers):
    """Create ``rmapsim trace`` under ``subparsers``; returns the group's own subparsers."""
    t = subparsers.add_parser("trace", help="convert traces between formats, describe a trace, "
                              "record a program's trace")
    sub = t.add_subparsers(dest="trace_command", required=True, metavar="SUBCOMMAND")

    c = sub.add_parser("convert", help="convert a trace to another format (compressed per a "
                       ".gz/.xz/.zst suffix)")
    c.add_argument("input", metavar="IN", help="trace file (format detected, or --from; - reads "
                   "standard input)")
    c.add_argument("output", metavar="OUT", help="file to write (atomically)")
    c.add_argument("--from", dest="from_", metavar="FMT", help="input format")
    c.add_argument("--to", metavar="FMT", help="output format (default: from OUT's extension)")
    _common(c)
    c.set_defaults(func=cmd_convert)

    i = sub.add_parser("info", help="references, reads/writes, distinct pages, processes, "
                       "footprint and the working-set size over time")
    i.add_argument("trace", metavar="TRACE", help="trace file (format detected, or --format)")
    i.add_argument("--format", metavar="FMT", help="trace format (see `rmapsim formats`)")
    i.add_argument("--window", type=int, default=10_000, metavar="N", help="tau of the working "
                   "set W(t, tau) and the sampling interval, in references (default 10000)")
    i.add_argument("--rows", type=int, default=40, metavar="N", help="working-set samples shown "
                   "in the table, evenly spaced (default 40; --json has all)")
    i.add_argument("--plot", metavar="FILE", help="also draw W(t, tau) over t (.png/.svg/.pdf)")
    i.add_argument("--json", action="store_true", help="everything as JSON, every sample")
    i.add_argument("-o", "--output", metavar="FILE", help="write the table (or JSON) to FILE")
    _common(i)
    i.set_defaults(func=cmd_info)

    from rmapsim.record import add_parser as add_record     # `rmapsim trace record`
    for fn in [add_record] + REGISTRARS:
        fn(sub)
    return sub
