"""Random event sequences on both geometries and every policy, in check mode with the
invariants verified after every event and every reference checking its content token.

Processes fork, exec, exit, mmap and munmap anonymous, shared-anonymous, private-file and
shared-file regions over a small address window, and read and write them, on machines small
enough that kswapd, direct reclaim, swap and the OOM killer all run."""
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import rmapsim
from rmapsim.mm.vmscan import POLICIES
from rmapsim.trace import from_events
from rmapsim.trace.events import (EVENT_DTYPE, MAP_FILE, MAP_SHARED, OP_EXEC, OP_EXIT, OP_FILE,
                                  OP_FORK, OP_MMAP, OP_MUNMAP, OP_READ, OP_WRITE, PROT_WRITE)

P = 4096
BASE = 0x40000000      # below 4 GiB so the i386 geometry can hold it
WINDOW = 96            # pages of address space the processes play in
PIDS = 4


def event():
    """One random event; references dominate, as in any real trace, and processes die
    rarely enough that most events land on a live one."""
    pid = st.integers(1, PIDS)
    page = st.integers(0, WINDOW - 1)
    ref = st.tuples(st.sampled_from([OP_READ, OP_WRITE, OP_WRITE]), pid, page)
    writable = st.sampled_from([True, True, True, True, False])
    mmap = st.tuples(st.just(OP_MMAP), pid, page, st.integers(1, 24),
                     st.integers(0, 2), st.booleans(), writable, st.integers(0, 8))
    munmap = st.tuples(st.just(OP_MUNMAP), pid, page, st.integers(1, 24))
    fork = st.tuples(st.just(OP_FORK), pid, st.integers(1, PIDS + 4))
    life = st.tuples(st.sampled_from([OP_EXEC, OP_EXIT]), pid)
    kinds = [(80, ref), (88, mmap), (92, munmap), (97, fork), (100, life)]
    return st.integers(0, 99).flatmap(lambda k: next(s for lim, s in kinds if k < lim))


def build(evs):
    rows = [(OP_FILE, 0, 0, 0, 64, 1, 1, 0), (OP_FILE, 0, 0, 0, 64, 2, 0, 0)]   # nfs, disk
    # every process starts with the whole window mapped, so most references land somewhere
    rows += [(OP_MMAP, PROT_WRITE, pid, BASE, WINDOW * P, 0, 0, 0) for pid in range(1, PIDS + 1)]
    for e in evs:
        op = e[0]
        if op in (OP_READ, OP_WRITE):
            rows.append((op, 0, e[1], BASE + e[2] * P + 8 * (e[2] % 7), 0, 0, 0, 0))
        elif op == OP_MMAP:
            _, pid, page, n, fid, shared, write, pgoff = e
            n = min(n, WINDOW - page)
            flags = (MAP_SHARED if shared else 0) | (MAP_FILE if fid else 0) | (PROT_WRITE if write else 0)
            rows.append((op, flags, pid, BASE + page * P, n * P, fid, 0, pgoff if fid else 0))
        elif op == OP_MUNMAP:
            rows.append((op, 0, e[1], BASE + e[2] * P, min(e[3], WINDOW - e[2]) * P, 0, 0, 0))
        elif op == OP_FORK:
            rows.append((op, 0, e[1], 0, 0, 0, e[2], 0))
        else:
            rows.append((op, 0, e[1], 0, 0, 0, 0, 0))
            if op == OP_EXEC:       # a new program maps its own memory
                rows.append((OP_MMAP, PROT_WRITE, e[1], BASE, WINDOW * P, 0, 0, 0))
    a = np.zeros(len(rows), EVENT_DTYPE)
    for i, (op, flags, pid, addr, length, fid, arg, pgoff) in enumerate(rows):
        a[i] = (op, flags, 0, pid, addr, length, fid, arg, pgoff)
    return a


def fork_to_live_pid_is_refused(a):
    """A FORK to a live pid is a malformed trace; keep those out of the random traces by
    replaying liveness (pids come alive by fork or by any event, die by exit)."""
    alive, keep = set(), []
    for i, e in enumerate(a):
        op, pid = int(e["op"]), int(e["pid"])
        if op == OP_FORK:
            if int(e["arg"]) in alive or int(e["arg"]) == pid:
                continue
            alive.add(pid)
            alive.add(int(e["arg"]))
        elif op == OP_EXIT:
            alive.discard(pid)
        elif op != OP_FILE:
            alive.add(pid)
        keep.append(i)
    return a[keep]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=st.lists(event(), min_size=1, max_size=160),
       geometry=st.sampled_from(["x86-64", "i386"]),
       policy=st.sampled_from(sorted(POLICIES)),
       frames=st.sampled_from([48, 64, 96]),
       swap=st.sampled_from([8, 32, 256]))
def test_random_event_sequences_keep_every_invariant(evs, geometry, policy, frames, swap):
    a = fork_to_live_pid_is_refused(build(evs))
    r = rmapsim.run(from_events(a), frames=frames, policy=policy, check=True, check_every=1,
                    params={"geometry": geometry, "swap_pages": swap})
    assert r.violation is None, r.violation
    d = r.to_dict()
    assert d["integrity_errors"] == 0
    assert d["faults"] == d["minor_faults"] + d["major_faults"]
    # determinism: the same trace gives the same numbers
    r2 = rmapsim.run(from_events(a), frames=frames, policy=policy, check=True, check_every=1,
                     params={"geometry": geometry, "swap_pages": swap})
    assert r2.to_dict() == d


@settings(max_examples=40, deadline=None)
@given(pages=st.lists(st.integers(0, 40), min_size=1, max_size=300),
       writes=st.lists(st.booleans(), min_size=300, max_size=300),
       frames=st.integers(1, 30), policy=st.sampled_from(sorted(POLICIES)))
def test_random_page_traces_in_cache_mode_lose_nothing(pages, writes, frames, policy):
    from rmapsim.trace import from_pages
    t = from_pages(np.array(pages), np.array(writes[:len(pages)]))
    d = rmapsim.run(t, frames=frames, cache_mode=True, policy=policy, check=True,
                    check_every=1).to_dict()
    assert d["integrity_errors"] == 0
    assert d["misses"] >= len(set(pages))
    # every fault brings a page in, except a write to a page already private (wp reuse) and,
    # under the policies that unmap pages before they free them (the virtual scans, the
    # lists' inactive queues), a fault on a page still in the swap cache
    assert d["misses"] <= d["faults"] - d["wp_reuse_faults"]
    if policy in ("clock", "fifo") or POLICIES[policy].KIND == "reference":
        assert d["misses"] == d["faults"] - d["wp_reuse_faults"]
