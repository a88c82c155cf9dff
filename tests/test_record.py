"""``rmapsim trace record``: real programs run under valgrind give replayable multi-process
traces (forks, execs, shared libraries under one file id, references inside mappings)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rmapsim
from rmapsim.record import record
from rmapsim.trace import open_trace
from rmapsim.trace.events import (MAP_FILE, OP_EXEC, OP_EXIT, OP_FILE, OP_FORK, OP_MMAP, OP_READ,
                                  OP_WRITE)

REPO = Path(__file__).resolve().parent.parent


def _valgrind_problem():
    vg = shutil.which("valgrind")
    if vg is None:
        return "valgrind is not installed (python -m rmapsim.record.valgrind --install)"
    try:
        r = subprocess.run([vg, "--tool=lackey", "--trace-mem=no", "true"],
                           capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"valgrind cannot run here: {e}"
    if r.returncode != 0:
        return f"valgrind cannot run here: {r.stderr.decode(errors='replace').strip()[-200:]}"
    return None


_PROBLEM = _valgrind_problem()
needs_valgrind = pytest.mark.skipif(_PROBLEM is not None, reason=str(_PROBLEM))


def rmapsim_cmd(*args, cwd, env=None):
    env = dict(os.environ if env is None else env, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-m", "rmapsim", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def events_of(path):
    return np.concatenate(list(open_trace(path).chunks()))


@pytest.fixture
def small_dir(tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    for name in ("a", "b", "c"):
        (d / name).write_text(name)
    return d


@needs_valgrind
def test_record_ls(tmp_path, small_dir):
    out = tmp_path / "ls.rmt"
    rec = record(out, ["ls", "-l", str(small_dir)], instructions=False,
                 stdout=subprocess.DEVNULL)
    assert rec.status == 0 and rec.processes == 1 and rec.forks == 0
    ev = events_of(out)
    assert len(ev) == rec.events
    assert set(np.unique(ev["pid"][ev["op"] <= OP_WRITE])) == {rec.pids[0]}
    refs = (ev["op"] == OP_READ) | (ev["op"] == OP_WRITE)
    assert refs.sum() > 10_000 and (ev["op"] == OP_WRITE).sum() > 1_000
    mm = ev[ev["op"] == OP_MMAP]
    assert (mm["flags"] & MAP_FILE).sum() >= 5                    # ls, ld.so, libc, ... mapped
    assert set(mm["file"][mm["file"] > 0]) <= set(ev["file"][ev["op"] == OP_FILE])
    assert ev["op"][-1] == OP_EXIT
    assert rec.dropped_outside + rec.dropped_ro_writes <= refs.sum() // 1000
    r = rmapsim.run(str(out), mem="64M")
    assert r["segfaults"] == 0 and r["references"] == refs.sum()


@needs_valgrind
def test_record_pipeline_cli(tmp_path, small_dir):
    out = tmp_path / "pipe.rmt"
    p = rmapsim_cmd("trace", "record", "-o", out, "--", "sh", "-c", f"ls {small_dir} | cat",
                    cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["a", "b", "c"]                   # the program's own output
    assert "3 process(es), 2 fork(s), 2 exec(s)" in p.stderr
    ev = events_of(out)
    forks = ev[ev["op"] == OP_FORK]
    root = int(ev["pid"][0]) if ev["op"][0] != OP_FILE else int(ev["pid"][ev["op"] != OP_FILE][0])
    assert len(forks) == 2 and set(forks["pid"]) == {root}
    children = set(int(c) for c in forks["arg"])
    pids = set(int(x) for x in np.unique(ev["pid"][ev["op"] <= OP_WRITE]))
    assert pids == children | {root}
    execs = ev[ev["op"] == OP_EXEC]
    assert set(int(x) for x in execs["pid"]) == children
    # a child's first event comes after its fork; its exec after that
    for c in children:
        first = np.flatnonzero(ev["pid"] == c)[0]
        assert first > np.flatnonzero((ev["op"] == OP_FORK) & (ev["arg"] == c))[0]
    # shared libraries: one file id, mapped by all three processes (libc at least)
    mm = ev[(ev["op"] == OP_MMAP) & (ev["file"] > 0)]
    by_file = {}
    for e in mm:
        by_file.setdefault(int(e["file"]), set()).add(int(e["pid"]))
    assert any(len(ps) == 3 for ps in by_file.values())
    assert (ev["op"] == OP_EXIT).sum() == 3
    r = rmapsim.run(str(out), mem="64M")
    assert r["forks"] == 2 and r["execs"] == 2 and r["segfaults"] == 0
    assert r["ignored_events"] == 0


@needs_valgrind
def test_instructions_option(tmp_path):
    a, b = tmp_path / "i.rmt", tmp_path / "d.rmt"
    with_i = record(a, ["true"], instructions=True)
    without = record(b, ["true"], instructions=False)
    assert with_i.events > 2 * without.events
    p = rmapsim_cmd("trace", "record", "--no-instr", "-o", b, "--", "true", cwd=tmp_path)
    assert p.returncode == 0, p.stderr


@needs_valgrind
def test_bad_input_one_line_no_output(tmp_path):
    out = tmp_path / "x.rmt"
    p = rmapsim_cmd("trace", "record", "-o", out, "--", "no-such-command-xyz", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "command not found: no-such-command-xyz" in p.stderr
    p = rmapsim_cmd("trace", "record", "-o", out, cwd=tmp_path)
    assert p.returncode == 2 and "no command to record" in p.stderr
    # valgrind that cannot start its tool: one line, exit 2, nothing written, no logs left
    env = dict(os.environ, VALGRIND_LIB=str(tmp_path / "nowhere"))
    p = rmapsim_cmd("trace", "record", "-o", out, "--", "true", cwd=tmp_path, env=env)
    assert p.returncode == 2, p.stderr
    assert p.stderr.splitlines()[-1].startswith("rmapsim: error: valgrind did not run")
    assert sorted(os.listdir(tmp_path)) == []


# ---- the log reader on hand-written logs (no valgrind needed) ---------------------------------

def _write_log(path, lines, mtime):
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(mtime, mtime))


def test_merge_hand_written_logs(tmp_path):
    from rmapsim.record import merge_logs
    from rmapsim.record.logs import DEFAULT_COMMON
    from rmapsim.record.recorder import Recording
    from rmapsim.trace.events import MAP_SHARED, OP_MUNMAP, PROT_WRITE
    data = tmp_path / "data"
    data.write_bytes(b"x" * 3 * 4096)
    logs = tmp_path / "logs"
    logs.mkdir()
    _write_log(logs / "log.100.1", [
        "==100== Lackey, an example Valgrind tool", "==100== Command: prog", "==100== ",
        "SYSCALL[100,1](12) sys_brk ( 0x0 ) --> [pre-success] Success(0x4035000) ",
        "SYSCALL[100,1](12) sys_brk ( 0x4037000 ) --> [pre-success] Success(0x4037000) ",
        " S 04035010,8",
        f"SYSCALL[100,1](257) sys_openat ( 4294967196, 0x4034bb0({data}), 524288 ) --> [async] ... ",
        " L 04035010,8",
        "SYSCALL[100,1](257) ... [async] --> Success(0x3) ",
        "SYSCALL[100,1](9) sys_mmap ( 0x0, 8192, 3, 1, 3, 4096 ) --> [pre-success] Success(0x5000000) ",
        " S 05000000,8",
        " M 05000ffc,8",
        "I  05001000,4",
        " L 07000000,8",
        "SYSCALL[100,1](56) sys_clone ( 1200011, 0x0, 0x0, 0x4a27a10, 0x0 )   clone(fork): process 100 created child 101",
        " --> [pre-success] Success(0x65) ",
        "SYSCALL[100,1](11) sys_munmap ( 0x5000000, 8192 )[sync] --> Success(0x0) ",
        " L 05000000,8",
        "SYSCALL[100,1](56) sys_clone ( 3d0f00, 0xa26ff70, 0xa270990, 0xa270990, 0xa2706c0 ) "
        "--> [pre-success] Success(0x56b2) SYSCALL[100,2](9) sys_mmap ( 0x0, 4096, 3, 34, "
        "4294967295, 0 ) --> [pre-success] Success(0x6000000) ",
        "SYSCALL[100,1](231) exit_group( 0 ) --> [pre-success] Success(0x0) ",
        "==100== Exit code:       0"], 1_000_000_000)
    _write_log(logs / "log.101.2", [
        "==101== Command: prog", " L 05000008,8",
        "SYSCALL[101,1](59) sys_execve ( 0x4035d38(/bin/true), 0x129918, 0x4035bf8 )"],
        3_000_000_000)      # not older than the exec's log: the execve at its end orders it
    _write_log(logs / "log.101.1", ["==101== Command: /bin/true", " L 05000008,8"], 3_000_000_000)
    rec = Recording("")
    ev = np.concatenate(list(merge_logs(str(logs), 100, rec=rec)))
    stack = DEFAULT_COMMON[0]
    got = [(int(e["op"]), int(e["pid"]), int(e["addr"]), int(e["length"]), int(e["file"]),
            int(e["pgoff"]), int(e["flags"]), int(e["arg"])) for e in ev]
    R, W, F = OP_READ, OP_WRITE, MAP_SHARED | MAP_FILE | PROT_WRITE
    assert got == [
        (OP_MMAP, 100, stack[0], stack[1] - stack[0], 0, 0, PROT_WRITE, 0),
        (OP_MMAP, 100, 0x4035000, 0x2000, 0, 0, PROT_WRITE, 0),
        (W, 100, 0x4035010, 0, 0, 0, 0, 0), (R, 100, 0x4035010, 0, 0, 0, 0, 0),
        (OP_FILE, 0, 0, 3, 1, 0, 0, 0),
        (OP_MMAP, 100, 0x5000000, 0x2000, 1, 1, F, 0),
        (W, 100, 0x5000000, 0, 0, 0, 0, 0),
        (R, 100, 0x5000ffc, 0, 0, 0, 0, 0), (R, 100, 0x5001000, 0, 0, 0, 0, 0),
        (W, 100, 0x5000ffc, 0, 0, 0, 0, 0), (W, 100, 0x5001000, 0, 0, 0, 0, 0),
        (R, 100, 0x5001000, 0, 0, 0, 0, 0),
        (OP_FORK, 100, 0, 0, 0, 0, 0, 101),
        (OP_MUNMAP, 100, 0x5000000, 0x2000, 0, 0, 0, 0),
        (OP_MMAP, 100, 0x6000000, 0x1000, 0, 0, PROT_WRITE, 0),     # a thread's, glued on
        (OP_EXIT, 100, 0, 0, 0, 0, 0, 0),
        (R, 101, 0x5000008, 0, 0, 0, 0, 0),
        (OP_EXEC, 101, 0, 0, 0, 0, 0, 0),
        (OP_MMAP, 101, stack[0], stack[1] - stack[0], 0, 0, PROT_WRITE, 0),
        (OP_EXIT, 101, 0, 0, 0, 0, 0, 0)]
    assert rec.dropped_outside == 3 and rec.forks == 1 and rec.execs == 1
    assert rec.no_layout == 2 and rec.processes == 2
    # without instruction fetches the I line goes
    ev2 = np.concatenate(list(merge_logs(str(logs), 100, instructions=False)))
    assert len(ev2) == len(ev) - 1


def test_install_valgrind_messages(monkeypatch):
    from rmapsim.errors import ConfigError
    from rmapsim.record import valgrind as vg
    monkeypatch.setattr(vg, "find_valgrind", lambda: "/usr/bin/valgrind")
    assert vg.install_valgrind() == "/usr/bin/valgrind"
    monkeypatch.setattr(vg, "find_valgrind", lambda: None)
    monkeypatch.setattr(vg.os, "geteuid", lambda: 1000)
    with pytest.raises(ConfigError, match="apt-get install valgrind"):
        vg.install_valgrind()
    with pytest.raises(ConfigError, match="valgrind is needed"):
        vg.require_valgrind()


@needs_valgrind
@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_record_c_program(tmp_path):
    """A shared file mapping written by parent, thread and forked child; mremap (moved),
    mprotect (read-only to writable), a thread's stack, munmap, malloc."""
    from rmapsim.trace.events import MAP_SHARED, PROT_WRITE
    exe = tmp_path / "prog"
    subprocess.run(["cc", "-O1", "-pthread", "-o", str(exe), str(REPO / "tests/record_prog.c")],
                   check=True)
    data = tmp_path / "data.bin"
    rec = record(tmp_path / "p.rmt", [str(exe), str(data)], instructions=False)
    assert rec.status == 0 and rec.forks == 1 and rec.processes == 2
    assert rec.dropped_outside == 0 and rec.dropped_ro_writes == 0
    ev = events_of(tmp_path / "p.rmt")
    shared = ev[(ev["op"] == OP_MMAP) & (ev["flags"] == MAP_SHARED | MAP_FILE | PROT_WRITE)]
    assert len(shared) == 1 and shared["length"][0] == 4 * 4096
    fid = shared["file"][0]
    assert ev[(ev["op"] == OP_FILE) & (ev["file"] == fid)]["length"].tolist() == [4]
    lo, hi = int(shared["addr"][0]), int(shared["addr"][0]) + 4 * 4096
    child = int(ev["arg"][ev["op"] == OP_FORK][0])
    w = ev[(ev["op"] == OP_WRITE) & (ev["pid"] == child)]
    assert ((w["addr"] >= lo) & (w["addr"] < hi)).sum() >= 128       # the child's shared writes
    r = rmapsim.run(str(tmp_path / "p.rmt"), mem="64M")
    assert r["segfaults"] == 0 and r["ignored_events"] == 0 and r["forks"] == 1
