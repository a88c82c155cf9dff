"""Linux 6.1's multi-generational LRU (Yu Zhao; mm/vmscan.c ``lru_gen_*``, mm/workingset.c
``lru_gen_eviction``/``lru_gen_refault``, Documentation/mm/multigen_lru.rst).

Pages of each type (anon = 0, file = 1) are on one list per generation: list
``(seq % MAX_NR_GENS) * 2 + type``; a page's ``node_val`` is its generation's sequence number
(the kernel keeps ``seq % MAX_NR_GENS + 1`` in ``folio->flags``). ``max_seq`` (youngest, shared)
and ``min_seq[type]`` (oldest) are fields of the policy (``FIELDS``, as lrugen's counters);
``MIN_NR_GENS`` = 2, ``MAX_NR_GENS`` = 4, ``MAX_NR_TIERS`` = 4, ``MIN_LRU_BATCH`` = 64
(``BITS_PER_LONG``), ``MAX_LRU_BATCH`` = 4096; at boot ``max_seq = MIN_NR_GENS + 1`` and
``min_seq = 0`` (``lru_gen_init_lruvec``). The head of a list here is the kernel's list tail
(``lru_to_folio``, the old end).
See docs/reference/linux-mm-history.md section 3.6.
Routines and the kernel functions they model:

- ``page_added`` -> ``folio_add_lru`` + ``lru_gen_add_folio``: every page here enters by a fault,
  so it is marked active (``lru_gen_in_fault``) and joins ``max_seq``. With ``fault_active=0`` a
  file page instead joins the old end of ``min_seq[file]``, where 6.1 puts a clean page that
  read(2) brought in (the simulator models read(2) as short mappings, so this parameter says
  which of the two a page-cache miss stands for). First ``lru_gen_refault``:
  if the page's identity has a shadow entry whose eviction ``min_seq`` is the current one, the
  refault counts in ``refaulted[type][tier]`` and the page gets ``PG_workingset``.
- ``reclaim`` -> ``lru_gen_shrink_lruvec`` / ``try_to_shrink_lruvec``: until the request is met:
  age if ``should_run_aging``, then ``evict_folios``; a batch that can scan nothing forces aging.
- ``should_run_aging``: no cold generation (``min_seq + MIN_NR_GENS > max_seq``) -> age; more than
  ``MIN_NR_GENS + 1`` generations -> don't; with exactly that many, age if the youngest holds
  more than 1/``MIN_NR_GENS`` of the pages or the oldest less than 1/(``MIN_NR_GENS`` + 2).
- ``try_to_inc_max_seq`` -> ``walk_mm`` over every mm, ``walk_pte_range``: each present young pte
  has its accessed bit cleared and its page moved to generation ``max_seq``
  (``folio_update_gen``); then ``inc_max_seq``: a type already at ``MAX_NR_GENS`` generations
  first has its oldest folded into the next (``inc_min_seq``); ``max_seq += 1``.
- ``evict_folios`` / ``isolate_folios``: type: file if swappiness is 0 (or swap is full); anon if
  ``min_seq[anon] < min_seq[file]``; file at swappiness 1, anon at 200; else
  ``get_type_to_scan``. The other type is tried if the chosen one yields nothing. Then
  ``try_to_inc_min_seq``.
- ``scan_folios`` + ``sort_folio`` + ``shrink_folio_list``: from the oldest end of generation
  ``min_seq[type]`` (none if the type is down to ``MIN_NR_GENS``): a page of a tier above
  ``tier_idx`` is protected -- moved to ``min_seq + 1`` (``folio_inc_gen``), counted in
  ``protected``; a locked one also goes to ``min_seq + 1``; the rest are considered for eviction,
  up to ``MIN_LRU_BATCH`` (``MAX_LRU_BATCH`` scanned at most): one found referenced through rmap
  (``folio_referenced``, accessed bits cleared) goes back to ``max_seq`` (the rejected-folio
  path that re-adds it active), as does one that cannot be freed (swap full); the others are
  freed (``shrink.shrink_page``) and leave a shadow entry (``lru_gen_eviction``: the
  ``min_seq`` of their type and their ``PG_workingset``), counted in ``evicted[type][tier]``.
- Tiers: tier = ``order_base_2(refs + 1)`` (``lru_tier_from_refs``) with ``refs`` the accesses
  through file descriptors beyond the first plus ``PG_workingset`` (``folio_lru_refs``).
- ``try_to_inc_min_seq``: each type's ``min_seq`` passes empty generations while more than
  ``MIN_NR_GENS`` remain; with swap, anon and file stay in step (anon = min of both, file may not
  pass it); a move counts as progress of the batch, and rolls the controller's history
  (``reset_ctrl_pos``: ``avg = (avg + current) / 2``, current counters cleared).
- ``get_type_to_scan`` / ``get_tier_idx`` / ``read_ctrl_pos`` / ``positive_ctrl_err``: the refault
  feedback: the type whose tier 0 refaults less, relative to what it evicted and weighted by
  ``gain = {swappiness, 200 - swappiness}``, is scanned; tiers of it above the first that
  refaults more than the other type's tier 0 are protected. ``positive_ctrl_err(sp, pv)`` is
  ``pv.refaulted < MIN_LRU_BATCH or pv.refaulted (sp.total + MIN_LRU_BATCH) sp.gain <=
  (sp.refaulted + 1) pv.total pv.gain``.

Where the model simplifies the kernel, and why:

- Tiers exist but have little to count: the simulator has no read(2) (file accesses are
  mappings) and tells the policy of no reference, so ``refs`` beyond ``PG_workingset`` is always
  0 and pages are in tier 0 or 1. Tier 1 is what protection acts on.
- No Bloom filters: the kernel's walk skips the page-middle directories that had few young
  ptes on the previous walk, and only walks mms that ran since (``mm_list``); here every
  present pte of every process is visited at each aging (``ptes_visited`` counts it). This finds
  what the filters would let the kernel find later by rmap, at a higher scan cost.
- No look-around (``lru_gen_look_around``): an rmap hit at eviction promotes only its own page,
  not the young neighbours in the same pte table.
- The "PID controller" is the 6.1 proportional comparison above with one history window
  (the kernel keeps ``NR_HIST_GENS`` = 2 and reads the one of ``min_seq``); the averaging at each
  ``min_seq`` step is its integral part. No derivative term exists in 6.1 either.
- No ``min_ttl`` (``lru_gen_min_ttl``, thrashing prevention by OOM kill): the simulator's
  reclaim has no clock of wall time; a reclaim that frees nothing ends in the OOM killer anyway.
- Generation moves are eager: aging moves a page's list node at once rather than updating its
  flags and leaving ``sort_folio`` to move it later; ``inc_min_seq`` always moves the folded
  pages (6.1 skips that for anon without swap, letting their generation number wrap).
- An eviction batch is ``min(MIN_LRU_BATCH, pages still wanted)``, so cache mode's one-page
  requests free one page; the kernel isolates up to 64 whatever the request.
- One node and zone, no memcg, no ``swappiness`` beyond what reclaim can use (``can_swap`` is
  swap space left), PG_dirty pages are written at once (no ``min_seq + 1`` for pages under
  writeback).
"""
from rmapsim.jit import kernel
from rmapsim.mm.pagewalk import WALK_DONE, walk_next, walk_start
from rmapsim.mm.layout import PAGE_FREED, SC_NR_TO_RECLAIM

from rmapsim.mm.rmap import page_referenced
from rmapsim.mm.layout import (_PAGE_ACCESSED, _PAGE_PRESENT, C_PAGES_FREED, C_PAGES_SCANNED,
                               C_PTES_VISITED, C_RECLAIM_FAILURES, G_NR_FRAMES, G_N_MM, G_SWAP_FREE, G_SWAP_UNBOUNDED, G_ZERO_FRAME, PG_locked,
                               PG_lru, PG_referenced)
from rmapsim.mm.vmscan.shrink import reclaimed, shrink_page
from rmapsim.mm.vmscan.nodes import (forget_frame, ghost_free, ghost_new, key_bind, key_node,
                                     list_add_head, list_add_tail, list_del, page_is_file,
                                     page_key)

NAME = "mglru"
KIND = "realistic"
MODELS = ("Linux 6.1 multi-gen LRU: generations per type, page-table-walk aging, eviction from "
          "min_seq with tiers and refault feedback (mm/vmscan.c lru_gen_*, mm/workingset.c)")
PARAMS = {"swappiness": (60, "vm_swappiness 0..200: gain of anon vs file in the refault "
                             "feedback (0: file only; 1: file first; 200: anon first)",
                         (0, 200)),
          "fault_active": (1, "1: a page-cache page read in by a fault joins max_seq, as 6.1 "
                              "does for every fault; 0: it joins min_seq, as 6.1 adds a clean "
                              "page read by read(2), which the simulator has no other way to "
                              "express", (0, 1))}

MIN_NR_GENS = 2
MAX_NR_GENS = 4
MAX_NR_TIERS = 4
MIN_LRU_BATCH = 64
MAX_LRU_BATCH = 4096
SHADOWS = 2 * MAX_NR_GENS           # list of shadow entries, oldest first
WORKINGSET = 1                      # node_val2 bit: PG_workingset
# lrugen's counters: [type * MAX_NR_TIERS + tier] (2 x MAX_NR_TIERS); refaulted, evicted and
# protected are the current history window, avg_* the averages reset_ctrl_pos keeps
FIELDS = (
    ("max_seq", "int64", "1", 0, None),
    ("min_seq", "int64", "2", 0, None),           # [type]
    ("refaulted", "int64", "8", 0, None),
    ("evicted", "int64", "8", 0, None),
    ("protected", "int64", "8", 0, None),
    ("avg_refaulted", "int64", "8", 0, None),
    ("avg_total", "int64", "8", 0, None),
)
P_SWAPPINESS, P_FAULT_ACTIVE = 0, 1


@kernel
def init(st, ps):
    ps.max_seq[0] = MIN_NR_GENS + 1         # lru_gen_init_lruvec


@kernel(inline="always")
def _type(st, frame):
    """folio_is_file_lru: anon (0) for anonymous and shared-anonymous (swap-backed) pages."""
    return page_is_file(st, frame)


@kernel(inline="always")
def _list(seq, type):
    return (seq % MAX_NR_GENS) * 2 + type


@kernel(inline="always")
def _set_gen(st, frame, seq, type, young):
    """Move frame to generation seq: at its young end (promotion) or old end (folio_inc_gen)."""
    list_del(st, frame)
    if young:
        list_add_tail(st, _list(seq, type), frame)
    else:
        list_add_head(st, _list(seq, type), frame)
    st.node_val[frame] = seq


@kernel(inline="always")
def _tier(st, frame):
    """lru_tier_from_refs(folio_lru_refs): refs = PG_workingset here (no fd accesses)."""
    return 1 if st.node_val2[frame] & WORKINGSET else 0


@kernel(inline="always")
def _can_swap(st):
    return st.g[G_SWAP_FREE] > 0 or st.g[G_SWAP_UNBOUNDED] != 0


@kernel(inline="always")
def _nr_gens(st, ps, type):
    return ps.max_seq[0] - ps.min_seq[type] + 1


# ---- refault feedback -------------------------------------------------------------------------

@kernel
def reset_ctrl_pos(st, ps, type):
    for tier in range(MAX_NR_TIERS):
        i = type * MAX_NR_TIERS + tier
        ps.avg_refaulted[i] = (ps.avg_refaulted[i] + ps.refaulted[i]) // 2
        ps.avg_total[i] = (ps.avg_total[i] + ps.evicted[i] + ps.protected[i]) // 2
        ps.refaulted[i] = 0
        ps.evicted[i] = 0
        ps.protected[i] = 0


@kernel(inline="always")
def _pos(st, ps, type, tier):
    """read_ctrl_pos: (refaulted, total)."""
    i = type * MAX_NR_TIERS + tier
    return (ps.avg_refaulted[i] + ps.refaulted[i],
            ps.avg_total[i] + ps.evicted[i] + ps.protected[i])


@kernel(inline="always")
def positive_ctrl_err(sp_ref, sp_tot, sp_gain, pv_ref, pv_tot, pv_gain):
    return (pv_ref < MIN_LRU_BATCH or
            pv_ref * (sp_tot + MIN_LRU_BATCH) * sp_gain <= (sp_ref + 1) * pv_tot * pv_gain)


@kernel
def get_tier_idx(st, ps, type):
    sr, stt = _pos(st, ps, type, 0)
    tier = 1
    while tier < MAX_NR_TIERS:
        pr, pt = _pos(st, ps, type, tier)
        if not positive_ctrl_err(sr, stt, 1, pr, pt, 2):
            break
        tier += 1
    return tier - 1


@kernel
def get_type_to_scan(st, ps, swappiness):
    """(type, tier_idx)."""
    g0 = swappiness
    g1 = 200 - swappiness
    ar, at = _pos(st, ps, 0, 0)
    fr, ft = _pos(st, ps, 1, 0)
    type = 1 if positive_ctrl_err(ar, at, g0, fr, ft, g1) else 0
    sr, stt = _pos(st, ps, 1 - type, 0)
    sg = g1 if type == 0 else g0
    pg = g0 if type == 0 else g1
    tier = 1
    while tier < MAX_NR_TIERS:
        pr, pt = _pos(st, ps, type, tier)
        if not positive_ctrl_err(sr, stt, sg, pr, pt, pg):
            break
        tier += 1
    return type, tier - 1


# ---- shadows ----------------------------------------------------------------------------------

@kernel
def lru_gen_eviction(st, ps, key, type, workingset):
    old = key_node(st, key)
    if old >= st.g[G_NR_FRAMES]:
        ghost_free(st, old)
    node = ghost_new(st, key)
    if node < 0:                                    # pool exhausted: drop the oldest shadow
        ghost_free(st, st.list_head[SHADOWS])
        node = ghost_new(st, key)
    st.node_val[node] = ps.min_seq[type]
    st.node_val2[node] = workingset
    list_add_tail(st, SHADOWS, node)


@kernel
def lru_gen_refault(st, ps, frame, node, type):
    """A shadow for the page's identity: count the refault against its tier if it was evicted
    from the current min_seq, and mark the page PG_workingset."""
    if st.node_val[node] == ps.min_seq[type]:
        tier = 1 if st.node_val2[node] & WORKINGSET else 0
        ps.refaulted[type * MAX_NR_TIERS + tier] += 1
        st.node_val2[frame] = WORKINGSET
    ghost_free(st, node)


# ---- hooks ------------------------------------------------------------------------------------

@kernel(inline="always")
def page_added(st, ps, frame):
    type = _type(st, frame)
    key = page_key(st, frame)
    st.node_val2[frame] = 0
    node = key_node(st, key)
    if node >= st.g[G_NR_FRAMES]:
        lru_gen_refault(st, ps, frame, node, type)
    key_bind(st, key, frame)
    if type == 1 and st.params[P_FAULT_ACTIVE] == 0:
        seq = ps.min_seq[1]
        list_add_head(st, _list(seq, type), frame)
    else:
        seq = ps.max_seq[0]
        list_add_tail(st, _list(seq, type), frame)
    st.node_val[frame] = seq


@kernel(inline="always")
def page_removed(st, ps, frame):
    forget_frame(st, frame)


# ---- aging ------------------------------------------------------------------------------------

@kernel
def walk_mm(st, mm, max_seq):
    """walk_page_range over mm: young ptes are made old, their pages join max_seq."""
    zero = st.g[G_ZERO_FRAME]
    v = st.mm_vmas[mm]
    while v >= 0:
        end = st.vma_end[v]
        w = walk_start(st.vma_start[v])
        while True:
            p, _a, _slot, w = walk_next(st, mm, w, end)
            if p == WALK_DONE:
                break
            e = st.pt[p] if p >= 0 else 0
            if not (e & _PAGE_PRESENT):
                continue
            st.cnt[C_PTES_VISITED] += 1
            if not (e & _PAGE_ACCESSED):
                continue
            f = e >> 12
            if f == zero or not (st.page_flags[f] & PG_lru):
                continue
            st.pt[p] = e & ~_PAGE_ACCESSED
            k = st.node_list[f]
            if 0 <= k < SHADOWS and st.node_val[f] != max_seq:
                _set_gen(st, f, max_seq, k & 1, True)
        v = st.vma_next[v]


@kernel
def inc_min_seq(st, ps, type):
    """Fold the oldest generation of type into the next one (at its old end, in order)."""
    seq = ps.min_seq[type]
    src = _list(seq, type)
    while st.list_tail[src] >= 0:
        _set_gen(st, st.list_tail[src], seq + 1, type, False)
    reset_ctrl_pos(st, ps, type)
    ps.min_seq[type] = seq + 1


@kernel
def try_to_inc_max_seq(st, ps):
    max_seq = ps.max_seq[0]
    for mm in range(st.g[G_N_MM]):
        if st.mm_pgd[mm] >= 0:
            walk_mm(st, mm, max_seq)
    for type in range(1, -1, -1):
        if _nr_gens(st, ps, type) >= MAX_NR_GENS:
            inc_min_seq(st, ps, type)
    ps.max_seq[0] = max_seq + 1


@kernel
def should_run_aging(st, ps, can_swap):
    max_seq = ps.max_seq[0]
    t0 = 0 if can_swap else 1
    ms = ps.min_seq[t0]
    if ms + MIN_NR_GENS > max_seq:
        return True
    if ms + MIN_NR_GENS < max_seq:
        return False
    young = 0
    old = 0
    total = 0
    for type in range(t0, 2):
        for seq in range(ps.min_seq[type], max_seq + 1):
            size = st.list_len[_list(seq, type)]
            total += size
            if seq == max_seq:
                young += size
            elif seq + MIN_NR_GENS == max_seq:
                old += size
    return young * MIN_NR_GENS > total or old * (MIN_NR_GENS + 2) < total


@kernel
def try_to_inc_min_seq(st, ps, can_swap):
    max_seq = ps.max_seq[0]
    m0 = ps.min_seq[0]
    m1 = ps.min_seq[1]
    if can_swap:
        while m0 + MIN_NR_GENS <= max_seq and st.list_len[_list(m0, 0)] == 0:
            m0 += 1
    while m1 + MIN_NR_GENS <= max_seq and st.list_len[_list(m1, 1)] == 0:
        m1 += 1
    if can_swap:
        m0 = min(m0, m1)
        m1 = max(m0, ps.min_seq[1])
    moved = False
    if m0 != ps.min_seq[0]:
        reset_ctrl_pos(st, ps, 0)
        ps.min_seq[0] = m0
        moved = True
    if m1 != ps.min_seq[1]:
        reset_ctrl_pos(st, ps, 1)
        ps.min_seq[1] = m1
        moved = True
    return moved


# ---- eviction ---------------------------------------------------------------------------------

@kernel
def scan_folios(st, ps, type, tier_idx, batch):
    """Scan the oldest generation of type; returns pages scanned."""
    if _nr_gens(st, ps, type) <= MIN_NR_GENS:
        return 0
    seq = ps.min_seq[type]
    src = _list(seq, type)
    scanned = 0
    isolated = 0
    while isolated < batch and scanned < MAX_LRU_BATCH:
        f = st.list_head[src]
        if f < 0:
            break
        scanned += 1
        st.cnt[C_PAGES_SCANNED] += 1
        tier = _tier(st, f)
        if tier > tier_idx:
            _set_gen(st, f, seq + 1, type, False)
            ps.protected[type * MAX_NR_TIERS + tier] += 1
            continue
        if st.page_flags[f] & PG_locked:
            _set_gen(st, f, seq + 1, type, False)
            continue
        isolated += 1
        ref = page_referenced(st, f)
        if st.page_flags[f] & PG_referenced:
            st.page_flags[f] &= ~PG_referenced
            ref += 1
        if ref:
            _set_gen(st, f, ps.max_seq[0], type, True)
            continue
        key = st.node_key[f]
        ws = st.node_val2[f] & WORKINGSET
        if shrink_page(st, f) == PAGE_FREED:
            forget_frame(st, f)
            st.page_flags[f] &= ~PG_lru
            reclaimed(st, f)
            ps.evicted[type * MAX_NR_TIERS + tier] += 1
            if key >= 0:
                lru_gen_eviction(st, ps, key, type, ws)
        else:
            st.cnt[C_RECLAIM_FAILURES] += 1
            _set_gen(st, f, ps.max_seq[0], type, True)
    return scanned


@kernel
def evict_folios(st, ps, batch):
    can_swap = _can_swap(st)
    swappiness = int(st.params[P_SWAPPINESS]) if can_swap else 0
    tier = -1
    if swappiness == 0:
        type = 1
    elif ps.min_seq[0] < ps.min_seq[1]:
        type = 0
    elif swappiness == 1:
        type = 1
    elif swappiness >= 200:
        type = 0
    else:
        type, tier = get_type_to_scan(st, ps, swappiness)
    scanned = 0
    for _ in range(1 if swappiness == 0 else 2):
        if tier < 0:
            tier = get_tier_idx(st, ps, type)
        scanned = scan_folios(st, ps, type, tier, batch)
        if scanned:
            break
        type = 1 - type
        tier = -1
    if try_to_inc_min_seq(st, ps, swappiness != 0):
        scanned += 1                                # progress, as evict_folios counts it
    return scanned


@kernel(inline="always")
def reclaim(st, ps, sc):
    nr_to_free = sc[SC_NR_TO_RECLAIM]
    f0 = st.cnt[C_PAGES_FREED]
    forced = 0
    scanned = 0
    limit = 4 * st.g[G_NR_FRAMES] + MAX_LRU_BATCH
    while True:
        want = nr_to_free - (st.cnt[C_PAGES_FREED] - f0)
        if want <= 0 or scanned > limit:
            break
        can_swap = _can_swap(st) and st.params[P_SWAPPINESS] != 0
        if should_run_aging(st, ps, can_swap):
            try_to_inc_max_seq(st, ps)
        s = evict_folios(st, ps, min(want, MIN_LRU_BATCH))
        scanned += s
        if s == 0:
            forced += 1
            if forced > MAX_NR_GENS:
                break
            try_to_inc_max_seq(st, ps)
    return st.cnt[C_PAGES_FREED] - f0
