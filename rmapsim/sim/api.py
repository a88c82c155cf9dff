"""``rmapsim.run``: replay a trace on a simulated machine under one policy."""
from __future__ import annotations

import os

import numpy as np

from rmapsim.errors import ConfigError, TraceError
from rmapsim.mm.debug import VIOLATIONS, check_invariants
from rmapsim.mm.oracle import final_sweep
from rmapsim.mm.page_alloc import init_free_area
from rmapsim.mm.fork import setup_bare
from rmapsim.mm.rmap import DEFAULT as RMAP_DEFAULT, get_design, rmap_init
from rmapsim.mm.rmap.hooks import bind as bind_rmap
from rmapsim.mm.contig import DEFAULT as CONTIG_DEFAULT, bind as bind_contig, get_strategy
from rmapsim.mm.state import (COUNTERS, DONE, ERR_ADDR, ERR_HANDLE, ERR_MMAP, ERR_PID, ERR_TOKEN,
                              G_ADDR_LIMIT, CTX_ERR_A, CTX_ERR_B, CTX_ERR_FRAME, CTX_ERR_KIND,
                              G_INIT_REF, G_NR_FREE, G_POLICY, G_RECORD_KEYS, G_SEES_REFS,
                              G_ZERO_FRAME, STOP_BAD_EVENT,
                              STOP_INTEGRITY, TOKEN_ZERO, as_struct, grow, new_state)
from rmapsim.mm.vmscan import get_policy, policy_params, sees_refs
from rmapsim.mm.vmscan.dispatch import policy_init
from rmapsim.mm.vmscan.hooks import HOOK_SLOTS, bind
from rmapsim.sim.config import GEOMETRIES, build_machine, check_param_names
from rmapsim.sim.future import chunk_next_use, stored_next_use
from rmapsim.sim.progress import Progress
from rmapsim.sim.replay import replay_chunk, replay_refs
from rmapsim.sim.highorder import fragmentation, frame_kinds, request_log, summary as highorder_summary
from rmapsim.sim.result import rmap_op_keys, Result, Timeline
from rmapsim.trace import Trace, from_events, from_pages, open_trace
from rmapsim.trace.events import OP_WRITE

DEFAULT_CHECK_EVERY = 10_000
TIMELINE_EVENTS = 1 << 14
NO_FUTURE = np.empty(0, np.int64)


def _as_trace(trace, format):
    """A Trace from what ``run`` accepts: a Trace, a path, an EVENT_DTYPE array, or page numbers
    (a list or an integer array, read as ``from_pages`` reads them)."""
    if isinstance(trace, Trace):
        return trace
    if isinstance(trace, (list, tuple, range)) or (isinstance(trace, np.ndarray)
                                                   and trace.dtype.names is None):
        pages = np.asarray(trace)
        if pages.dtype.kind not in "ui" and pages.size:
            raise ConfigError(f"trace: page numbers must be integers, not {pages.dtype} (or pass "
                              f"rmapsim.trace.from_pages(pages, writes) or an EVENT_DTYPE array)")
        return from_pages(pages.astype(np.int64) if pages.dtype == object else pages)
    if isinstance(trace, np.ndarray):
        return from_events(trace)
    if not isinstance(trace, (str, bytes, os.PathLike)):
        raise ConfigError(f"trace must be a path, a Trace, page numbers (a list or an integer "
                          f"array; rmapsim.trace.from_pages) or an EVENT_DTYPE array, not "
                          f"{type(trace).__name__}")
    return open_trace(trace, format)


def _bad_event_message(st, kind):
    if kind == ERR_ADDR:
        return (f"address {int(st.ctx[CTX_ERR_A]):#x} is outside the "
                f"{int(st.g[G_ADDR_LIMIT]).bit_length() - 1}-bit address space of the machine's "
                f"page-table geometry")
    if kind == ERR_MMAP:
        return "malformed mmap/munmap (address not page aligned, zero length, or file id 0)"
    if kind == ERR_PID:
        return f"fork to pid {int(st.ctx[CTX_ERR_A])}, which is alive"
    if kind == ERR_HANDLE:
        return (f"handle {int(st.ctx[CTX_ERR_A])}: ALLOC of a handle its owner holds, or FREE "
                f"of one it never allocated")
    return "bad event"


def boot(*, policy="clock", params=None, mem=None, frames=None, cache_mode=False,
         machine="modern", check=False, rmap=RMAP_DEFAULT, contig=CONTIG_DEFAULT):
    """A booted machine: (policy module, its parameter values, Machine, State arrays for Python,
    the StructRef view of the same arrays for compiled code). ``rmap`` names the
    reverse-mapping design (``mm/rmap/``), ``contig`` the contiguity strategy
    (``mm/contig/``)."""
    pol, pvals, rest = policy_and_params(policy, params)
    design = get_design(rmap)
    strategy = get_strategy(contig)
    m = build_machine(machine, mem, frames, cache_mode, rest)
    return _boot_state(pol, pvals, m, check, design, strategy)


def policy_and_params(policy, params):
    """(policy module, its parameter values, the machine and cost parameters of ``params``); a
    name that is none of these is a ConfigError naming the policy and its parameters."""
    pol = get_policy(policy)
    pvals, rest = policy_params(pol, params)
    check_param_names(rest, [pol])
    return pol, pvals, rest


def _boot_state(pol, pvals, m, check, design, strategy=None):
    """``boot`` once the policy, the rmap design and the Machine are known."""
    levels, bits, _ = GEOMETRIES[m.geometry]
    st = new_state(levels=levels, bits=bits, frames=m.frames, max_order=m.max_order,
                   cache_mode=m.cache_mode, watermarks=m.watermarks, swap_size=m.swap_size,
                   swap_unbounded=m.cache_mode and m.swap_pages is None,
                   zero_page=m.zero_page, params=pvals, check=check, hook_slots=HOOK_SLOTS,
                   rmap=(design.__name__,) + tuple(getattr(design, "USES", ())),
                   rmap_pool=getattr(design, "POOL", None))
    st.g[G_POLICY] = pol.ID
    st.g[G_INIT_REF] = int(dict(zip(pol.PARAMS, pvals)).get("init_ref", 1))
    st.g[G_SEES_REFS] = int(sees_refs(pol))
    bind(pol, st)
    bind_rmap(design, st)
    bind_contig(get_strategy(strategy or CONTIG_DEFAULT), st)
    s = as_struct(st)
    rmap_init(s)
    policy_init(s)
    init_free_area(s, m.kernel_reserved)
    if st.g[G_ZERO_FRAME] >= 0:
        st.page_token[st.g[G_ZERO_FRAME]] = TOKEN_ZERO
    return pol, pvals, m, st, s


def run(trace, *, format=None, mem=None, frames=None, policy="clock", params=None,
        cache_mode=False, machine="modern", check=False, progress=False,
        check_every=DEFAULT_CHECK_EVERY, chunk_events=1 << 20, timeline=False,
        from_snapshot=None, rmap=RMAP_DEFAULT, contig=CONTIG_DEFAULT) -> Result:
    """Replay ``trace`` (a path, a ``Trace``, or an EVENT_DTYPE array) and return the Result.

    ``params`` holds policy parameters and machine/cost overrides by name. In check mode the
    invariants are verified every ``check_every`` references and after every process event, and
    every reference checks its content token; a violation stops the run and the Result carries
    it in ``violation`` (and ``integrity_errors`` = 1).

    With ``timeline`` the Result's ``timeline`` holds the counters and free memory sampled every
    ``TIMELINE_EVENTS`` events (see ``result.Timeline``), for plots over simulated time.

    With ``from_snapshot`` (a file of ``rmapsim snapshot``) the machine starts in the captured
    state (``sim/snapshot/``) and ``trace``, which may then be None, replays on top; the
    Result's ``snapshot`` attribute holds the load report (agreement with kpagecount).

    ``rmap`` names the reverse-mapping design (``rmapsim.mm.rmap.designs()``; default the
    seed's pte chains); the Result records it. ``contig`` names the contiguity strategy the
    trace's high-order requests (ALLOC events) are met by (``rmapsim.mm.contig``: none, steal,
    lumpy, compaction); the Result's ``requests`` lists each request and its ``highorder``
    and ``fragmentation`` keys sum them up."""
    loaded = None
    if from_snapshot is not None:
        from rmapsim.sim.snapshot import load
        pol, pvals, m, st, s, loaded = load(from_snapshot, policy=policy, params=params,
                                            mem=mem, frames=frames, machine=machine,
                                            check=check, cache_mode=cache_mode, rmap=rmap)
        if trace is None:
            return _snapshot_result(Result(
                counters=_counters(st), machine=m, policy=pol.NAME,
                params=dict(zip(pol.PARAMS, pvals)), trace="-", rmap=get_design(rmap).NAME),
                loaded)
    else:
        pol, pvals, m, st, s = boot(policy=policy, params=params, mem=mem, frames=frames,
                                    cache_mode=cache_mode, machine=machine, check=check,
                                    rmap=rmap, contig=contig)
    t = _as_trace(trace, format)
    if t.bare:
        setup_bare(s)
    violation = None
    base = 0
    samples = []
    trace_refs = 0
    if timeline:
        chunk_events = min(chunk_events, TIMELINE_EVENTS)
    with Progress(t, enabled=progress) as bar:
        # a bare trace streams compact references to a loop of its own
        replay = replay_refs if t.bare else replay_chunk
        source = _chunk_source(pol, t, chunk_events, loaded is not None, dict(
            params=params, mem=mem, frames=frames, cache_mode=cache_mode, machine=machine))
        for ev, nxt in source:
            trace_refs += len(ev) if t.bare else int(np.count_nonzero(ev["op"] <= OP_WRITE))
            st, s, violation = _replay_chunk(st, s, t, replay, ev, nxt, base,
                                             check_every if check else 0)
            base += len(ev)
            bar.update()
            if timeline:
                samples.append((st.cnt.copy(), int(st.g[G_NR_FREE])))
            if violation:
                break
    if check and violation is None:
        code = check_invariants(s)
        if code:
            st.cnt[COUNTERS.index("integrity_errors")] += 1
            violation = _describe(st, code, "at the end of the run")
        elif final_sweep(s):
            st.cnt[COUNTERS.index("integrity_errors")] += 1
            ctx = st.ctx
            violation = (f"lost write found at the end of the run: page {int(ctx[CTX_ERR_FRAME])} "
                         f"should hold token {int(ctx[CTX_ERR_A])} but holds {int(ctx[CTX_ERR_B])}")
    result = Result(counters=_counters(st), machine=m, policy=pol.NAME,
                    params=dict(zip(pol.PARAMS, pvals)), trace=t.path, violation=violation,
                    timeline=Timeline.from_samples(samples, m.costs) if timeline else None,
                    rmap=get_design(rmap).NAME, contig=get_strategy(contig).NAME)
    if result.counters["highorder_requests"] or result.contig != CONTIG_DEFAULT:
        result.requests = request_log(st)
        result.extra["highorder"] = highorder_summary(result.requests, m.costs)
        result.extra["fragmentation"] = fragmentation(st)
        result.frame_map = frame_kinds(st)
    if violation is None:
        # the trace's own length (the counters have what was replayed), to tell a run that
        # left events out from one that did not (Result.incomplete)
        result.extra["trace_references"] = trace_refs
    return _snapshot_result(result, loaded) if loaded is not None else result


def _counters(st):
    counters = dict(zip(COUNTERS, st.cnt.tolist()))
    counters["references"] = counters["reads"] + counters["writes"]
    counters.update(zip(rmap_op_keys(), st.rmap_cost.tolist()))
    return counters


def _snapshot_result(result, loaded):
    r = loaded.report
    result.extra.update(snapshot=loaded.path, snapshot_frames_mapped=r["frames_mapped"],
                        snapshot_frames_agreeing=r["frames_agreeing"],
                        snapshot_agreement=round(r["agreement"], 6))
    result.snapshot = r
    return result


def _chunk_source(pol, t, chunk_events, on_snapshot, machine_kw):
    """The trace's chunks, each with its next-use times for a policy that knows the future
    (``sim/future.py``: stored in the file, or found by a first pass), else with none."""
    def chunks():
        return t.ref_chunks(chunk_events) if t.bare else t.chunks(chunk_events)
    if not getattr(pol, "FUTURE", False):
        return ((c, NO_FUTURE) for c in chunks())
    if t.bare and t.has_next:
        return stored_next_use(t, chunk_events)
    if on_snapshot and not t.bare:
        raise ConfigError(f"policy {pol.NAME} needs every page's next use, which a first replay "
                          f"finds from the trace alone: on a snapshot it takes a bare page trace, "
                          f"not an event trace")
    keys = None if t.bare else _page_identities(t, chunk_events, machine_kw)
    return chunk_next_use(chunks, t.bare, keys)


def _replay_chunk(st, s, t, replay, ev, nxt, base, check_every):
    """Run one chunk to its end, growing tables as asked: (st, s, violation or None)."""
    i = 0
    while True:
        status, i = replay(s, ev, i, check_every, nxt)
        if status == DONE:
            return st, s, None
        if status == STOP_BAD_EVENT:
            raise TraceError(t.path, _bad_event_message(st, int(st.ctx[CTX_ERR_KIND]))
                             ).relocate(t.locate(base + i))
        if status == STOP_INTEGRITY:
            return st, s, _violation(st, t, base + i)
        st = grow(st, status)
        s = as_struct(st)


def _page_identities(t, chunk_events, machine_kw) -> np.ndarray:
    """The page each reference of an event trace reaches, by a first replay in record mode:
    its page-cache slot for file and shared pages, an anonymous page's birth, else (process,
    virtual page). The replay resolves the mappings as the trace goes (a read window mapped
    over many file pages is many pages; a page shared by fork is one). It runs under fifo on
    the machine with room added for every page the trace touches, so that pages are born once:
    what a page is then depends on the mappings alone, not on a policy's evictions."""
    touched = np.empty(0, np.int64)
    for ev in t.chunks(chunk_events):
        refs = ev[ev["op"] <= OP_WRITE]
        touched = np.union1d(touched, (refs["pid"].astype(np.int64) << 36)
                             | (refs["addr"].astype(np.int64) >> 12))
    frames = machine_kw.pop("frames")
    mem = machine_kw.pop("mem")
    m = build_machine(machine_kw["machine"], mem, frames, machine_kw["cache_mode"],
                      dict(machine_kw["params"] or {}))
    _, _, _, st, s = boot(policy="fifo", frames=m.frames + 2 * len(touched), **machine_kw)
    st.g[G_RECORD_KEYS] = 1
    keys, base = [], 0
    for ev in t.chunks(chunk_events):
        out = np.empty(len(ev), np.int64)
        st, s, _ = _replay_chunk(st, s, t, replay_chunk, ev, out, base, 0)
        keys.append(out)
        base += len(ev)
    return np.concatenate(keys) if keys else np.empty(0, np.int64)


def _describe(st, code, where):
    a, b = int(st.ctx[CTX_ERR_A]), int(st.ctx[CTX_ERR_B])
    return (f"invariant violated {where}: page {int(st.ctx[CTX_ERR_FRAME])}: "
            + VIOLATIONS.get(code, "unknown violation {a} {b}").format(a=a, b=b))


def _violation(st, t, index):
    kind = int(st.ctx[CTX_ERR_KIND])
    where = f"at event {index} ({t.path}, {t.locate(index)})"
    if kind == ERR_TOKEN:
        return (f"lost or corrupted data {where}: page {int(st.ctx[CTX_ERR_FRAME])} holds token "
                f"{int(st.ctx[CTX_ERR_B])} but the last write there made {int(st.ctx[CTX_ERR_A])}")
    return _describe(st, kind // 16, where)
