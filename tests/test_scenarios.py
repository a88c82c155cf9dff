"""The built-in workload scenarios (scenario files shipped with the package): deterministic,
shaped as their comments claim, and replayed without losing a byte under every policy on their
default machines."""
import numpy as np
import pytest

import rmapsim
from rmapsim.mm.vmscan import POLICIES
from rmapsim.errors import ConfigError
from rmapsim.scenarios import SCENARIOS, get_scenario, scenario_events, scenario_trace
from rmapsim.sim.config import build_machine
from rmapsim.trace import open_trace, write_trace
from rmapsim.trace.events import (DEV_NFS, MAP_FILE, MAP_SHARED, OP_EXEC, OP_EXIT, OP_FILE,
                                  OP_FORK, OP_MMAP, OP_MUNMAP, OP_READ, OP_WRITE)

X11, PREFORK, BUILD, STREAM = (SCENARIOS[n] for n in ("x11-486", "prefork", "build", "stream"))
CHILDREN = 256              # prefork's MaxClients
COMPILES = 150              # build's compilations at scale 1

# reduced scales that keep the check-mode replays short
SMALL = {"x11-486": 0.1, "prefork": 0.05, "build": 0.3, "stream": 0.3}


@pytest.fixture(scope="module")
def full():
    """Each scenario at scale 1 (generation only)."""
    return {name: scenario_events(name, 1, 1.0) for name in SCENARIOS}


def test_registry():
    assert set(SCENARIOS) >= {"x11-486", "prefork", "build", "stream"}
    for name, mod in SCENARIOS.items():
        assert mod.NAME == name and mod.DESCRIPTION and mod.__doc__
        assert set(mod.DEFAULTS) >= {"machine", "mem"}
        build_machine(mod.DEFAULTS["machine"], mod.DEFAULTS["mem"])
    with pytest.raises(ConfigError, match="unknown scenario"):
        get_scenario("nope")
    with pytest.raises(ConfigError):
        scenario_events("build", 1, 0)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_deterministic_byte_identical_file(name, tmp_path):
    a, b = tmp_path / "a.rmt", tmp_path / "b.rmt"
    write_trace(a, scenario_trace(name, 3, SMALL[name]))
    write_trace(b, scenario_trace(name, 3, SMALL[name]))
    assert a.read_bytes() == b.read_bytes()
    other = scenario_events(name, 4, SMALL[name])
    assert other.tobytes() != scenario_events(name, 3, SMALL[name]).tobytes()
    assert open_trace(a).read_all().tobytes() == scenario_events(name, 3, SMALL[name]).tobytes()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_well_formed(full, name):
    ev = full[name]
    ops = ev["op"]
    nref = int(((ops == OP_READ) | (ops == OP_WRITE)).sum())
    assert 500_000 <= nref <= 3_000_000, nref
    assert int(ev["addr"].max()) < 1 << 32
    mm = ev[(ops == OP_MMAP) | (ops == OP_MUNMAP)]
    assert (mm["addr"] % 4096 == 0).all() and (mm["length"] % 4096 == 0).all()
    files = ev[ops == OP_FILE]
    assert (files["file"] >= 1).all() and len(np.unique(files["file"])) == len(files)
    # every file mapped is declared first, and no mapping runs past its file's end
    size = dict(zip(files["file"].tolist(), files["length"].tolist()))
    fm = ev[(ops == OP_MMAP) & (ev["file"] != 0)]
    assert np.nonzero(ops == OP_FILE)[0].max() < np.nonzero(ops == OP_MMAP)[0].min()
    for f, pgoff, length in zip(fm["file"].tolist(), fm["pgoff"].tolist(), fm["length"].tolist()):
        assert pgoff + length // 4096 <= size[f]
    # every process that references memory was forked first (init, pid 1, aside)
    born = {1} | set(ev[ops == OP_FORK]["arg"].tolist())
    assert set(ev[ops <= OP_WRITE]["pid"].tolist()) <= born


def test_x11_486_shares_libraries_over_nfs(full):
    ev = full["x11-486"]
    ops = ev["op"]
    assert X11.DEFAULTS == {"machine": "i486-1997", "mem": "8M"}
    fid = X11.file_ids()
    files = ev[ops == OP_FILE]
    nfs = set(files[files["arg"] == DEV_NFS]["file"].tolist())
    assert fid["libX11"] in nfs and fid["XF86_SVGA"] in nfs
    mm = ev[ops == OP_MMAP]
    # libX11 is mapped by the X clients: many processes share its pages
    x11_maps = mm[(mm["file"] == fid["libX11"]) & (mm["pgoff"] == 0)]
    assert len(np.unique(x11_maps["pid"])) >= 6
    assert (ops == OP_FORK).sum() >= 12 and (ops == OP_EXEC).sum() >= 12
    private_rw_file = mm[mm["flags"] == MAP_FILE | 4]
    assert len(private_rw_file)                                   # data segments, COW


def test_prefork_hundreds_of_processes_share_pages(full):
    ev = full["prefork"]
    ops = ev["op"]
    forks = ev[ops == OP_FORK]
    assert (forks["pid"] == 1).sum() >= CHILDREN >= 200           # all children of the parent
    # the children reference the parent's (shared) text and heap
    refs = ev[ops <= OP_WRITE]
    httpd = PREFORK.spec.programs["httpd"]
    heap_lo = 0x0804_8000 + (httpd["text"] + httpd["data"]) * 4096
    in_heap = (refs["addr"] >= heap_lo) & (refs["addr"] < heap_lo + 300 * 4096)
    assert len(np.unique(refs[in_heap]["pid"])) >= 200
    mm = ev[ops == OP_MMAP]
    assert ((mm["flags"] == MAP_SHARED | 4) & (mm["file"] == 0)).any()   # the scoreboard
    assert (ops == OP_EXIT).sum() > CHILDREN                       # recycled children
    # never more than 256 children alive at once
    alive = np.cumsum(np.where(ops == OP_FORK, 1, 0) - np.where((ops == OP_EXIT) & (ev["pid"] != 1), 1, 0))
    assert alive.max() == CHILDREN


def test_build_many_short_lived_processes(full):
    ev = full["build"]
    ops = ev["op"]
    n = COMPILES
    assert (ops == OP_EXIT).sum() >= 5 * n and (ops == OP_EXEC).sum() >= 5 * n
    # a process lives a short while: most pids appear in well under 1% of the references
    refs = ev[ops <= OP_WRITE]
    _, counts = np.unique(refs["pid"], return_counts=True)
    assert np.median(counts) < len(refs) / 1000
    mm = ev[ops == OP_MMAP]
    assert ((mm["flags"] == MAP_SHARED | MAP_FILE | 4)).sum() >= n  # written output files


def test_stream_file_larger_than_ram(full):
    ev = full["stream"]
    files = ev[ev["op"] == OP_FILE]
    ram = build_machine("modern", STREAM.DEFAULTS["mem"]).frames
    big_fid = STREAM.file_ids()["big"]
    big = files[files["file"] == big_fid]["length"][0]
    assert big >= 3 * ram
    small = scenario_events("stream", 1, SMALL["stream"])
    sf = small[small["op"] == OP_FILE]
    assert sf[sf["file"] == big_fid]["length"][0] > ram


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("name", sorted(SMALL))
def test_check_mode_replay_loses_nothing(name, policy):
    mod = SCENARIOS[name]
    r = rmapsim.run(scenario_trace(name, 1, SMALL[name]), policy=policy, check=True,
                    machine=mod.DEFAULTS["machine"], mem=mod.DEFAULTS["mem"])
    d = r.to_dict()
    assert r.violation is None, r.violation
    assert d["integrity_errors"] == 0
    assert d["segfaults"] == 0 and d["ignored_events"] == 0 and d["oom_kills"] == 0
    assert d["pages_freed"] > 0                                   # memory was under pressure
    if name == "x11-486":
        assert d["geometry"] == "i386" and d["nfs_reads"] > 0
