"""The built-in demo: a deterministic trace that forks, shares file pages and overflows RAM, and
that the simulated kernel replays without losing a byte."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rmapsim.mm.vmscan import POLICIES
from rmapsim.sim import demo
from rmapsim.trace.events import (MAP_FILE, MAP_SHARED, OP_EXEC, OP_EXIT, OP_FILE, OP_FORK,
                                  OP_MMAP, OP_READ, OP_WRITE, PROT_WRITE)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def events():
    return demo.demo_events(1)


def test_trace_is_deterministic(events):
    assert demo.demo_events(1).tobytes() == events.tobytes()
    assert demo.demo_events(2).tobytes() != events.tobytes()
    assert demo.demo_trace(1).read_all().tobytes() == events.tobytes()


def test_trace_forks_execs_and_shares_file_pages(events):
    ops = events["op"]
    for op in (OP_FILE, OP_MMAP, OP_FORK, OP_EXEC, OP_EXIT, OP_READ, OP_WRITE):
        assert (ops == op).any(), op
    assert (ops == OP_FORK).sum() > demo.WORKERS            # workers fork children too
    mm = events[ops == OP_MMAP]
    shared_rw = mm[mm["flags"] == MAP_SHARED | MAP_FILE | PROT_WRITE]
    private_ro = mm[mm["flags"] == MAP_FILE]
    assert len(shared_rw) and len(private_ro)
    # several processes reach the shared file: init maps it and every worker inherits it
    data = (events["addr"] >= demo.DATA) & (events["addr"] < demo.DATA + demo.DATA_PAGES * 4096)
    refs = events[((ops == OP_READ) | (ops == OP_WRITE)) & data]
    assert len(np.unique(refs["pid"])) == demo.WORKERS
    assert (refs["op"] == OP_WRITE).any()
    # mappings page aligned, everything below 4 GiB (fits the i386 geometry)
    assert (mm["addr"] % 4096 == 0).all() and (mm["length"] % 4096 == 0).all()
    assert int(events["addr"].max()) < 1 << 32
    # every process that references memory was forked first (init aside)
    born = {1} | set(events[ops == OP_FORK]["arg"].tolist())
    assert set(events[ops <= OP_WRITE]["pid"].tolist()) <= born


def test_touched_memory_exceeds_ram(events):
    ops = events["op"]
    refs = events[(ops == OP_READ) | (ops == OP_WRITE)]
    worker_pages = {(int(p), int(a) >> 12) for p, a in zip(refs["pid"], refs["addr"]) if p < 100}
    assert len(worker_pages) * 4096 > demo.DEMO_MEM


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_demo_in_check_mode_loses_nothing(policy):
    r = demo.run_demo(check=True, policy=policy)
    assert r.violation is None, r.violation
    d = r.to_dict()
    assert d["integrity_errors"] == 0
    assert d["frames"] == demo.DEMO_FRAMES and d["trace"] == "demo-seed1"
    assert d["swap_outs"] > 0 and d["swap_ins"] > 0
    assert d["writebacks"] > 0 and d["file_reads"] > 0 and d["nfs_reads"] > 0
    assert d["kswapd_wakeups"] > 0
    assert d["cow_faults"] > 0
    assert d["oom_kills"] == 0 and d["segfaults"] == 0 and d["ignored_events"] == 0
    assert d["forks"] == int((demo.demo_events(1)["op"] == OP_FORK).sum())


def test_demo_on_the_1997_machine_loses_nothing():
    r = demo.run_demo(check=True, machine="i486-1997")
    assert r.violation is None, r.violation
    d = r.to_dict()
    assert d["geometry"] == "i386" and d["integrity_errors"] == 0 and d["swap_outs"] > 0


def test_demo_is_deterministic():
    assert demo.run_demo().to_json() == demo.run_demo().to_json()


def test_summary_text():
    r = demo.run_demo()
    header, sections, meaning = demo.summary(r)
    titles = [t for t, _ in sections]
    assert titles[:5] == ["Work", "Faults", "Reclaim", "I/O", "Simulated time"]
    d = r.to_dict()
    text = "\n".join(header) + str(sections) + meaning
    for k in ("references", "swap_outs", "writebacks", "kswapd_wakeups", "ptes_visited"):
        assert f"{d[k]:,}" in text, k


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-m", "rmapsim", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_demo_command(tmp_path):
    p = _cli("demo", "--check", "--save-trace", tmp_path / "demo.rmt", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    for word in ("Faults", "Reclaim", "kswapd wake-ups", "writebacks", "integrity errors",
                 "Simulated time", "oversubscribed"):
        assert word in p.stdout, word
    # the saved trace replayed by `rmapsim run` gives the demo's numbers
    j = _cli("demo", "--json", cwd=tmp_path)
    assert j.returncode == 0, j.stderr
    d = json.loads(j.stdout)
    r = _cli("run", tmp_path / "demo.rmt", "--frames", demo.DEMO_FRAMES, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)
    d.pop("trace"), e.pop("trace")
    assert d == e
