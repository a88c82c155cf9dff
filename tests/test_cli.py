"""The command line, run as a user runs it: in a subprocess, judged by stdout, stderr and the
exit status."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rmapsim import cli
from rmapsim.mm.vmscan import POLICIES
from rmapsim.trace import FORMATS, write_trace
from rmapsim.trace.events import (EVENT_DTYPE, MAP_FILE, MAP_SHARED, OP_EXIT, OP_FILE, OP_FORK,
                                  OP_MMAP, OP_READ, OP_WRITE, PROT_WRITE)

REPO = Path(__file__).resolve().parent.parent
P = 4096
KEYS = ["references", "faults", "minor_faults", "major_faults", "cow_faults", "swap_ins",
        "swap_outs", "file_reads", "writebacks", "pages_scanned", "ptes_visited", "pages_freed",
        "kswapd_wakeups", "direct_reclaims", "oom_kills", "integrity_errors", "sim_time_ns"]


def rmapsim_cmd(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-m", "rmapsim", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def tiny_events():
    """A process maps 100 anonymous pages and 16 pages of a shared file, writes them all, forks
    a child that writes some of them back (COW) and exits; then reads everything again."""
    rows = [(OP_FILE, 0, 0, 0, 16, 7, 0), (OP_MMAP, PROT_WRITE, 1, 0x100000, 100 * P, 0, 0),
            (OP_MMAP, MAP_SHARED | MAP_FILE | PROT_WRITE, 1, 0x400000, 16 * P, 7, 0)]
    rows += [(OP_WRITE, 0, 1, 0x100000 + i * P + 8, 0, 0, 0) for i in range(100)]
    rows += [(OP_WRITE, 0, 1, 0x400000 + i * P, 0, 0, 0) for i in range(16)]
    rows += [(OP_FORK, 0, 1, 0, 0, 0, 2)]
    rows += [(OP_WRITE, 0, 2, 0x100000 + i * P, 0, 0, 0) for i in range(90, 100)]
    rows += [(OP_EXIT, 0, 2, 0, 0, 0, 0)]
    rows += [(OP_READ, 0, 1, 0x100000 + i * P, 0, 0, 0) for i in range(100)]
    a = np.zeros(len(rows), EVENT_DTYPE)
    for i, (op, flags, pid, addr, length, fid, arg) in enumerate(rows):
        a[i] = (op, flags, 0, pid, addr, length, fid, arg, 0)
    return a


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tiny.rmt"
    write_trace(path, tiny_events())
    return path


def parse_line(line):
    return dict(part.split("=", 1) for part in line.split(" "))


def test_run_prints_one_parseable_line(tiny):
    p = rmapsim_cmd("run", tiny, "--frames", 64, "--check", cwd=tiny.parent)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1
    d = parse_line(lines[0])
    for k in KEYS:
        assert k in d and int(d[k]) >= 0, k
    assert int(d["references"]) == 100 + 16 + 10 + 100
    assert int(d["integrity_errors"]) == 0
    # 64 frames hold fewer than the 116 pages written: reclaim had to run
    assert int(d["swap_outs"]) > 0 and int(d["kswapd_wakeups"]) > 0 and int(d["cow_faults"]) > 0
    assert p.stderr == ""


def test_run_json(tiny):
    p = rmapsim_cmd("run", tiny, "--frames", 64, "--json", cwd=tiny.parent)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    for k in KEYS:
        assert isinstance(d[k], int), k
    assert d["frames"] == 64 and d["policy"] == "clock"


def test_run_is_deterministic(tiny):
    for extra in ([], ["--json"], ["--policy", "fifo", "--mem", "256K"]):
        args = ["run", tiny, "--frames", 64, *extra] if "--mem" not in extra else ["run", tiny, *extra]
        a = rmapsim_cmd(*args, cwd=tiny.parent)
        b = rmapsim_cmd(*args, cwd=tiny.parent)
        assert a.returncode == 0, a.stderr
        assert a.stdout.encode() == b.stdout.encode()


def test_params_machine_and_cache_mode(tiny):
    p = rmapsim_cmd("run", tiny, "--frames", 64, "--param", "init_ref=0", "--param",
                    "swap_pages=64", "--param", "disk_read_ns=1", "--json", cwd=tiny.parent)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["params"] == {"init_ref": 0.0}
    p = rmapsim_cmd("run", tiny, "--machine", "i486-1997", "--json", cwd=tiny.parent)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["geometry"] == "i386" and d["frames"] == 2048      # the preset's 8 MiB
    p = rmapsim_cmd("run", tiny, "--frames", 20, "--cache-mode", "--json", cwd=tiny.parent)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["cache_mode"] is True


def test_output_file(tiny, tmp_path):
    out = tmp_path / "result.json"
    p = rmapsim_cmd("run", tiny, "--frames", 64, "--json", "-o", out, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    direct = rmapsim_cmd("run", tiny, "--frames", 64, "--json", cwd=tmp_path)
    assert out.read_text() == direct.stdout
    assert sorted(os.listdir(tmp_path)) == ["result.json"]      # no temporary left behind


@pytest.fixture
def garbage(tmp_path):
    g = tmp_path / "garbage.rmt"
    g.write_bytes(b"this is not a trace\n" * 10)
    return g


BAD = {
    "missing file": lambda t, g: ["run", t.parent / "no-such-trace.rmt", "--frames", 64],
    "garbage trace": lambda t, g: ["run", g, "--frames", 64],
    "garbage with format": lambda t, g: ["run", g, "--format", "oracleGeneral", "--frames", 64],
    "directory": lambda t, g: ["run", t.parent, "--frames", 64],
    "unknown format": lambda t, g: ["run", t, "--format", "nope", "--frames", 64],
    "unknown policy": lambda t, g: ["run", t, "--frames", 64, "--policy", "nope"],
    "unknown param": lambda t, g: ["run", t, "--frames", 64, "--param", "nope=1"],
    "param syntax": lambda t, g: ["run", t, "--frames", 64, "--param", "init_ref"],
    "param twice": lambda t, g: ["run", t, "--frames", 64, "--param", "init_ref=0",
                                 "--param", "init_ref=1"],
    "param value": lambda t, g: ["run", t, "--frames", 64, "--param", "init_ref=many"],
    "impossible machine": lambda t, g: ["run", t, "--frames", 5],
    "mem and frames": lambda t, g: ["run", t, "--frames", 64, "--mem", "1M"],
    "no memory size": lambda t, g: ["run", t],
    "bad size": lambda t, g: ["run", t, "--mem", "lots"],
    "bad frames": lambda t, g: ["run", t, "--frames", "x"],
    "unknown preset": lambda t, g: ["run", t, "--frames", 64, "--machine", "vax"],
    "unknown option": lambda t, g: ["run", t, "--frames", 64, "--frobnicate"],
    "unknown command": lambda t, g: ["frobnicate"],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2(case, tiny, garbage, tmp_path):
    args = BAD[case](tiny, garbage)
    out = tmp_path / "out.txt"
    if args:
        args = args + ["-o", out]
    p = rmapsim_cmd(*args, cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stderr.startswith("rmapsim: error: ")
    assert p.stderr.count("\n") == 1 and p.stderr.endswith("\n"), p.stderr
    assert "Traceback" not in p.stderr
    assert p.stdout == ""
    assert not out.exists()


def test_error_keeps_existing_output(garbage, tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("earlier result\n")
    p = rmapsim_cmd("run", garbage, "--frames", 64, "-o", out, cwd=tmp_path)
    assert p.returncode == 2
    assert out.read_text() == "earlier result\n"
    assert sorted(os.listdir(tmp_path)) == ["garbage.rmt", "out.txt"]


def test_unwritable_output_is_an_error(tiny, tmp_path):
    p = rmapsim_cmd("run", tiny, "--frames", 64, "-o", tmp_path / "no-dir" / "x", cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.startswith("rmapsim: error: cannot write ") and p.stderr.count("\n") == 1


def test_policies_lists_every_policy_and_parameter(tmp_path):
    p = rmapsim_cmd("policies", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    for name, mod in POLICIES.items():
        line = next(x for x in p.stdout.splitlines() if x.startswith(name + " "))
        assert mod.KIND in line and mod.MODELS in line
        for param, (default, help_, _range) in mod.PARAMS.items():
            assert f"{param}={default}" in p.stdout and help_ in p.stdout


def test_formats_lists_every_format(tmp_path):
    p = rmapsim_cmd("formats", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    names = [x.split()[0] for x in p.stdout.splitlines()]
    assert all(f in names for f in FORMATS)


# ---- in-process: outcomes that a real trace cannot produce on demand ----------------------------

def test_violation_prints_result_then_report_and_exits_1(tiny, monkeypatch, capsys):
    import rmapsim
    real = rmapsim.run

    def broken(*a, **kw):
        r = real(*a, **kw)
        r.violation = "lost or corrupted data at event 3: page 9 holds token 1 but ..."
        r.counters["integrity_errors"] = 1
        return r

    monkeypatch.setattr(rmapsim, "run", broken)
    assert cli.main(["run", str(tiny), "--frames", "64", "--check"]) == 1
    out, err = capsys.readouterr()
    assert parse_line(out.strip())["integrity_errors"] == "1"
    assert err == "rmapsim: check failed: lost or corrupted data at event 3: page 9 holds token 1 but ...\n"
    assert cli.main(["run", str(tiny), "--frames", "64", "--check", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["violation"].startswith("lost or corrupted data at event 3")
    assert err.startswith("rmapsim: check failed: lost")


def test_interrupt_exits_130_quietly(tiny, tmp_path, monkeypatch, capsys):
    import rmapsim

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(rmapsim, "run", interrupted)
    out = tmp_path / "o"
    assert cli.main(["run", str(tiny), "--frames", "64", "-o", str(out)]) == 130
    assert capsys.readouterr() == ("", "")
    assert not out.exists()
