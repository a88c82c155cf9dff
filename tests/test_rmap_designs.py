"""The reverse-mapping designs side by side (issue 10): each design's metadata computed by hand
on small fork trees, every design keeping its invariants on random event sequences and giving
the same faults and reclaim as the others of its page-table order, and the historical shapes
(direct pointers save chain blocks; anon_vma_chain walks fewer vmas on a forking server)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import rmapsim
from rmapsim.mm.rmap import designs
from rmapsim.trace import from_events
from rmapsim.trace.events import EVENT_DTYPE, OP_READ, OP_WRITE

from evtrace import P, T
from test_kernel_random import build, event, fork_to_live_pid_is_refused

A = 0x400000
COST_KEYS = {"rmap", "rmap_bytes", "rmap_bytes_peak", "rmap_chain_steps", "rmap_vmas_visited",
             "rmap_ops"}


def _run(t, rmap, frames=256, **kw):
    r = rmapsim.run(t.trace(), frames=frames, check=True, check_every=1, rmap=rmap, **kw)
    assert r.violation is None, r.violation
    return r.to_dict()


def _family(children, pages=3):
    t = T().mmap(1, A, pages)
    for i in range(pages):
        t.w(1, A + i * P)
    for c in range(children):
        t.fork(1, 10 + c)
    return t


def test_pte_chain_direct_blocks_by_hand():
    """x86-64: page->pte is 8 bytes per frame, a pte_chain block one 64-byte line of 7 slots.
    A page mapped once is direct (no block); 8 mappings take 2 blocks; dropping one empties the
    first block; a page left with one mapping keeps its block (2.6.0 did not convert back)."""
    frames = 256
    base = 8 * frames
    assert _run(_family(0), "pte-chain-direct")["rmap_bytes"] == base
    assert _run(_family(1), "pte-chain-direct")["rmap_bytes"] == base + 3 * 64
    assert _run(_family(6), "pte-chain-direct")["rmap_bytes"] == base + 3 * 64
    d = _run(_family(7), "pte-chain-direct")
    assert d["rmap_bytes"] == base + 3 * 2 * 64
    d = _run(_family(7).exit(16), "pte-chain-direct")
    assert d["rmap_bytes"] == base + 3 * 64
    # the last child's pte is the first slot of each page's first block: one step each, in
    # the exit; adding mappings takes none
    assert d["rmap_ops"]["teardown_chain_steps"] == 3 == d["rmap_chain_steps"]
    t = _family(7)
    for c in range(7):
        t.exit(10 + c)
    assert _run(t, "pte-chain-direct")["rmap_bytes"] == base + 3 * 64
    assert _run(t.munmap(1, A, 3), "pte-chain-direct")["rmap_bytes"] == base
    # i386: 4-byte words, 32-byte lines, the same 7 slots
    d = _run(_family(7), "pte-chain-direct", params={"geometry": "i386"})
    assert d["rmap_bytes"] == 4 * frames + 3 * 2 * 32


def test_pools_by_hand():
    """x86-64: a page's pool is a header word and a power-of-two array of pointers: 2 words
    for one mapping, 3 for two, 5 for three or four, 9 for five; growing copies the pointers;
    the last unmapping frees the pool."""
    base = 8 * 256
    for children, words in ((0, 2), (1, 3), (2, 5), (3, 5), (4, 9)):
        d = _run(_family(children), "pools")
        assert d["rmap_bytes"] == base + 3 * words * 8, children
    # copies when growing 1 -> 2 -> 4 -> 8: 1 + 2 + 4 pointers per page
    assert _run(_family(4), "pools")["rmap_chain_steps"] == 3 * 7
    t = _family(4)
    for c in range(4):
        t.exit(10 + c)
    assert _run(t, "pools")["rmap_bytes"] == base + 3 * 9 * 8     # never shrunk
    assert _run(t.munmap(1, A, 3), "pools")["rmap_bytes"] == base


def test_anon_vma_shared_by_a_family_and_after_a_split_by_hand():
    """x86-64: an anon_vma is 3 words (24 bytes) and each vma on it adds 3 more; a fork family
    shares one; splitting a vma puts the new one on the same anon_vma; a file vma's i_mmap node
    is 2 words."""
    assert _run(_family(0), "anon-vma")["rmap_bytes"] == 24 + 24
    assert _run(_family(2), "anon-vma")["rmap_bytes"] == 24 + 3 * 24
    t = _family(2).munmap(1, A + P, 1)                  # the parent's vma in two
    assert _run(t, "anon-vma")["rmap_bytes"] == 24 + 4 * 24
    t = t.exit(10).exit(11).munmap(1, A, 3)
    assert _run(t, "anon-vma")["rmap_bytes"] == 0
    f = T().file(5, 8).mmap(1, A, 8, file=5).r(1, A).fork(1, 2)
    assert _run(f, "anon-vma")["rmap_bytes"] == 2 * 16


def test_anon_vma_chain_fork_tree_by_hand():
    """x86-64: anon_vma 48 bytes, anon_vma_chain 48, a vma's fields 24. P's first anonymous
    page: its anon_vma av0 and one chain. Each child of P: a chain to av0, its own anon_vma
    and a chain to it. A grandchild G (of C1): chains to av0 and av1 and its own av3. When C1
    exits, av1 keeps G's chain and its degree falls to 1 (G's av3 its child); G's child then
    reuses av1 (degree < 2, not G's own) instead of making an anon_vma (7a3ef208e662)."""
    av, avc, vma = 48, 48, 24
    t = T().mmap(1, A, 2).w(1, A)
    assert _run(t, "anon-vma-chain")["rmap_bytes"] == av + avc + vma
    t.fork(1, 2).fork(1, 3)
    total = av + avc + vma + 2 * (av + 2 * avc + vma)
    assert _run(t, "anon-vma-chain")["rmap_bytes"] == total
    t.fork(2, 4)                                        # G: 3 chains, its own anon_vma
    total += av + 3 * avc + vma
    assert _run(t, "anon-vma-chain")["rmap_bytes"] == total
    t.exit(2)                                           # C1's 2 chains and vma fields go
    total -= 2 * avc + vma
    assert _run(t, "anon-vma-chain")["rmap_bytes"] == total
    t.fork(4, 5)                                        # reuses av1: 3 chains, no anon_vma
    total += 3 * avc + vma
    d = _run(t, "anon-vma-chain")
    assert d["rmap_bytes"] == total
    # without the reuse it would have made an anon_vma and a fourth chain
    assert d["rmap_bytes"] < total + av + avc


def _shared(children, pages):
    t = _family(children, pages)
    for c in range(children):
        for i in range(pages):
            t.r(10 + c, A + i * P)
    for c in range(0, children, 2):
        t.exit(10 + c)
    return t


def test_pools_grow_and_keep_their_invariants():
    """Each design's own pool (chain blocks, anon_vmas and chains) starts small and grows
    between events; check mode verifies every structure after each event."""
    t = _shared(30, 100)
    for d in ("pte-chain-direct", "pools", "anon-vma", "anon-vma-chain"):
        r = rmapsim.run(t.trace(), frames=512, check=True, check_every=7, rmap=d)
        assert r.violation is None, (d, r.violation)
    d = rmapsim.run(t.trace(), frames=512, rmap="pte-chain-direct").to_dict()
    # 100 pages of 31 mappings: 5 blocks each at the peak
    assert d["rmap_bytes_peak"] == 8 * 512 + 100 * 5 * 64


def _server(n, k):
    """van Riel's forking server, small: a parent's vma of n * k pages, n children each COWing
    k of them, then every child touching its pages again under memory pressure."""
    t = T().mmap(1, A, n * k)
    for i in range(n * k):
        t.w(1, A + i * P)
    for c in range(n):
        t.fork(1, 100 + c)
    for _ in range(2):
        for c in range(n):
            for i in range(k):
                t.w(100 + c, A + (c * k + i) * P)
    return t


def test_forking_server_anon_vma_chain_walks_a_fraction_of_anon_vmas_vmas():
    t = _server(30, 20)
    res = {d: rmapsim.run(t.trace(), frames=700, rmap=d).to_dict()
           for d in ("anon-vma", "anon-vma-chain", "pte-chain-direct")}
    a, c = res["anon-vma"], res["anon-vma-chain"]
    assert a["pages_freed"] > 500
    assert {k: v for k, v in a.items() if k not in COST_KEYS and "time" not in k} == \
        {k: v for k, v in c.items() if k not in COST_KEYS and "time" not in k}
    assert c["rmap_vmas_visited"] * 2 < a["rmap_vmas_visited"]
    # per operation: the walks of reclaim visit the vmas; the totals are the ops' sums
    for d in res.values():
        ops = d["rmap_ops"]
        assert sum(ops[k] for k in ops if k.endswith("_vmas_visited")) == d["rmap_vmas_visited"]
        assert sum(ops[k] for k in ops if k.endswith("_chain_steps")) == d["rmap_chain_steps"]
        assert ops["referenced_ptes_visited"] + ops["unmap_ptes_visited"] == d["ptes_visited"]
    assert a["rmap_ops"]["referenced_vmas_visited"] > c["rmap_ops"]["referenced_vmas_visited"]
    # a pte chain names its ptes: no vma is visited, but it costs memory per mapping
    assert res["pte-chain-direct"]["rmap_vmas_visited"] == 0
    assert res["pte-chain-direct"]["rmap_bytes_peak"] > 10 * c["rmap_bytes_peak"]


@pytest.mark.parametrize("design", [m.NAME for m in designs()])
def test_a_snapshot_loads_under_every_design(tmp_path, design):
    """A snapshot's processes are not related by fork, yet share anonymous pages (as a real
    machine's are): every design installs them with its invariants kept and runs on."""
    from rmapsim.sim import snapshot as S
    from test_snapshot import _synthetic
    path = tmp_path / "syn.npz"
    S.save(path, _synthetic())
    ev = np.zeros(3, EVENT_DTYPE)
    ev[0] = (OP_WRITE, 0, 0, 101, 0x600000, 0, 0, 0, 0)
    ev[1] = (OP_READ, 0, 0, 100, 0x600000, 0, 0, 0, 0)
    ev[2] = (OP_WRITE, 0, 0, 100, 0x602000, 0, 0, 0, 0)
    res = rmapsim.run(ev, from_snapshot=path, check=True, check_every=1, rmap=design)
    assert res.violation is None and res.snapshot["invariants"] == "ok"
    assert (res["cow_faults"], res["rmap"]) == (2, design)


def _differs(a, b):
    return {k for k in a if a[k] != b[k]}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=st.lists(event(), min_size=1, max_size=200),
       geometry=st.sampled_from(["x86-64", "i386"]),
       policy=st.sampled_from(["clock", "lru", "arc"]))
def test_every_design_keeps_its_invariants_and_the_same_faults(evs, geometry, policy):
    """On random events (forks, exits, mmaps and munmaps that split vmas, shared and file
    mappings, swap) every design passes check mode after every event, and the designs with the
    same page-table order differ only in their cost counters."""
    a = from_events(fork_to_live_pid_is_refused(build(evs)))
    by_order = {}
    for mod in designs():
        r = rmapsim.run(a, frames=64, policy=policy, check=True, check_every=1, rmap=mod.NAME,
                        params={"geometry": geometry, "swap_pages": 32})
        assert r.violation is None, (mod.NAME, r.violation)
        d = r.to_dict()
        assert d["integrity_errors"] == 0
        by_order.setdefault(mod.PTE_TABLE_ORDER, []).append((mod.NAME, d))
    for runs in by_order.values():
        name0, d0 = runs[0]
        for name, d in runs[1:]:
            diff = {k for k in _differs(d0, d) if not k.endswith("_time_ns")} - COST_KEYS
            assert not diff, (name0, name, {k: (d0[k], d[k]) for k in diff})


def test_every_design_is_listed_with_a_description():
    names = [m.NAME for m in designs()]
    assert names[0] == "pte-chain" and len(set(names)) == len(names) >= 5
    assert all(m.MODELS for m in designs())
    assert np.all([m.PTE_TABLE_ORDER in (0, 1) for m in designs()])


def test_the_published_shapes_are_reproduced_and_tabled(tmp_path):
    """The report behind the README's table: every design on every scenario, and each
    published figure's shape (Bligh, Arcangeli, Morton, van Riel) reproduced."""
    from rmapsim.report import rmap_table
    out, png = tmp_path / "t.md", tmp_path / "t.png"
    assert rmap_table.main(["--jobs", "2", "-o", str(out), "--plot", str(png)]) == 0
    text = out.read_text()
    for s in rmap_table.SCENARIOS:
        assert f"#### {s}" in text
    for m in designs():
        assert text.count(f"| {m.NAME} |") == len(rmap_table.SCENARIOS)
    rows = [line for line in text.splitlines() if line.endswith(("| yes |", "| no |"))]
    assert len(rows) == 4 and all(r.endswith("| yes |") for r in rows), rows
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
