"""``rmapsim compare`` and ``rmapsim scenario``: the comparison's table, CSV, JSON and plot, and
the command line's errors (one line, exit 2, no output file)."""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmapsim.scenarios import SCENARIOS, scenario_events, scenario_trace
from rmapsim.sim import compare as cmp
from rmapsim.trace import write_trace

REPO = Path(__file__).resolve().parent.parent
SCALE = "0.1"
POLS = ["clock", "fifo"]


def rmapsim_cmd(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-m", "rmapsim", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cmp") / "x11.rmt"
    write_trace(path, scenario_trace("x11-486", 1, float(SCALE)))
    return path


@pytest.fixture(scope="module")
def results(trace_file):
    return cmp.compare(str(trace_file), POLS, machine="i486-1997", mem="8M")


def test_rows_and_derived_columns(results):
    rs = cmp.rows(results)
    assert [r["policy"] for r in rs] == POLS
    for r, res in zip(rs, results):
        d = res.to_dict()
        assert {k: r[k] for k in d} == d                          # the keys of run --json
        assert r["pages_freed"] > 0
        assert r["scanned_per_freed"] == pytest.approx(d["pages_scanned"] / d["pages_freed"])
        assert r["ptes_per_freed"] == pytest.approx(d["ptes_visited"] / d["pages_freed"])
        assert r["geometry"] == "i386" and r["frames"] == 2048
    assert rs[0]["references"] == rs[1]["references"]             # the same trace


def test_table(results):
    rs = cmp.rows(results)
    lines = cmp.format_table(rs).splitlines()
    assert lines[0].startswith("trace ") and "2,048 frames" in lines[0]
    for h in ("minor faults", "major faults", "scanned/freed", "ptes/freed", "kswapd time",
              "direct reclaims", "total time", "OOM kills"):
        assert h in lines[1]
    assert [l.split()[0] for l in lines[2:]] == POLS
    assert f"{rs[0]['major_faults']:,}" in lines[2]
    assert f"{rs[1]['sim_time_ns'] / 1e9:.3f} s" in lines[3]


def test_csv(results):
    rs = cmp.rows(results)
    got = list(csv.DictReader(io.StringIO(cmp.format_csv(rs))))
    assert [g["policy"] for g in got] == POLS
    for g, r in zip(got, rs):
        for k in ("minor_faults", "major_faults", "kswapd_time_ns", "direct_reclaims",
                  "sim_time_ns", "oom_kills", "integrity_errors"):
            assert int(g[k]) == r[k]
        assert float(g["scanned_per_freed"]) == r["scanned_per_freed"]
        assert float(g["ptes_per_freed"]) == r["ptes_per_freed"]


def test_json(results):
    got = json.loads(cmp.format_json(cmp.rows(results)))
    assert isinstance(got, list) and [g["policy"] for g in got] == POLS
    assert got[0]["major_faults"] == results[0].to_dict()["major_faults"]


def test_plot_is_png(results, tmp_path):
    out = tmp_path / "cmp.png"
    cmp.write_atomic(out, cmp.plot_png(cmp.rows(results)))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cmp.png"]


def test_policies_parsing():
    from rmapsim.errors import ConfigError
    assert cmp.parse_policies("clock,fifo") == POLS
    for bad in ("clock,nope", "", "clock,,fifo", "clock,clock"):
        with pytest.raises(ConfigError):
            cmp.parse_policies(bad)
    assert cmp.split_params(POLS, {"init_ref": "0", "swap_pages": "100"}) == {
        "clock": {"init_ref": "0", "swap_pages": "100"}, "fifo": {"swap_pages": "100"}}
    with pytest.raises(ConfigError, match="no policy of clock, fifo has a parameter .bogus."):
        cmp.split_params(POLS, {"bogus": "1"})


def test_cli_compare_scenario_csv_json_plot(tmp_path, trace_file):
    r = rmapsim_cmd("compare", "x11-486", "--scale", SCALE, "--policies", "clock,fifo",
                    "--csv", "out.csv", "--plot", "out.png", "--check", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and [l.split()[0] for l in lines[2:]] == POLS
    assert "i386" in lines[0] and "2,048 frames" in lines[0]     # the scenario's machine
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [x["policy"] for x in rows] == POLS
    assert all(x["integrity_errors"] == "0" for x in rows)
    # --json: per-policy objects with the keys of run --json; the same numbers as run
    j = rmapsim_cmd("compare", trace_file, "--policies", "clock,fifo", "--machine", "i486-1997",
                    "--json", cwd=tmp_path)
    assert j.returncode == 0, j.stderr
    got = json.loads(j.stdout)
    one = rmapsim_cmd("run", trace_file, "--policy", "fifo", "--machine", "i486-1997", "--json",
                      cwd=tmp_path)
    want = json.loads(one.stdout)
    assert {k: got[1][k] for k in want} == want
    assert [g["policy"] for g in got] == POLS
    assert rows[1]["major_faults"] == str(want["major_faults"])
    c = rmapsim_cmd("compare", trace_file, "--policies", "clock,fifo", "--machine", "i486-1997",
                    "--csv", "-", cwd=tmp_path)
    assert c.returncode == 0 and c.stdout.splitlines()[0].startswith("policy,minor_faults")


@pytest.mark.parametrize("args", [
    ["--policies", "clock,nope"],
    ["--policies", "clock,clock"],
    ["--policies", "clock", "--param", "bogus=1"],
    ["--policies", "clock", "--plot", "x.pdf"],
])
def test_cli_compare_errors_one_line_exit_2(tmp_path, trace_file, args):
    r = rmapsim_cmd("compare", trace_file, *args, "--csv", "out.csv", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("rmapsim: error: ")
    assert list(tmp_path.iterdir()) == []
    if "nope" in args[1]:
        assert "unknown policy 'nope'" in r.stderr


def test_cli_scenario(tmp_path):
    r = rmapsim_cmd("scenario", "--list", cwd=tmp_path)
    assert r.returncode == 0
    assert [l.split()[0] for l in r.stdout.splitlines()] == list(SCENARIOS)
    r = rmapsim_cmd("scenario", "build", "-o", "b.rmt", "--scale", "0.05", "--seed", "7",
                    cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    from rmapsim.trace import open_trace
    assert open_trace(tmp_path / "b.rmt").read_all().tobytes() == \
        scenario_events("build", 7, 0.05).tobytes()
    for args in (["nope", "-o", "n.rmt"], ["build"], ["build", "-o", "x.rmt", "--scale", "0"]):
        r = rmapsim_cmd("scenario", *args, cwd=tmp_path)
        assert r.returncode == 2, args
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("rmapsim: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.rmt"]


def test_timeline_samples_the_run_over_simulated_time():
    import numpy as np
    import rmapsim
    from rmapsim.scenarios import scenario_trace
    r = rmapsim.run(scenario_trace("build", 1, 0.05), policy="clock", machine="modern",
                    mem="12M", timeline=True)
    tl, d = r.timeline, r.to_dict()
    assert len(tl.sim_time_ns) >= 3
    assert (np.diff(tl.sim_time_ns) >= 0).all() and (np.diff(tl.faults) >= 0).all()
    assert tl.references[-1] == d["references"] and tl.faults[-1] == d["faults"]
    assert tl.sim_time_ns[-1] == d["sim_time_ns"]
    assert (tl.free_pages >= 0).all() and tl.free_pages.max() <= d["frames"]
    assert rmapsim.run(scenario_trace("build", 1, 0.05), policy="clock", machine="modern",
                       mem="12M").timeline is None


def test_relative_to_opt_is_the_floor_on_the_scenarios(trace_file):
    """opt (Belady's MIN over page identities resolved through the mappings) brings in no more
    pages than any other policy on the x11 scenario, and --relative-to puts misses as a
    multiple of its; the baseline runs even when it is not listed."""
    pols = cmp.with_baseline(["clock", "fifo", "lru", "virtual-2.2"], "opt")
    assert pols[-1] == "opt"
    rs = cmp.rows(cmp.compare(str(trace_file), pols, machine="i486-1997", mem="8M"), "opt")
    base = rs[-1]["misses"]
    assert rs[-1]["misses_relative"] == 1.0
    for r in rs[:-1]:
        assert r["misses"] >= base, (r["policy"], r["misses"], base)
        assert r["misses_relative"] == pytest.approx(r["misses"] / base)
    assert "misses/opt" in cmp.format_table(rs).splitlines()[1]
    assert cmp.format_csv(rs).splitlines()[0].startswith("policy,misses,misses_relative")
    with pytest.raises(Exception, match="not among the runs"):
        cmp.rows(cmp.compare(str(trace_file), ["clock"], machine="i486-1997", mem="8M"), "opt")


def test_opt_sees_a_page_shared_by_fork_as_one_page():
    """In prefork, 256 children share their parent's pages copy-on-write. By (pid, address)
    each child's reference would be to a page of its own, and a shared page would look idle
    while other children use it; opt must name pages by what the references reach, and so
    bring in far fewer pages than lru."""
    t = scenario_trace("prefork", 1, 0.3)
    d = SCENARIOS["prefork"].DEFAULTS
    got = {p: cmp.compare(t, [p], machine=d["machine"], mem=d["mem"])[0].counters["misses"]
           for p in ("lru", "opt")}
    assert got["opt"] < 0.7 * got["lru"], got
