"""The command line: ``rmapsim run|demo|policies|formats``.

Exit status: 0 done; 1 check mode found lost data or a broken invariant (the result is still
printed, the violation follows on stderr); 2 a mistake in the input or the options (one line on
stderr, ``rmapsim: error: ...``, and no output file); 130 interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from rmapsim.errors import ConfigError, UserError
from rmapsim.fileio import new_file_mode

PROG = "rmapsim"


class _ArgError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):          # one line instead of usage + message
        raise _ArgError(message)


def _params(items) -> dict:
    out = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key or not value.strip():
            raise ConfigError(f"--param expects NAME=VALUE, not {item!r}")
        if key in out:
            raise ConfigError(f"--param {key} given twice")
        out[key] = value.strip()
    return out


def _emit(text: str, path: str | None) -> None:
    """``text`` + newline to stdout, or to ``path`` through a temporary file renamed over it."""
    if path is None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                   dir=os.path.dirname(os.path.abspath(path)))
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        os.chmod(tmp, new_file_mode(path))
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def _finish(result, as_json, out) -> int:
    _emit(result.to_json() if as_json else result.format_line(), out)
    if result.violation:
        print(f"{PROG}: check failed: {result.violation}", file=sys.stderr)
        return 1
    return 0


def cmd_run(a) -> int:
    import rmapsim
    result = rmapsim.run(a.trace, format=a.format, mem=a.mem, frames=a.frames, policy=a.policy,
                         params=_params(a.param), cache_mode=a.cache_mode, machine=a.machine,
                         check=a.check, progress=True)
    return _finish(result, a.json, a.output)


def cmd_demo(a) -> int:
    from rmapsim.sim import demo
    if a.save_trace:
        from rmapsim.trace import write_trace
        write_trace(a.save_trace, demo.demo_trace(a.seed))
    result = demo.run_demo(seed=a.seed, policy=a.policy, machine=a.machine, check=a.check,
                           progress=True)
    if a.json:
        return _finish(result, True, None)
    demo.print_summary(result, seed=a.seed, checked=a.check, machine=a.machine)
    if result.violation:
        print(f"{PROG}: check failed: {result.violation}", file=sys.stderr)
        return 1
    return 0


def cmd_policies(a) -> int:
    from rmapsim.mm.vmscan import POLICIES
    for name, mod in POLICIES.items():
        print(f"{name}  [{mod.KIND}]  {mod.MODELS}")
        if not mod.PARAMS:
            print("    (no parameters)")
        for p, (default, help_) in mod.PARAMS.items():
            print(f"    --param {p}={default}  {help_}")
    return 0


def cmd_formats(a) -> int:
    from rmapsim.trace import FORMATS, WRITABLE
    width = max(map(len, FORMATS))
    for name, desc in FORMATS.items():
        print(f"{name:<{width}}  {desc}{'  [writable]' if name in WRITABLE else ''}")
    print("any of them may be gzip, xz or zstd compressed; see docs/trace-format.md")
    return 0


def _run_epilog() -> str:
    from rmapsim.sim.config import PRESETS, cost_fields, machine_fields
    return ("--param NAME=VALUE sets a parameter of the policy (see `rmapsim policies`), a "
            f"machine field ({', '.join(sorted(machine_fields() - {'cache_mode'}))}) or a cost "
            f"in simulated ns ({', '.join(sorted(cost_fields()))}). "
            f"Machine presets: {', '.join(PRESETS)}.")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="A trace-driven simulator of Linux page reclaim and "
                                       "reverse mapping.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="replay a trace on a simulated machine",
                       epilog=_run_epilog())
    r.add_argument("trace", metavar="TRACE", help="trace file (format detected, or --format)")
    r.add_argument("--format", help="trace format (see `rmapsim formats`)")
    mem = r.add_mutually_exclusive_group()
    mem.add_argument("--mem", metavar="SIZE", help="RAM, e.g. 16M, 512KiB, 2G")
    mem.add_argument("--frames", metavar="N", type=int, help="RAM in 4 KiB frames")
    r.add_argument("--policy", default="clock", help="reclaim policy (default clock)")
    r.add_argument("--param", action="append", metavar="NAME=VALUE", help="policy, machine or "
                   "cost parameter; repeatable")
    r.add_argument("--cache-mode", action="store_true", help="a page cache of the trace's pages "
                   "only: no kernel reserve, page tables, watermarks or swap limit")
    r.add_argument("--machine", default="modern", metavar="PRESET",
                   help="machine preset: modern (default) or i486-1997")
    r.add_argument("--check", action="store_true", help="verify invariants and every page's "
                   "content; exit 1 if anything is lost or broken")
    r.add_argument("--json", action="store_true", help="the result as JSON")
    r.add_argument("-o", "--output", metavar="FILE", help="write the result to FILE")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="run the built-in demo workload and explain the result")
    d.add_argument("--json", action="store_true", help="the result as JSON")
    d.add_argument("--check", action="store_true", help="run in check mode")
    d.add_argument("--policy", default="clock", help="reclaim policy (default clock)")
    d.add_argument("--machine", default="modern", metavar="PRESET",
                   help="machine preset: modern (default) or i486-1997 (16 MiB either way)")
    d.add_argument("--seed", type=int, default=1, help="seed of the workload (default 1)")
    d.add_argument("--save-trace", metavar="FILE", help="also write the demo trace to FILE "
                   "(native format; replay it with `rmapsim run FILE --mem 16M`)")
    d.set_defaults(func=cmd_demo)

    sub.add_parser("policies", help="list the reclaim policies and their parameters"
                   ).set_defaults(func=cmd_policies)
    sub.add_parser("formats", help="list the trace formats").set_defaults(func=cmd_formats)
    return p


def main(argv=None) -> int:
    def fail(msg):
        print(f"{PROG}: error: {' '.join(str(msg).split())}", file=sys.stderr)
        return 2
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except _ArgError as e:
        return fail(e)
    except UserError as e:
        return fail(e)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        return fail(f"{e.filename}: {e.strerror}" if e.filename else e)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
