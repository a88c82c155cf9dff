"""The interfaces of issue 9: state assembled from declarations, the policy registry and its
hook routing, and policies loaded from a user's file."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit

import rmapsim
from rmapsim.mm import layout
from rmapsim.mm.rmap import designs, get_design
from rmapsim.mm.state import as_struct, fields, state_class
from rmapsim.mm.vmscan import POLICIES, check_policy
from rmapsim.mm.vmscan.hooks import HOOK_ARITY, HOOK_NAMES, TEMPLATES, bound_of
from rmapsim.sim.api import boot
from rmapsim.trace import from_pages

ROOT = Path(__file__).resolve().parent.parent
TWOQ = ROOT / "docs" / "examples" / "twoq.py"


def test_globals_and_counters_are_their_names_positions():
    for i, name in enumerate(layout.GLOBALS):
        assert getattr(layout, "G_" + name.upper()) == i
    for i, name in enumerate(layout.COUNTERS):
        assert getattr(layout, "C_" + name.upper()) == i
    for i, name in enumerate(layout.CONTEXT):
        assert getattr(layout, "CTX_" + name.upper()) == i
    assert layout.N_GLOBALS >= len(layout.GLOBALS)


def test_the_execution_context_is_a_row_of_its_own_not_globals():
    """What the running CPU is doing (the reference's page, the current process, in reclaim,
    the error) lives in st.ctx, so that several CPUs can each have a row."""
    assert set(layout.CONTEXT).isdisjoint(layout.GLOBALS)
    assert {"ref_key", "last_pid", "last_mm", "in_reclaim", "err_kind"} <= set(layout.CONTEXT)
    r = rmapsim.run(from_pages(np.arange(50) % 7), frames=4, cache_mode=True, check=True)
    assert r.violation is None
    _, _, _, st, _ = boot(frames=64)
    assert len(st.ctx) == layout.N_CONTEXT and st.ctx[layout.CTX_LAST_PID] == -1


@pytest.mark.parametrize("design", [m.NAME for m in designs()])
def test_every_declared_field_is_in_the_compiled_view_and_points_at_its_array(design):
    """Under each rmap design (whose arrays alone of the designs' are allocated)."""
    names = [r[0] for r in fields()]
    assert list(state_class()._fields) == names
    _, _, _, st, _ = boot(frames=64, rmap=design)
    own = [r[0] for r in get_design(design).FIELDS]
    assert own and all(len(getattr(st, n)) for n in own)
    live = [n for n in names if len(getattr(st, n))]
    body = "\n".join(f"    out[{i}] = st.{n}[0]" for i, n in enumerate(live))
    ns = {}
    exec(f"def read(st, out):\n{body}\n", ns)
    read = njit(ns["read"])
    for i, n in enumerate(live):
        getattr(st, n)[0] = 1 + i               # a sentinel per array
    out = np.zeros(len(live))
    read(as_struct(st), out)
    assert out.tolist() == [1.0 + i for i in range(len(live))]


def test_policy_ids_come_from_the_registry_and_every_builtin_has_the_interface():
    assert [m.ID for m in POLICIES.values()] == list(range(len(POLICIES)))
    for name, mod in POLICIES.items():
        check_policy(mod, name)
    assert set(TEMPLATES) == set(HOOK_NAMES) == set(HOOK_ARITY)


def _pure_twoq(pages, frames, kin=0.25, kout=0.5):
    """2Q as docs/examples/twoq.py states it, in plain Python: the independent answer."""
    kin, kout = max(1, int(kin * frames)), max(1, int(kout * frames))
    a1in, am, a1out = [], [], []
    misses = 0
    for p in pages:
        if p in am:
            am.remove(p)
            am.append(p)
            continue
        if p in a1in:
            continue
        misses += 1
        if len(a1in) + len(am) >= frames:
            if len(a1in) > kin or not am:
                v = a1in.pop(0)
                while len(a1out) >= kout:
                    a1out.pop(0)
                a1out.append(v)
            else:
                am.pop(0)
        if p in a1out:
            a1out.remove(p)
            am.append(p)
        else:
            a1in.append(p)
    return misses


def test_a_users_policy_file_runs_compiled_and_agrees_with_its_definition():
    pages = (np.random.default_rng(3).zipf(1.3, 6000) % 700).astype(np.int64)
    r = rmapsim.run(from_pages(pages), frames=100, cache_mode=True, policy=str(TWOQ),
                    check=True)
    assert r.violation is None
    assert r.policy == "2q"
    assert r["misses"] == _pure_twoq(pages.tolist(), 100)
    assert r["misses"] != rmapsim.run(from_pages(pages), frames=100, cache_mode=True,
                                      policy="lru")["misses"]


def test_every_hook_is_routed_by_the_kernel(tmp_path):
    """A policy that counts its hook calls in its private state sees each hook the kernel has
    a reason to call on this trace: none is left unrouted."""
    spy = tmp_path / "spy.py"
    spy.write_text(TWOQ.read_text().replace('NAME = "2q"', 'NAME = "spy"').replace(
        '    ("ghost_hits", "int64", "1", 0, None),\n',
        '    ("ghost_hits", "int64", "1", 0, None),\n    ("calls", "int64", "8", 0, None),\n'
    ).replace("def init(st, ps):\n", "def init(st, ps):\n    ps.calls[0] += 1\n"
    ).replace("def page_added(st, ps, frame):\n", "def page_added(st, ps, frame):\n    ps.calls[1] += 1\n"
    ).replace("def page_accessed(st, ps, frame):\n", "def page_accessed(st, ps, frame):\n    ps.calls[3] += 1\n"
    ).replace("def reclaim(st, ps, sc):\n", "def reclaim(st, ps, sc):\n    ps.calls[4] += 1\n"
    ).replace("def check(st, ps):\n", "def check(st, ps):\n    ps.calls[6] += 1\n"))
    from rmapsim.mm.vmscan import get_policy
    from rmapsim.mm.vmscan.dispatch import policy_check, reclaim
    mod = get_policy(str(spy))
    _, _, _, st, s = boot(policy=str(spy), frames=64, cache_mode=True)
    calls = bound_of(st).ps.calls
    assert calls[0] == 1                    # init, at boot
    reclaim(s, 1, 0, 0)
    assert calls[4] == 1
    assert policy_check(s) == 0 and calls[6] == 1
    assert mod.NAME == "spy"


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "rmapsim", *args], cwd=cwd, capture_output=True,
                          text=True)


@pytest.mark.parametrize("edit, expect", [
    (lambda s: s.replace("def reclaim(st, ps, sc):", "def _reclaim(st, ps, sc):"),
     "has no reclaim hook"),
    (lambda s: s.replace("def page_accessed(st, ps, frame):", "def page_accessed(st, frame):"),
     "hook page_accessed takes 2 arguments, not 3"),
    (lambda s: s.replace("list_move_tail(st, AM, frame)      # LRU",
                         "list_move_tail(st, AM, frame, 'x')      # LRU"),
     "hook page_accessed does not compile"),
    (lambda s: s.replace("NAME = \"2q\"", "NAME = \"2q\"\n1/0"), "ZeroDivisionError"),
])
def test_a_mistake_in_a_users_policy_is_one_line_naming_the_file(tmp_path, edit, expect):
    bad = tmp_path / "bad.py"
    bad.write_text(edit(TWOQ.read_text()))
    trace = tmp_path / "t.txt"
    trace.write_text("".join(f"{i % 50}\n" for i in range(400)))
    p = _cli("run", str(trace), "--frames", "16", "--cache-mode", "--policy", str(bad))
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and expect in lines[0], p.stderr


def test_the_template_is_a_policy_that_runs(tmp_path):
    p = _cli("policies", "--template")
    assert p.returncode == 0
    mine = tmp_path / "mine.py"
    mine.write_text(p.stdout)
    trace = tmp_path / "t.txt"
    trace.write_text("".join(f"{(i * 7) % 90}\n" for i in range(2000)))
    q = _cli("run", str(trace), "--frames", "32", "--cache-mode", "--policy", str(mine),
             "--json")
    assert q.returncode == 0, q.stderr
    assert '"misses"' in q.stdout
