"""The list-based kswapds (``lists-2.4``, ``lists-2.6``), one state transition per test.

As in test_virtual_scan.py, the state is built with the fault handler on a machine large enough
that nothing is reclaimed behind the test's back; then the policy's own routines are called and
what they do to each page is worked out by hand. ``handle_mm_fault`` leaves the pte old (the
MMU's retried reference sets the accessed bit in replay), so a test makes a pte young itself.
The invariants are checked after every step; the end-to-end runs are in check mode.
"""
import rmapsim
from rmapsim.mm.debug import check_invariants
from rmapsim.mm.memory import handle_mm_fault
from rmapsim.mm.mmap import do_munmap
from rmapsim.mm.pgtable import pte_offset
from rmapsim.mm.fork import do_mmap, mm_new
from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_PRESENT, _PTE_SWAP, COUNTERS, PG_active,
                               PG_dirty, PG_referenced, PG_swapcache)
from rmapsim.mm.vmscan import POLICIES
from rmapsim.mm.vmscan.hooks import bound_of
from rmapsim.mm.vmscan.policies import lists24 as L4, lists24_aging as AG, lists26 as L6
from rmapsim.sim.api import boot
from rmapsim.trace.events import MAP_FILE, MAP_SHARED, PROT_WRITE

from evtrace import P, T

A = 0x400000          # an anonymous heap
F = 0x10000000        # a file mapping
MAP_SHARED_FILE = MAP_FILE | MAP_SHARED | PROT_WRITE


def C(st, name):
    return int(st.cnt[COUNTERS.index(name)])


class Machine:
    def __init__(self, policy, frames=512, **params):
        _, _, _, self.st, self.s = boot(policy=policy, frames=frames, check=True,
                                        params=dict({"swap_pages": 64}, **params))
        b = bound_of(self.st)   # the policy's FIELDS: ps to read, pv for its routines' ps
        self.ps, self.pv = b.ps, b.view

    def ok(self):
        assert check_invariants(self.s) == 0

    def process(self, pid, addr=A, pages=4, flags=PROT_WRITE, fid=0):
        mm = mm_new(self.s, pid)
        do_mmap(self.s, mm, addr, pages * P, flags, fid, 0, 0)
        return mm

    def fault(self, mm, addr, write):
        assert handle_mm_fault(self.s, mm, addr, write) == 0
        return self.frame(mm, addr)

    def pte(self, mm, addr):
        return int(self.st.pt[pte_offset(self.s, mm, addr)])

    def frame(self, mm, addr):
        e = self.pte(mm, addr)
        assert e & _PAGE_PRESENT
        return e >> 12

    def young(self, mm, addr):
        self.st.pt[pte_offset(self.s, mm, addr)] |= _PAGE_ACCESSED

    def on(self, f):
        return int(self.st.node_list[f])

    def flags(self, f):
        return int(self.st.page_flags[f])


def run(t, policy, frames=64, **params):
    r = rmapsim.run(t.trace(), frames=frames, policy=policy, check=True, check_every=1,
                    params=dict({"swap_pages": 128}, **params))
    assert r.violation is None, r.violation
    d = r.to_dict()
    assert d["integrity_errors"] == 0
    return d


def test_both_designs_are_registered():
    for mod, name, ident in ((L4, "lists-2.4", 11), (L6, "lists-2.6", 12)):
        assert POLICIES[name] is mod and mod.ID == list(POLICIES).index(name) and mod.KIND == "realistic"
    assert L6.PARAMS["swappiness"][0] == 60


# ---- 2.4.0 -----------------------------------------------------------------------------------

def test_l24_new_pages_anonymous_off_the_lists_cache_pages_active_and_aged_up():
    m = Machine("lists-2.4")
    mm = m.process(1)
    a = m.fault(mm, A, True)
    assert m.on(a) == -1 and m.st.page_age[a] == L4.PAGE_AGE_START == 2
    t = m.process(2, addr=F, pages=2, flags=MAP_SHARED_FILE, fid=7)
    f = m.fault(t, F, False)
    # lru_cache_add, then filemap_nopage's lookup: age_page_up, 2 + 3
    assert m.on(f) == L4.ACTIVE and m.st.page_age[f] == 5
    assert m.ps.memory_pressure[0] == 2    # memory_pressure: one per allocation
    m.ok()


def test_l24_refill_inactive_scan_halves_ages_and_deactivates_unmapped_pages_at_zero():
    m = Machine("lists-2.4")
    t = m.process(1, addr=F, pages=2, flags=MAP_SHARED_FILE, fid=7)
    mapped = m.fault(t, F, False)
    cached = m.fault(t, F + P, False)
    do_munmap(m.s, t, F + P, F + 2 * P)     # still in the page cache, count 1
    assert m.st.page_count[cached] == 1 and m.st.page_count[mapped] == 2
    # priority 0: every active page once; ages 5 -> 2 -> 1 -> 0
    for age in (2, 1):
        assert not L4.refill_inactive_scan(m.s, m.pv, 0, False)
        assert m.st.page_age[cached] == age and m.on(cached) == L4.ACTIVE
    assert L4.refill_inactive_scan(m.s, m.pv, 0, False)
    assert m.st.page_age[cached] == 0 and m.on(cached) == L4.INACTIVE_DIRTY
    # the mapped page reached age 0 as well but has a user besides the cache
    assert m.st.page_age[mapped] == 0 and m.on(mapped) == L4.ACTIVE
    # PG_referenced ages up by PAGE_AGE_ADV, capped at PAGE_AGE_MAX
    m.st.page_flags[mapped] |= PG_referenced
    L4.refill_inactive_scan(m.s, m.pv, 0, False)
    assert m.st.page_age[mapped] == 5 and not m.flags(mapped) & PG_referenced
    for _ in range(30):
        m.st.page_flags[mapped] |= PG_referenced
        L4.refill_inactive_scan(m.s, m.pv, 0, False)
    assert m.st.page_age[mapped] == AG.PAGE_AGE_MAX == 64
    m.ok()


def test_l24_swap_out_ages_through_the_pte_then_unmaps_into_the_swap_cache():
    m = Machine("lists-2.4")
    mm = m.process(1)
    f = m.fault(mm, A, True)
    pte = pte_offset(m.s, mm, A)
    m.st.mm_swap_cnt[mm] = 10
    # a young pte: the bit is cleared and the page ages up (2 -> 5)
    m.young(mm, A)
    assert L4.try_to_swap_out(m.s, m.pv, mm, pte) == 0
    assert m.st.page_age[f] == 5 and not m.pte(mm, A) & _PAGE_ACCESSED
    assert m.st.mm_swap_cnt[mm] == 9       # swap_cnt is spent per pte examined
    # old: not on the active list, so the age halves (5 -> 2 -> 1 -> 0); at 0 it goes
    for age in (2, 1):
        L4.try_to_swap_out(m.s, m.pv, mm, pte)
        assert m.st.page_age[f] == age and m.pte(mm, A) & _PAGE_PRESENT
    L4.try_to_swap_out(m.s, m.pv, mm, pte)
    e = m.pte(mm, A)
    assert e & _PTE_SWAP and m.flags(f) & PG_swapcache and m.flags(f) & PG_dirty
    # add_to_swap_cache + lru_cache_add of a page of age 0: straight to inactive_dirty, not
    # written yet (page_launder will)
    assert m.on(f) == L4.INACTIVE_DIRTY and C(m.st, "swap_outs") == 0
    assert m.st.page_count[f] == 1 and m.st.mm_rss[mm] == 0
    # a spent swap_cnt: the scan of this mm stops (returns 1) at the next present pte
    m.fault(mm, A + P, True)
    m.st.mm_swap_cnt[mm] = 0
    assert L4.try_to_swap_out(m.s, m.pv, mm, pte) == 0
    assert L4.try_to_swap_out(m.s, m.pv, mm, pte_offset(m.s, mm, A + P)) == 1
    m.ok()


def test_l24_launder_rotates_dirty_pages_first_and_writes_them_only_under_free_shortage():
    m = Machine("lists-2.4")
    mm = m.process(1)
    f = m.fault(mm, A, True)
    pte = pte_offset(m.s, mm, A)
    m.st.page_age[f] = 0
    m.st.mm_swap_cnt[mm] = 10
    L4.try_to_swap_out(m.s, m.pv, mm, pte)
    assert m.on(f) == L4.INACTIVE_DIRTY
    # plenty of free memory: one loop, the dirty page only rotates
    assert L4.free_shortage(m.s, m.pv) == 0
    assert L4.page_launder(m.s, m.pv) == 0
    assert m.on(f) == L4.INACTIVE_DIRTY and C(m.st, "swap_outs") == 0
    # a pending allocation is a free shortage: the second loop launders it to inactive_clean
    m.ps.need[0] = 1
    assert L4.page_launder(m.s, m.pv) == 1
    m.ps.need[0] = 0
    assert m.on(f) == L4.INACTIVE_CLEAN and not m.flags(f) & PG_dirty
    assert C(m.st, "swap_outs") == 1
    m.ok()
    # reclaim_page frees it; the swap entry in the pte keeps the contents
    assert L4.reclaim_page(m.s, m.pv)
    assert C(m.st, "pages_freed") == 1 and m.st.swap_map[m.pte(mm, A) >> 12] == 1
    m.ok()
    g = m.fault(mm, A, False)
    assert C(m.st, "swap_ins") == 1 and m.flags(g) & PG_swapcache
    m.ok()


def test_l24_reclaim_page_sends_used_pages_back_to_active():
    m = Machine("lists-2.4")
    t = m.process(1, addr=F, pages=3, flags=MAP_SHARED_FILE, fid=7)
    pages = [m.fault(t, F + k * P, False) for k in range(3)]
    do_munmap(m.s, t, F, F + 3 * P)
    for f in pages:
        m.st.page_age[f] = 0
        AG.list_move_tail(m.s, L4.INACTIVE_CLEAN, f)
    m.st.page_flags[pages[0]] |= PG_referenced     # referenced: active
    m.st.page_age[pages[1]] = 1                     # aged: active
    m.st.page_flags[pages[2]] |= PG_dirty           # dirty: back to inactive_dirty
    assert not L4.reclaim_page(m.s, m.pv)
    assert [m.on(f) for f in pages] == [L4.ACTIVE, L4.ACTIVE, L4.INACTIVE_DIRTY]
    assert C(m.st, "pages_freed") == 0
    m.ok()


def test_l24_inactive_target_follows_memory_pressure():
    m = Machine("lists-2.4")
    m.ps.memory_pressure[0] = 64 * 10
    assert L4.inactive_target(m.s, m.pv) == 10
    m.ps.memory_pressure[0] = 1 << 30
    assert L4.inactive_target(m.s, m.pv) == 512 // 4    # num_physpages / 4
    high = int(m.st.g[3])
    free = int(m.st.g[0])
    assert L4.inactive_shortage(m.s, m.pv) == max(0, high + 128 - free)


def test_l24_end_to_end_swaps_and_writes_back_without_losing_anything():
    t = T().mmap(1, A, 60).mmap(1, F, 30, file=3, shared=True)
    for k in range(60):
        t.w(1, A + k * P)
    for k in range(30):
        t.w(1, F + k * P)
    for r in range(2):
        for k in range(60):
            t.r(1, A + k * P)
    d = run(t, "lists-2.4")
    assert d["swap_outs"] > 0 and d["swap_ins"] > 0 and d["oom_kills"] == 0


# ---- 2.6.20 ----------------------------------------------------------------------------------

def test_l26_mark_page_accessed_state_machine():
    m = Machine("lists-2.6")
    t = m.process(1, addr=F, pages=2, flags=MAP_SHARED_FILE, fid=7)
    f = m.fault(t, F, False)
    # add_to_page_cache_lru + filemap_nopage's mark_page_accessed: inactive, referenced
    assert m.on(f) == L6.INACTIVE and m.flags(f) & PG_referenced
    L6.mark_page_accessed(m.s, f)                    # -> active, unreferenced
    assert m.on(f) == L6.ACTIVE and m.flags(f) & PG_active and not m.flags(f) & PG_referenced
    L6.mark_page_accessed(m.s, f)                    # -> active, referenced
    assert m.on(f) == L6.ACTIVE and m.flags(f) & PG_referenced
    L6.mark_page_accessed(m.s, f)                    # stays
    assert m.on(f) == L6.ACTIVE and m.flags(f) & PG_referenced
    g = m.fault(t, F + P, False)
    m.st.page_flags[g] &= ~PG_referenced             # inactive, unreferenced
    L6.mark_page_accessed(m.s, g)                    # -> inactive, referenced
    assert m.on(g) == L6.INACTIVE and m.flags(g) & PG_referenced
    mm = m.process(2)
    a = m.fault(mm, A, True)                         # lru_cache_add_active, unreferenced
    assert m.on(a) == L6.ACTIVE and not m.flags(a) & PG_referenced
    m.ok()


def test_l26_reclaim_mapped_switches_on_with_distress():
    m = Machine("lists-2.6")
    m.fault(m.process(1), A, True)          # a page on the lists: the zone is not near OOM
    m.ps.mapped_ratio[0] = 0
    # swappiness 60, nothing mapped: 100 >> p must reach 40, so priority 1 or 0
    assert m.ps.prev_priority[0] == L6.DEF_PRIORITY
    assert [bool(L6.reclaim_mapped(m.s, m.pv, p)) for p in (12, 6, 2, 1, 0)] == \
        [False, False, False, True, True]
    # mapped_ratio counts half: 80% mapped gives 40 + 60 = 100 at any priority
    m.ps.mapped_ratio[0] = 80
    assert L6.reclaim_mapped(m.s, m.pv, 12)
    # a zone whose previous reclaim went down to priority 1 is in distress from the start
    m.ps.mapped_ratio[0] = 0
    m.ps.prev_priority[0] = 1
    assert L6.reclaim_mapped(m.s, m.pv, 12)


def test_l26_swappiness_100_always_reclaims_mapped():
    m = Machine("lists-2.6", swappiness=100)
    m.fault(m.process(1), A, True)
    assert L6.reclaim_mapped(m.s, m.pv, 12)


def test_l26_shrink_active_list_keeps_mapped_pages_unless_reclaim_mapped_and_unreferenced():
    m = Machine("lists-2.6")
    mm = m.process(1, pages=3)
    a, b, c = (m.fault(mm, A + k * P, True) for k in range(3))
    assert [m.on(x) for x in (a, b, c)] == [L6.ACTIVE] * 3
    # no distress, nothing much mapped: mapped pages stay, without their bits being looked at
    m.young(mm, A + P)
    L6.shrink_active_list(m.s, m.pv, 3, 12)
    assert [m.on(x) for x in (a, b, c)] == [L6.ACTIVE] * 3
    assert m.pte(mm, A + P) & _PAGE_ACCESSED
    # priority 0: reclaim_mapped; the young one stays active (bit cleared), the rest go
    L6.shrink_active_list(m.s, m.pv, 3, 0)
    assert [m.on(x) for x in (a, b, c)] == [L6.INACTIVE, L6.ACTIVE, L6.INACTIVE]
    assert not m.pte(mm, A + P) & _PAGE_ACCESSED and not m.flags(a) & PG_active
    m.ok()


def test_l26_shrink_page_list_activates_referenced_frees_the_rest():
    m = Machine("lists-2.6")
    t = m.process(1, addr=F, pages=2, flags=MAP_SHARED_FILE, fid=7)
    f = m.fault(t, F, True)                  # mapped, dirty
    mm = m.process(2, pages=2)
    a = m.fault(mm, A, True)
    b = m.fault(mm, A + P, True)
    for x in (f, a, b):
        m.st.page_flags[x] &= ~PG_referenced
        L6.add_inactive(m.s, x)
    m.young(t, F)
    m.young(mm, A)
    n = L6.isolate_lru_pages(m.s, m.pv, 3, L6.INACTIVE)
    assert n == 3 and L6.shrink_page_list(m.s, m.pv, n) == 1
    # referenced and in use: activated; b unreferenced: swapped out and freed
    assert m.on(f) == L6.ACTIVE and m.on(a) == L6.ACTIVE
    assert m.pte(mm, A + P) & _PTE_SWAP and C(m.st, "swap_outs") == 1
    assert C(m.st, "pages_freed") == 1
    # f again, unreferenced now: written back and freed
    L6.add_inactive(m.s, f)
    n = L6.isolate_lru_pages(m.s, m.pv, 1, L6.INACTIVE)
    assert L6.shrink_page_list(m.s, m.pv, n) == 1 and C(m.st, "writebacks") == 1
    m.ok()


def test_l26_shrink_zone_accumulates_the_scan_budget_nr_active_shift_priority():
    m = Machine("lists-2.6")
    mm = m.process(1, pages=100)
    for k in range(100):
        m.fault(mm, A + k * P, True)
    assert m.st.list_len[L6.ACTIVE] == 100 and m.st.list_len[L6.INACTIVE] == 0
    # priority 12: (100 >> 12) + 1 = 1 per call, carried until it reaches SWAP_CLUSTER_MAX
    for k in range(1, 32):
        L6.shrink_zone(m.s, m.pv, 12)
        assert m.ps.nr_scan_active[0] == k and m.ps.pages_scanned[0] == 0
    L6.shrink_zone(m.s, m.pv, 12)            # 32: one batch scanned, the budget spent
    assert m.ps.nr_scan_active[0] == 0 and m.ps.pages_scanned[0] == 32
    # nothing was deactivated: mapped pages, no distress
    assert m.st.list_len[L6.ACTIVE] == 100
    # priority 1: (100 >> 1) + 1 = 51 at once, in batches of 32 and 19; distress 100 >> 1
    # turns reclaim_mapped on, so these unreferenced mapped pages are deactivated
    L6.shrink_zone(m.s, m.pv, 1)
    assert m.ps.nr_scan_active[0] == 0 and m.ps.pages_scanned[0] == 32 + 51
    assert m.st.list_len[L6.INACTIVE] == 51 and m.ps.nr_scan_inactive[0] == 1
    m.ok()


def test_l26_end_to_end_swaps_and_writes_back_without_losing_anything():
    t = T().mmap(1, A, 60).mmap(1, F, 30, file=3, shared=True).fork(1, 2)
    for k in range(60):
        t.w(1, A + k * P)
    for k in range(30):
        t.w(2, F + k * P)
    for r in range(2):
        for k in range(60):
            t.r(1, A + k * P)
    d = run(t, "lists-2.6")
    assert d["swap_outs"] > 0 and d["swap_ins"] > 0 and d["oom_kills"] == 0
