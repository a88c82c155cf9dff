"""Install a live-machine snapshot into a freshly booted simulated machine (compiled).

``sim/snapshot/`` reads the snapshot file and turns it into flat int64 arrays: the objects
(files, shmem, special mappings), the processes, their vmas, the frames to give a simulated
frame each, and the present ptes. ``snapshot_install`` then builds the state the way the kernel
itself would have: ``mm_new`` per process, ``vma_link`` per vma, a frame from the allocator per
real frame (an anonymous one as a PG_anon page, a file or shmem one as a page-cache page of its
(object, index)), and per pte ``pte_alloc`` + ``set_pte_page``, which links the pte into the
frame's rmap chain and counts it in ``page_mapcount``, so a frame shared by several processes
gets one chain with all their ptes. Ptes of the ZERO_PAGE map the machine's zero frame (never
rmapped, as in Linux). Every page goes to the reclaim policy (``page_added``) at the end, in
frame order.

In check mode each page's content token is what the oracle expects of a page nobody has written
since the start: zeroes for anonymous and shmem pages, the block's initial content for a file.
"""
from rmapsim.jit import kernel

from rmapsim.mm.alloc import alloc_pages
from rmapsim.mm.filemap import add_to_page_cache, find_get_page, initial_token, obj_slot, pc_key
from rmapsim.mm.memory import pte_alloc, set_pte_page
from rmapsim.mm.mmap import find_vma, vma_link
from rmapsim.mm.fork import mm_new
from rmapsim.mm.layout import (G_CHECK, CTX_LAST_PID, G_PTRS, G_ZERO_FRAME, _PAGE_PRESENT,
                               _PAGE_ACCESSED, PG_anon, PG_dirty, TOKEN_ZERO)
from rmapsim.mm.vmscan.dispatch import page_added

FRAME_ANON = 0      # a PG_anon page
FRAME_CACHE = 1     # a page-cache page of (object, index)
FRAME_ZERO = 2      # the ZERO_PAGE

INSTALL_OK = 0
INSTALL_NO_MM = 1       # mm_new failed (no memory for a pgd)
INSTALL_NO_FRAME = 2    # the allocator ran dry
INSTALL_NO_TABLE = 3    # pte_alloc ran dry


@kernel
def snapshot_install(st, o_fid, o_shm, pids, v_proc, v_start, v_end, v_flags, v_obj, v_pgoff,
                     f_kind, f_obj, f_pgoff, f_dirty, p_vma, p_addr, p_frame, p_flags,
                     mms, frames):
    """Returns INSTALL_OK or the failure code; ``mms`` and ``frames`` receive the simulated mm
    of each process and the simulated frame of each snapshot frame. Indices: ``v_obj`` and
    ``f_obj`` into the objects (-1: none), ``v_proc`` into the processes, ``p_vma`` into the
    vmas, ``p_frame`` into the frames. A frame whose (object, index) is already in the page
    cache (two real frames claiming one file block) becomes an anonymous page: its ``f_kind``
    is set to FRAME_ANON here, for the caller to count."""
    nobj = len(o_fid)
    for o in range(nobj):
        s = obj_slot(st, o_fid[o])
        if o_shm[o]:
            st.obj_shm[s] = 1
    for p in range(len(pids)):
        mm = mm_new(st, pids[p])
        if mm < 0:
            return INSTALL_NO_MM
        mms[p] = mm
    for v in range(len(v_proc)):
        obj = -1
        if v_obj[v] >= 0:
            obj = obj_slot(st, o_fid[v_obj[v]])
        vma_link(st, mms[v_proc[v]], v_start[v], v_end[v], v_flags[v], obj, v_pgoff[v])
    zero = st.g[G_ZERO_FRAME]
    check = st.g[G_CHECK]
    for i in range(len(f_kind)):
        if f_kind[i] == FRAME_ZERO:
            frames[i] = zero
            continue
        f = alloc_pages(st, 0, -1)
        if f < 0:
            return INSTALL_NO_FRAME
        frames[i] = f
        flags = PG_anon
        token = TOKEN_ZERO
        if f_kind[i] == FRAME_CACHE:
            obj = obj_slot(st, o_fid[f_obj[i]])
            if find_get_page(st, obj, f_pgoff[i]) < 0:
                add_to_page_cache(st, f, obj, f_pgoff[i])
                flags = 0
                token = initial_token(st, obj, pc_key(obj, f_pgoff[i]))
            else:
                f_kind[i] = FRAME_ANON
        if f_dirty[i]:
            flags |= PG_dirty
        st.page_flags[f] = flags
        if check:
            st.page_token[f] = token
    for j in range(len(p_vma)):
        v = p_vma[j]
        mm = mms[v_proc[v]]
        pte = pte_alloc(st, mm, p_addr[j])
        if pte < 0:
            return INSTALL_NO_TABLE
        f = frames[p_frame[j]]
        if f == zero:
            if st.pt[pte] == 0:
                st.tbl_used[pte // st.g[G_PTRS]] += 1
            st.pt[pte] = (zero << 12) | _PAGE_PRESENT | (p_flags[j] & _PAGE_ACCESSED)
        else:
            set_pte_page(st, mm, find_vma(st, mm, p_addr[j]), pte, f, p_flags[j])
    for i in range(len(f_kind)):
        if frames[i] != zero:
            page_added(st, frames[i])
    st.ctx[CTX_LAST_PID] = -1
    return INSTALL_OK
