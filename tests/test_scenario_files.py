"""Scenario files (docs/scenario-format.md): every access pattern's statistics as the format
specifies them, determinism, fork/exec/exit in the events, and one-line errors for bad files."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rmapsim.errors import ConfigError
from rmapsim.scenarios import (SCENARIOS, get_scenario, load_scenario, scenario_events,
                               scenario_trace)
from rmapsim.scenarios.spec import loads
from rmapsim.trace import open_trace
from rmapsim.trace.events import (MAP_FILE, MAP_SHARED, OP_EXEC, OP_EXIT, OP_FILE, OP_FORK,
                                  OP_MMAP, OP_MUNMAP, OP_READ, OP_WRITE, PROT_WRITE)

REPO = Path(__file__).resolve().parent.parent
MMAP_BASE = 0x6000_0000


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def one_phase(phase, pages=1000, extra="", scenario_extra=""):
    """A scenario of init alone with an anonymous writable region ``buf`` (and ``other``)."""
    return f"""
[scenario]
name = "t"
{scenario_extra}
{extra}
[[processes]]
name = "init"
mappings = [ {{ name = "buf", pages = {pages}, write = true }},
             {{ name = "other", pages = 10, write = true }} ]
phases = [ {phase} ]
"""


def gen(tmp_path, text, seed=1, scale=1.0):
    return scenario_events(write(tmp_path, text), seed, scale)


def refs_of(ev):
    r = ev[ev["op"] <= OP_WRITE]
    return r, ((r["addr"] - MMAP_BASE) >> 12).astype(np.int64)


# ---- patterns --------------------------------------------------------------------------------
def test_sequential_one_pass_in_order(tmp_path):
    ev = gen(tmp_path, one_phase('{ pattern = "sequential", region = "buf" }'))
    r, pg = refs_of(ev)
    assert pg.tolist() == list(range(1000))
    assert (r["op"] == OP_READ).all() and (r["pid"] == 1).all()
    # first/count, per_page, and runs past the end wrap around (a loop)
    ev = gen(tmp_path, one_phase('{ pattern = "sequential", region = "buf", first = 10, '
                                 'count = 5, per_page = 3, runs = 7, write = 1.0 }'))
    r, pg = refs_of(ev)
    assert pg.tolist() == [p for p in [10, 11, 12, 13, 14, 10, 11] for _ in range(3)]
    assert (r["op"] == OP_WRITE).all()


def test_stride(tmp_path):
    ev = gen(tmp_path, one_phase('{ pattern = "stride", region = "buf", stride = 7, runs = 300 }'))
    _, pg = refs_of(ev)
    assert pg.tolist() == [(7 * j) % 1000 for j in range(300)]
    ev = gen(tmp_path, one_phase('{ pattern = "stride", region = "buf", count = 100, stride = 4, '
                                 'runs = 60 }'))
    _, pg = refs_of(ev)
    assert set(pg.tolist()) == set(range(0, 100, 4)) and len(pg) == 60


def test_loop_period(tmp_path):
    ev = gen(tmp_path, one_phase('{ pattern = "loop", region = "buf", first = 100, count = 37, '
                                 'refs = 1000 }'))
    _, pg = refs_of(ev)
    assert len(pg) == 1000
    assert (pg[37:] == pg[:-37]).all()                         # period 37
    assert sorted(set(pg.tolist())) == list(range(100, 137))
    assert pg[:37].tolist() == list(range(100, 137))


@pytest.mark.parametrize("alpha", [0.8, 1.0, 1.2])
def test_zipf_rank_frequencies(tmp_path, alpha):
    n, runs = 1000, 200_000
    ev = gen(tmp_path, one_phase(f'{{ pattern = "zipf", region = "buf", alpha = {alpha}, '
                                 f'order = "ascending", runs = {runs} }}'))
    _, pg = refs_of(ev)
    assert len(pg) == runs
    freq = np.bincount(pg, minlength=n) / runs
    h = (np.arange(1, n + 1, dtype=float) ** -alpha)
    want = h / h.sum()
    assert freq[0] == pytest.approx(want[0], abs=0.006)        # rank 1 (page 0 in ascending)
    assert freq[1] == pytest.approx(want[1], abs=0.005)
    assert freq[:10].sum() == pytest.approx(want[:10].sum(), abs=0.01)
    # descending order: the last page is rank 1; random order: some page has rank 1's share
    ev = gen(tmp_path, one_phase(f'{{ pattern = "zipf", region = "buf", alpha = {alpha}, '
                                 f'order = "descending", runs = {runs} }}'))
    _, pg = refs_of(ev)
    assert (np.bincount(pg, minlength=n)[n - 1] / runs) == pytest.approx(want[0], abs=0.006)
    ev = gen(tmp_path, one_phase(f'{{ pattern = "zipf", region = "buf", alpha = {alpha}, '
                                 f'runs = {runs} }}'))
    _, pg = refs_of(ev)
    c = np.bincount(pg, minlength=n)
    assert c.max() / runs == pytest.approx(want[0], abs=0.006) and c.argmax() != 0


def test_uniform_flat(tmp_path):
    ev = gen(tmp_path, one_phase('{ pattern = "uniform", region = "buf", first = 500, '
                                 'count = 100, runs = 100000 }'))
    _, pg = refs_of(ev)
    c = np.bincount(pg - 500, minlength=100)
    assert pg.min() == 500 and pg.max() == 599
    assert abs(c - 1000).max() < 150                           # ~4.7 sigma


def test_hot_cold_split(tmp_path):
    ev = gen(tmp_path, one_phase('{ pattern = "hotcold", region = "buf", hot = 0.05, '
                                 'hot_prob = 0.8, order = "ascending", runs = 100000 }'))
    _, pg = refs_of(ev)
    hot = pg < 50
    assert hot.mean() == pytest.approx(0.8, abs=0.01)
    assert len(set(pg[hot].tolist())) == 50 and len(set(pg[~hot].tolist())) > 900
    # random order: the hot set is 50 pages scattered over the region, taking 80%
    ev = gen(tmp_path, one_phase('{ pattern = "hotcold", region = "buf", hot = 0.05, '
                                 'hot_prob = 0.8, runs = 100000 }'))
    _, pg = refs_of(ev)
    c = np.sort(np.bincount(pg, minlength=1000))[::-1]
    assert c[:50].sum() / len(pg) == pytest.approx(0.8, abs=0.01)
    assert np.flatnonzero(np.bincount(pg, minlength=1000) > 1000).max() > 100


def test_write_mix_weights_and_runs(tmp_path):
    phase = ('{ access = [ { region = "buf", weight = 3, write = 0.25 }, '
             '{ region = "other", weight = 1, write = 1.0 } ], runs = 100000, run = 4 }')
    ev = gen(tmp_path, one_phase(phase))
    r, pg = refs_of(ev)
    in_buf = pg < 1000
    assert len(r) / 100000 == pytest.approx(4.0, rel=0.02)      # mean run length 4
    assert in_buf.mean() == pytest.approx(0.75, abs=0.01)
    assert (r["op"][in_buf] == OP_WRITE).mean() == pytest.approx(0.25, abs=0.01)
    assert (r["op"][~in_buf] == OP_WRITE).all()
    # a run repeats one page: consecutive equal pages come in runs of mean 4
    change = np.flatnonzero(np.diff(pg) != 0)
    assert np.diff(change).mean() == pytest.approx(4.0, rel=0.05)
    # refs = N with run 1 gives exactly N references, word-aligned inside their pages
    ev = gen(tmp_path, one_phase('{ pattern = "uniform", region = "buf", refs = 12345, write = 0.5 }'))
    r, _ = refs_of(ev)
    assert len(r) == 12345 and (r["addr"] % 8 == 0).all()
    assert (r["op"] == OP_WRITE).mean() == pytest.approx(0.5, abs=0.02)


def test_named_mix_params_expressions_and_scale(tmp_path):
    text = """
[scenario]
name = "t"
[params]
n = "round(1000 * scale)"
[mixes]
m = [ { region = "buf", pattern = "sequential", count = "n // 10" } ]
[[processes]]
name = "init"
mappings = [ { name = "buf", pages = "n", write = true } ]
phases = [ { repeat = 3, var = "j", phases = [ { mix = "m", runs = "n // 10 + j" } ] } ]
"""
    ev = gen(tmp_path, text, scale=0.5)
    mm = ev[ev["op"] == OP_MMAP]
    assert mm["length"][0] == 500 * 4096
    _, pg = refs_of(ev)
    assert len(pg) == 50 + 51 + 52
    assert pg[:50].tolist() == list(range(50)) and pg[50:101].tolist() == list(range(50)) + [0]


# ---- processes, files, determinism --------------------------------------------------------------
TREE = """
[scenario]
name = "tree"
slice = 100
run = 2
[[programs]]
name = "libc"
text = 20
data = 2
bss = 1
[[programs]]
name = "sh"
text = 10
data = 1
bss = 1
[[programs]]
name = "tool"
text = 5
data = 1
device = "nfs"
[[files]]
name = "data"
pages = 40
[[files]]
name = "doc"
count = 20
pages = { uniform = [1, 4] }
[mixes]
work = [ { region = "text", pattern = "zipf", alpha = 1.0 },
         { region = "heap", pattern = "uniform", write = 0.5, weight = 2 } ]
[[processes]]
name = "init"
program = "sh"
libs = ["libc"]
phases = [
  { mix = "work", runs = 50 },
  { fork = "worker", count = 6, jobs = 2, wait = true },
  { fork = "daemon" },
  { fork = "worker", index = 99, wait = true },
  { kill = "daemon" },
  { mix = "work", runs = 10 },
]
[[processes]]
name = "worker"
program = ["tool", "sh"]
libs = ["libc"]
heap = 16
phases = [
  { mix = "work", runs = "100 + i" },
  { read_file = "data", into = "heap", at = 3, window = 8 },
  { mmap = "d", file = "doc", index = { zipf = 1.0 } },
  { pattern = "sequential", region = "d" },
  { munmap = "d" },
  { write_file = "data", first = 5, count = 3, from = "heap" },
  { exec = "tool", heap = 2 },
  { mix = "work", runs = 20 },
  { exit = true },
  { mix = "work", runs = 1000 },
]
[[processes]]
name = "daemon"
phases = [ { repeat = "forever", phases = [ { pattern = "uniform", region = "heap", runs = 10 } ] } ]
"""


def test_fork_exec_exit_in_the_events(tmp_path):
    ev = gen(tmp_path, TREE)
    ops, pid = ev["op"], ev["pid"]
    files = ev[ops == OP_FILE]
    assert len(files) == 3 + 1 + 20 and np.nonzero(ops == OP_FILE)[0].max() < 24
    assert files["file"].tolist() == list(range(1, 25))
    assert files["arg"].tolist()[:3] == [0, 0, 1]               # tool on NFS
    forks = ev[ops == OP_FORK]
    assert (forks["pid"] == 1).all() and forks["arg"].tolist() == list(range(2, 10))
    exits = ev[ops == OP_EXIT]
    assert sorted(exits["pid"].tolist()) == list(range(1, 10))  # all, init last
    assert exits["pid"][-1] == 1
    # jobs = 2: never more than two workers alive among the first six
    alive = 0
    for e in ev[(ops == OP_FORK) | (ops == OP_EXIT)][:12]:
        alive += 1 if e["op"] == OP_FORK else -1
        assert alive <= 2
    # each worker: exec at fork (EXEC event), then the exec phase (a second EXEC), then exit;
    # nothing after its exit
    for w in (2, 3, 4, 5, 6, 7, 9):
        mine = np.flatnonzero(pid == w)
        kinds = ops[mine]
        assert (kinds == OP_EXEC).sum() == 2
        assert kinds[-1] == OP_EXIT
        refs_after_exec = kinds[np.flatnonzero(kinds == OP_EXEC)[1]:]
        assert ((refs_after_exec == OP_READ) | (refs_after_exec == OP_WRITE)).sum() >= 20
    # read_file: 40 pages in windows of 8: 5 mmaps of the file at the read window
    mm = ev[(ops == OP_MMAP) & (pid == 2)]
    rd = mm[mm["file"] == 4]
    assert rd["pgoff"].tolist()[:5] == [0, 8, 16, 24, 32] and (rd["length"][:5] == 8 * 4096).all()
    wr = mm[(mm["file"] == 4) & (mm["flags"] == MAP_SHARED | MAP_FILE | PROT_WRITE)]
    assert wr["pgoff"].tolist() == [5] and wr["length"][0] == 3 * 4096   # one window, 3 pages
    # the daemon (pid 8) is a plain fork of init (no EXEC) and is killed
    assert not ((ops == OP_EXEC) & (pid == 8)).any()
    assert ops[np.flatnonzero(pid == 8)[-1]] == OP_EXIT
    # every reference is inside a mapping of its process (no munmapped region used)
    assert ((ops == OP_MUNMAP) & (pid == 2)).sum() >= 6


VMAS = """
[scenario]
name = "v"
[[files]]
name = "f"
pages = 10
[[processes]]
name = "init"
mappings = [ { name = "m", file = "f", pgoff = 1, vmas = 3 } ]
phases = [
  { pattern = "sequential", region = "m" },
  { mmap = "a", pages = 4, write = true, vmas = "2 * 2" },
  { pattern = "sequential", region = "a", write = 1.0 },
  { munmap = "a" },
]
"""


def test_mmap_as_several_vmas(tmp_path):
    """``vmas = N``: one region made by N mmaps of consecutive parts of the addresses and of the
    file, side by side; references go across them, one munmap takes them all."""
    import rmapsim
    ev = gen(tmp_path, VMAS)
    mm = ev[ev["op"] == OP_MMAP]
    assert mm["addr"].tolist()[:3] == [MMAP_BASE + k * 3 * 4096 for k in range(3)]
    assert mm["length"].tolist()[:3] == [3 * 4096] * 3
    assert mm["pgoff"].tolist()[:3] == [1, 4, 7] and (mm["file"][:3] == 1).all()
    a0 = MMAP_BASE + 10 * 4096                        # a page after the 9 pages of m
    assert mm["addr"].tolist()[3:] == [a0 + k * 4096 for k in range(4)]
    assert (mm["length"][3:] == 4096).all() and (mm["file"][3:] == 0).all()
    assert (mm["pgoff"][3:] == 0).all() and (mm["flags"][3:] == PROT_WRITE).all()
    refs, pages = refs_of(ev)
    assert pages[refs["op"] == OP_READ].tolist() == list(range(9))
    assert pages[refs["op"] == OP_WRITE].tolist() == list(range(10, 14))
    un = ev[ev["op"] == OP_MUNMAP]
    assert un["addr"].tolist() == [a0] and un["length"].tolist() == [4 * 4096]
    # the kernel sees 3 vmas of the file: objrmap's walk of a page of f looks in all three
    r = rmapsim.run(scenario_trace(write(tmp_path, VMAS)), frames=64, rmap="objrmap", check=True)
    assert r.violation is None and r.counters["segfaults"] == 0 and r.counters["mmaps"] == 7
    with pytest.raises(ConfigError, match=r"mappings\[0\]\.vmas: must be at least 1, not 0"):
        gen(tmp_path, VMAS.replace("vmas = 3", "vmas = 0"))
    with pytest.raises(ConfigError, match=r"phases\[1\]: vmas 5 is more than the 4 pages"):
        gen(tmp_path, VMAS.replace('"2 * 2"', "5"))


def test_deterministic(tmp_path):
    p = write(tmp_path, TREE)
    a = scenario_events(p, 5).tobytes()
    assert a == scenario_events(p, 5).tobytes()
    assert a != scenario_events(p, 6).tobytes()
    for name in SCENARIOS:
        assert scenario_events(name, 2, 0.02).tobytes() == scenario_events(name, 2, 0.02).tobytes()


def test_small_batches_and_chunks(tmp_path):
    sc = load_scenario(write(tmp_path, TREE))
    chunks = list(sc.engine(3, 1.0, batch_refs=500).chunks())
    assert len(chunks) > 3
    ev = np.concatenate(chunks)
    big = sc.generate(3)
    # the same process events (the control stream does not depend on the batches); the
    # references are drawn from a differently cut bulk stream
    assert ev[ev["op"] > OP_WRITE].tobytes() == big[big["op"] > OP_WRITE].tobytes()
    assert abs(len(ev) - len(big)) < 0.1 * len(big)


def test_builtins_are_files_shipped_with_the_package():
    d = REPO / "rmapsim" / "scenarios" / "builtin"
    assert sorted(p.stem for p in d.glob("*.toml")) == sorted(SCENARIOS)
    assert '"builtin/*.toml"' in (REPO / "pyproject.toml").read_text()
    for name, sc in SCENARIOS.items():
        assert Path(sc.path).parent == d and "Sources" in sc.__doc__ or "source" in sc.__doc__.lower() \
            or "assumption" in sc.__doc__.lower()
        assert get_scenario(str(d / f"{name}.toml")).name == name


# ---- bad files -------------------------------------------------------------------------------
BAD = [
    ("[scenario\nname = 'x'\n", r"s\.toml: line 1: "),
    ("[scenario]\nname = 'x'\n[[processes]]\nname = 'init'\nphases = [ { runs = 3, } ]\n",
     r"s\.toml: line 5: "),
    (one_phase('{ pattern = "zipff", region = "buf", runs = 3 }'),
     r"processes\[0\]\.phases\[0\]\.pattern: 'zipff' is not one of uniform, random, zipf"),
    (one_phase('{ pattern = "zipf", region = "buf", runs = 3, alfa = 1 }'),
     r"processes\[0\]\.phases\[0\]\.alfa: unknown key"),
    (one_phase('{ pattern = "zipf", region = "buf", runs = "many" }'),
     r"processes\[0\]\.phases\[0\]\.runs: bad expression 'many': unknown name 'many'"),
    (one_phase('{ pattern = "zipf", region = "buf", runs = true }'),
     r"processes\[0\]\.phases\[0\]\.runs: must be a number, not a boolean"),
    (one_phase('{ pattern = "uniform", region = "buf", runs = 3, write = 1.5 }'),
     r"processes\[0\]\.phases\[0\]\.write: must be at most 1, not 1.5"),
    (one_phase('{ pattern = "uniform", region = "buf", runs = -3 }'),
     r"processes\[0\]\.phases\[0\]\.runs: must be at least 0, not -3"),
    (one_phase('{ pattern = "uniform", region = "buf" }'),
     r"processes\[0\]\.phases\[0\]: needs runs or refs"),
    (one_phase('{ pattern = "uniform", region = "buf", runs = 3, stride = 2 }'),
     r"processes\[0\]\.phases\[0\]\.stride: applies to pattern stride, not uniform"),
    (one_phase('{ fork = "nobody" }'), r"processes\[0\]\.phases\[0\]\.fork: no process 'nobody'"),
    (one_phase('{ mix = "nomix", runs = 1 }'), r"processes\[0\]\.phases\[0\]\.mix: no mix 'nomix'"),
    (one_phase('{ pattern = "uniform", region = "buf", runs = 1, mmap = "x" }'),
     r"processes\[0\]\.phases\[0\]: a phase is one of .*; this one has pattern and mmap"),
    (one_phase('{ pattern = "uniform", region = "nowhere", runs = 1 }'),
     r"processes\[0\]\.phases\[0\]: process init \(pid 1\) has no region 'nowhere'"),
    (one_phase('{ pattern = "uniform", region = "buf", first = 990, count = 20, runs = 1 }'),
     r"processes\[0\]\.phases\[0\]: pages 990\.\.1009 run past the end of region 'buf'"),
    (one_phase('{ pattern = "uniform", region = "buf", runs = "1 / (scale - scale)" }'),
     r"processes\[0\]\.phases\[0\]\.runs: 1 / \(scale - scale\): ZeroDivisionError"),
    ("[scenario]\nname = 'x'\nbogus = 1\n[[processes]]\nname = 'init'\n",
     r"scenario\.bogus: unknown key"),
    ("[scenario]\nname = 'x'\n", r"missing key 'processes'"),
    (one_phase('{ read_file = "f", index = 3 }', extra='[[files]]\nname = "f"\npages = 4\n'),
     r"processes\[0\]\.phases\[0\]\.index: file 'f' is a single file, not a family"),
    (one_phase('{ read_file = "f" }', extra='[[files]]\nname = "f"\npages = 0\n'),
     r"files\[0\]\.pages: must be at least 1, not 0"),
    (one_phase('{ pattern = "uniform", region = "buf", runs = 1 }',
               extra='[[programs]]\nname = "p"\ntext = 4\ndevice = "tape"\n'),
     r"programs\[0\]\.device: 'tape' is not one of disk, nfs"),
    (one_phase('{ fork = "init" }'), r"'init' is init \(the first process\); it cannot be forked"),
]


@pytest.mark.parametrize("text,msg", BAD)
def test_bad_files_one_line_errors(tmp_path, text, msg):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError, match=msg) as e:
        scenario_events(p, 1)
    assert "\n" not in str(e.value) and str(e.value).startswith(str(p))


def test_endless_loop_without_references_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"processes\[0\]: process init loops without making"):
        gen(tmp_path, one_phase('{ repeat = "forever", phases = [ { choose = [ '
                                '{ weight = 1, phases = [] } ] } ] }'))


def test_cli_scenario_and_compare_take_a_file(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "rmapsim", *map(str, args)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=900)
    scen = write(tmp_path, TREE.replace('name = "tree"', 'name = "tree"\nmem = "1M"'))
    r = cli("scenario", scen, "-o", "t.rmt", "--seed", "4", "--scale", "0.5")
    assert r.returncode == 0, r.stderr
    assert "--mem 1M" in r.stderr
    assert open_trace(tmp_path / "t.rmt").read_all().tobytes() == scenario_events(scen, 4, 0.5).tobytes()
    r = cli("compare", scen, "--policies", "clock,fifo", "--csv", "-", "--check")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("policy,") and len(r.stdout.splitlines()) == 3
    for text, _ in (BAD[0], BAD[2], BAD[13]):
        bad = write(tmp_path, text, "bad.toml")
        for args in (["scenario", bad, "-o", "b.rmt"], ["compare", bad, "--policies", "clock"]):
            r = cli(*args)
            assert r.returncode == 2, (args, r.stderr)
            assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
            assert r.stderr.startswith("rmapsim: error: ") and "bad.toml" in r.stderr
    r = cli("scenario", tmp_path / "missing.toml", "-o", "m.rmt")
    assert r.returncode == 2 and "cannot read scenario file" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "s.toml", "t.rmt"]


def test_trace_of_a_file(tmp_path):
    t = scenario_trace(write(tmp_path, TREE), 1, 1.0)
    assert t.path == "scenario:tree:seed=1:scale=1"
    with pytest.raises(ConfigError, match="unknown scenario 'nope'"):
        get_scenario("nope")
    with pytest.raises(ConfigError, match=r"line 1: "):
        loads("x = = 1", "inline")
