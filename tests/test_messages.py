"""Errors that say what to do (issue 12, item 4): each mistake a newcomer made gets one line
that names the option (or the API argument), says what was wrong and, for a typo, what was
probably meant; exit status 2 and no traceback on the command line."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rmapsim
from rmapsim import cli
from rmapsim.errors import ConfigError, TraceError, did_you_mean, option
from rmapsim.mm.vmscan import POLICIES, get_policy, policy_name, policy_params
from rmapsim.trace import from_pages

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    path = tmp_path_factory.mktemp("messages") / "pages.txt"
    path.write_text("".join(f"{p}\n" for p in [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]))
    return str(path)


def error_of(capsys, *args):
    """The one stderr line of ``rmapsim ARGS`` run in this process, which must exit 2."""
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert status == 2, (out, err)
    assert out == "" and err.startswith("rmapsim: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


def rmapsim_cmd(*args, stdin=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-m", "rmapsim", *map(str, args)], env=env,
                          input=stdin, capture_output=True, text=True, timeout=600)


# ---- parameters -------------------------------------------------------------------------------

def test_a_parameter_of_another_policy_names_the_policy_and_who_has_it(capsys, pages):
    err = error_of(capsys, "run", pages, "--frames", 64, "--policy", "fifo",
                   "--param", "init_ref=1")
    assert "policy fifo has no parameter 'init_ref'" in err
    assert "fifo: none" in err and "init_ref is a parameter of clock, virtual-2.0" in err


def test_a_mistyped_parameter_lists_the_policys_and_suggests(capsys, pages):
    err = error_of(capsys, "run", pages, "--frames", 64, "--policy", "clock",
                   "--param", "init_rf=1")
    assert "policy clock has no parameter 'init_rf'" in err
    assert "did you mean init_ref?" in err and "clock: init_ref" in err
    # compare words the same mistake the same way, for every policy of the list
    err = error_of(capsys, "compare", pages, "--frames", 64, "--policies", "clock,fifo",
                   "--param", "init_rf=1")
    assert "no policy of clock, fifo has a parameter 'init_rf'" in err
    assert "did you mean init_ref?" in err and "clock: init_ref; fifo: none" in err


def test_a_mistyped_machine_parameter_suggests(capsys, pages):
    err = error_of(capsys, "run", pages, "--frames", 64, "--param", "swap_page=8")
    assert "did you mean swap_pages?" in err


@pytest.mark.parametrize("policy,param,value,range_", [
    ("lists-2.6", "swappiness", "300", "an integer in 0..100"),
    ("lists-2.6", "swappiness", "-1", "an integer in 0..100"),
    ("mglru", "swappiness", "201", "an integer in 0..200"),
    ("split-lru", "swappiness", "250", "an integer in 0..200"),
    ("clock", "init_ref", "2", "0 or 1"),
    ("clock", "init_ref", "0.5", "0 or 1"),
    ("lirs", "hir_ratio", "1.5", "a number in 0..1"),
    ("s3fifo", "move_threshold", "0", "an integer >= 1"),
])
def test_parameter_values_outside_their_range(capsys, pages, policy, param, value, range_):
    err = error_of(capsys, "run", pages, "--frames", 64, "--cache-mode", "--policy", policy,
                   "--param", f"{param}={value}")
    assert err == f"rmapsim: error: policy {policy}: parameter {param}={value} must be {range_}"


def test_values_at_the_ends_of_a_range_are_accepted():
    assert policy_params(get_policy("mglru"), {"swappiness": "200"})[0][0] == 200
    assert policy_params(get_policy("split-lru"), {"swappiness": "0"})[0][0] == 0
    assert policy_params(get_policy("lists-2.6"), {"swappiness": "100"})[0] == [100]
    with pytest.raises(ConfigError, match="is not a number"):
        policy_params(get_policy("lirs"), {"hir_ratio": "nan"})


def test_every_built_in_parameter_declares_a_range_holding_its_default():
    for name, mod in POLICIES.items():
        for param, spec in mod.PARAMS.items():
            assert len(spec) == 3, (name, param)
            low, high = spec[2]
            assert (low is None or low <= spec[0]) and (high is None or spec[0] <= high)


def test_integer_parameters_are_integers_in_the_result(pages):
    r = rmapsim.run(pages, frames=3, cache_mode=True, params={"init_ref": "0"})
    assert r.params == {"init_ref": 0} and type(r.params["init_ref"]) is int
    assert " params=init_ref=0 " in r.format_line() + " "
    r = rmapsim.run(pages, frames=3, cache_mode=True, policy="lirs")
    assert type(r.params["hir_ratio"]) is float


def test_a_policy_files_params_of_the_wrong_shape(tmp_path, capsys, pages):
    from rmapsim.mm.vmscan.policies import template
    text = Path(template.__file__).read_text().replace(
        'PARAMS = {}', 'PARAMS = {"kin": 0.3}', 1)
    mine = tmp_path / "mine.py"
    mine.write_text(text)
    err = error_of(capsys, "run", pages, "--frames", 64, "--policy", mine)
    assert "PARAMS['kin'] must be (default, help) or (default, help, (low, high))" in err


# ---- names: typos and libCacheSim's spellings --------------------------------------------------

@pytest.mark.parametrize("given,name", [
    ("Belady", "opt"), ("belady", "opt"), ("LRU", "lru"), ("Sieve", "sieve"),
    ("S3FIFO", "s3fifo"), ("ClockPro", "clock-pro"), ("FIFO", "fifo"), ("ARC", "arc"),
    ("LIRS", "lirs"), ("splitlru", "split-lru"), ("Lists-2.6", "lists-2.6"),
])
def test_libcachesim_spellings_are_aliases(given, name):
    assert policy_name(given) == name and get_policy(given) is POLICIES[name]


def test_what_is_no_policy_name_at_all():
    for bad in (None, 3):
        with pytest.raises(ConfigError, match=f"unknown policy {bad!r}"):
            get_policy(bad)
    with pytest.raises(ConfigError, match="relative_to='lru,opt': one policy, not 2"):
        from rmapsim.sim.compare import with_baseline
        with_baseline(["fifo"], "lru,opt")


def test_an_alias_runs_as_the_policy_it_names(pages):
    r = rmapsim.run(pages, frames=3, cache_mode=True, policy="Belady")
    assert r.policy == "opt"
    assert r["misses"] == rmapsim.run(pages, frames=3, cache_mode=True, policy="opt")["misses"]


def test_compare_takes_aliases_and_sees_one_policy_spelled_twice(capsys, pages):
    assert cli.main(["compare", pages, "--frames", "3", "--cache-mode", "--policies", "LRU",
                     "--relative-to", "Belady"]) == 0
    out = capsys.readouterr().out
    assert "misses/opt" in out and "\nopt " in out and "\nlru " in out
    err = error_of(capsys, "compare", pages, "--frames", 3, "--policies", "LRU,lru")
    assert "policy 'lru' given twice in --policies" in err


@pytest.mark.parametrize("args,hint", [
    (["run", "{t}", "--frames", 64, "--policy", "lur"], "unknown policy 'lur'; did you mean lru?"),
    (["run", "{t}", "--frames", 64, "--policy", "Beladi"], "did you mean opt?"),
    (["run", "{t}", "--frames", 64, "--rmap", "objmap"], "--rmap: unknown reverse-mapping "
                                                         "design 'objmap'; did you mean objrmap?"),
    (["compare", "{t}", "--frames", 64, "--rmaps", "pte-chian"], "did you mean pte-chain?"),
    (["run", "{t}", "--frames", 64, "--format", "txtt"], "did you mean txt?"),
    (["run", "{t}", "--frames", 64, "--machine", "moden"], "did you mean modern?"),
    (["scenario", "x11-468", "-o", "x.rmt"], "unknown scenario 'x11-468'; did you mean x11-486?"),
    (["rnu", "{t}"], "invalid choice: 'rnu'; did you mean run?"),
    (["run", "{t}", "--frames", 64, "--polcy", "lru"], "did you mean --policy?"),
    (["trace", "info", "{t}", "--windw", "5"], "did you mean --window?"),
])
def test_typos_get_did_you_mean(capsys, pages, args, hint):
    err = error_of(capsys, *[a.format(t=pages) if isinstance(a, str) else a for a in args])
    assert hint in err


def test_did_you_mean_stays_quiet_when_nothing_is_close():
    assert did_you_mean("zzzz", ["lru", "opt"]) == ""
    assert did_you_mean("Beladi", ["opt"], {"belady": "opt"}) == "; did you mean opt?"


def test_compare_of_neither_a_file_nor_a_scenario(capsys):
    err = error_of(capsys, "compare", "x11-468", "--policies", "lru,fifo")
    assert err.startswith("rmapsim: error: x11-468: no such file or scenario; did you mean "
                          "x11-486? (scenarios: x11-486, prefork, build, stream")


# ---- memory sizes ------------------------------------------------------------------------------

def test_a_size_in_bytes_below_one_frame_suggests_mib(capsys, pages):
    err = error_of(capsys, "run", pages, "--mem", "16")
    assert err == ("rmapsim: error: --mem 16 is 16 bytes, below the minimum of one 4 KiB frame; "
                   "did you mean --mem 16M?")


@pytest.mark.parametrize("args,msg", [
    (["--mem", "-5M"], "--mem -5M: a memory size cannot be negative"),
    (["--mem", "-1"], "--mem -1: a memory size cannot be negative"),
    (["--frames", "-5"], "--frames -5: a number of frames cannot be negative"),
])
def test_a_negative_size_is_rejected_by_name(capsys, pages, args, msg):
    assert error_of(capsys, "run", pages, *args) == f"rmapsim: error: {msg}"


def test_too_little_ram_for_the_kernel_suggests_cache_mode(capsys, pages):
    err = error_of(capsys, "run", pages, "--frames", 3)
    assert "below what the kernel needs" in err and "(or --cache-mode: a cache" in err


# ---- the command itself ------------------------------------------------------------------------

def test_version():
    p = rmapsim_cmd("--version")
    assert p.returncode == 0 and p.stdout == f"rmapsim {rmapsim.__version__}\n"


def test_bare_rmapsim_prints_usage_and_a_hint():
    p = rmapsim_cmd()
    assert p.returncode == 2 and p.stdout == "" and "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert lines[0].startswith("usage: rmapsim ") and "COMMAND" in lines[0]
    assert lines[-1] == ("rmapsim: give a COMMAND: `rmapsim --help` lists them, `rmapsim demo` "
                         "shows what rmapsim does")


# ---- standard input ----------------------------------------------------------------------------

def test_dash_reads_a_trace_from_standard_input(pages):
    text = Path(pages).read_text()
    p = rmapsim_cmd("run", "-", "--frames", 3, "--cache-mode", "--policy", "fifo", stdin=text)
    assert p.returncode == 0, p.stderr
    line = dict(kv.split("=", 1) for kv in p.stdout.split())
    assert line["trace"] == "-" and line["misses"] == "9"          # Belady's anomaly at 3
    bad = rmapsim_cmd("run", "-", "--frames", 3, "--cache-mode", "--format", "txt",
                      stdin="1\n2\nx\n")
    assert bad.returncode == 2
    assert bad.stderr.startswith("rmapsim: error: <stdin>:3: ") and bad.stderr.count("\n") == 1


def test_standard_input_of_a_binary_format(tmp_path, monkeypatch):
    """Every format reads from standard input (it is copied to a file first)."""
    from rmapsim.trace import compress, open_trace, write_trace
    path = tmp_path / "t.oracleGeneral"
    write_trace(path, from_pages(np.array([5, 6, 5, 7])), "oracleGeneral")

    class Stdin:
        buffer = open(path, "rb")

        def isatty(self):
            return False
    monkeypatch.setattr(sys, "stdin", Stdin())
    monkeypatch.setattr(compress, "_stdin_copy", None)
    t = open_trace("-")
    assert t.format == "oracleGeneral" and t.path == "-"
    assert (t.read_all()["addr"] >> 12).tolist() == [5, 6, 5, 7]
    Stdin.buffer.close()


def test_standard_input_that_is_a_terminal(monkeypatch):
    from rmapsim.trace import compress, open_trace

    class Tty:
        def isatty(self):
            return True
    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr(compress, "_stdin_copy", None)
    with pytest.raises(TraceError, match=r"<stdin>: standard input is a terminal: pipe a trace"):
        open_trace("-")


# ---- the Python API ----------------------------------------------------------------------------

def test_api_errors_name_arguments_not_flags(pages):
    for kw, msg in ((dict(), "memory size needed: mem=SIZE (e.g. mem='16M') or frames=N"),
                    (dict(mem=16), "mem=16 is 16 bytes, below the minimum of one 4 KiB frame; "
                                   "did you mean mem='16M'?"),
                    (dict(mem="-5M"), "mem='-5M': a memory size cannot be negative"),
                    (dict(frames=64, mem="1M"), "give either mem= or frames=, not both"),
                    (dict(frames=3), "(or cache_mode=True: a cache"),
                    (dict(frames=64, rmap="nope"), "rmap=: unknown reverse-mapping design")):
        with pytest.raises(ConfigError, match=re.escape(msg)) as e:
            rmapsim.run(pages, **kw)
        assert "--" not in str(e.value)
    assert option("mem", "16M") == "mem='16M'" and option("params") == "params="


def test_api_takes_a_list_or_an_int_array_of_pages(pages):
    want = rmapsim.run(from_pages(np.array([1, 2, 3, 4, 1, 2, 5])), frames=3,
                       cache_mode=True).to_dict()
    for trace in ([1, 2, 3, 4, 1, 2, 5], np.array([1, 2, 3, 4, 1, 2, 5], np.int32),
                  np.array([1, 2, 3, 4, 1, 2, 5], np.uint64)):
        got = rmapsim.run(trace, frames=3, cache_mode=True).to_dict()
        assert got == want


def test_api_points_to_from_pages_for_what_it_cannot_take():
    with pytest.raises(ConfigError, match=r"page numbers must be integers, not float64 .*"
                                          r"rmapsim.trace.from_pages"):
        rmapsim.run(np.array([1.5, 2.0]), frames=3, cache_mode=True)
    with pytest.raises(ConfigError, match=r"trace must be a path, a Trace, page numbers .*"
                                          r"from_pages.*not dict"):
        rmapsim.run({"pages": [1]}, frames=3, cache_mode=True)
    with pytest.raises(TraceError, match="negative or too large"):
        rmapsim.run([1, -2], frames=3, cache_mode=True)
