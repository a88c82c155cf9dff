"""The reference policies arc, sieve and s3fifo.

- hand-computed reference strings, checked step by step against the policy's own state (its
  lists, visited bits / counts, ghosts, ARC's p, SIEVE's hand);
- exact agreement with libCacheSim in cache mode: the cloudPhysicsIO object-count table and the
  LIRS / SPEC2000 fault tables of /work/shared/data/reference (a spread of rows by default, every
  row with ``RMAPSIM_FULL_AGREEMENT=1``), and, if the libcachesim binding is installed, random
  traces replayed by both;
- the one documented difference: S3-FIFO below 20 frames;
- kernel mode: random event sequences in check mode, and the policies' lists hold exactly the
  pages on the LRU (no stale frame, no lost page, every ghost a ghost).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import rmapsim
from rmapsim.mm.pgtable import pte_offset
from rmapsim.mm.fork import setup_bare
from rmapsim.mm.state import (COUNTERS, DONE, G_NR_FRAMES, STOP_BAD_EVENT, STOP_INTEGRITY,
                              _PAGE_PRESENT, PG_lru, as_struct, grow)
from rmapsim.mm.vmscan import POLICIES
from rmapsim.mm.vmscan.hooks import bound_of
from rmapsim.mm.vmscan.policies import arc, s3fifo, sieve
from rmapsim.mm.vmscan.nodes import key_node
from rmapsim.sim.api import NO_FUTURE, boot
from rmapsim.sim.replay import replay_chunk, replay_refs
from rmapsim.trace import from_events, from_pages
from rmapsim.trace.events import refs_from_pages

from test_kernel_random import build, event, fork_to_live_pid_is_refused

DATA = Path("/work/shared/data")
REF = DATA / "reference"
FULL = os.environ.get("RMAPSIM_FULL_AGREEMENT", "") not in ("", "0")
needs_data = pytest.mark.skipif(not DATA.exists(), reason=f"{DATA} not present")
MISSES = COUNTERS.index("misses")
PAGE_MASK = (1 << 36) - 1
NAMES = {"ARC": "arc", "S3FIFO": "s3fifo", "Sieve": "sieve"}

try:
    import libcachesim as lcs
except ImportError:                                     # optional GPL extra
    lcs = None
needs_libcachesim = pytest.mark.skipif(lcs is None, reason="libcachesim is not installed")


class Cache:
    """Cache mode, one reference at a time, with the policy's state readable by page number."""

    def __init__(self, policy, frames, **params):
        _, _, _, self.st, self.s = boot(policy=policy, frames=frames, cache_mode=True,
                                        params=params)
        self.mm = setup_bare(self.s)
        self.seen = set()

    def ref(self, page):
        """Reference page; True on a hit."""
        m0 = int(self.st.cnt[MISSES])
        refs = refs_from_pages(np.array([page], np.uint64))
        while True:
            status, _ = replay_refs(self.s, refs, 0, 0, NO_FUTURE)
            if status == DONE:
                break
            self.st = grow(self.st, status)
            self.s = as_struct(self.st)
        self.seen.add(page)
        return int(self.st.cnt[MISSES]) == m0

    def run(self, pages):
        return "".join("h" if self.ref(p) else "m" for p in pages)

    def frame(self, page):
        e = int(self.st.pt[pte_offset(self.s, self.mm, page << 12)])
        return e >> 12 if e & _PAGE_PRESENT else -1

    def page(self, node):
        if node >= self.st.g[G_NR_FRAMES]:                 # a ghost: its key is the page
            return int(self.st.node_key[node]) & PAGE_MASK
        return next(p for p in self.seen if self.frame(p) == node)

    def lst(self, k):
        """Pages on list k, oldest (LRU end) first."""
        out, node = [], int(self.st.list_head[k])
        while node >= 0:
            out.append(self.page(node))
            node = int(self.st.node_next[node])
        assert len(out) == self.st.list_len[k]
        return out

    def val(self, page):
        return int(self.st.node_val[self.frame(page)])

    def arc_p(self):
        return float(bound_of(self.st).ps.p[0])


# ---- SIEVE --------------------------------------------------------------------------------------

def test_sieve_hand_and_visited_bits():
    c = Cache("sieve", 3)
    q = sieve.QUEUE

    def hand():
        h = int(bound_of(c.st).ps.hand[0])
        return None if h < 0 else c.page(h)

    assert c.run([1, 2, 3]) == "mmm"
    assert c.lst(q) == [1, 2, 3] and hand() is None
    assert c.run([1]) == "h" and c.val(1) == 1           # a hit sets the bit, moves nothing
    assert c.lst(q) == [1, 2, 3]
    # 4: the hand starts at the oldest page, clears 1's bit, evicts 2 and rests on 3
    assert c.run([4]) == "m"
    assert c.lst(q) == [1, 3, 4] and hand() == 3 and c.val(1) == 0
    # CLOCK would have moved 1 behind 3; SIEVE leaves survivors in place
    assert c.run([1, 3]) == "hh"
    # 5: the hand clears 3, evicts 4 (the youngest) and falls off the young end
    assert c.run([5]) == "m"
    assert c.lst(q) == [1, 3, 5] and hand() is None and c.val(3) == 0 and c.val(1) == 1
    # 6: from the oldest again: clears 1, evicts 3, rests on 5
    assert c.run([6]) == "m"
    assert c.lst(q) == [1, 5, 6] and hand() == 5 and c.val(1) == 0
    assert c.run([1, 4]) == "hm"                          # 4 evicted 5, the hand's page
    assert c.lst(q) == [1, 6, 4] and hand() == 6


# ---- ARC ----------------------------------------------------------------------------------------

def arc_state(c):
    return c.lst(arc.T1), c.lst(arc.T2), c.lst(arc.B1), c.lst(arc.B2), c.arc_p()


def test_arc_ghost_hits_adapt_p_and_the_b2_tie():
    """c = 3; lists LRU end first. Every step computed by hand from the rules in arc.py."""
    c = Cache("arc", 3)
    assert c.run([2, 2, 5, 4]) == "mhmm"
    assert arc_state(c) == ([5, 4], [2], [], [], 0.0)
    # 3: a plain miss; |T1| + |B1| + 1 = 3 is not > 3, so REPLACE: |T1| = 2 > p = 0, T1's LRU
    # page 5 goes to B1
    assert c.run([3]) == "m"
    assert arc_state(c) == ([4, 3], [2], [5], [], 0.0)
    # 5: hit in B1: p += max(|B2| / |B1|, 1) = 1; REPLACE: |T1| = 2 > 1, 4 to B1; 5 enters T2
    assert c.run([5]) == "m"
    assert arc_state(c) == ([3], [2, 5], [4], [], 1.0)
    # 4: hit in B1: p = 2; REPLACE: |T1| = 1 is not > 2, so T2's LRU page 2 goes to B2
    assert c.run([4]) == "m"
    assert arc_state(c) == ([3], [5, 4], [], [2], 2.0)
    # 2: hit in B2: p -= max(|B1| / |B2|, 1) = 1; REPLACE: |T1| == p and the miss is in B2, so
    # T1's 3 goes (without the tie rule T2's 5 would)
    assert c.run([2]) == "m"
    assert arc_state(c) == ([], [5, 4, 2], [3], [], 1.0)
    # 3: hit in B1 with T1 empty: p = 2, REPLACE must take T2's LRU page
    assert c.run([3]) == "m"
    assert arc_state(c) == ([], [4, 2, 3], [], [5], 2.0)
    assert c.run([4, 2]) == "hh"
    assert arc_state(c) == ([], [3, 4, 2], [], [5], 2.0)


def test_arc_case_a_and_fractional_p():
    # |T1| = c with B1 empty: T1's LRU page is dropped without a ghost (case IV A)
    c = Cache("arc", 2)
    assert c.run([1, 2, 3, 1]) == "mmmm"
    assert arc_state(c) == ([3, 1], [], [], [], 0.0)
    # p is a double (libCacheSim ARC.c): a B1 hit with |B2| / |B1| = 3 / 2 moves it by 1.5
    c = Cache("arc", 5)
    assert c.run([2, 6, 4, 10, 1, 2, 6, 1, 4, 10]) == "m" * 5 + "h" * 5
    assert arc_state(c) == ([], [2, 6, 1, 4, 10], [], [], 0.0)
    # 7: T1 is empty, so REPLACE takes T2's LRU page 2 whatever p says
    assert c.run([7, 8, 9]) == "mmm"
    assert arc_state(c) == ([9], [6, 1, 4, 10], [7, 8], [2], 0.0)
    # 8 in B1: p += max(1 / 2, 1) = 1; |T1| = 1 is not > 1: T2's 6 goes to B2
    assert c.run([8, 3, 5]) == "mmm"
    assert arc_state(c) == ([3, 5], [4, 10, 8], [7, 9], [2, 6, 1], 1.0)
    assert c.run([9]) == "m"
    assert arc_state(c) == ([3, 5], [10, 8, 9], [7], [2, 6, 1, 4], 2.5)


# ---- S3-FIFO ------------------------------------------------------------------------------------

def test_s3fifo_small_main_ghost():
    """c = 20: small S = int(20 * 0.1) = 2, main M = 18, ghost G = int(20 * 0.9) = 18."""
    c = Cache("s3fifo", 20)
    S, M, G = s3fifo.SMALL, s3fifo.MAIN, s3fifo.GHOST
    main0 = list(range(3, 21))
    # 1 and 2 fill S; while nothing was evicted, the rest go straight to M
    assert c.run(range(1, 21)) == "m" * 20
    assert c.lst(S) == [1, 2] and c.lst(M) == main0 and c.lst(G) == []
    assert c.run([1, 1]) == "hh" and c.val(1) == 2
    # 21: |M| = 18 is not over 18, so evict from S: 1 (count 2 >= threshold 2) moves to M with
    # count 0, 2 (count 0) is freed and remembered in G; 21 enters S
    assert c.run([21]) == "m"
    assert c.lst(S) == [21] and c.lst(M) == main0 + [1] and c.lst(G) == [2] and c.val(1) == 0
    # 2: a ghost hit: out of G, into M; M is over its size, so M's oldest (3, count 0) goes,
    # and not to G
    assert c.run([2]) == "m"
    assert c.lst(S) == [21] and c.lst(M) == main0[1:] + [1, 2] and c.lst(G) == []
    # M is a 2-bit CLOCK: 4 (count 3) is reinserted with 2, 5 (count 1) with 0, 6 goes
    assert c.run([4, 4, 4, 5, 22]) == "hhhhm"
    assert c.lst(M) == list(range(7, 21)) + [1, 2, 4, 5]
    assert c.val(4) == 2 and c.val(5) == 0 and c.lst(S) == [21, 22]
    # 22 referenced once stays below the threshold: when S is evicted it goes to G
    assert c.run([22, 23]) == "hm"
    assert c.lst(S) == [22, 23] and c.lst(G) == [21]
    assert c.run([24]) == "m"
    assert c.lst(S) == [23, 24] and c.lst(G) == [21, 22]


def test_s3fifo_paper_threshold_and_ghost_size():
    # move_threshold=1 (the paper's rule): one reference in S is enough to reach M
    for thr, main_end, ghost in ((1, 2, [1, 21]), (2, 20, [1, 2])):
        c = Cache("s3fifo", 20, move_threshold=thr)
        c.run(range(1, 21))
        assert c.run([2, 21, 22]) == "hmm"       # 21 evicts 1; 22 evicts 2 or moves it
        assert c.lst(s3fifo.MAIN)[-1] == main_end and c.lst(s3fifo.GHOST) == ghost
    # the ghost FIFO keeps int(c * ghost_ratio) keys, dropping the oldest
    c = Cache("s3fifo", 20, ghost_ratio=0.1)              # G holds 2 keys
    c.run(range(1, 25))
    assert c.lst(s3fifo.GHOST) == [21, 22]


# ---- agreement with libCacheSim -----------------------------------------------------------------

CLOUD_SIZES = [2, 5, 20, 100, 1000, 5000, 10000, 30000]


def _objcount_rows():
    path = REF / "libcachesim_objcount_reference.csv"
    if not path.exists():
        return []
    rows = [r for r in csv.DictReader(open(path, newline="")) if r["algorithm"] in NAMES]
    if not FULL:
        rows = [r for r in rows if int(r["cache_size_objects"]) in CLOUD_SIZES]
    return [pytest.param(r, id=f"{r['algorithm']}-{r['cache_size_objects']}") for r in rows]


@needs_data
@pytest.mark.parametrize("row", _objcount_rows())
def test_cloudphysics_objcount(row):
    from test_agreement_libcachesim import CLOUD_TXT
    n = int(row["cache_size_objects"])
    r = rmapsim.run(CLOUD_TXT, frames=n, cache_mode=True, policy=NAMES[row["algorithm"]])
    assert r.counters["misses"] == int(row["misses"])


def _fault_rows():
    rows = []
    for name in ("reference_faults_lirs.csv", "reference_faults_ucsd.csv"):
        if (REF / name).exists():
            rows += [r for r in csv.DictReader(open(REF / name, newline=""))
                     if r["algorithm"] in NAMES]
    if not FULL:
        # every trace and algorithm once, at a size that moves along the trace's sizes, and
        # only the first two SPEC traces (half a million references each)
        by = {}
        for r in rows:
            by.setdefault((r["trace"], r["algorithm"]), []).append(r)
        spec = sorted({t for t, _ in by if t.startswith("spec2000/")})[:2]
        keep = []
        for i, ((trace, _), rs) in enumerate(sorted(by.items())):
            if trace.startswith("spec2000/") and trace not in spec:
                continue
            rs = sorted(rs, key=lambda r: int(r["frames"]))
            keep.append(rs[(3 * i) % len(rs)])
        rows = keep
    return [pytest.param(r, id=f"{r['trace'].split('/')[-1].split('.')[0]}-{r['algorithm']}-"
                               f"{r['frames']}") for r in rows]


@needs_data
@pytest.mark.parametrize("row", _fault_rows())
def test_reference_faults(row):
    from test_agreement_libcachesim import load_page_trace
    pages, _ = load_page_trace(row["trace"])
    r = rmapsim.run(from_pages(pages), cache_mode=True, frames=int(row["frames"]),
                    policy=NAMES[row["algorithm"]])
    assert r.counters["misses"] == int(row["misses_libcachesim"])


def lcs_misses(algorithm, frames, pages):
    cache = getattr(lcs, algorithm)(cache_size=frames)
    misses = 0
    for p in pages:
        req = lcs.Request()
        req.obj_id = int(p) + 1
        req.obj_size = 1
        misses += not cache.get(req)
    return misses


@needs_libcachesim
@pytest.mark.parametrize("algorithm", sorted(NAMES))
@pytest.mark.parametrize("seed", range(4))
def test_live_libcachesim_random(algorithm, seed):
    rng = np.random.default_rng(seed)
    for _ in range(6):
        frames = int(rng.integers(20 if algorithm == "S3FIFO" else 2, 60))
        n = int(rng.integers(frames + 2, 4 * frames + 4))
        # a hot set and a scan: ghost hits, promotions and demotions all happen
        pages = np.where(rng.random(3000) < 0.6, rng.integers(0, n // 3 + 1, 3000),
                         rng.integers(0, n, 3000)).astype(np.uint64)
        r = rmapsim.run(from_pages(pages), cache_mode=True, frames=frames,
                        policy=NAMES[algorithm])
        assert r.counters["misses"] == lcs_misses(algorithm, frames, pages), (frames, n)


@needs_libcachesim
def test_s3fifo_below_20_frames_is_the_documented_difference():
    """libCacheSim's S3FIFO refuses to insert a page not in its ghost when the small FIFO holds
    fewer than 2 objects (S3FIFO_insert: obj_size >= small_fifo->cache_size), and nothing reaches
    the ghost, so from 10 to 19 frames it caches nothing (below 10, a small FIFO of 0 objects,
    the binding rejects the configuration and aborts). A page fault cannot be refused."""
    pages = np.array([1, 2, 1, 2, 3, 1, 2, 3] * 20, np.uint64)
    for frames in (10, 19):
        assert lcs_misses("S3FIFO", frames, pages) == len(pages)
        r = rmapsim.run(from_pages(pages), cache_mode=True, frames=frames, policy="s3fifo")
        assert r.counters["misses"] < len(pages) // 2
    assert lcs_misses("S3FIFO", 20, pages) == rmapsim.run(
        from_pages(pages), cache_mode=True, frames=20, policy="s3fifo").counters["misses"]


# ---- kernel mode --------------------------------------------------------------------------------

RESIDENT = {"arc": (arc.T1, arc.T2), "s3fifo": (s3fifo.SMALL, s3fifo.MAIN), "sieve": (sieve.QUEUE,)}
GHOSTS = {"arc": (arc.B1, arc.B2), "s3fifo": (s3fifo.GHOST,), "sieve": ()}


def check_lists(st, s, policy):
    """The policy's resident lists hold exactly the frames on the LRU, its ghost lists only
    ghosts, every other list is empty, and every bound key finds its node."""
    n = int(st.g[G_NR_FRAMES])
    lru = {f for f in range(n) if st.page_flags[f] & PG_lru}
    on = []
    for k in range(len(st.list_len)):
        nodes, node = [], int(st.list_head[k])
        while node >= 0:
            assert st.node_list[node] == k
            nodes.append(node)
            node = int(st.node_next[node])
        assert len(nodes) == st.list_len[k]
        if k in RESIDENT[policy]:
            on += nodes
        elif k in GHOSTS[policy]:
            assert all(x >= n for x in nodes)
        else:
            assert nodes == []
        for x in nodes:
            if st.node_key[x] >= 0:
                assert key_node(s, st.node_key[x]) == x
    assert sorted(on) == sorted(lru)
    if policy == "s3fifo":
        assert st.list_len[s3fifo.GHOST] <= int(n * 0.9)


def run_events(a, policy, frames, swap, geometry):
    _, _, _, st, s = boot(policy=policy, frames=frames, check=True,
                          params={"geometry": geometry, "swap_pages": swap})
    i = 0
    while True:
        status, i = replay_chunk(s, a, i, 1, NO_FUTURE)
        if status == DONE:
            break
        assert status not in (STOP_BAD_EVENT, STOP_INTEGRITY)
        st = grow(st, status)
        s = as_struct(st)
    return st, s


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=st.lists(event(), min_size=1, max_size=160),
       geometry=st.sampled_from(["x86-64", "i386"]),
       policy=st.sampled_from(["arc", "s3fifo", "sieve"]),
       frames=st.sampled_from([48, 64, 96]),
       swap=st.sampled_from([8, 32, 256]))
def test_kernel_mode_random_events(evs, geometry, policy, frames, swap):
    a = fork_to_live_pid_is_refused(build(evs))
    r = rmapsim.run(from_events(a), frames=frames, policy=policy, check=True, check_every=1,
                    params={"geometry": geometry, "swap_pages": swap})
    assert r.violation is None, r.violation
    assert r.to_dict()["integrity_errors"] == 0
    st_, s = run_events(a, policy, frames, swap, geometry)
    check_lists(st_, s, policy)


def test_registered():
    for mod, id_ in ((arc, 6), (s3fifo, 8), (sieve, 9)):
        assert POLICIES[mod.NAME] is mod and mod.ID == list(POLICIES).index(mod.NAME) and mod.KIND == "reference"
