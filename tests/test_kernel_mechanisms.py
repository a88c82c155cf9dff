"""One mechanism per test, on hand-built event traces with expectations worked out by hand.

Every run here is in check mode with the invariants checked after every event, so each test
also asserts that chains, mapcounts, free lists and swap counts stay consistent and that no
write is lost."""
import numpy as np
import pytest

import rmapsim
from rmapsim.errors import ConfigError, TraceError
from rmapsim.mm.page_alloc import free_pages, rmqueue
from rmapsim.mm.pgtable import pgd_getmm, pmd_getpgd, pte_getpmd, pte_offset
from rmapsim.mm.rmap import page_add_rmap, page_referenced, page_remove_rmap
from rmapsim.mm.layout import G_NR_FREE, G_PTRS, PG_buddy
from rmapsim.sim.api import boot
from rmapsim.sim.config import build_machine
from rmapsim.trace import from_pages

from evtrace import P, T

A = 0x400000          # an anonymous heap
F = 0x10000000        # a file mapping
GEOMETRIES = ["x86-64", "i386"]


def run(t, frames=512, geometry="x86-64", policy="clock", **params):
    params = dict(params, geometry=geometry)
    r = rmapsim.run(t.trace() if isinstance(t, T) else t, frames=frames, policy=policy,
                    check=True, check_every=1, params=params)
    assert r.violation is None, r.violation
    d = r.to_dict()
    assert d["integrity_errors"] == 0
    assert d["faults"] == d["minor_faults"] + d["major_faults"]
    return d


# ---- machine -----------------------------------------------------------------------------

def test_watermarks_follow_linux_2_2():
    # min = clamp(pages/128, 10, 256); low = 2 min; high = 3 min
    assert build_machine(frames=2048).watermarks == (16, 32, 48)        # 8 MiB
    assert build_machine(frames=512).watermarks == (10, 20, 30)         # clamped up
    assert build_machine(frames=1 << 20).watermarks == (256, 512, 768)  # clamped down
    assert build_machine(frames=64, cache_mode=True).watermarks == (0, 0, 0)


def test_impossible_machines_are_config_errors():
    with pytest.raises(ConfigError, match="below what the kernel needs"):
        build_machine(frames=20)
    with pytest.raises(ConfigError):
        build_machine(frames=4096, overrides={"geometry": "sparc"})
    with pytest.raises(ConfigError, match="too small"):
        build_machine(frames=4096, overrides={"swap_pages": 3})
    with pytest.raises(ConfigError, match="unknown"):
        build_machine(frames=4096, overrides={"no_such_knob": 1})


# ---- buddy allocator ------------------------------------------------------------------------

def test_buddy_split_and_merge():
    # 64 frames, 1 reserved (64*64 B mem_map rounds up to one page) + the zero page: frames
    # 0-1 are the kernel's, 2..63 free as blocks 2(o1) 4(o2) 8(o3) 16(o4) 32(o5)
    _, _, m, st, s = boot(frames=64, params={"swap_pages": 16, "max_order": 5})
    assert m.kernel_reserved == 2
    assert [int(st.free_head[o]) for o in range(6)] == [-1, 2, 4, 8, 16, 32]
    assert st.g[G_NR_FREE] == 62
    a = rmqueue(s, 0)          # smallest block is order 1 at 2: split, hand out 2, keep 3
    b = rmqueue(s, 0)
    assert (a, b) == (2, 3)
    c = rmqueue(s, 1)          # order 1 now comes from splitting 4(o2): 4, leaving 6(o1)
    assert c == 4 and st.free_head[1] == 6
    free_pages(s, a, 0)        # 2's buddy 3 is in use: no merge
    assert st.free_head[0] == 2 and st.page_flags[2] & PG_buddy
    free_pages(s, b, 0)        # 3 merges with 2 into 2(o1)
    assert st.free_head[0] == -1 and st.free_head[1] == 2 and st.page_private[2] == 1
    free_pages(s, c, 1)        # 4(o1)+6(o1) -> 4(o2); 2(o1)'s buddy is 0 (kernel): stays
    assert st.free_head[2] == 4 and st.g[G_NR_FREE] == 62


# ---- pte chains ------------------------------------------------------------------------------

def test_pte_chain_link_unlink_and_owner_walk():
    t = T().mmap(1, A, 1).w(1, A).fork(1, 2).fork(1, 3)
    rmapsim_run = rmapsim.run(t.trace(), frames=512, check=True)
    assert rmapsim_run.violation is None
    # the same by hand on a booted machine: three ptes on one page
    _, _, m, st, s = boot(frames=512)
    page = rmqueue(s, 0)
    ptes = [10, 20, 30]
    for p in ptes:
        page_add_rmap(s, page, p, -1, 0)
    assert st.page_chain[page] == 30 and st.pt_next[30] == 20 and st.pt_next[20] == 10
    assert st.page_mapcount[page] == 3
    page_remove_rmap(s, page, 20, -1)             # middle: one step from the head
    assert st.page_chain[page] == 30 and st.pt_next[30] == 10 and st.page_mapcount[page] == 2
    assert st.cnt[rmapsim.sim.result.COUNTERS.index("rmap_chain_steps")] == 1


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_pte_getpmd_pmd_getpgd_pgd_getmm_find_the_owner(geometry):
    from rmapsim.mm.memory import handle_mm_fault
    from rmapsim.mm.fork import do_mmap, mm_new
    _, _, m, st, s = boot(frames=512, params={"geometry": geometry})
    mm1 = mm_new(s, 1)
    mm2 = mm_new(s, 2)
    for mm in (mm1, mm2):
        do_mmap(s, mm, A, 4 * P, 4, 0, 0, 0)
        assert handle_mm_fault(s, mm, A + P, True) == 0
    for mm in (mm1, mm2):
        pte = pte_offset(s, mm, A + P)
        pmd = pte_getpmd(s, pte)
        pgd = pmd_getpgd(s, pmd)
        assert pgd // int(st.g[G_PTRS]) == st.mm_pgd[mm]
        assert pgd_getmm(s, pgd) == mm
    if geometry == "i386":                               # pmd folded: the pgd entry itself
        pte = pte_offset(s, mm1, A)
        assert pte_getpmd(s, pte) == pmd_getpgd(s, pte_getpmd(s, pte))


def test_page_referenced_touches_a_shared_page_once_for_all_mappings():
    _, _, m, st, s = boot(frames=512)
    page = rmqueue(s, 0)
    for p in (5, 6, 7):
        page_add_rmap(s, page, p, -1, 0)
    st.pt[5] = (page << 12) | 0x21        # present + accessed
    st.pt[6] = (page << 12) | 0x01
    st.pt[7] = (page << 12) | 0x21
    assert page_referenced(s, page) == 2
    assert not (st.pt[5] & 0x20) and not (st.pt[7] & 0x20)
    assert page_referenced(s, page) == 0
    assert st.cnt[rmapsim.sim.result.COUNTERS.index("ptes_visited")] == 6


# ---- faults -----------------------------------------------------------------------------------

@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_demand_zero_read_maps_the_zero_page_then_write_copies(geometry):
    d = run(T().mmap(1, A, 4).r(1, A).r(1, A + P).r(1, A).w(1, A), geometry=geometry)
    assert d["zero_page_maps"] == 2 and d["misses"] == 0     # no frame for the reads
    assert d["cow_faults"] == 1 and d["pages_zeroed"] == 1   # the write takes a zeroed frame
    assert d["faults"] == 3 and d["references"] == 4


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_file_read_goes_through_the_page_cache(geometry):
    t = T().file(7, 8).mmap(1, F, 8, file=7, write=False).mmap(2, F, 8, file=7, write=False)
    t.r(1, F).r(2, F).r(2, F + P).r(1, F + P)
    d = run(t, geometry=geometry)
    assert d["file_reads"] == 2 and d["major_faults"] == 2   # first touch of each page
    assert d["minor_faults"] == 2                           # the other process: cache hits


def test_cow_after_fork_copies_then_reuses():
    t = T().mmap(1, A, 2).w(1, A).w(1, A + P).fork(1, 2)
    t.w(2, A)          # child: page shared with the parent -> copy
    t.w(1, A)          # parent: now the only mapper -> reuse, no copy
    t.r(2, A + P).r(1, A + P)     # reads of the still-shared page: no fault
    d = run(t)
    assert d["cow_faults"] == 1 and d["pages_copied"] == 1
    assert d["wp_reuse_faults"] == 1
    assert d["faults"] == 2 + 2   # two first-touch writes, then the copy and the reuse
    assert d["forks"] == 1


def test_write_to_shared_file_page_is_written_back_on_reclaim():
    # 40 frames of RAM, a shared writable file of 64 pages written once each: reclaim must
    # write dirty pages back to the file; then reading them all again must find the data
    t = T().file(3, 64).mmap(1, F, 64, file=3, shared=True)
    for k in range(64):
        t.w(1, F + k * P)
    for k in range(64):
        t.r(1, F + k * P)
    d = run(t, frames=64, swap_pages=64)
    assert d["writebacks"] > 0 and d["swap_outs"] == 0      # file pages never go to swap
    assert d["file_reads"] >= 64


def test_swap_out_and_in_through_the_swap_cache():
    t = T().mmap(1, A, 64)
    for k in range(64):
        t.w(1, A + k * P)
    for k in range(64):
        t.r(1, A + k * P)
    d = run(t, frames=64, swap_pages=128)
    assert d["swap_outs"] > 0 and d["swap_ins"] > 0
    assert d["major_faults"] == d["swap_ins"]


def test_shared_anonymous_memory_survives_swap():
    t = T().mmap(1, A, 48, shared=True).fork(1, 2)
    for k in range(48):
        t.w(1, A + k * P)
    for k in range(48):
        t.r(2, A + k * P)     # the child sees the parent's writes (checked by the oracle)
    d = run(t, frames=64, swap_pages=128)
    assert d["swap_outs"] > 0


def test_oom_kills_the_largest_process_and_the_run_goes_on():
    t = T().mmap(1, A, 200).mmap(2, A, 10)
    for k in range(10):
        t.w(2, A + k * P)
    for k in range(200):
        t.w(1, A + k * P)
    for k in range(10):
        t.r(2, A + k * P)
    d = run(t, frames=64, swap_pages=16)
    assert d["oom_kills"] >= 1
    assert d["references"] >= 10 + 10     # process 2 survived and kept running


def test_reference_outside_every_mapping_is_a_segfault():
    t = T().mmap(1, A, 1).w(1, A).r(1, A + 10 * P).r(1, A).mmap(2, A, 1).r(2, A)
    d = run(t)
    assert d["segfaults"] == 1
    assert d["ignored_events"] == 1      # pid 1 is dead: its later read is ignored
    assert d["references"] == 2


def test_munmap_and_exit_free_everything():
    t = T().file(1, 16).mmap(1, A, 16).mmap(1, F, 16, file=1, shared=True).fork(1, 2)
    for k in range(16):
        t.w(1, A + k * P).w(2, F + k * P)
    t.munmap(1, A + 4 * P, 8).exit(2).exec(1).mmap(1, A, 1).w(1, A).exit(1)
    d = run(t, frames=256)
    assert d["exits"] == 2 and d["execs"] == 1 and d["munmaps"] == 1
    assert d["pagetable_pages"] == 0


def test_bare_page_outside_the_geometry_is_a_trace_error():
    with pytest.raises(TraceError, match="outside"):
        rmapsim.run(from_pages(np.array([1, 2, 1 << 21])), frames=64, cache_mode=True,
                    params={"geometry": "i386"})


def test_bare_trace_reads_fill_frames_without_the_zero_page():
    d = run(from_pages(np.array([1, 2, 3, 1])), frames=512)
    assert d["zero_page_maps"] == 0 and d["misses"] == 3 and d["references"] == 4


# ---- reclaim policies ---------------------------------------------------------------------------

def test_clock_gives_referenced_pages_a_second_chance():
    # cache mode, 3 frames: 1 2 3 fill; 1 is referenced again; 4 evicts... with init_ref=1 all
    # of 1 2 3 are referenced: the hand clears 1, 2, 3 and evicts 1 (libCacheSim Clock ref1)
    pages = np.array([1, 2, 3, 1, 4, 1])
    r1 = rmapsim.run(from_pages(pages), frames=3, cache_mode=True).to_dict()
    assert r1["misses"] == 5
    # init_ref=0: only 1 has its bit set at 4's fault: 2 is evicted and 1 survives
    r0 = rmapsim.run(from_pages(pages), frames=3, cache_mode=True,
                     params={"init_ref": 0}).to_dict()
    assert r0["misses"] == 4


def test_kswapd_wakes_below_low_and_frees_to_high():
    # 512 frames: min 10, low 20, high 30; reserve 8 + zero page; touch more than RAM
    t = T().mmap(1, A, 600)
    for k in range(600):
        t.w(1, A + k * P)
    d = run(t, frames=512, swap_pages=1024)
    assert d["kswapd_wakeups"] > 0
    assert d["direct_reclaims"] == 0
    assert d["kswapd_pages_freed"] == d["pages_freed"]


def test_page_tables_count_in_oom_badness():
    # every page in a table of its own: two frames of pte table (ptes + next-pte page) per user
    # page, which reclaim cannot free. When they fill RAM the OOM killer must kill the process
    # that owns them (Linux's oom_badness counts page-table pages), not leave it wedged.
    pages = np.arange(400, dtype=np.int64) * 512
    d = run(from_pages(pages), frames=512, swap_pages=64)
    assert d["oom_kills"] == 1
    assert d["references"] + d["ignored_events"] == 400
    assert d["pagetable_pages"] == 0          # the killed process's tables were freed


def test_a_run_frees_its_state():
    # the compiled code's reference counting must give every array back (a non-atomic
    # refcount that returned the old count once leaked each run's whole state)
    import gc
    import weakref
    from rmapsim.mm.debug import check_invariants
    _, _, m, st, s = boot(frames=512)
    assert check_invariants(s) == 0
    ref = weakref.ref(st.pt)
    del st, s
    gc.collect()
    assert ref() is None
