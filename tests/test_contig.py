"""Contiguous memory: high-order requests, the fragmentation indices, migration and the four
contiguity strategies (mm/highorder.py, mm/vmstat.py, mm/migrate.py, mm/contig/)."""
import numpy as np
import pytest

import rmapsim
from rmapsim.mm.vmscan import POLICIES
from rmapsim.mm.vmstat import extfrag_index, fragmentation_index, unusable_free_index
from rmapsim.trace.events import ALLOC_HUGE, OP_ALLOC, OP_FREE

from evtrace import P, T

B = 0x40000000
STRATEGIES = ("none", "steal", "lumpy", "compaction")


def test_fragmentation_indices_by_hand():
    # 4 free pages, 2 order-1 blocks, 1 order-3 block: 16 free pages in 7 blocks
    counts = [4, 2, 0, 1]
    assert unusable_free_index(counts, 0) == 0
    assert unusable_free_index(counts, 2) == (16 - (2 << 2)) * 1000 // 16 == 500
    assert unusable_free_index(counts, 3) == (16 - 8) * 1000 // 16 == 500
    assert unusable_free_index([0, 0, 0, 0], 2) == 1000
    assert extfrag_index(counts, 3) == -1000              # a block is free: it would succeed
    # order 4: nothing suitable; 1000 - (1000 + 16 * 1000 / 16) / 7 = 1000 - 285
    assert extfrag_index(counts, 4) == 715
    assert extfrag_index([0, 0, 0], 1) == 0
    # all memory in single pages: failure from fragmentation, index near 1000
    assert extfrag_index([100], 5) == 1000 - (1000 + 100 * 1000 // 32) // 100 == 959


def _free_set_buddyinfo(free, n, max_order):
    """/proc/buddyinfo of a set of free frames, computed independently of the allocator: with
    full merging, the free frames are the largest aligned blocks that fit."""
    counts = [0] * (max_order + 1)
    f = 0
    while f < n:
        if f not in free:
            f += 1
            continue
        o = max_order
        while o and (f % (1 << o) or f + (1 << o) > n
                     or any(x not in free for x in range(f, f + (1 << o)))):
            o -= 1
        counts[o] += 1
        f += 1 << o
    return counts


def _free_frames(st):
    from rmapsim.sim.highorder import frame_kinds
    return {int(f) for f in np.flatnonzero(frame_kinds(st) == 0)}


def test_buddy_splits_and_merges_around_a_migration():
    from rmapsim.mm.debug import check_invariants
    from rmapsim.mm.layout import PG_anon
    from rmapsim.mm.migrate import migrate_page
    from rmapsim.mm.page_alloc import free_pages, rmqueue
    from rmapsim.sim.api import NO_FUTURE, boot
    from rmapsim.sim.replay import replay_chunk
    from rmapsim.mm.vmstat import buddyinfo
    _, _, m, st, s = boot(frames=64, params={"max_order": 3}, check=True)
    # boot, by hand: frames 0-1 are the kernel's (mem_map, the zero page); 2 is an order-1
    # block, 4 an order-2 block, 8..56 seven order-3 blocks
    assert m.kernel_reserved == 2 and buddyinfo(st) == [0, 1, 1, 7]
    from rmapsim.mm.state import make_room
    st, s = make_room(st, tables=8, vmas=8, mms=4, entries=64, ptes=8)
    ev = T().mmap(1, B, 4).w(1, B).w(1, B + 2 * P).array()
    assert replay_chunk(s, ev, 0, 1, NO_FUTURE)[0] == 0
    anon = [f for f in range(64) if st.page_flags[f] & PG_anon]
    assert len(anon) == 2
    assert buddyinfo(st) == _free_set_buddyinfo(_free_frames(st), 64, 3)
    new = rmqueue(s, 0)                       # the smallest free block, split
    before = buddyinfo(st)
    assert migrate_page(s, anon[0], new)
    free_pages(s, anon[0], 0)
    assert check_invariants(s) == 0
    counts = buddyinfo(st)
    assert counts == _free_set_buddyinfo(_free_frames(st), 64, 3) != before
    assert sum(b << o for o, b in enumerate(counts)) == sum(b << o for o, b in enumerate(before)) + 1
    assert int(st.cnt[rmapsim.mm.layout.COUNTERS.index("pages_migrated")]) == 1


def _pressure_trace(seed, steps=900):
    """Two processes (one forks a third, so pages are COW-shared), anonymous and file memory,
    one file mapping shared, references enough to swap, and ALLOC/FREE of orders 1-5."""
    rng = np.random.default_rng(seed)
    t = T().file(5, 200)
    for pid in (1, 2):
        t.mmap(pid, B, 160)
        t.mmap(pid, B + 0x1000000, 100, file=5, shared=pid == 1)
    h, held = 0, []
    for step in range(steps):
        if step == steps // 5:
            t.fork(1, 3)
            continue
        pid = int(rng.integers(1, 4 if step > steps // 5 else 3))
        k = rng.integers(100)
        if k < 85:
            a = B + int(rng.integers(160)) * P if rng.integers(3) else \
                B + 0x1000000 + int(rng.integers(100)) * P
            (t.w if rng.integers(2) else t.r)(pid, a)
        elif held and k < 92:
            t._add(op=OP_FREE, addr=held.pop(int(rng.integers(len(held)))))
        else:
            h += 1
            held.append(h)
            t._add(op=OP_ALLOC, addr=h, arg=int(rng.choice([1, 3, 4, 5])),
                   flags=ALLOC_HUGE * int(rng.integers(2)))
    return t.trace()


@pytest.mark.parametrize("contig", STRATEGIES)
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_strategy_under_every_kind_of_policy_loses_nothing(contig, policy):
    """Check mode after every event: invariants and every reference's content token, while
    pages are reclaimed, written, swapped and migrated to make high-order blocks."""
    r = rmapsim.run(_pressure_trace(7, 700), frames=300, policy=policy, check=True, check_every=1,
                    contig=contig, params={"swap_pages": 400, "max_order": 6})
    assert r.violation is None
    d = r.to_dict()
    assert d["integrity_errors"] == 0 and d["highorder_requests"] > 40
    work = {"steal": "steal_blocks", "lumpy": "lumpy_taken", "compaction": "pages_migrated"}
    if contig in work and policy == "clock":
        assert d[work[contig]] > 0, d


@pytest.mark.parametrize("rmap", ["pte-chain-direct", "pools", "objrmap", "anon-vma",
                                  "anon-vma-chain"])
def test_migration_through_every_rmap_design_loses_nothing(rmap):
    r = rmapsim.run(_pressure_trace(3), frames=300, policy="lru", check=True, check_every=1,
                    contig="compaction", rmap=rmap, params={"swap_pages": 400, "max_order": 6})
    assert r.violation is None and r.counters["pages_migrated"] > 0
    assert r.to_dict()["rmap_ops"]["migrate_ptes_visited"] > 0


def test_a_shared_cow_swapcached_and_dirty_page_each_migrate_intact():
    """One page of each kind moved by hand (try_to_flip_page_to), then every page read back in
    check mode: each reference checks its content token, every invariant after every event."""
    from rmapsim.mm.debug import check_invariants
    from rmapsim.mm.layout import DONE, PG_anon, PG_lru, PG_swapcache
    from rmapsim.mm.migrate import migrate_page
    from rmapsim.mm.page_alloc import free_pages, rmqueue
    from rmapsim.mm.state import make_room
    from rmapsim.sim.api import NO_FUTURE, boot
    from rmapsim.sim.replay import replay_chunk
    _, _, _, st, s = boot(frames=160, check=True, params={"swap_pages": 256})
    st, s = make_room(st, tables=16, vmas=16, mms=8, entries=256, ptes=256)
    t = T().file(5, 8).mmap(1, B, 200).mmap(1, B + 0x1000000, 4, file=5, shared=True)
    t.mmap(2, B + 0x1000000, 4, file=5, shared=True)
    for k in range(200):
        t.w(1, B + k * P)                         # more than memory: the first ones swap out
    for k in range(8):
        t.r(1, B + k * P)                         # back in, and kept in the swap cache
    t.w(1, B + 0x1000000).r(2, B + 0x1000000)     # a shared file page, dirty, mapped twice
    t.fork(1, 3)                                  # anonymous pages now COW-shared
    t.w(1, B + 199 * P)                           # ... but this one is written again
    assert replay_chunk(s, t.array(), 0, 1, NO_FUTURE)[0] == DONE
    flags = st.page_flags
    kinds = {
        "shared file": lambda f: not flags[f] & PG_anon and st.page_mapcount[f] >= 2,
        "cow": lambda f: flags[f] & PG_anon and st.page_mapcount[f] == 2,
        "swap cache": lambda f: flags[f] & PG_swapcache and st.page_mapcount[f] > 0,
        # the COW copy the last write made: mapped once, dirty in its pte
        "dirty": lambda f: flags[f] & PG_anon and st.page_mapcount[f] == 1
        and not flags[f] & PG_swapcache,
    }
    moved = set()
    for kind, test in kinds.items():
        f = next((f for f in range(160) if flags[f] & PG_lru and f not in moved and test(f)), None)
        assert f is not None, kind
        new = rmqueue(s, 0)
        assert migrate_page(s, f, new), kind
        free_pages(s, f, 0)
        moved.add(new)
        assert check_invariants(s) == 0, kind
    back = T()
    for k in range(200):
        back.r(1, B + k * P).r(3, B + k * P)
    back.r(2, B + 0x1000000).r(1, B + 0x1000000)
    assert replay_chunk(s, back.array(), 0, 1, NO_FUTURE)[0] == DONE
    assert int(st.cnt[rmapsim.mm.layout.COUNTERS.index("integrity_errors")]) == 0


def test_requests_are_logged_with_outcome_work_and_the_free_lists_before():
    t = T().mmap(1, B, 4).w(1, B)
    t._add(op=OP_ALLOC, pid=0, addr=1, arg=3)
    t._add(op=OP_ALLOC, pid=1, addr=1, arg=9, flags=ALLOC_HUGE)
    t._add(op=OP_FREE, pid=0, addr=1)
    t._add(op=OP_ALLOC, pid=0, addr=2, arg=11)            # above max_order 10
    r = rmapsim.run(t.trace(), frames=4096)
    outs = [(q["order"], q["kind"], q["outcome"]) for q in r.requests]
    assert outs == [(3, "kernel", "at_once"), (9, "huge", "at_once"), (11, "kernel", "impossible")]
    d = r.to_dict()
    assert d["highorder"]["9"]["success_rate"] == 1.0 and d["highorder"]["11"]["impossible"] == 1
    # the log's free lists before the second request: the first took 8 pages
    first, second = r.requests[0]["buddyinfo"], r.requests[1]["buddyinfo"]
    assert sum(b << o for o, b in enumerate(first)) - 8 == sum(b << o for o, b in enumerate(second))
    assert d["fragmentation"]["buddyinfo"] == [int(x) for x in r.requests[-1]["buddyinfo"]]


def test_the_compiled_index_agrees_with_the_formula():
    r_kw = dict(frames=300, check=False, params={"swap_pages": 400, "max_order": 6})
    from rmapsim.sim.api import boot
    from rmapsim.mm.vmstat import buddyinfo
    _, _, _, st, s = boot(**r_kw)
    for order in range(7):
        assert fragmentation_index(s, order) == extfrag_index(buddyinfo(st), order)


def test_a_free_of_a_handle_never_allocated_is_a_located_error(tmp_path):
    from rmapsim.errors import TraceError
    f = tmp_path / "bad.rmtxt"
    f.write_text("#rmapsim-trace v2\nALLOC 0 1 2 kernel\nFREE 0 2\n")
    with pytest.raises(TraceError, match=":3: .*FREE of one it never allocated"):
        rmapsim.run(str(f), frames=1024)


def test_a_version_1_text_trace_cannot_hold_alloc_events(tmp_path):
    from rmapsim.errors import TraceError
    f = tmp_path / "old.rmtxt"
    f.write_text("#rmapsim-trace v1\nMMAP 1 0x1000 0x1000 anon private rw\nALLOC 0 1 2 kernel\n")
    with pytest.raises(TraceError, match=":3: ALLOC events need format version 2"):
        rmapsim.run(str(f), frames=1024)


def test_alloc_and_free_round_trip_through_text_and_native(tmp_path):
    from rmapsim.trace import open_trace, write_trace
    t = T().mmap(1, B, 1)
    t._add(op=OP_ALLOC, pid=1, addr=7, arg=9, flags=ALLOC_HUGE)
    t._add(op=OP_FREE, pid=1, addr=7)
    a = t.array()
    for name, fmt in (("x.rmtxt", "text"), ("x.rmt", "native")):
        p = tmp_path / name
        write_trace(str(p), a, fmt)
        back = np.concatenate(list(open_trace(str(p)).chunks(1 << 10)))
        assert (back == a).all(), name
    assert "ALLOC 1 7 9 huge" in (tmp_path / "x.rmtxt").read_text()


def test_compare_contig_runs_each_strategy_and_the_published_shapes_hold(tmp_path, capsys):
    from rmapsim.cli import main
    from rmapsim.report import contig_table
    res = contig_table.measure(jobs=2)
    assert all(ok for _, _, ok in contig_table.anchors(res)), contig_table.markdown(res)
    assert main(["compare", "hugepages-under-build", "--contig", "none,compaction"]) == 0
    out = capsys.readouterr().out
    assert "contig" in out and "pages migrated" in out and "compaction" in out
    assert main(["compare", "hugepages-under-build", "--contig", "none,lumpyy"]) == 2


def test_the_one_line_result_stays_key_value_with_high_order_results():
    import json
    t = T().mmap(1, B, 4).w(1, B)
    t._add(op=OP_ALLOC, pid=0, addr=1, arg=3)
    line = rmapsim.run(t.trace(), frames=4096, contig="steal").format_line()
    tokens = dict(tok.split("=", 1) for tok in line.split(" "))
    assert tokens["contig"] == "steal"
    assert json.loads(tokens["highorder"])["3"]["at_once"] == 1
    assert len(json.loads(tokens["fragmentation"])["buddyinfo"]) == 11
