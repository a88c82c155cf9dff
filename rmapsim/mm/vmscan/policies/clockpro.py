"""CLOCK-Pro (Jiang, Chen & Zhang, USENIX ATC 2005): LIRS's reuse-distance test on a clock.

A realistic policy: it learns of references only through the accessed bits (``page_referenced``,
test-and-clear through rmap, plus PG_referenced) when a hand passes a page. One clock list
holds hot pages, resident cold pages and non-resident cold pages (ghosts) that are still in
their *test period*. A cold page re-referenced during its test period has a reuse distance
smaller than the hot pages' recency and turns hot; a hot page found unreferenced by HAND_hot
turns cold. m_c, the target number of cold pages, adapts: +1 when a cold page is referenced in
its test period (resident, or faulted back in as a ghost), -1 when a test period ends without one.

Paper (section 3; quoted wording as in the paper's "operations on searching victim pages",
also quoted in Caffeine's ClockProPolicy) -> routine:

- the clock: node list 0; the paper's *list head*, where pages enter, is our young end
  (``list_add_tail``); hands move from old to young (``node_next``) and wrap around;
- page fault: ``reclaim`` runs HAND_cold for a frame first (``_run_cold``), then
  ``page_added``: a page not in the list enters as cold at the head and starts its test
  period; a non-resident cold page found in the list turns hot at the head (m_c + 1) and
  HAND_hot runs (``_run_hot``) while there are more than m - m_c hot pages;
- HAND_cold (``_run_cold``) at a resident cold page: unreferenced -> freed; a ghost takes
  its place if it is in its test period, else it leaves the clock. Referenced and in its test
  period -> hot (m_c + 1) at the head, HAND_hot runs; referenced and not -> bit reset, to the
  head with a new test period. The hand goes on until a page is freed;
- HAND_hot (``_run_hot``): a referenced hot page has its bit reset and stays hot; the first
  unreferenced one turns cold (not in a test period). Every cold page it passes ends its test
  period (``_end_test``), ghosts leave the clock; it stops at the next hot page;
- HAND_test (``_run_test``): while more than m ghosts exist, end the test period of the
  next cold page in one;
- m_c (the paper's adaptive cold allocation): ``_mc_adjust`` within [1, m - 1].

Warm-up: until memory first fills, a new page enters hot while fewer than m - m_c pages are
(the authors' simulator, clock-pro.c, "fill the clock with (mem_size - MIN_cold_alloc) hot pages
at first"; the paper is silent, and LIRS does the same with its LIR set). Without it
(``warm_hot=0``) m_c grows by one per promotion while no test period can end, and on
cloudPhysicsIO at 30,000 frames CLOCK-Pro falls to CLOCK's misses; with it, it stays within
5% of LIRS at every size measured.

Where libCacheSim's ClockPro.c (as in the Python binding 0.3.5) differs from the paper, and
why this follows the paper (measured in tests/test_policy_lirs_clockpro.py):

1. ``ClockPro_can_insert`` refuses a missed object while resident cold pages >= mem_cold_max:
   it is not cached and nothing is evicted. Hot pages only come from a promotion in
   ``ClockPro_run_cold``, which only runs to evict, which only happens when memory is full; so
   memory never fills beyond mem_cold_max = init_ratio_cold x size and nothing is ever
   evicted: libCacheSim's ClockPro keeps the first ratio x size distinct objects for good
   (all 17 objcount rows, binding default ratio 0.5; the C default 1 likewise, live). The paper
   (section 3, page fault) always admits the faulted page and runs HAND_cold for a frame;
2. a refaulted test page is promoted (``ClockPro_promote``) but not put back in the cache's
   hash table or occupancy, so it would never be found again;
3. HAND_cold promotes every referenced cold page, test period or not, and there is no test
   period on resident pages: every evicted cold page becomes a test entry (paper: only a
   page still in its test period stays, non-resident; a referenced page outside one gets a
   new test period at the list head);
4. HAND_hot neither ends test periods nor removes ghosts it passes, and moves a demoted page to
   the head (paper: status change in place, "then move the hand forward");
5. mem_cold_max starts at init_ratio_cold x size and grows only on a ghost refault.

Parameters: ``init_ref`` (0: the faulting access does not count as a reference, the paper's
model in which a fault starts the test period and a *second* access ends it hot; 1: the
MMU-set accessed bit of the fault counts), ``cold_init`` (initial m_c as a fraction of m, at
least 1; the paper fixes none, the authors' simulator uses 5%), ``warm_hot``. m is the frames in
cache mode; in kernel mode the pages in memory each time reclaim runs (until then the frames
free at the first page added less the high watermark);
at most m ghosts (HAND_test), within the pool of 2 x frames + 16; should it run out, the
evicted page leaves no ghost. A page that cannot be freed now (locked, swap full) is passed
over; every hand loop is bounded by the list length.
"""
import numpy as np

from rmapsim.jit import kernel
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.rmap import page_referenced
from rmapsim.mm.layout import (C_PAGES_SCANNED, C_RECLAIM_FAILURES, G_CACHE_MODE, G_HIGH,
                               G_NR_FRAMES, G_NR_FREE, PG_lru, PG_referenced)
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import (node_move, forget_frame, ghost_free, ghost_new, key_bind, key_node,
                                     list_add_tail, list_del, list_replace, page_key)

NAME = "clock-pro"
KIND = "realistic"
MODELS = "CLOCK-Pro (Jiang, Chen & Zhang, USENIX ATC 2005): hot/cold/test clock, three hands"
PARAMS = {"init_ref": (0, "1: the faulting reference sets the new page's accessed bit and counts "
                          "as a re-reference; 0: it only starts the test period (paper)", (0, 1)),
          "cold_init": (0.01, "initial cold target m_c as a fraction of memory (adapts)",
                        (0, 1)),
          "warm_hot": (1, "1: until memory first fills, new pages enter hot while fewer than "
                          "m - m_c are (the authors' clock-pro.c); 0: every new page cold",
                        (0, 1))}

CLOCK = 0
HOT, COLD, COLD_TEST = 1, 2, 3          # node_val of a frame; a ghost is always in test
HAND_HOT, HAND_COLD, HAND_TEST = 0, 1, 2    # the hands, slots of ``hand``
FIELDS = (
    ("initialized", "int8", "1", 0, None),   # set at the first page added (``_init``)
    ("m", "int64", "1", 0, None),            # memory size
    ("m_c", "int64", "1", 0, None),          # the target number of cold pages
    ("nr_hot", "int64", "1", 0, None),       # hot pages
    ("nr_res", "int64", "1", 0, None),       # resident pages
    ("nr_nonres", "int64", "1", 0, None),    # non-resident cold pages (ghosts) in test
    ("hand", "int64", "3", 0, None),         # the node each hand points at (-1: the list head)
    ("promoted", "int64", "1", 0, None),     # event counts (for tests)
    ("demoted", "int64", "1", 0, None),
    ("test_expired", "int64", "1", 0, None),
    ("filled", "int8", "1", 0, None),        # reclaim has run: the warm-up is over
)


@kernel(inline="always")
def _next(st, node):
    nx = st.node_next[node]
    return nx if nx >= 0 else st.list_head[CLOCK]


@kernel(inline="always")
def _hand(st, ps, h):
    x = ps.hand[h]
    return x if x >= 0 else st.list_head[CLOCK]


@kernel
def _unlink(st, ps, node):
    """Take a node off the clock; a hand on it moves on to the next one."""
    nx = _next(st, node)
    if nx == node:
        nx = -1
    for h in (HAND_HOT, HAND_COLD, HAND_TEST):
        if ps.hand[h] == node:
            ps.hand[h] = nx
    list_del(st, node)


@kernel(inline="always")
def _mc_adjust(st, ps, d):
    mc = ps.m_c[0] + d
    ps.m_c[0] = min(max(mc, 1), max(ps.m[0] - 1, 1))


@kernel(inline="always")
def _ref(st, f):
    """Test and clear the page's accessed bits and PG_referenced."""
    st.cnt[C_PAGES_SCANNED] += 1
    n = page_referenced(st, f)
    if st.page_flags[f] & PG_referenced:
        st.page_flags[f] &= ~PG_referenced
        n += 1
    return n > 0


@kernel
def _init(st, ps):
    g = st.g
    m = g[G_NR_FRAMES] if g[G_CACHE_MODE] else max(g[G_NR_FREE] + 1 - g[G_HIGH], 2)
    ps.m[0] = m
    ps.m_c[0] = 0
    _mc_adjust(st, ps, max(np.int64(1), np.int64(st.params[1] * m)))
    for h in (HAND_HOT, HAND_COLD, HAND_TEST):
        ps.hand[h] = -1
    ps.initialized[0] = 1


@kernel
def _end_test(st, ps, node):
    """A cold page's test period ends (HAND_hot or HAND_test passes it): a ghost leaves the
    clock; m_c - 1, or + 1 for a resident page referenced meanwhile (the bit is kept, in
    PG_referenced, for HAND_cold)."""
    if node >= st.g[G_NR_FRAMES]:
        _unlink(st, ps, node)
        ghost_free(st, node)
        ps.nr_nonres[0] -= 1
        ps.test_expired[0] += 1
        _mc_adjust(st, ps, -1)
    elif st.node_val[node] == COLD_TEST:
        st.node_val[node] = COLD
        n = page_referenced(st, node)
        if n > 0:
            st.page_flags[node] |= PG_referenced
        if st.page_flags[node] & PG_referenced:
            _mc_adjust(st, ps, 1)
        else:
            ps.test_expired[0] += 1
            _mc_adjust(st, ps, -1)


@kernel
def _run_hot(st, ps):
    """HAND_hot: turn the next unreferenced hot page cold; end the test periods it passes."""
    steps = 2 * st.list_len[CLOCK] + 2
    while steps > 0 and ps.nr_hot[0] > 0:
        steps -= 1
        x = _hand(st, ps, HAND_HOT)
        if x >= st.g[G_NR_FRAMES] or st.node_val[x] == COLD_TEST:
            ps.hand[HAND_HOT] = _next(st, x)
            _end_test(st, ps, x)
            continue
        ps.hand[HAND_HOT] = _next(st, x)
        if st.node_val[x] != HOT or _ref(st, x):
            continue
        st.node_val[x] = COLD
        ps.nr_hot[0] -= 1
        ps.demoted[0] += 1
        # the hand stops at the next hot page
        steps = st.list_len[CLOCK]
        while steps > 0 and ps.nr_hot[0] > 0:
            steps -= 1
            y = _hand(st, ps, HAND_HOT)
            if y < st.g[G_NR_FRAMES] and st.node_val[y] == HOT:
                break
            ps.hand[HAND_HOT] = _next(st, y)
            _end_test(st, ps, y)
        return True
    return False


@kernel
def _promote(st, ps, f):
    """A cold page referenced in its test period turns hot at the head of the list."""
    _mc_adjust(st, ps, 1)
    st.node_val[f] = HOT
    ps.nr_hot[0] += 1
    ps.promoted[0] += 1
    list_add_tail(st, CLOCK, f)
    while ps.nr_hot[0] > ps.m[0] - ps.m_c[0]:
        if not _run_hot(st, ps):
            break


@kernel
def _run_test(st, ps):
    """HAND_test: end the test period of the next cold page in one."""
    steps = st.list_len[CLOCK] + 1
    while steps > 0:
        steps -= 1
        x = _hand(st, ps, HAND_TEST)
        if x < 0:
            return
        ps.hand[HAND_TEST] = _next(st, x)
        if x >= st.g[G_NR_FRAMES] or st.node_val[x] == COLD_TEST:
            _end_test(st, ps, x)
            return


@kernel
def _to_ghost(st, ps, f):
    """An evicted cold page in its test period: a ghost takes its place on the clock."""
    gh = ghost_new(st, st.node_key[f]) if st.node_key[f] >= 0 else -1
    if gh < 0:
        _unlink(st, ps, f)
        return
    list_replace(st, f, gh)
    for h in (HAND_HOT, HAND_COLD, HAND_TEST):
        if ps.hand[h] == f:
            ps.hand[h] = gh
    ps.nr_nonres[0] += 1


@kernel
def _run_cold(st, ps):
    """HAND_cold: go round until a resident cold page is freed; True if one was."""
    steps = 3 * st.list_len[CLOCK] + 4
    while steps > 0:
        steps -= 1
        if ps.nr_res[0] - ps.nr_hot[0] <= 0:
            if not _run_hot(st, ps):          # every resident page is hot: demote one
                return False
            continue
        x = _hand(st, ps, HAND_COLD)
        ps.hand[HAND_COLD] = _next(st, x)
        if x >= st.g[G_NR_FRAMES] or st.node_val[x] == HOT:
            continue
        if _ref(st, x):
            _unlink(st, ps, x)
            if st.node_val[x] == COLD_TEST:
                _promote(st, ps, x)
            else:
                st.node_val[x] = COLD_TEST      # a new test period, at the head
                list_add_tail(st, CLOCK, x)
            continue
        if shrink_page(st, x) != PAGE_FREED:
            st.cnt[C_RECLAIM_FAILURES] += 1
            continue
        if st.node_val[x] == COLD_TEST:
            _to_ghost(st, ps, x)
        else:
            _unlink(st, ps, x)
        ps.nr_res[0] -= 1
        forget_frame(st, x)
        st.page_flags[x] &= ~PG_lru
        reclaimed(st, x)
        while ps.nr_nonres[0] > ps.m[0]:
            _run_test(st, ps)
        return True
    return False


@kernel
def page_added(st, ps, frame):
    if ps.initialized[0] == 0:
        _init(st, ps)
    key = page_key(st, frame)
    node = key_node(st, key)
    ps.nr_res[0] += 1
    if node >= st.g[G_NR_FRAMES]:
        # a non-resident cold page in its test period: hot, at the head
        _unlink(st, ps, node)
        ghost_free(st, node)
        ps.nr_nonres[0] -= 1
        key_bind(st, key, frame)
        _promote(st, ps, frame)
    elif (st.params[2] and not ps.filled[0]
          and ps.nr_hot[0] < ps.m[0] - ps.m_c[0]):
        key_bind(st, key, frame)             # warm-up: hot until m - m_c are
        st.node_val[frame] = HOT
        ps.nr_hot[0] += 1
        list_add_tail(st, CLOCK, frame)
    else:
        key_bind(st, key, frame)
        st.node_val[frame] = COLD_TEST
        list_add_tail(st, CLOCK, frame)


@kernel
def page_removed(st, ps, frame):
    if st.node_list[frame] == CLOCK:
        _unlink(st, ps, frame)
    if st.node_val[frame] == HOT:
        ps.nr_hot[0] -= 1
    ps.nr_res[0] -= 1
    forget_frame(st, frame)


@kernel
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    ps.filled[0] = 1
    if not st.g[G_CACHE_MODE] and ps.nr_res[0] >= 2:
        ps.m[0] = ps.nr_res[0]      # kernel mode: memory is full now
        _mc_adjust(st, ps, 0)
        while ps.nr_hot[0] > ps.m[0] - ps.m_c[0]:
            if not _run_hot(st, ps):
                break
    freed = 0
    while freed < nr_to_free and _run_cold(st, ps):
        freed += 1
    return freed


@kernel
def page_migrated(st, ps, old, new):
    """The page moved frames (migration): its node moves, and any hand resting on it."""
    node_move(st, old, new)
    for k in range(3):
        if ps.hand[k] == old:
            ps.hand[k] = new
