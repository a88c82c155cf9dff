"""The old virtual-scan kswapds (``virtual-2.0``, ``virtual-2.2``), one mechanism per test.

The state is built with the fault handler and fork on a machine large enough that nothing is
reclaimed behind the test's back; then the policy's own routines (``swap_out_process``,
``swap_out``, ``shrink_mmap``) are called one visit at a time, and what each visit does to
each pte and page is worked out by hand below. The invariants (chains, mapcounts, rss, swap
counts, free lists) are checked after every step. ``handle_mm_fault`` does not set the
accessed bit (the MMU's retried reference does, in replay), so a fresh pte here is old unless
a test makes it young.
"""
import numpy as np
import pytest

import rmapsim
from rmapsim.mm.debug import check_invariants
from rmapsim.mm.memory import handle_mm_fault
from rmapsim.mm.pgtable import pte_offset
from rmapsim.mm.fork import do_fork, do_mmap, mm_new
from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_PRESENT, _PTE_SWAP, COUNTERS, G_HAND,
                               PG_referenced, PG_swapcache)
from rmapsim.mm.vmscan import POLICIES
from rmapsim.mm.vmscan.hooks import bound_of
from rmapsim.mm.vmscan.policies import virtual20, virtual22
from rmapsim.sim.api import boot
from rmapsim.trace import from_pages, open_trace
from rmapsim.trace.events import MAP_FILE, MAP_SHARED, PROT_WRITE

from evtrace import P, T

A = 0x400000          # an anonymous heap
F = 0x10000000        # a file mapping
MAP_SHARED_FILE = MAP_FILE | MAP_SHARED | PROT_WRITE


def C(st, name):
    return int(st.cnt[COUNTERS.index(name)])


class Machine:
    """A booted machine under one policy, with helpers to build and inspect it."""

    def __init__(self, policy, frames=512):
        _, _, _, self.st, self.s = boot(policy=policy, frames=frames, check=True,
                                        params={"swap_pages": 64})
        b = bound_of(self.st)   # the policy's FIELDS: ps to read, pv for its routines' ps
        self.ps, self.pv = b.ps, b.view

    def ok(self):
        assert check_invariants(self.s) == 0

    def process(self, pid, addr=A, pages=4, flags=PROT_WRITE, fid=0):
        mm = mm_new(self.s, pid)
        do_mmap(self.s, mm, addr, pages * P, flags, fid, 0, 0)
        return mm

    def write(self, mm, addr):
        assert handle_mm_fault(self.s, mm, addr, True) == 0

    def pte(self, mm, addr):
        return int(self.st.pt[pte_offset(self.s, mm, addr)])

    def frame(self, mm, addr):
        e = self.pte(mm, addr)
        assert e & _PAGE_PRESENT
        return e >> 12

    def young(self, mm, addr):
        p = pte_offset(self.s, mm, addr)
        self.st.pt[p] |= _PAGE_ACCESSED


def test_both_policies_are_registered():
    for mod, name in ((virtual20, "virtual-2.0"), (virtual22, "virtual-2.2")):
        assert POLICIES[name] is mod and mod.KIND == "realistic"
        assert mod.MODELS.startswith("Linux 2.")


# ---- 2.0 ----------------------------------------------------------------------------------------

def test_v20_age_goes_from_3_to_0_over_three_unreferenced_scans_before_the_swap():
    m = Machine("virtual-2.0")
    mm = m.process(1, pages=1)
    m.write(mm, A)
    f = m.frame(mm, A)
    assert m.st.page_age[f] == virtual20.PAGE_INITIAL_AGE == 3
    # each visit finds the pte old: age_page, 3 -> 2 -> 1, nothing else; the scan reaches the
    # end of the address space and starts again from 0
    for age in (2, 1):
        assert virtual20.swap_out_process(m.s, mm) == 0
        assert m.st.page_age[f] == age and m.pte(mm, A) & _PAGE_PRESENT
        assert m.st.mm_swap_address[mm] == 0
        m.ok()
    # the third: age 0, a dirty anonymous page: a slot, the swap entry, one write, page freed
    assert virtual20.swap_out_process(m.s, mm) == virtual20.TSO_FREED
    e = m.pte(mm, A)
    assert e & _PTE_SWAP and m.st.swap_map[e >> 12] == 1
    assert C(m.st, "swap_outs") == 1 and C(m.st, "pages_freed") == 1
    assert m.st.mm_rss[mm] == 0 and m.st.mm_swapents[mm] == 1
    assert m.st.mm_swap_address[mm] == A + P          # it resumes after this pte
    m.ok()


def test_v20_young_pte_survives_a_scan_loses_its_accessed_bit_and_ages_up():
    m = Machine("virtual-2.0")
    mm = m.process(1, pages=2)
    m.write(mm, A)
    m.write(mm, A + P)
    f0, f1 = m.frame(mm, A), m.frame(mm, A + P)
    m.young(mm, A)
    assert virtual20.swap_out_process(m.s, mm) == 0
    assert not (m.pte(mm, A) & _PAGE_ACCESSED) and m.pte(mm, A) & _PAGE_PRESENT
    assert m.st.page_age[f0] == 6                     # touch_page: 3 + PAGE_ADVANCE
    assert m.st.page_age[f1] == 2                     # age_page: 3 - PAGE_DECLINE
    # touch_page saturates at MAX_PAGE_AGE
    for _ in range(10):
        m.young(mm, A)
        virtual20.swap_out_process(m.s, mm)
    assert m.st.page_age[f0] == virtual20.MAX_PAGE_AGE == 20
    m.ok()


def test_v20_shared_page_is_freed_only_when_both_ptes_were_unmapped_by_separate_visits():
    m = Machine("virtual-2.0")
    p1 = m.process(1, pages=1)
    m.write(p1, A)
    p2 = do_fork(m.s, p1, 2)            # both ptes map the page, both dirty (the bit is copied)
    f = m.frame(p1, A)
    assert m.frame(p2, A) == f and m.st.page_mapcount[f] == 2 and m.st.page_age[f] == 3
    # the age is the page's, the visits are the ptes': 3 -> 2 (via p1), 2 -> 1 (via p2)
    assert virtual20.swap_out_process(m.s, p1) == 0
    assert virtual20.swap_out_process(m.s, p2) == 0
    assert m.st.page_age[f] == 1
    # p1's visit takes it to 0: written to a slot, p1's pte gets the entry; p2 still maps the
    # page, so it is not freed (rss dropped: result 2) and stays in the swap cache
    assert virtual20.swap_out_process(m.s, p1) == virtual20.TSO_UNMAPPED
    s1 = m.pte(p1, A) >> 12
    assert m.pte(p1, A) & _PTE_SWAP and m.st.page_flags[f] & PG_swapcache
    assert m.st.page_count[f] == 2 and m.st.swap_map[s1] == 2    # p1's pte + the swap cache
    assert C(m.st, "pages_freed") == 0 and C(m.st, "swap_outs") == 1
    m.ok()
    # p2's pte is dirty while the page is in the swap cache: 2.0 takes that for a write since
    # the swap copy was made, drops the page from the swap cache and ages it up instead
    assert virtual20.swap_out_process(m.s, p2) == 0
    assert not (m.st.page_flags[f] & PG_swapcache) and m.st.page_age[f] == 3
    assert m.st.swap_map[s1] == 1                                # p1's entry alone
    m.ok()
    # three more unreferenced visits through p2: 3 -> 2 -> 1 -> 0, then a second write (2.0
    # swaps each pte on its own) and now the last reference is gone
    assert virtual20.swap_out_process(m.s, p2) == 0
    assert virtual20.swap_out_process(m.s, p2) == 0
    assert virtual20.swap_out_process(m.s, p2) == virtual20.TSO_FREED
    s2 = m.pte(p2, A) >> 12
    assert m.pte(p2, A) & _PTE_SWAP and s2 != s1
    assert C(m.st, "pages_freed") == 1 and C(m.st, "swap_outs") == 2
    assert m.st.mm_rss[p1] == 0 and m.st.mm_rss[p2] == 0
    m.ok()


def test_v20_swap_out_gives_each_process_age_cluster_size_attempts_round_robin():
    m = Machine("virtual-2.0")
    p1 = m.process(1, pages=2)
    p2 = m.process(2, pages=2)
    for mm in (p1, p2):
        m.write(mm, A)
        m.write(mm, A + P)
        for a in (A, A + P):
            m.st.page_age[m.frame(mm, a)] = 20      # nothing reaches age 0 here
    # priority 6: counter = (8 * 2) >> 6 = 0, one attempt: p1 gets swap_cnt
    # AGE_CLUSTER_SIZE(2) = max(2 / 32, 4) = 4, spends one; its scan reaches the end of the
    # address space having freed nothing (result 0), so swap_task moves on anyway
    assert virtual20.swap_out(m.s, m.pv, 6) == 0
    assert m.st.mm_swap_cnt[p1] == 3 and m.st.mm_swap_cnt[p2] == 0
    # priority 2: counter = 16 >> 2 = 4, five attempts, alternating: p2 (4 -> 3), p1 (3 -> 2),
    # p2 (3 -> 2), p1 (2 -> 1), p2 (2 -> 1)
    assert virtual20.swap_out(m.s, m.pv, 2) == 0
    assert m.st.mm_swap_cnt[p1] == 1 and m.st.mm_swap_cnt[p2] == 1
    # every attempt scans the whole (2-page) address space: p1 was visited 3 times, p2 3 times
    assert [m.st.page_age[m.frame(p1, a)] for a in (A, A + P)] == [17, 17]
    assert [m.st.page_age[m.frame(p2, a)] for a in (A, A + P)] == [17, 17]
    m.ok()
    # a pte unmapped from a page someone else still maps (result 2) keeps swap_task on the
    # same process: fork p1, make both of p1's pages age 1, then one attempt at priority 6
    p3 = do_fork(m.s, p1, 3)
    for a in (A, A + P):
        m.st.page_age[m.frame(p1, a)] = 1
    m.st.mm_swap_cnt[p1] = 0
    m.st.mm_swap_cnt[p2] = 0
    m.st.mm_swap_cnt[p3] = 0
    m.ps.swap_task[0] = p1
    assert virtual20.swap_out(m.s, m.pv, 6) == 0      # counter (8 * 3) >> 6 = 0: one attempt
    assert m.pte(p1, A) & _PTE_SWAP and m.pte(p1, A + P) & _PAGE_PRESENT
    assert m.st.mm_swap_cnt[p1] == 3 and m.ps.swap_task[0] == p1
    assert m.st.mm_swap_address[p1] == A + P
    m.ok()


def test_v20_shrink_mmap_frees_only_unmapped_cache_pages_after_a_second_chance():
    m = Machine("virtual-2.0")
    t = m.process(1, addr=F, pages=2, flags=MAP_SHARED_FILE, fid=7)
    assert handle_mm_fault(m.s, t, F, False) == 0
    assert handle_mm_fault(m.s, t, F + P, False) == 0
    mapped, unmapped = m.frame(t, F), m.frame(t, F + P)
    # drop the second page's pte as munmap would: it stays in the page cache, count 1
    from rmapsim.mm.mmap import do_munmap
    do_munmap(m.s, t, F + P, F + 2 * P)
    assert m.st.page_mapcount[unmapped] == 0 and m.st.page_count[unmapped] == 1
    m.st.page_flags[unmapped] |= PG_referenced
    m.st.g[G_HAND] = 0                                  # start the clock at frame 0
    assert max(mapped, unmapped) < 128
    # priority 6: count_max = 2N >> 3 = 128 frames, count_min = 2N >> 6 = 16 cache pages (only
    # two exist): frames 0..127 are looked at. The referenced page is spared (bit cleared), the
    # mapped one gets PG_referenced; nothing is freed and the hand stops at 128
    assert virtual20.shrink_mmap(m.s, 6) == 0
    assert not (m.st.page_flags[unmapped] & PG_referenced)
    assert m.st.page_flags[mapped] & PG_referenced
    assert m.st.g[G_HAND] == 128
    # the hand goes on from 128: the page is not reached
    assert virtual20.shrink_mmap(m.s, 6) == 0 and m.st.g[G_HAND] == 256
    # priority 0: count_max = 2N covers the whole of mem_map: the page goes, and the hand
    # stays on it (2.0 returns before advancing)
    assert virtual20.shrink_mmap(m.s, 0) == 1
    assert m.st.g[G_HAND] == unmapped
    assert C(m.st, "pages_freed") == 1 and m.st.page_count[mapped] == 2
    m.ok()


# ---- 2.2 ----------------------------------------------------------------------------------------

def test_v22_young_pte_moves_its_accessed_bit_into_pg_referenced():
    m = Machine("virtual-2.2")
    mm = m.process(1, pages=1)
    m.write(mm, A)
    f = m.frame(mm, A)
    m.young(mm, A)
    assert virtual22.swap_out_process(m.s, mm) == 0
    assert not (m.pte(mm, A) & _PAGE_ACCESSED) and m.pte(mm, A) & _PAGE_PRESENT
    assert m.st.page_flags[f] & PG_referenced
    # found nothing to do: swap_cnt and swap_address reset
    assert m.st.mm_swap_cnt[mm] == 0 and m.st.mm_swap_address[mm] == 0
    # the next visit finds it old: swap cache, written, I/O started; freed only by shrink_mmap
    assert virtual22.swap_out_process(m.s, mm) == 1
    assert m.pte(mm, A) & _PTE_SWAP and m.st.page_flags[f] & PG_swapcache
    assert C(m.st, "swap_outs") == 1 and C(m.st, "pages_freed") == 0
    m.ok()
    # shrink_mmap: the page is referenced and its slot is held by the pte as well as the cache
    # (swap_count 2, not 1): spared once, the bit cleared; the next pass frees it
    assert virtual22.shrink_mmap(m.s, 0) == 0
    assert not (m.st.page_flags[f] & PG_referenced)
    assert virtual22.shrink_mmap(m.s, 0) == 1
    assert C(m.st, "pages_freed") == 1 and m.st.swap_map[m.pte(mm, A) >> 12] == 1
    m.ok()


def test_v22_shared_page_needs_both_ptes_dropped_then_shrink_mmap():
    m = Machine("virtual-2.2")
    p1 = m.process(1, pages=1)
    m.write(p1, A)
    p2 = do_fork(m.s, p1, 2)
    f = m.frame(p1, A)
    # p1's visit: dirty anonymous -> slot, swap cache, write; returns 1 (I/O started)
    assert virtual22.swap_out_process(m.s, p1) == 1
    slot = m.pte(p1, A) >> 12
    assert m.st.page_flags[f] & PG_swapcache and m.st.swap_map[slot] == 2
    # shrink_mmap cannot free it: p2 still maps it
    assert virtual22.shrink_mmap(m.s, 0) == 0 and m.st.page_count[f] == 2
    m.ok()
    # p2's visit: the page is in the swap cache, so p2's pte takes the same entry (no I/O)
    assert virtual22.swap_out_process(m.s, p2) == 0
    assert m.pte(p2, A) == m.pte(p1, A) and m.st.swap_map[slot] == 3
    assert m.st.page_count[f] == 1 and C(m.st, "swap_outs") == 1
    assert C(m.st, "pages_freed") == 0
    m.ok()
    # now only the swap cache holds it: shrink_mmap frees it
    assert virtual22.shrink_mmap(m.s, 0) == 1
    assert C(m.st, "pages_freed") == 1 and m.st.swap_map[slot] == 2
    m.ok()


def test_v22_swap_out_picks_the_largest_shadow_rss_and_walks_it_in_virtual_order():
    m = Machine("virtual-2.2")
    big = m.process(1, pages=3)
    small = m.process(2, pages=1)
    for a in (A + 2 * P, A, A + P):            # fault order is not scan order
        m.write(big, a)
    m.write(small, A)
    # nr_tasks 2: counter = clamp(2 // 7, 1, 2) = 1. All swap_cnt 0: refill with rss (3, 1);
    # the big process is chosen and its first pte in address order is swapped
    slots = []
    for k in range(3):
        assert virtual22.swap_out(m.s, 6) == 1
        assert m.st.mm_swap_cnt[big] == 3 and m.st.mm_swap_cnt[small] == 1   # not decremented
        e = m.pte(big, A + k * P)
        assert e & _PTE_SWAP
        slots.append(e >> 12)
        assert m.st.mm_swap_address[big] == A + (k + 1) * P
        m.ok()
    assert slots == sorted(slots) and m.st.mm_rss[small] == 1
    # the big one has no rss left: the small one is next
    assert virtual22.swap_out(m.s, 6) == 1
    assert m.pte(small, A) & _PTE_SWAP and C(m.st, "swap_outs") == 4
    m.ok()


def test_v22_clean_file_page_stays_in_the_page_cache_until_shrink_mmap():
    m = Machine("virtual-2.2")
    t = m.process(1, addr=F, pages=1, flags=MAP_SHARED_FILE, fid=7)
    assert handle_mm_fault(m.s, t, F, False) == 0
    f = m.frame(t, F)
    assert virtual22.swap_out_process(m.s, t) == 0     # clean: pte dropped, no I/O
    assert m.pte(t, F) == 0 and m.st.page_count[f] == 1 and m.st.page_mapping[f] >= 0
    assert C(m.st, "pages_freed") == 0
    assert virtual22.shrink_mmap(m.s, 6) == 1
    assert C(m.st, "pages_freed") == 1 and C(m.st, "writebacks") == 0
    m.ok()


# ---- whole runs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["virtual-2.0", "virtual-2.2"])
def test_shared_anonymous_and_file_pages_under_pressure_lose_nothing(policy):
    # two processes share a dirty file mapping, a shared anonymous region and forked private
    # pages, on a machine that must reclaim all of them several times
    t = T().file(7, 64)
    t.mmap(1, A, 96).mmap(1, F, 64, file=7, shared=True).mmap(1, F + 0x1000000, 32, shared=True)
    for k in range(96):
        t.w(1, A + k * P)
    t.fork(1, 2)
    for rnd in range(3):
        for k in range(64):
            t.w(1 + (k + rnd) % 2, F + k * P)
        for k in range(32):
            t.w(1 + k % 2, F + 0x1000000 + k * P).r(2 - k % 2, F + 0x1000000 + k * P)
        for k in range(0, 96, 3):
            t.r(2, A + k * P).w(1, A + ((k + rnd) % 96) * P)
    r = rmapsim.run(t.trace(), frames=160, policy=policy, check=True, check_every=1,
                    params={"swap_pages": 512})
    assert r.violation is None, r.violation
    d = r.to_dict()
    assert d["integrity_errors"] == 0 and d["oom_kills"] == 0
    assert d["swap_outs"] > 0 and d["swap_ins"] > 0 and d["writebacks"] > 0
    assert d["pages_freed"] > 0 and d["ptes_visited"] > 0


@pytest.mark.parametrize("policy", ["virtual-2.0", "virtual-2.2"])
@pytest.mark.parametrize("geometry", ["x86-64", "i386"])
def test_real_trace_in_kernel_mode_with_every_check(policy, geometry):
    path = "/work/shared/data/spec2000/mcf.pages.gz"
    try:
        tr = open_trace(path)
    except Exception:
        pytest.skip("shared/data is not present")
    r = rmapsim.run(tr, frames=256, policy=policy, check=True, check_every=97,
                    params={"geometry": geometry, "swap_pages": 8192})
    assert r.violation is None, r.violation
    d = r.to_dict()
    assert d["integrity_errors"] == 0 and d["oom_kills"] == 0
    assert d["pages_freed"] > 0 and d["swap_outs"] > 0


@pytest.mark.parametrize("policy", ["virtual-2.0", "virtual-2.2"])
def test_cache_mode_page_trace_loses_nothing(policy):
    rng = np.random.default_rng(5)
    pages = np.concatenate([rng.integers(0, 40, 3000), np.arange(200), rng.integers(0, 40, 2000)])
    writes = rng.random(len(pages)) < 0.3
    d = rmapsim.run(from_pages(pages, writes), frames=32, cache_mode=True, policy=policy,
                    check=True, check_every=1).to_dict()
    assert d["integrity_errors"] == 0
    assert d["misses"] >= len(set(pages.tolist()))
