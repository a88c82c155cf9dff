"""The replay loop: one chunk of events through the simulated kernel, in compiled code.

``replay_chunk`` runs events ``start..`` of a chunk and returns ``(status, index)``: ``DONE``, a
``NEED_*`` code asking Python to grow a table before event ``index`` runs again (nothing of that
event has happened yet), or a ``STOP_*`` code for a bad event or an integrity error.

A reference is what the MMU does: walk the tables; a present pte that permits the access gets
its accessed bit (and dirty bit on a write) and that is all; otherwise the fault handler runs
and the access is retried. In check mode every reference also checks the content token.
"""
import numpy as np
from rmapsim.jit import kernel

from rmapsim.mm.debug import check_invariants
from rmapsim.mm.state import room
from rmapsim.mm.memory import FAULT_ABORT, FAULT_SEGV, handle_mm_fault
from rmapsim.mm.mmap import exit_mmap
from rmapsim.mm.oracle import expected_token, note_write
from rmapsim.mm.pgtable import pt_index
from rmapsim.mm.fork import do_exec, do_exit, do_fork, find_mm, mm_new
from rmapsim.mm.mmap import do_mmap, sys_munmap
from rmapsim.mm.filemap import obj_slot
from rmapsim.mm.vmscan.dispatch import page_accessed
from rmapsim.mm.vmscan.nodes import page_key, ref_key
from rmapsim.mm.layout import (C_IGNORED_EVENTS, C_INTEGRITY_ERRORS, C_MISSES, C_READS,
                               C_SEGFAULTS, C_WRITES, DONE, ERR_ADDR, ERR_INVARIANT, ERR_MMAP,
                               ERR_PID, ERR_TOKEN, G_ADDR_LIMIT, G_CHECK, CTX_ERR_A, CTX_ERR_B,
                               CTX_ERR_EVENT, CTX_ERR_FRAME, CTX_ERR_KIND, G_INIT_REF, CTX_LAST_MM,
                               CTX_LAST_PID, G_LEVELS, G_NR_TABLES, G_N_MM, G_N_VMA, G_PTRS, G_RECORD_KEYS,
                               CTX_REF_KEY, CTX_REF_NEXT, G_SEES_REFS, G_VMA_FREE_TOP, NEED_MM,
                               _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, PG_anon,
                               PG_lru, STOP_BAD_EVENT, STOP_INTEGRITY)
from rmapsim.trace.events import (ALLOC_HUGE, MAP_FILE, OP_ALLOC, OP_EXEC, OP_EXIT, OP_FILE,
                                  OP_FORK, OP_FREE, OP_MMAP, OP_MUNMAP, OP_WRITE)
from rmapsim.mm.highorder import alloc_request, free_request
from rmapsim.mm.layout import ERR_HANDLE


@kernel
def _fail(st, i, kind, frame):
    st.ctx[CTX_ERR_KIND] = kind
    st.ctx[CTX_ERR_FRAME] = frame
    st.ctx[CTX_ERR_EVENT] = i


@kernel
def _mm_of(st, pid):
    """The mm of pid, creating a process that was alive before the trace began; -2 if the
    pid is dead (its events are ignored); -3 if no memory for a new process."""
    if pid == st.ctx[CTX_LAST_PID]:
        return st.ctx[CTX_LAST_MM]
    mm = find_mm(st, pid)
    if mm == -1:
        mm = mm_new(st, pid)
        if mm < 0:
            return -3
    if mm >= 0:
        st.ctx[CTX_LAST_PID] = pid
        st.ctx[CTX_LAST_MM] = mm
    return mm


@kernel
def _record_key(st, mm, addr, frame):
    """Leave the identity of the page this reference reached in ``st.ctx[CTX_REF_KEY]``: its page
    cache slot for a file or shared page, the birth stamp ``dispatch.page_added`` gave an
    anonymous page (so a page shared after fork is one page), else (process, virtual page)."""
    f = st.page_flags[frame]
    if not (f & PG_lru):
        st.ctx[CTX_REF_KEY] = ref_key(mm, addr)
    elif f & PG_anon:
        st.ctx[CTX_REF_KEY] = st.node_key[frame]
    else:
        st.ctx[CTX_REF_KEY] = page_key(st, frame)


@kernel(inline="always")
def access(st, mm, addr, write, i, check_every):
    """One reference by process mm, as the MMU and the fault handler see it. Returns 0 when
    the reference was made, -1 when it was not (the process died of it), or a NEED_*/STOP_*
    code, in which case nothing of the reference has happened yet or the run must stop."""
    g = st.g
    cnt = st.cnt
    ptrs = g[G_PTRS]
    levels = g[G_LEVELS]
    check = g[G_CHECK]
    if check:
        r = room(st, levels + 1, 0, 0, 0, 1)
        if r != DONE:
            return r
    # the MMU's walk
    slot = st.mm_pgd[mm]
    for level in range(levels - 1, 0, -1):
        e = st.pt[slot * ptrs + pt_index(st, level, addr)]
        if e == 0:
            slot = -1
            break
        slot = e >> 12
    pte = -1
    e = 0
    if slot >= 0:
        pte = slot * ptrs + pt_index(st, 0, addr)
        e = st.pt[pte]
    if (e & _PAGE_PRESENT) and (not write or (e & _PAGE_RW)):
        st.pt[pte] = e | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
        if g[G_SEES_REFS]:
            st.ctx[CTX_REF_KEY] = ref_key(mm, addr)
            page_accessed(st, e >> 12)
    else:
        if not check:
            r = room(st, levels + 1, 0, 0, 0, 1)
            if r != DONE:
                return r
        misses0 = cnt[C_MISSES]
        st.ctx[CTX_REF_KEY] = ref_key(mm, addr)
        r = handle_mm_fault(st, mm, addr, write)
        if r == FAULT_SEGV:
            cnt[C_SEGFAULTS] += 1
            exit_mmap(st, mm)
            return -1
        if r == FAULT_ABORT:
            cnt[C_IGNORED_EVENTS] += 1
            return -1
        slot = st.mm_pgd[mm]
        for level in range(levels - 1, 0, -1):
            slot = st.pt[slot * ptrs + pt_index(st, level, addr)] >> 12
        pte = slot * ptrs + pt_index(st, 0, addr)
        e = st.pt[pte]
        # the faulting reference sets the accessed bit, unless the policy models pages that
        # enter memory unreferenced (clock init_ref=0)
        if g[G_INIT_REF] or cnt[C_MISSES] == misses0:
            e |= _PAGE_ACCESSED
        st.pt[pte] = e | (_PAGE_DIRTY if write else 0)
        if g[G_SEES_REFS] and cnt[C_MISSES] == misses0:
            # a fault that brought no new page in (COW of a resident page, a page found in the
            # page or swap cache) is still a reference to a page in memory
            page_accessed(st, e >> 12)
    if write:
        cnt[C_WRITES] += 1
    else:
        cnt[C_READS] += 1
    if g[G_RECORD_KEYS]:
        _record_key(st, mm, addr, st.pt[pte] >> 12)
    if check:
        frame = st.pt[pte] >> 12
        want = expected_token(st, pte, frame)
        if st.page_token[frame] != want:
            cnt[C_INTEGRITY_ERRORS] += 1
            _fail(st, i, ERR_TOKEN, frame)
            st.ctx[CTX_ERR_A] = want
            st.ctx[CTX_ERR_B] = st.page_token[frame]
            return STOP_INTEGRITY
        if write:
            note_write(st, pte, frame)
        if check_every > 0 and i % check_every == 0:
            k = check_invariants(st)
            if k:
                cnt[C_INTEGRITY_ERRORS] += 1
                _fail(st, i, ERR_INVARIANT + 16 * k, st.ctx[CTX_ERR_FRAME])
                return STOP_INTEGRITY
    return 0


@kernel
def replay_refs(st, refs, start, check_every, nxt):
    """A bare page trace in its compact form (``(page << 1) | is_write``): one process, the
    one ``setup_bare`` made, so no event decoding and no pid lookup per reference. ``nxt``
    holds each reference's next-use index for policies that know the future, else is empty."""
    g = st.g
    limit = g[G_ADDR_LIMIT]
    mm = st.ctx[CTX_LAST_MM]
    n = len(refs)
    future = len(nxt) > 0
    for i in range(start, n):
        if future:
            st.ctx[CTX_REF_NEXT] = nxt[i]
        r = np.int64(refs[i])
        addr = (r >> 1) << 12
        if addr >= limit or addr < 0:
            _fail(st, i, ERR_ADDR, -1)
            st.ctx[CTX_ERR_A] = addr
            return STOP_BAD_EVENT, i
        if st.mm_pgd[mm] < 0:          # the process was OOM-killed: nothing left to run
            st.cnt[C_IGNORED_EVENTS] += n - i
            return DONE, n
        s = access(st, mm, addr, (r & 1) != 0, i, check_every)
        if s > 0:
            return s, i
    return DONE, n


@kernel
def replay_chunk(st, ev, start, check_every, nxt):
    g = st.g
    cnt = st.cnt
    levels = g[G_LEVELS]
    limit = g[G_ADDR_LIMIT]
    check = g[G_CHECK]
    n = len(ev)
    record = g[G_RECORD_KEYS] != 0
    future = len(nxt) > 0 and not record
    for i in range(start, n):
        if future:
            st.ctx[CTX_REF_NEXT] = nxt[i]
        elif record:
            nxt[i] = -1 - i          # not a reference (or not made): a key of its own
        op = ev[i]['op']
        pid = np.int64(ev[i]['pid'])
        if op <= OP_WRITE:
            addr = np.int64(ev[i]['addr'])
            mm = _mm_of(st, pid)
            if mm < 0:
                if mm == -3:
                    return NEED_MM, i
                cnt[C_IGNORED_EVENTS] += 1
                continue
            if addr < 0 or addr >= limit:
                cnt[C_SEGFAULTS] += 1
                exit_mmap(st, mm)
                continue
            s = access(st, mm, addr, op == OP_WRITE, i, check_every)
            if s > 0:
                return s, i
            if record and s == 0:
                nxt[i] = st.ctx[CTX_REF_KEY]
            continue

        # ---- process and mapping events -------------------------------------------------
        if op == OP_FORK:
            # the child maps at most every pte now mapped (the parent's are among them)
            mapped = 0
            for m in range(g[G_N_MM]):
                mapped += st.mm_rss[m]
            r = room(st, g[G_NR_TABLES] + levels + 1, st.g[G_N_VMA] - g[G_VMA_FREE_TOP] + 2, 3, 0,
                     mapped)
        else:
            r = room(st, levels + 1, 3, 2, 0, 1)
        if r != DONE:
            return r, i
        if op == OP_FILE:
            s = obj_slot(st, np.int64(ev[i]['file']))
            st.obj_dev[s] = ev[i]['arg']
            continue
        if op == OP_ALLOC or op == OP_FREE:
            handle = np.int64(ev[i]['addr'])
            if op == OP_ALLOC:
                ok = alloc_request(st, i, pid, handle, np.int64(ev[i]['arg']),
                                   np.int64(ev[i]['flags'] & ALLOC_HUGE))
            else:
                ok = free_request(st, pid, handle)
            if not ok:
                _fail(st, i, ERR_HANDLE, -1)
                st.ctx[CTX_ERR_A] = handle
                return STOP_BAD_EVENT, i
            continue
        mm = _mm_of(st, pid)
        if mm == -3:
            return NEED_MM, i
        if mm < 0:
            cnt[C_IGNORED_EVENTS] += 1
            continue
        if op == OP_MMAP or op == OP_MUNMAP:
            addr = np.int64(ev[i]['addr'])
            length = np.int64(ev[i]['length'])
            if (addr & 4095) != 0 or length <= 0:
                _fail(st, i, ERR_MMAP, -1)
                return STOP_BAD_EVENT, i
            length = (length + 4095) & ~np.int64(4095)
            if addr + length > limit or addr + length < addr:
                _fail(st, i, ERR_ADDR, -1)
                st.ctx[CTX_ERR_A] = addr + length - 1
                return STOP_BAD_EVENT, i
            if op == OP_MUNMAP:
                sys_munmap(st, mm, addr, length)
            else:
                if (ev[i]['flags'] & MAP_FILE) and ev[i]['file'] == 0:
                    _fail(st, i, ERR_MMAP, -1)
                    return STOP_BAD_EVENT, i
                do_mmap(st, mm, addr, length, ev[i]['flags'], np.int64(ev[i]['file']),
                        np.int64(ev[i]['pgoff']), 0)
        elif op == OP_FORK:
            child = np.int64(ev[i]['arg'])
            if find_mm(st, child) >= 0:
                _fail(st, i, ERR_PID, -1)
                st.ctx[CTX_ERR_A] = child
                return STOP_BAD_EVENT, i
            do_fork(st, mm, child)
            st.ctx[CTX_LAST_PID] = -1
        elif op == OP_EXEC:
            do_exec(st, mm)
        elif op == OP_EXIT:
            do_exit(st, mm)
        if check and check_every > 0:
            k = check_invariants(st)
            if k:
                cnt[C_INTEGRITY_ERRORS] += 1
                _fail(st, i, ERR_INVARIANT + 16 * k, st.ctx[CTX_ERR_FRAME])
                return STOP_INTEGRITY, i
    return DONE, n
