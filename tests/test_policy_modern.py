"""The modern reclaim designs, ``split-lru`` (2.6.28 + 3.15 workingset) and ``mglru`` (6.1), one
state transition per test.

The state is built with the fault handler on a machine large enough that nothing is reclaimed
behind the test's back; then the policy's own routines are called and what each does to each
page is worked out by hand. ``handle_mm_fault`` does not set the accessed bit (the MMU's
retried reference does, in replay), so a fresh pte here is old unless a test makes it young.
The invariants are checked after every step. The random-trace and scenario tests
(``test_kernel_random.py``, ``test_scenarios.py``) run both policies end to end in check mode."""
import pytest

from rmapsim.mm.debug import check_invariants
from rmapsim.mm.memory import handle_mm_fault
from rmapsim.mm.pgtable import pte_offset
from rmapsim.mm.fork import do_mmap, mm_new
from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_PRESENT, COUNTERS, G_GHOST_FREE_TOP,
                               CTX_REF_KEY, PG_active, PG_lru)
from rmapsim.mm.vmscan import POLICIES
from rmapsim.mm.vmscan.policies import mglru, splitlru
from rmapsim.mm.vmscan.dispatch import reclaim as policy_reclaim
from rmapsim.mm.vmscan.hooks import bound_of
from rmapsim.mm.vmscan.nodes import ref_key
from rmapsim.sim.api import boot
from rmapsim.trace.events import MAP_FILE, PROT_WRITE

from evtrace import P

A = 0x400000          # an anonymous heap
F = 0x10000000        # a file mapping
FID = 7


def C(st, name):
    return int(st.cnt[COUNTERS.index(name)])


class Machine:
    """A booted machine under one policy, with one process mapping a heap and a file."""

    def __init__(self, policy, frames=512, pages=32, **params):
        params = dict({"swap_pages": 64}, **params)
        _, _, _, self.st, self.s = boot(policy=policy, frames=frames, check=True, params=params)
        b = bound_of(self.st)   # the policy's FIELDS: ps to read, pv for its routines' ps
        self.ps, self.pv = b.ps, b.view
        self.mm = mm_new(self.s, 1)
        do_mmap(self.s, self.mm, A, pages * P, PROT_WRITE, 0, 0, 0)
        do_mmap(self.s, self.mm, F, pages * P, MAP_FILE, FID, 0, 0)    # read-only file

    def ok(self):
        assert check_invariants(self.s) == 0

    def touch(self, addr, write=False):
        self.st.ctx[CTX_REF_KEY] = ref_key(self.mm, addr)   # what replay sets before a fault
        assert handle_mm_fault(self.s, self.mm, addr, write) == 0
        return self.frame(addr)

    def pte(self, addr):
        return pte_offset(self.s, self.mm, addr)

    def frame(self, addr):
        e = int(self.st.pt[self.pte(addr)])
        return e >> 12 if e & _PAGE_PRESENT else -1

    def young(self, addr):
        self.st.pt[self.pte(addr)] |= _PAGE_ACCESSED

    def list_of(self, frame):
        return int(self.st.node_list[frame])


# ---- split LRU ----------------------------------------------------------------------------------

def test_registered():
    assert POLICIES["split-lru"] is splitlru and splitlru.ID == list(POLICIES).index("split-lru")
    assert POLICIES["mglru"] is mglru and mglru.ID == list(POLICIES).index("mglru")
    for mod in (splitlru, mglru):
        assert mod.KIND == "realistic" and "swappiness" in mod.PARAMS


def test_split_new_pages_land_on_the_2_6_28_lists():
    m = Machine("split-lru")
    a = m.touch(A, write=True)           # do_anonymous_page: lru_cache_add_active
    f = m.touch(F)                       # add_to_page_cache_lru: inactive file
    assert m.list_of(a) == splitlru.LRU_ACTIVE_ANON and m.st.page_flags[a] & PG_active
    assert m.list_of(f) == splitlru.LRU_INACTIVE_FILE and not m.st.page_flags[f] & PG_active
    m.ok()


def test_split_inactive_scan_activates_referenced_and_evicts_with_a_shadow():
    m = Machine("split-lru")
    f0 = m.touch(F)
    f1 = m.touch(F + P)
    m.young(F)                           # f0 referenced through its pte, mapping in use
    freed = splitlru.shrink_inactive_list(m.s, m.pv, 2, 1)
    m.ok()
    assert freed == 1
    assert m.list_of(f0) == splitlru.LRU_ACTIVE_FILE and m.st.page_flags[f0] & PG_active
    assert not m.st.pt[m.pte(F)] & _PAGE_ACCESSED          # page_referenced cleared it
    assert m.frame(F + P) == -1 and not m.st.page_flags[f1] & PG_lru
    # one activation, one eviction: inactive_age 2, and the shadow holds the eviction's value
    assert m.ps.inactive_age[0] == 2
    assert m.st.list_len[splitlru.SHADOWS] == 1
    g = int(m.st.list_head[splitlru.SHADOWS])
    assert m.st.node_val[g] == 2
    assert m.ps.recent_scanned[1] == 2
    assert m.ps.recent_rotated[1] == 1


def test_split_refault_within_distance_activates_and_beyond_does_not():
    m = Machine("split-lru")
    m.touch(F)
    m.touch(F + P)
    m.young(F)
    splitlru.shrink_inactive_list(m.s, m.pv, 2, 1)  # F active, F+P evicted at age 2
    # refault at once: distance 0 <= NR_ACTIVE_FILE (1) -> starts active, counts an activation
    f = m.touch(F + P)
    assert m.list_of(f) == splitlru.LRU_ACTIVE_FILE
    assert m.st.list_len[splitlru.SHADOWS] == 0                 # the shadow was consumed
    assert m.ps.inactive_age[0] == 3
    # evict it again (deactivate both, then shrink the inactive list with nothing referenced)
    splitlru.shrink_active_list(m.s, m.pv, 2, 1)
    assert m.st.list_len[splitlru.LRU_INACTIVE_FILE] == 2
    m.young(F)
    splitlru.shrink_inactive_list(m.s, m.pv, 2, 1)  # F re-activated, F+P evicted at age 5
    assert m.frame(F + P) == -1 and m.st.list_len[splitlru.LRU_ACTIVE_FILE] == 1
    # as if 10 more pages had been evicted since: distance 10 > 1 active page -> inactive
    m.ps.inactive_age[0] += 10
    f = m.touch(F + P)
    assert m.list_of(f) == splitlru.LRU_INACTIVE_FILE
    m.ok()


def test_split_workingset_off_leaves_no_shadows():
    m = Machine("split-lru", workingset=0)
    m.touch(F)
    splitlru.shrink_inactive_list(m.s, m.pv, 1, 1)
    assert m.frame(F) == -1 and m.st.list_len[splitlru.SHADOWS] == 0
    assert m.list_of(m.touch(F)) == splitlru.LRU_INACTIVE_FILE


@pytest.mark.parametrize("swappiness,anon_pct", [(0, 0), (60, 17), (100, 33)])
def test_split_get_scan_ratio(swappiness, anon_pct):
    m = Machine("split-lru", swappiness=swappiness)
    for i in range(8):
        m.touch(A + i * P, write=True)
        m.touch(F + i * P)
    # equal recent scans on both types, file rotated half as much as anon
    m.ps.recent_scanned[0], m.ps.recent_scanned[1] = 1, 1
    m.ps.recent_rotated[0], m.ps.recent_rotated[1] = 1, 0
    # ap = (s+1)*2/2, fp = (201-s)*2/1; percent = 100 ap / (ap + fp + 1)
    assert splitlru.get_scan_ratio(m.s, m.pv) == anon_pct


def test_split_inactive_ratio_and_anon_rebalancing():
    m = Machine("split-lru")
    assert splitlru.inactive_ratio(m.s) == 1                 # below 1 GB
    for i in range(4):
        m.touch(A + i * P, write=True)
    assert splitlru.inactive_anon_is_low(m.s)               # 0 * 1 < 4
    m.young(A)
    splitlru.shrink_active_list(m.s, m.pv, 4, 0)            # all deactivated, A rotated
    assert m.st.list_len[splitlru.LRU_INACTIVE_ANON] == 4
    assert m.ps.recent_rotated[0] == 1
    assert not splitlru.inactive_anon_is_low(m.s)
    # a referenced mapped anon page on the inactive list goes back to active
    m.young(A + P)
    assert splitlru.shrink_inactive_list(m.s, m.pv, 4, 0) == 3  # the other three are swapped
    assert m.list_of(m.frame(A + P)) == splitlru.LRU_ACTIVE_ANON
    assert C(m.st, "swap_outs") == 3
    m.ok()


@pytest.mark.parametrize("swappiness,anon,file", [(0, 0, 128), (100, 62, 65)])
def test_split_shrink_zone_balances_by_swappiness(swappiness, anon, file):
    m = Machine("split-lru", frames=1024, swappiness=swappiness, swap_pages=512, pages=256)
    for i in range(256):
        m.touch(A + i * P, write=True)
        m.touch(F + i * P)
    splitlru.shrink_active_list(m.s, m.pv, 256, 0)  # all anon inactive, none rotated
    m.ps.recent_scanned[:] = m.ps.recent_rotated[:] = 0
    # percent anon = 100 (s + 1) / ((s + 1) + (201 - s) + 1): 0 at 0, 49 at 100; at priority 1
    # each inactive list offers (256 >> 1) * percent / 100 pages, worked if >= 32
    assert splitlru.get_scan_ratio(m.s, m.pv) == (0 if swappiness == 0 else 49)
    m.ps.recent_scanned[:] = m.ps.recent_rotated[:] = 0
    freed = splitlru.shrink_zone(m.s, m.pv, 1, 10_000)
    assert C(m.st, "swap_outs") == anon
    assert freed == anon + file
    m.ok()


# ---- MGLRU --------------------------------------------------------------------------------------

def gen(m, frame):
    return int(m.st.node_val[frame])


def test_mglru_new_pages_join_max_seq():
    m = Machine("mglru")
    a = m.touch(A, write=True)
    f = m.touch(F)
    assert m.ps.max_seq[0] == mglru.MIN_NR_GENS + 1 == 3
    assert gen(m, a) == gen(m, f) == 3
    assert m.list_of(a) == (3 % 4) * 2 + 0 and m.list_of(f) == (3 % 4) * 2 + 1
    m.ok()


def test_mglru_aging_moves_young_pages_to_max_seq_and_clears_the_bit():
    m = Machine("mglru")
    a = m.touch(A, write=True)
    b = m.touch(A + P, write=True)
    mglru.try_to_inc_max_seq(m.s, m.pv)      # nothing young: both stay in 3; max_seq 4
    assert m.ps.max_seq[0] == 4 and gen(m, a) == gen(m, b) == 3
    assert m.ps.min_seq[0] == 1              # four generations: the empty oldest was folded
    m.young(A)
    mglru.try_to_inc_max_seq(m.s, m.pv)      # a young: moved to max_seq (4); max_seq 5
    assert gen(m, a) == 4 and gen(m, b) == 3
    assert m.list_of(a) == (4 % 4) * 2 and m.st.list_tail[(4 % 4) * 2] == a
    assert not m.st.pt[m.pte(A)] & _PAGE_ACCESSED
    assert m.ps.max_seq[0] == 5 and m.ps.min_seq[0] == 2
    m.ok()


def test_mglru_eviction_takes_from_min_seq():
    m = Machine("mglru")
    a = m.touch(A, write=True)
    m.touch(A + P, write=True)
    mglru.try_to_inc_max_seq(m.s, m.pv)
    m.young(A)
    mglru.try_to_inc_max_seq(m.s, m.pv)      # a in 4, b in 3, min_seq 2 (empty), max_seq 5
    assert not mglru.should_run_aging(m.s, m.pv, True)  # 4 generations: no aging
    assert policy_reclaim(m.s, 1, 0, 0) == 1
    assert m.frame(A + P) == -1 and m.frame(A) == a  # b, the oldest, went to swap
    assert C(m.st, "swap_outs") == 1
    # generation 3 emptied: both types move on together
    assert m.ps.min_seq[0] == 4 and m.ps.min_seq[1] == 4
    assert m.st.list_len[mglru.SHADOWS] == 1         # shadow token: the min_seq it left
    assert m.st.node_val[m.st.list_head[mglru.SHADOWS]] == 3
    m.ok()


def test_mglru_referenced_page_at_eviction_goes_back_to_max_seq():
    m = Machine("mglru")
    b = m.touch(A + P, write=True)
    mglru.try_to_inc_max_seq(m.s, m.pv)
    mglru.try_to_inc_max_seq(m.s, m.pv)      # b in 3, max_seq 5, min_seq 2
    m.young(A + P)                           # referenced since the last walk
    mglru.scan_folios(m.s, m.pv, 0, mglru.MAX_NR_TIERS - 1, 1)  # min_seq 2 is empty: nothing
    assert gen(m, b) == 3
    assert mglru.try_to_inc_min_seq(m.s, m.pv, True) and m.ps.min_seq[0] == 3
    assert mglru.scan_folios(m.s, m.pv, 0, mglru.MAX_NR_TIERS - 1, 1) == 1
    assert gen(m, b) == 5 and m.frame(A + P) == b     # folio_referenced: re-added active
    m.ok()


def test_mglru_refault_from_min_seq_counts_and_sets_workingset():
    m = Machine("mglru")
    m.touch(A, write=True)
    m.touch(A + P, write=True)               # keeps generation 3, and so min_seq, alive
    mglru.try_to_inc_max_seq(m.s, m.pv)
    mglru.try_to_inc_max_seq(m.s, m.pv)
    assert policy_reclaim(m.s, 1, 0, 0) == 1 and m.frame(A) == -1
    assert m.ps.min_seq[0] == 3
    assert m.ps.evicted[0] == 1                      # anon, tier 0
    f = m.touch(A)                           # swap-in of the same (process, page)
    assert m.ps.refaulted[0] == 1                               # anon, tier 0
    assert m.st.node_val2[f] & mglru.WORKINGSET and mglru._tier(m.st, f) == 1
    assert m.st.list_len[mglru.SHADOWS] == 0 and gen(m, f) == m.ps.max_seq[0]
    m.ok()


def test_mglru_refault_feedback_picks_the_type():
    m = Machine("mglru")
    pg = m.ps
    # no refaults anywhere: file (positive_ctrl_err: pv.refaulted < MIN_LRU_BATCH)
    assert mglru.get_type_to_scan(m.s, m.pv, 60)[0] == 1
    # file tier 0 refaults all it evicts, anon none: anon is scanned
    pg.refaulted[4] = pg.evicted[4] = 1000
    pg.evicted[0] = 1000
    assert mglru.get_type_to_scan(m.s, m.pv, 60)[0] == 0
    # tier 1 of anon refaulting far more than tier 0 of file: it is protected (tier_idx 0)
    pg.refaulted[4] = 0
    pg.refaulted[1] = pg.evicted[1] = 1000
    assert mglru.get_type_to_scan(m.s, m.pv, 60) == (1, 3)  # file chosen, all tiers evictable
    assert mglru.get_tier_idx(m.s, m.pv, 0) == 0        # anon: tier 1 protected


def test_mglru_protected_tier_moves_to_min_seq_plus_one():
    m = Machine("mglru")
    a = m.touch(A, write=True)
    mglru.try_to_inc_max_seq(m.s, m.pv)
    mglru.try_to_inc_max_seq(m.s, m.pv)
    mglru.try_to_inc_min_seq(m.s, m.pv, True)
    seq = int(m.ps.min_seq[0])
    assert gen(m, a) == seq
    m.st.node_val2[a] = mglru.WORKINGSET
    assert mglru.scan_folios(m.s, m.pv, 0, 0, 1) == 1
    assert gen(m, a) == seq + 1 and m.frame(A) == a
    assert m.ps.protected[1] == 1
    m.ok()


@pytest.mark.parametrize("swappiness", [0, 200])
def test_mglru_swappiness_0_evicts_file_only_and_200_anon_first(swappiness):
    m = Machine("mglru", swappiness=swappiness)
    for i in range(8):
        m.touch(A + i * P, write=True)
        m.touch(F + i * P)
    mglru.try_to_inc_max_seq(m.s, m.pv)
    mglru.try_to_inc_max_seq(m.s, m.pv)      # all in generation 3, the oldest but one
    assert policy_reclaim(m.s, 4, 0, 0) == 4
    assert C(m.st, "swap_outs") == (0 if swappiness == 0 else 4)
    m.ok()


def test_split_oldest_shadow_is_recycled_when_the_pool_is_exhausted():
    m = Machine("split-lru")
    m.touch(F)
    m.touch(F + P)
    splitlru.shrink_inactive_list(m.s, m.pv, 1, 1)    # F evicted: shadow at age 1
    first = int(m.st.list_head[splitlru.SHADOWS])
    m.st.g[G_GHOST_FREE_TOP] = 0                       # as if every ghost node were in use
    splitlru.shrink_inactive_list(m.s, m.pv, 1, 1)    # F+P evicted: F's shadow is dropped
    assert m.st.list_len[splitlru.SHADOWS] == 1
    assert m.st.list_head[splitlru.SHADOWS] == first   # the node was reused for F+P
    assert m.st.node_val[first] == 2
    assert m.list_of(m.touch(F)) == splitlru.LRU_INACTIVE_FILE      # no shadow: inactive
    assert m.list_of(m.touch(F + P)) == splitlru.LRU_ACTIVE_FILE    # distance 0


def test_mglru_fault_active_0_puts_file_pages_at_the_old_end_of_min_seq():
    m = Machine("mglru", fault_active=0)
    a = m.touch(A, write=True)
    f = m.touch(F)
    g = m.touch(F + P)
    assert gen(m, a) == 3 and gen(m, f) == gen(m, g) == 0
    assert m.st.list_head[(0 % 4) * 2 + 1] == g        # the newest is the first to go
    m.ok()
