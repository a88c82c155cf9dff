"""``record``: run a program under valgrind and write its native event trace.

The order of events across processes. Each process's own events keep their order (lackey and
the system call trace write one log per process image, in program order), but how the processes'
references interleaved in time is not recorded anywhere. The merge is a round-robin scheduler
over the logs: the first process runs for ``quantum`` events, then the next runnable process,
and so on; a child becomes runnable right after the parent's FORK event (queued behind the
processes already runnable); a process leaves the queue after its EXIT. So a fork is always seen
before anything the child does, and concurrent processes (a pipeline) interleave in slices of
``quantum`` events, like time slices: blocking (a reader waiting on its pipe, a shell in wait4) is
not modelled.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from rmapsim.errors import ConfigError
from rmapsim.record.logs import (DEFAULT_COMMON, Files, Layouts, LogReader, Proc, Stats,
                                 common_layout, layout_events, read_head)
from rmapsim.record.valgrind import probe_layout, require_valgrind, valgrind_argv
from rmapsim.trace.events import EVENT_DTYPE, OP_EXEC, OP_EXIT, OP_FORK
from rmapsim.trace.formats import canonical
from rmapsim.trace.writer import write_trace

QUANTUM = 100_000
LAYOUTS = "layouts.txt"      # in the log directory: the probe's startup layout (-d lines)
_LOG = re.compile(r"log\.(\d+)\.(\d+)$")


@dataclass
class Recording:
    """What ``record`` did: the counts of the trace written and of the run."""
    output: str
    events: int = 0
    processes: int = 0
    forks: int = 0
    execs: int = 0
    mmaps: int = 0
    references: int = 0           # references read from lackey (before dropping)
    dropped_outside: int = 0      # outside every mapping: dropped
    dropped_ro_writes: int = 0    # writes into read-only mappings: dropped
    odd_lines: int = 0
    no_layout: int = 0            # process images without their startup layout
    files: int = 0
    status: int = 0               # the program's exit status
    run_seconds: float = 0.0      # wall time of the program under valgrind
    log_bytes: int = 0
    trace_bytes: int = 0
    pids: list = field(default_factory=list)

    def summary(self) -> str:
        s = (f"{self.output}: {self.events:,} events, {self.processes} process(es), "
             f"{self.forks} fork(s), {self.execs} exec(s), {self.mmaps} mmap(s) of "
             f"{self.files} file(s); {self.references:,} references recorded in "
             f"{self.run_seconds:.2f} s under valgrind ({self.log_bytes / 1e6:.1f} MB of logs)")
        if self.no_layout:
            s += (f"; {self.no_layout} process image(s) without their executable's layout "
                  f"(references to it dropped)")
        if self.dropped_outside or self.dropped_ro_writes:
            s += (f"; dropped {self.dropped_outside:,} outside any mapping and "
                  f"{self.dropped_ro_writes:,} writes to read-only mappings")
        return s


def _ends_in_exec(path: str) -> bool:
    """Whether the log's last system call is an execve without a result: valgrind went on to
    run the new program in a new log."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - (1 << 16)))
        tail = f.read()
    k = tail.rfind(b"SYSCALL[")
    if k < 0:
        return False
    line = tail[k:].split(b"\n", 1)[0]
    return b"sys_execve" in line and b"-->" not in line


def _group_logs(logdir: str):
    """pid -> its logs [(order, path, command, objects)] in order: those that end in an exec
    first, by modification time (a log is finished before the exec that starts the next one),
    then the last. (valgrind's ``%n`` does not give the order: it counts per valgrind instance
    and a forked child inherits the count.)"""
    by_pid: dict = {}
    for name in os.listdir(logdir):
        m = _LOG.match(name)
        if not m:
            continue
        path = os.path.join(logdir, name)
        pid, command, objects = read_head(path)
        pid = int(m.group(1)) if pid is None else pid
        order = (not _ends_in_exec(path), os.stat(path).st_mtime_ns)
        by_pid.setdefault(pid, []).append((order, path, command, objects))
    for logs in by_pid.values():
        logs.sort(key=lambda x: x[0])
    return by_pid


def merge_logs(logdir: str, root: int, *, instructions: bool = True, quantum: int = QUANTUM,
               cwd: str | None = None, rec: Recording | None = None):
    """Yield the event chunks of a recording: the logs in ``logdir`` (``root``: the first pid;
    ``LAYOUTS`` there, if present, the probe's startup layout for the stack's place)."""
    rec = rec if rec is not None else Recording("")
    cwd = cwd or os.getcwd()
    by_pid = _group_logs(logdir)
    if root not in by_pid:
        raise ConfigError("valgrind did not run the program (no log of it); "
                          "see valgrind's messages above")
    files, stats, children = Files(), Stats(), {}
    common = DEFAULT_COMMON
    if os.path.exists(os.path.join(logdir, LAYOUTS)):
        for pid_layouts in Layouts.load(os.path.join(logdir, LAYOUTS)).by_pid.values():
            part = common_layout(pid_layouts[0]) if pid_layouts else []
            if any(key is None for _, _, key, _, _ in part):      # it has the stack
                common = part
                break

    def stream(pid):
        proc = children.pop(pid, None)
        forked = proc is not None
        proc = proc if forked else Proc(cwd)
        for k, (_, path, command, objects) in enumerate(by_pid.get(pid, [])):
            if forked and k == 0:                   # the fork image: continues the parent's
                reader = LogReader(path, pid, proc, files, stats, children, instructions)
            else:
                fresh = Proc(proc.cwd)
                fresh.fds = proc.fds
                proc = fresh
                reader = LogReader(path, pid, proc, files, stats, children, instructions)
                if forked or k > 0:
                    stats.execs += 1
                    reader.emit(OP_EXEC)
                if not objects:
                    stats.no_layout += 1
                layout_events(proc, objects, common, files, reader.emit)
            yield from reader.chunks()
        end = np.zeros(1, EVENT_DTYPE)
        end["op"], end["pid"] = OP_EXIT, pid
        yield end

    gens, left = {}, {}
    queue = deque([root])
    seen = {root}
    pending = sorted(p for p in by_pid if p != root)
    while queue or pending:
        if not queue:                       # a process no traced parent forked: run it last
            p = pending.pop(0)
            if p in seen:
                continue
            queue.append(p)
            seen.add(p)
        pid = queue.popleft()
        if pid not in gens:
            gens[pid] = stream(pid)
            rec.pids.append(pid)
        budget, done = quantum, False
        while budget > 0:
            chunk = left.pop(pid, None)
            if chunk is None:
                chunk = next(gens[pid], None)
                if chunk is None:
                    done = True
                    break
            if len(chunk) > budget:
                left[pid] = chunk[budget:]
                chunk = chunk[:budget]
            budget -= len(chunk)
            for child in chunk["arg"][chunk["op"] == OP_FORK]:
                child = int(child)
                if child not in seen:
                    seen.add(child)
                    queue.append(child)
            yield chunk
        if not done:
            queue.append(pid)
    rec.processes = len(rec.pids)
    rec.forks, rec.execs, rec.mmaps = stats.forks, stats.execs, stats.mmaps
    rec.references, rec.dropped_outside = stats.refs, stats.outside
    rec.dropped_ro_writes, rec.odd_lines, rec.files = stats.ro_writes, stats.odd_lines, len(files.ids)
    rec.no_layout = stats.no_layout


def _resolve(command: list[str]) -> None:
    if not command:
        raise ConfigError("no command to record: give it after --, e.g. "
                          "`rmapsim trace record -o ls.rmt -- ls -l`")
    prog = command[0]
    if prog.startswith("-"):
        raise ConfigError(f"the command cannot start with '-': {prog!r}")
    if "/" in prog:
        if not (os.path.isfile(prog) and os.access(prog, os.X_OK)):
            raise ConfigError(f"command not found or not executable: {prog}")
    elif shutil.which(prog) is None:
        raise ConfigError(f"command not found: {prog}")


def record(output: str, command: list[str], *, instructions: bool = True,
           quantum: int = QUANTUM, format: str = "native", log_dir: str | None = None,
           install: bool = False, stdin=None, stdout=None, stderr=None) -> Recording:
    """Run ``command`` under valgrind and write its event trace to ``output`` (atomically).

    ``instructions``: include instruction fetches (lackey's ``I`` lines) as READs. ``quantum``:
    events a process runs before the merge turns to the next one. ``log_dir``: keep valgrind's
    logs there (else a temporary directory next to ``output``, removed at the end)."""
    output = os.fspath(output)
    format = canonical(format)
    if quantum < 1:
        raise ConfigError(f"--quantum must be at least 1, not {quantum}")
    _resolve(command)
    valgrind = require_valgrind(install)
    out_dir = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(out_dir):
        raise ConfigError(f"cannot write {output}: no directory {out_dir}")
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        if any(_LOG.match(n) for n in os.listdir(log_dir)):
            raise ConfigError(f"--log-dir {log_dir} already holds valgrind logs; give an empty one")
        logdir = log_dir
    else:
        logdir = tempfile.mkdtemp(prefix=".rmapsim-record-", dir=out_dir)
    rec = Recording(output)
    try:
        probe_layout(valgrind, os.path.join(logdir, LAYOUTS))
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(valgrind_argv(valgrind, logdir, command), stdin=stdin,
                                    stdout=stdout, stderr=stderr)
        except OSError as e:
            raise ConfigError(f"cannot run valgrind: {e.strerror or e}") from None
        try:
            rec.status = proc.wait()
        except KeyboardInterrupt:
            proc.kill()
            proc.wait()
            raise
        rec.run_seconds = time.perf_counter() - t0
        rec.log_bytes = sum(os.path.getsize(os.path.join(logdir, n)) for n in os.listdir(logdir))
        rec.events = write_trace(output, merge_logs(logdir, proc.pid, instructions=instructions,
                                                    quantum=quantum, rec=rec), format)
        rec.trace_bytes = os.path.getsize(output)
    finally:
        if not log_dir:
            shutil.rmtree(logdir, ignore_errors=True)
    return rec


def add_parser(trace_subparsers):
    """Register ``record`` in the ``trace`` command group (an ``add_subparsers`` object)."""
    r = trace_subparsers.add_parser(
        "record", help="run a program under valgrind and write its multi-process event trace",
        description="Run CMD under valgrind (lackey + system call trace, following children) "
                    "and write a native event trace: references, mmaps of files, brk, fork, "
                    "exec and exit of every process. See docs/recording.md.")
    r.add_argument("-o", "--output", metavar="TRACE", help="trace file to write (atomically; "
                   "a .gz, .xz or .zst suffix compresses)")
    r.add_argument("--format", default="native", help="native (default) or text")
    instr = r.add_mutually_exclusive_group()
    instr.add_argument("--instr", dest="instructions", action="store_true", default=True,
                       help="include instruction fetches as reads (default)")
    instr.add_argument("--no-instr", dest="instructions", action="store_false",
                       help="leave out instruction fetches (data references only)")
    r.add_argument("--quantum", type=int, default=QUANTUM, metavar="N",
                   help=f"events a process runs before the next one in the merged trace "
                        f"(default {QUANTUM:,})")
    r.add_argument("--log-dir", metavar="DIR", help="keep valgrind's logs in DIR")
    r.add_argument("--install-valgrind", action="store_true", help="install valgrind with the "
                   "system package manager first if it is missing (needs root); alone, just that")
    r.add_argument("command", nargs="*", metavar="CMD", help="the program and its arguments "
                   "(after --)")
    r.set_defaults(func=cmd_record)
    return r


def cmd_record(a) -> int:
    if a.install_valgrind and not a.command and not a.output:
        from rmapsim.record.valgrind import install_valgrind
        print(install_valgrind())
        return 0
    if not a.output:
        raise ConfigError("trace record needs -o TRACE")
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    rec = record(a.output, command, instructions=a.instructions, quantum=a.quantum,
                 format=a.format, log_dir=a.log_dir, install=a.install_valgrind)
    print(f"rmapsim: {rec.summary()}", file=sys.stderr)
    if rec.status:
        print(f"rmapsim: note: the program exited with status {rec.status}", file=sys.stderr)
    return 0
