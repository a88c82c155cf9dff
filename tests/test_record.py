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
pytestmark = pytest.mark.skipif(_PROBLEM is not None, reason=str(_PROBLEM))


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


def test_instructions_option(tmp_path):
    a, b = tmp_path / "i.rmt", tmp_path / "d.rmt"
    with_i = record(a, ["true"], instructions=True)
    without = record(b, ["true"], instructions=False)
    assert with_i.events > 2 * without.events
    p = rmapsim_cmd("trace", "record", "--no-instr", "-o", b, "--", "true", cwd=tmp_path)
    assert p.returncode == 0, p.stderr


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
