"""The command line: ``rmapsim run|demo|scenario|compare|policies|formats|snapshot|trace``.

Exit status: 0 done; 1 check mode found lost data or a broken invariant (the result is still
printed, the violation follows on stderr); 2 a mistake in the input or the options (one line on
stderr, ``rmapsim: error: ...``, and no output file); 3 a run left events of the trace out (an
OOM kill, a segfault: said on stderr in any case) under ``run --strict`` and, unless
``--no-strict``, ``compare``; 130 interrupted.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings

from rmapsim.errors import ConfigError, Note, UserError, cli_names, did_you_mean
from rmapsim.fileio import write_atomic

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
    write_atomic(path, text + "\n")


def _incomplete(results, labels, strict) -> int:
    """Say on stderr, one line each, which runs left events of the trace out; 3 if ``strict``
    and any did (``--strict``: an incomplete answer is not an answer)."""
    status = 0
    for r, label in zip(results, labels):
        why = r.incomplete()
        if why:
            print(f"{PROG}: {label + ': ' if label else ''}{why}", file=sys.stderr)
            status = 3 if strict else 0
    return status


def _finish(result, as_json, out, strict=False) -> int:
    _emit(result.to_json() if as_json else result.format_line(), out)
    if result.violation:
        print(f"{PROG}: check failed: {result.violation}", file=sys.stderr)
        return 1
    return _incomplete([result], [""], strict)


def cmd_run(a) -> int:
    from rmapsim._numba import say_compiling
    say_compiling(sys.stderr)
    import rmapsim
    if a.trace is None and a.from_snapshot is None:
        raise ConfigError("run needs a TRACE (or --from-snapshot FILE to start from a snapshot)")
    result = rmapsim.run(a.trace, format=a.format, mem=a.mem, frames=a.frames, policy=a.policy,
                         params=_params(a.param), cache_mode=a.cache_mode, machine=a.machine,
                         check=a.check, progress=True, from_snapshot=a.from_snapshot,
                         rmap=a.rmap, contig=a.contig)
    if a.from_snapshot is not None:
        from rmapsim.sim.snapshot import format_report
        if a.trace is None:          # no trace: the loaded state and its agreement are the result
            import json
            _emit(json.dumps(result.snapshot) if a.json else format_report(result.snapshot),
                  a.output)
            return 0
        print(format_report(result.snapshot), file=sys.stderr)
    return _finish(result, a.json, a.output, a.strict)


def cmd_snapshot(a) -> int:
    from rmapsim.sim import snapshot
    snap = snapshot.capture(attempts=a.attempts)
    snapshot.save(a.output, snap)
    h = snap["header"]
    print(f"{a.output}: {h['processes']} processes, {h['vmas']} vmas, {h['ptes']} ptes, "
          f"{h['frames']} frames captured in {h['seconds']} s (attempt {h['attempt']} of "
          f"{a.attempts}; {h['changed_frames']} frames changed count meanwhile; ptes agree with "
          f"kpagecount on {100 * h['quick_agreement']:.2f}% of frames); load it with "
          f"`rmapsim run --from-snapshot {a.output}`", file=sys.stderr)
    return 0


def cmd_demo(a) -> int:
    from rmapsim._numba import say_compiling
    say_compiling(sys.stderr)
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


def cmd_scenario(a) -> int:
    from rmapsim.scenarios import SCENARIOS, get_scenario, scenario_chunks
    if a.list:
        if a.name or a.output:
            raise ConfigError("--list takes no scenario name or --output")
        width = max(map(len, SCENARIOS))
        for name, sc in SCENARIOS.items():
            d = sc.DEFAULTS
            print(f"{name:<{width}}  [{d['machine']}, --mem {d['mem']}]  {sc.DESCRIPTION}")
        return 0
    if not a.name:
        raise ConfigError("scenario name or .toml file needed (see `rmapsim scenario --list`)")
    sc = get_scenario(a.name)
    if not a.output:
        raise ConfigError("scenario needs -o FILE to write the trace to")
    from rmapsim.trace import write_trace
    n = write_trace(a.output, scenario_chunks(sc, a.seed, a.scale), a.format)
    d = sc.DEFAULTS
    mem = f" --mem {d['mem']}" if d["mem"] else " --mem SIZE"
    print(f"{a.output}: {n:,} events of scenario {sc.name} (seed {a.seed}, scale {a.scale:g}); "
          f"replay it with `rmapsim run {a.output} --machine {d['machine']}{mem}`",
          file=sys.stderr)
    return 0


def _compare_source(a):
    """(trace, machine, mem) for compare's TRACE_OR_SCENARIO: a ``.toml`` file is a scenario
    file; else an existing file is a trace; else a scenario name (or ``scenario:NAME``) whose
    default machine and memory fill the gaps."""
    from rmapsim.scenarios import SCENARIOS, get_scenario, is_scenario_file, scenario_trace
    name = a.trace[len("scenario:"):] if a.trace.startswith("scenario:") else a.trace
    if (not a.trace.startswith("scenario:") and not is_scenario_file(a.trace)
            and (os.path.exists(a.trace) or name not in SCENARIOS)):
        if not os.path.exists(a.trace) and a.trace != "-":
            raise ConfigError(f"{a.trace}: no such file or scenario{did_you_mean(name, SCENARIOS)}"
                              f" (scenarios: {', '.join(SCENARIOS)}; or a .toml scenario file)")
        if a.seed is not None or a.scale is not None:
            raise ConfigError("--seed and --scale apply to a scenario, not to a trace file")
        return a.trace, a.machine or "modern", a.mem
    if a.format:
        raise ConfigError("--format applies to a trace file, not to a scenario")
    sc = get_scenario(name)
    d = sc.DEFAULTS
    t = scenario_trace(sc, 1 if a.seed is None else a.seed, 1.0 if a.scale is None else a.scale)
    mem = a.mem if (a.mem is not None or a.frames is not None) else d.get("mem")
    return t, a.machine or d.get("machine") or "modern", mem


def cmd_compare(a) -> int:
    from rmapsim.sim import compare as cmp
    if a.policies is None and a.rmaps is None and a.contig is None:
        raise ConfigError("compare needs --policies A,B,..., --rmaps A,B,... or --contig "
                          "A,B,... (or several: a grid)")
    policies = cmp.with_baseline(cmp.parse_policies(a.policies or "clock"), a.relative_to)
    designs = {} if a.rmaps is None else {"rmaps": cmp.parse_rmaps(a.rmaps)}
    if a.rmap is not None:
        designs["rmap"] = a.rmap
    if a.contig is not None:
        designs["contigs"] = cmp.parse_contigs(a.contig)
    params = _params(a.param)
    cmp.split_params(policies, params)
    if a.plot and not a.plot.lower().endswith(".png"):
        raise ConfigError(f"--plot writes a PNG file: give a name ending .png, not {a.plot!r}")
    if a.csv == "-" and a.json:
        raise ConfigError("--csv - and --json both want stdout; give --csv a file name")
    trace, machine, mem = _compare_source(a)
    results = cmp.compare(trace, policies, format=a.format, mem=mem, frames=a.frames,
                          params=params, cache_mode=a.cache_mode, machine=machine,
                          check=a.check, progress=True, timeline=bool(a.plot), **designs)
    rs = cmp.rows(results, a.relative_to, by_rmap=a.rmaps is not None)
    if a.csv and a.csv != "-":
        cmp.write_atomic(a.csv, cmp.format_csv(rs) + "\n")
    if a.plot:
        cmp.write_atomic(a.plot, cmp.plot_png(rs, [r.timeline for r in results]))
    if a.json:
        _emit(cmp.format_json(rs), a.output)
    elif a.csv == "-":
        _emit(cmp.format_csv(rs), a.output)
    else:
        _emit(cmp.format_table(rs), a.output)
    status = 0
    for r, label in zip(results, cmp.labels(rs)):
        if r.violation:
            print(f"{PROG}: check failed under {label}: {r.violation}", file=sys.stderr)
            status = 1
    return status or _incomplete(results, cmp.labels(rs), a.strict)


def cmd_policies(a) -> int:
    from rmapsim.mm.vmscan import POLICIES
    if a.template:
        from pathlib import Path

        from rmapsim.mm.vmscan.policies import template
        sys.stdout.write(Path(template.__file__).read_text())
        return 0
    print("realistic: sees what a kernel sees (accessed/dirty bits, page flags, faults); "
          "reference: given what no kernel has, every reference or the future")
    for kind in ("realistic", "reference"):
        for name, mod in POLICIES.items():
            if mod.KIND == kind:
                _describe_policy(name, mod)
    return 0


def _describe_policy(name, mod) -> None:
    sees = ""
    if mod.KIND == "reference":
        sees = " (knows the future)" if getattr(mod, "FUTURE", False) else " (sees every reference)"
    print(f"{name}  [{mod.KIND}{sees}]  {mod.MODELS}")
    if not mod.PARAMS:
        print("    (no parameters)")
    from rmapsim.mm.vmscan import param_range
    for p, spec in mod.PARAMS.items():
        print(f"    --param {p}={spec[0]}  {spec[1]} [{param_range(spec)}]")


def cmd_formats(a) -> int:
    from rmapsim.trace import FORMATS, READABLE, WRITABLE
    width = max(map(len, FORMATS))
    print(f"{'format':<{width}}  read  write  description")
    for name, desc in FORMATS.items():
        print(f"{name:<{width}}  {'yes' if name in READABLE else 'no':<4}  "
              f"{'yes' if name in WRITABLE else 'no':<5}  {desc}")
    print("any of them may be gzip, xz or zstd compressed; see docs/trace-format.md")
    return 0


def _run_epilog() -> str:
    from rmapsim.sim.config import PRESETS, cost_fields, machine_fields
    return ("--param NAME=VALUE sets a parameter of the policy (see `rmapsim policies`), a "
            f"machine field ({', '.join(sorted(machine_fields() - {'cache_mode'}))}) or a cost "
            f"in simulated ns ({', '.join(sorted(cost_fields()))}). "
            f"Machine presets: {', '.join(PRESETS)}.")


def build_parser() -> argparse.ArgumentParser:
    from rmapsim import __version__
    p = _Parser(prog=PROG, description="A trace-driven simulator of Linux page reclaim and "
                                       "reverse mapping.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="replay a trace on a simulated machine",
                       epilog=_run_epilog())
    r.add_argument("trace", metavar="TRACE", nargs="?", help="trace file (format detected, or "
                   "--format; - reads standard input); optional with --from-snapshot")
    r.add_argument("--from-snapshot", metavar="FILE", help="start from a live-machine snapshot "
                   "(`rmapsim snapshot`); without TRACE, report the loaded state and its "
                   "agreement with the kernel's kpagecount")
    r.add_argument("--format", help="trace format (see `rmapsim formats`)")
    mem = r.add_mutually_exclusive_group()
    mem.add_argument("--mem", metavar="SIZE", help="RAM, e.g. 16M, 512KiB, 2G")
    mem.add_argument("--frames", metavar="N", type=int, help="RAM in 4 KiB frames")
    r.add_argument("--policy", default="clock", help="reclaim policy (default clock)")
    r.add_argument("--rmap", default="pte-chain", metavar="DESIGN", help="reverse-mapping "
                   "design (default pte-chain, the seed's)")
    r.add_argument("--contig", default="none", metavar="STRATEGY", help="how high-order "
                   "requests (ALLOC events) get contiguous memory: none, steal, lumpy, "
                   "compaction (default none: order-0 reclaim and retry)")
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
    r.add_argument("--strict", action="store_true", help="exit 3 if the run left events of "
                   "the trace out (an OOM kill, a segfault); it is said on stderr either way")
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

    sc = sub.add_parser("scenario", help="write the trace of a workload scenario (built-in or "
                        "a .toml scenario file)")
    sc.add_argument("name", nargs="?", metavar="NAME_OR_FILE", help="built-in scenario (see "
                    "--list) or the path of a .toml scenario file (docs/scenario-format.md)")
    sc.add_argument("--list", action="store_true", help="list the scenarios")
    sc.add_argument("-o", "--output", metavar="FILE", help="trace file to write (atomically)")
    sc.add_argument("--seed", type=int, default=1, help="seed of the workload (default 1)")
    sc.add_argument("--scale", type=float, default=1.0, help="length of the run relative to "
                    "the scenario's default (default 1)")
    sc.add_argument("--format", default="native", help="native (default) or text; a .gz, .xz "
                    "or .zst suffix compresses")
    sc.set_defaults(func=cmd_scenario)

    c = sub.add_parser("compare", help="replay one trace under several policies or "
                       "reverse-mapping designs (or a grid of both), side by side",
                       epilog=_run_epilog())
    c.add_argument("trace", metavar="TRACE_OR_SCENARIO", help="trace file (- reads standard "
                   "input), a scenario name or a .toml scenario file (its default machine and "
                   "--mem apply unless given)")
    c.add_argument("--policies", metavar="A,B,...", help="comma-separated reclaim policies "
                   "(see `rmapsim policies`; default clock with --rmaps)")
    c.add_argument("--format", help="trace format (see `rmapsim formats`)")
    crmap = c.add_mutually_exclusive_group()
    crmap.add_argument("--rmap", metavar="DESIGN", help="reverse-mapping design of every run "
                       "(default pte-chain)")
    crmap.add_argument("--rmaps", metavar="A,B,...|all", help="compare these reverse-mapping "
                       "designs (all: every design); with several --policies, every policy "
                       "under every design")
    c.add_argument("--contig", metavar="A,B,...|all", help="compare these contiguity strategies "
                   "(none, steal, lumpy, compaction) on the trace's high-order requests")
    c.add_argument("--relative-to", metavar="POLICY", help="add columns of misses (faults that "
                   "brought a page in) and misses as a multiple of POLICY's (run too if not "
                   "listed), e.g. opt: the distance from the optimum")
    cmem = c.add_mutually_exclusive_group()
    cmem.add_argument("--mem", metavar="SIZE", help="RAM, e.g. 16M, 512KiB, 2G")
    cmem.add_argument("--frames", metavar="N", type=int, help="RAM in 4 KiB frames")
    c.add_argument("--param", action="append", metavar="NAME=VALUE", help="policy, machine or "
                   "cost parameter; repeatable (a policy parameter reaches the policies that "
                   "have it)")
    c.add_argument("--cache-mode", action="store_true", help="a page cache of the trace's pages "
                   "only: no kernel reserve, page tables, watermarks or swap limit")
    c.add_argument("--machine", default=None, metavar="PRESET",
                   help="machine preset: modern (default for a trace file) or i486-1997")
    c.add_argument("--check", action="store_true", help="verify invariants and every page's "
                   "content; exit 1 if anything is lost or broken")
    c.add_argument("--seed", type=int, default=None, help="seed of a scenario (default 1)")
    c.add_argument("--scale", type=float, default=None, help="scale of a scenario (default 1)")
    c.add_argument("--json", action="store_true", help="a JSON list of per-run results "
                   "(the keys of `run --json`) instead of the table")
    c.add_argument("--csv", metavar="FILE", help="also write the comparison as CSV to FILE "
                   "(- : to stdout instead of the table)")
    c.add_argument("--plot", metavar="FILE.png", help="also draw the comparison as bar charts")
    c.add_argument("-o", "--output", metavar="FILE", help="write the table (or JSON) to FILE")
    c.add_argument("--no-strict", dest="strict", action="store_false", help="exit 0 even if a "
                   "run left events of the trace out (by default 3; it is said on stderr)")
    c.set_defaults(func=cmd_compare)

    sn = sub.add_parser("snapshot", help="capture the running Linux system (root) as a "
                        "starting state for `run --from-snapshot`")
    sn.add_argument("-o", "--output", metavar="FILE", required=True,
                    help="snapshot file to write (atomically; .npz)")
    sn.add_argument("--attempts", type=int, default=3, metavar="N",
                    help="capture up to N times while the machine changes too much during a "
                    "capture (its ptes agree with kpagecount on < 99.8%% of frames), keeping "
                    "the best (default 3)")
    sn.set_defaults(func=cmd_snapshot)

    pp = sub.add_parser("policies", help="list the reclaim policies and their parameters")
    pp.add_argument("--template", action="store_true",
                    help="print a policy file to start your own from (--policy ./mine.py)")
    pp.set_defaults(func=cmd_policies)
    sub.add_parser("formats", help="list the trace formats").set_defaults(func=cmd_formats)
    from rmapsim import cli_trace
    cli_trace.add_parser(sub)
    return p


def _glue_negative(argv):
    """``--mem -5M`` as ``--mem=-5M``: argparse takes '-5M' for an option, not a value, and the
    user would be told 'expected one argument' instead of what is wrong with the size."""
    out = []
    for tok in argv:
        if (out and out[-1].startswith("--") and "=" not in out[-1]
                and re.fullmatch(r"-\d[\d.]*[a-zA-Z]+", tok)):
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


def _option_strings(parser) -> list[str]:
    """The long options of ``parser`` and of its sub-commands."""
    out = []
    for act in parser._actions:
        out += [o for o in act.option_strings if o.startswith("--")]
        for sub in (getattr(act, "choices", None) or {}).values():
            if isinstance(sub, argparse.ArgumentParser):
                out += _option_strings(sub)
    return out


def _suggest(parser, argv, message: str) -> str:
    """argparse's message for a mistyped command, option or choice, with 'did you mean'."""
    m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
    if m:
        return message[:m.end(1) + 1] + did_you_mean(m.group(1), re.findall(r"'([^']*)'",
                                                                         m.group(2))) \
            + message[m.end(1) + 1:]
    m = re.match(r"unrecognized arguments: (--[^\s=]+)", message)
    if m:
        cmd = next((t for t in argv if not t.startswith("-")), None)
        sub = parser._subparsers._group_actions[0].choices.get(cmd) if cmd else None
        return message + did_you_mean(m.group(1), _option_strings(sub or parser))
    return message


def _show_note(message, category, filename, lineno, file=None, line=None,
               _show=warnings.showwarning):
    if issubclass(category, Note):
        print(f"{PROG}: note: {' '.join(str(message).split())}", file=sys.stderr)
    else:
        _show(message, category, filename, lineno, file, line)


def main(argv=None) -> int:
    def fail(msg):
        print(f"{PROG}: error: {' '.join(str(msg).split())}", file=sys.stderr)
        return 2
    argv = _glue_negative(sys.argv[1:] if argv is None else [str(t) for t in argv])
    parser = build_parser()
    if not argv:
        print(parser.format_usage().rstrip(), file=sys.stderr)
        print(f"{PROG}: give a COMMAND: `{PROG} --help` lists them, `{PROG} demo` shows what "
              f"{PROG} does", file=sys.stderr)
        return 2
    try:
        with cli_names(), warnings.catch_warnings():
            warnings.showwarning = _show_note
            warnings.simplefilter("default", Note)
            args = parser.parse_args(argv)
            return args.func(args)
    except _ArgError as e:
        return fail(_suggest(parser, argv, str(e)))
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
