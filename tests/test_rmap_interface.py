"""The reverse-mapping interface (issue 9, item 3): designs behind rmap_walk, routed through the
running design's hooks; the per-pte operations; --rmap and the result recording it."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rmapsim
from rmapsim.errors import ConfigError
from rmapsim.mm import layout
from rmapsim.mm.debug import check_invariants
from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PTE_MIGRATION,
                               G_PTE_TABLE_ORDER, G_RMAP, N_GLOBALS, PG_lru)
from rmapsim.mm.rmap import (designs, get_design, remove_migration_ptes, try_to_migrate,
                             try_to_unmap)
from rmapsim.mm.rmap.hooks import ARITY, check_design
from rmapsim.sim.api import boot
from rmapsim.trace.events import PROT_WRITE

from evtrace import P, T

ROOT = Path(__file__).resolve().parent.parent
A = 0x400000


def test_every_design_has_the_interface_and_the_default_is_the_seeds():
    mods = designs()
    assert mods[0].NAME == "pte-chain" and mods[0].PTE_TABLE_ORDER == 1
    for m in mods:
        check_design(m)
    assert set(ARITY) == set(layout.RMAP_HOOK_NAMES)
    _, _, _, st, _ = boot(frames=64)
    assert st.g[G_RMAP] == 0 and st.g[G_PTE_TABLE_ORDER] == 1
    assert all(st.rmap_hooks[[layout.R_PAGE_ADD, layout.R_PAGE_REMOVE, layout.R_WALK]])


def test_an_unknown_design_is_one_line_naming_the_option(tmp_path):
    # the Python API names its argument (rmap=), the command line its option (--rmap)
    with pytest.raises(ConfigError, match="rmap=: unknown reverse-mapping design 'nope'"):
        get_design("nope")
    trace = tmp_path / "t.txt"
    trace.write_text("".join(f"{i % 50}\n" for i in range(100)))
    p = subprocess.run([sys.executable, "-m", "rmapsim", "run", str(trace), "--frames", "16",
                        "--rmap", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "--rmap" in p.stderr, p.stderr


def _forked_family():
    t = T().mmap(1, A, 8).w(1, A).w(1, A + P).fork(1, 2).fork(1, 3).r(2, A).r(3, A + P)
    return t.munmap(1, A + 2 * P, 2).munmap(1, A + 6 * P, 1).exit(3)


def test_the_result_records_the_design_and_naming_the_default_changes_nothing():
    a = rmapsim.run(_forked_family().trace(), frames=256, check=True, check_every=1)
    b = rmapsim.run(_forked_family().trace(), frames=256, check=True, check_every=1,
                    rmap="pte-chain")
    assert a.violation is None and b.violation is None
    assert a.to_dict() == b.to_dict() and a["rmap"] == "pte-chain"


def _spy(tmp_path, order):
    """A design that delegates to the seed's pte chains and counts its vma hooks in the spare
    global slots; it uses pte-chain's arrays (USES)."""
    base = len(layout.GLOBALS)
    src = f'''
from rmapsim.jit import kernel
from rmapsim.mm.rmap import ptechain

NAME = "spy"
MODELS = "a test double"
PTE_TABLE_ORDER = {order}
FIELDS = ()
USES = ("rmapsim.mm.rmap.ptechain",)


@kernel
def init(st):
    ptechain.init(st)
    st.g[{base}] = 1000


@kernel
def page_add(st, frame, pte, vma, addr):
    ptechain.page_add(st, frame, pte, vma, addr)


@kernel
def page_remove(st, frame, pte, vma):
    return ptechain.page_remove(st, frame, pte, vma)


@kernel
def walk(st, frame, op, arg):
    return ptechain.walk(st, frame, op, arg)


@kernel
def page_moved(st, old, new):
    ptechain.page_moved(st, old, new)


@kernel
def check(st):
    return ptechain.check(st)


@kernel
def vma_link(st, vma):
    st.g[{base}] += 1


@kernel
def vma_unlink(st, vma):
    st.g[{base + 1}] += 1


@kernel
def vma_adjust(st, vma):
    st.g[{base + 2}] += 1


@kernel
def vma_split(st, vma, new):
    st.g[{base + 3}] += 1


@kernel
def vma_fork(st, parent, child):
    st.g[{base + 4}] += 1
'''
    path = tmp_path / f"spy{order}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"rmap_spy_{order}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_vma_hook_is_routed_by_mmap_munmap_fork_and_exit(tmp_path):
    """mmap links 1 vma; two forks link 2 each and call vma_fork 2 times; munmap of the middle
    splits (linking the tail), of a tail trims (adjust); exit of pid 3 unlinks its 1."""
    assert N_GLOBALS >= len(layout.GLOBALS) + 5
    spy = _spy(tmp_path, 1)
    base = len(layout.GLOBALS)
    r = rmapsim.run(_forked_family().trace(), frames=256, check=True, check_every=1, rmap=spy)
    assert r.violation is None and r["rmap"] == "spy"
    _, _, _, st, s = boot(frames=256, rmap=spy, check=True)
    assert st.g[base] == 1000                        # init ran at boot, before any vma
    ref = rmapsim.run(_forked_family().trace(), frames=256, check=True, check_every=1)
    assert {k: v for k, v in r.to_dict().items() if k != "rmap"} == \
        {k: v for k, v in ref.to_dict().items() if k != "rmap"}

    from rmapsim.mm.mmap import do_munmap
    from rmapsim.mm.fork import do_exit, do_fork, do_mmap, mm_new
    mm = mm_new(s, 1)
    do_mmap(s, mm, A, 8 * P, PROT_WRITE, 0, 0, 0)  # anonymous private
    c1 = do_fork(s, mm, 2)
    do_fork(s, mm, 3)
    do_munmap(s, mm, A + 2 * P, A + 4 * P)          # middle: a split
    do_munmap(s, mm, A + 7 * P, A + 8 * P)          # the tail: an adjust
    do_exit(s, c1)
    links, unlinks, adjusts, splits, forks = (int(st.g[base + i]) for i in range(5))
    assert (links - 1000, unlinks, adjusts, splits, forks) == (4, 1, 1, 1, 2)
    assert check_invariants(s) == 0


def test_the_design_owns_the_page_table_order(tmp_path):
    """The seed's leaf tables are order 1 (the parallel next-pte page); a design with order 0
    charges half the RAM for them and nothing else changes on a trace that never reclaims."""
    t = T().mmap(1, A, 4).w(1, A).mmap(1, 0x40000000, 4).w(1, 0x40000000).fork(1, 2)
    seed = rmapsim.run(t.trace(), frames=512, check=True, check_every=1)
    flat = rmapsim.run(t.trace(), frames=512, check=True, check_every=1,
                       rmap=_spy(tmp_path, 0))
    assert flat.violation is None
    leaf_tables = 4                                  # two mms, two distant regions each
    assert seed["pagetable_pages_peak"] - flat["pagetable_pages_peak"] == leaf_tables
    # the next-pte pages are the seed design's metadata, beside a pointer per struct page
    assert flat["rmap_bytes_peak"] == 8 * 512
    assert seed["rmap_bytes_peak"] == 8 * 512 + 4096 * leaf_tables
    assert seed["faults"] == flat["faults"] and seed["pages_freed"] == flat["pages_freed"] == 0


def _shared_anon_page():
    """A booted machine with one anonymous page mapped by three processes (fork): (st, s, the
    page's frame, its three ptes)."""
    from rmapsim.mm.memory import handle_mm_fault
    from rmapsim.mm.pgtable import pte_offset
    from rmapsim.mm.fork import do_fork, do_mmap, mm_new
    _, _, _, st, s = boot(frames=256, check=True)
    mm = mm_new(s, 1)
    do_mmap(s, mm, A, 4 * P, PROT_WRITE, 0, 0, 0)
    assert handle_mm_fault(s, mm, A, True) == 0
    mms = [mm, do_fork(s, mm, 2), do_fork(s, mm, 3)]
    ptes = [pte_offset(s, m, A) for m in mms]
    frame = int(st.pt[ptes[0]] >> 12)
    assert all(int(st.pt[p] >> 12) == frame for p in ptes) and st.page_mapcount[frame] == 3
    return st, s, frame, ptes


def test_migration_entries_move_every_mapping_to_the_new_frame():
    from rmapsim.mm.page_alloc import free_pages, rmqueue
    from rmapsim.mm.vmscan.dispatch import page_migrated
    st, s, old, ptes = _shared_anon_page()
    st.pt[ptes[1]] |= _PAGE_ACCESSED
    bits = [int(st.pt[p]) & 0xFFF for p in ptes]
    new = rmqueue(s, 0)
    assert try_to_migrate(s, old, new) == 3
    for p in ptes:                                   # not present: a fault would wait
        assert not (st.pt[p] & _PAGE_PRESENT) and st.pt[p] & _PTE_MIGRATION
        assert st.pt[p] >> 12 == new
    for name in ("page_flags", "page_count", "page_mapcount", "page_mapping", "page_index",
                 "page_private", "page_token", "page_age"):
        getattr(st, name)[new] = getattr(st, name)[old]
    assert remove_migration_ptes(s, old, new) == 3
    page_migrated(s, old, new)
    for name, fill in (("page_flags", 0), ("page_count", 0), ("page_mapcount", 0)):
        getattr(st, name)[old] = fill
    free_pages(s, old, 0)
    for p, b in zip(ptes, bits):                     # present again, same bits, new frame
        assert st.pt[p] == (new << 12) | b
    assert st.page_chain[new] >= 0 and st.page_chain[old] == -1
    assert st.page_flags[new] & PG_lru
    assert check_invariants(s) == 0


def test_unmap_leaves_every_pte_empty_and_the_page_unmapped():
    st, s, frame, ptes = _shared_anon_page()
    st.pt[ptes[2]] |= _PAGE_DIRTY
    count = int(st.page_count[frame])
    assert try_to_unmap(s, frame) == 3
    assert all(st.pt[p] == 0 for p in ptes)
    assert st.page_mapcount[frame] == 0 and st.page_count[frame] == count - 3
    assert st.page_chain[frame] == -1 and all(st.pt_next[p] == -1 for p in ptes)


# ---- objrmap: the second design ---------------------------------------------------------------

# what the design changes: its own counters, and the simulated time they cost
DESIGN_ONLY = ("rmap", "rmap_chain_steps", "rmap_bytes", "rmap_bytes_peak", "rmap_vmas_visited",
               "process_time_ns", "sim_time_ns", "rmap_ops")


def _file_heavy(seed):
    """Files mapped shared and private by a fork family at different offsets, anonymous memory,
    munmap (a split) and exits, on too little RAM: reclaim walks file and anonymous pages."""
    F = 0x10000000
    rng = np.random.default_rng(seed)
    t = T().file(3, 48).file(4, 32).mmap(1, A, 40)
    t.mmap(1, F, 48, file=3, shared=True).mmap(1, F + 0x1000000, 24, file=4, pgoff=8)
    t.fork(1, 2).fork(1, 3).mmap(3, F + 0x2000000, 16, file=3, pgoff=16)
    for i in range(3000):
        pid = 1 + int(rng.integers(3))
        k = int(rng.integers(4))
        if k == 0:
            t.w(pid, A + int(rng.integers(40)) * P)
        elif k == 1:
            t.r(pid, F + int(rng.integers(48)) * P)
        elif k == 2:
            t.w(pid, F + int(rng.integers(48)) * P) if pid == 1 else t.r(pid, F + 0x1000000 + int(rng.integers(24)) * P)
        else:
            t.r(3, F + 0x2000000 + int(rng.integers(16)) * P)
        if i == 1500:
            t.munmap(2, F + 8 * P, 4)
    return t.exit(2)


@pytest.mark.parametrize("policy", ["clock", "lists-2.6", "lru"])
@pytest.mark.parametrize("seed", [1, 2])
def test_objrmap_decides_as_pte_chains_do_and_spends_differently(policy, seed):
    """objrmap keeps pte chains for anonymous pages and the same page-table order, so every
    fault, reclaim decision and count equals pte-chain's; only how the ptes were found
    differs: file pages cost vma visits and no chain steps."""
    kw = dict(frames=200, check=True, check_every=50, policy=policy)
    chain = rmapsim.run(_file_heavy(seed).trace(), **kw)
    obj = rmapsim.run(_file_heavy(seed).trace(), rmap="objrmap", **kw)
    assert chain.violation is None and obj.violation is None, obj.violation
    a, b = chain.to_dict(), obj.to_dict()
    assert b["rmap"] == "objrmap" and a["pages_freed"] > 0 and a["ptes_visited"] > 0
    assert {k: v for k, v in a.items() if k not in DESIGN_ONLY} == \
        {k: v for k, v in b.items() if k not in DESIGN_ONLY}
    assert a["rmap_vmas_visited"] == 0 and b["rmap_vmas_visited"] > 0
    assert b["rmap_chain_steps"] < a["rmap_chain_steps"]


def test_an_objrmap_walk_looks_in_every_vma_of_the_object_and_uses_the_ptes_mapping_the_page():
    """One file page mapped by three processes (fork), and a fourth vma of the same file that
    does not cover it: page_referenced looks in 4 vmas, finds 3 ptes, 2 of them young."""
    from rmapsim.mm.layout import C_PTES_VISITED, C_RMAP_VMAS_VISITED
    from rmapsim.mm.memory import handle_mm_fault
    from rmapsim.mm.pgtable import pte_offset
    from rmapsim.mm.rmap import page_referenced
    from rmapsim.mm.fork import do_fork, do_mmap, mm_new
    from rmapsim.trace.events import MAP_FILE
    F = 0x10000000
    _, _, _, st, s = boot(frames=256, check=True, rmap="objrmap")
    mm = mm_new(s, 1)
    do_mmap(s, mm, F, 8 * P, MAP_FILE, 3, 0, 0)
    assert handle_mm_fault(s, mm, F + 2 * P, False) == 0
    mms = [mm, do_fork(s, mm, 2), do_fork(s, mm, 3)]
    do_mmap(s, mms[2], F + 0x1000000, 2 * P, MAP_FILE, 3, 6, 0)      # pages 6-7 only
    ptes = [pte_offset(s, m, F + 2 * P) for m in mms]
    frame = int(st.pt[ptes[0]] >> 12)
    assert st.page_mapcount[frame] == 3 and st.page_chain[frame] == -1   # no chain for it
    for p in ptes:
        st.pt[p] &= ~_PAGE_ACCESSED
    st.pt[ptes[0]] |= _PAGE_ACCESSED
    st.pt[ptes[2]] |= _PAGE_ACCESSED
    v0, p0 = int(st.cnt[C_RMAP_VMAS_VISITED]), int(st.cnt[C_PTES_VISITED])
    assert page_referenced(s, frame) == 2
    assert st.cnt[C_RMAP_VMAS_VISITED] - v0 == 4 and st.cnt[C_PTES_VISITED] - p0 == 3
    assert check_invariants(s) == 0
