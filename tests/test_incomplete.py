"""Issue 12, no silent truncation: a run that left events of the trace out (a process
OOM-killed, killed by a segfault) says so on stderr in one line, with how many and why; the
result carries the trace's length; `run --strict` and `compare` (unless --no-strict) exit 3."""
import json
import subprocess
import sys
from pathlib import Path

import rmapsim
from rmapsim.trace import write_trace

from evtrace import P, T

ROOT = Path(__file__).resolve().parent.parent
A = 0x400000
OOM = ["--frames", "600", "--param", "swap_pages=64"]


def _oom_trace(path):
    """One process writes 2,000 pages, then reads them: on 600 frames with 64 swap slots it is
    OOM-killed, and the rest of its references are not replayed."""
    t = T().mmap(1, A, 2000)
    for i in range(2000):
        t.w(1, A + i * P)
    for i in range(2000):
        t.r(1, A + i * P)
    write_trace(path, t.trace())
    return path


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rmapsim", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_an_oom_killed_run_says_what_it_left_out(tmp_path):
    path = _oom_trace(tmp_path / "oom.rmt")
    r = rmapsim.run(str(path), frames=600, params={"swap_pages": 64})
    d = r.to_dict()
    assert d["oom_kills"] == 1 and d["trace_references"] == 4000
    assert 0 < d["references"] < 4000
    assert d["ignored_events"] == 4000 - d["references"]          # the references not made
    why = r.incomplete()
    assert why.startswith(f"incomplete: {d['ignored_events']:,} events not replayed (1 process "
                          f"OOM-killed: give more --mem, or swap (--param swap_pages=N))")
    assert why.endswith(f"the counts are of the {d['references']:,} references replayed of "
                        f"the trace's 4,000")
    p = _cli("run", path, *OOM, "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["trace_references"] == 4000
    assert p.stderr.strip().splitlines() == [f"rmapsim: {why}"]
    p = _cli("run", path, *OOM, "--strict")
    assert p.returncode == 3 and p.stdout.startswith("trace=")


def test_compare_is_strict_by_default_and_shows_what_was_replayed(tmp_path):
    path = _oom_trace(tmp_path / "oom.rmt")
    p = _cli("compare", path, "--policies", "clock,fifo", *OOM)
    assert p.returncode == 3
    lines = p.stdout.splitlines()
    assert "4,000 references" in lines[0] and "refs replayed" in lines[1]
    err = p.stderr.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("rmapsim: clock: incomplete: ")
    assert err[1].startswith("rmapsim: fifo: incomplete: ")
    assert _cli("compare", path, "--policies", "clock", *OOM, "--no-strict").returncode == 0


def test_a_complete_run_says_nothing(tmp_path):
    path = _oom_trace(tmp_path / "oom.rmt")
    r = rmapsim.run(str(path), frames=4000)
    assert r.incomplete() is None and r["references"] == r["trace_references"] == 4000
    p = _cli("run", path, "--frames", "4000", "--strict")
    assert p.returncode == 0 and p.stderr == ""
    p = _cli("compare", path, "--policies", "clock", "--frames", "4000")
    assert p.returncode == 0 and "refs replayed" not in p.stdout
