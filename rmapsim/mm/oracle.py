"""The content-token oracle: nothing written may be lost (check mode only).

Every frame, swap slot and file block carries a token; a write makes a new token. The oracle
keeps, apart from the simulated kernel, what each reference *should* see:

- a private page a process has written: ``pt_tok`` at its pte (copied by fork, kept while the
  pte holds a swap entry, cleared by unmap);
- a page of a file or of shared anonymous memory: the ``truth`` table per (object, index),
  defaulting to the block's initial content;
- a private page never written: zeroes (anonymous) or the object's truth (private file map).

A reference whose frame holds another token is lost or corrupted data: a bug in the simulated
kernel, reported with the page and the event.
"""
import numpy as np
from rmapsim.jit import kernel

from rmapsim.mm.filemap import backing_token, initial_token, pc_key
from rmapsim.mm.hashtab import ht_get, ht_put
from rmapsim.mm.layout import (CTX_ERR_A, CTX_ERR_B, CTX_ERR_FRAME, G_N_PC, G_N_SHMSWAP, G_N_TBL,
                               G_N_TRUTH, G_PTRS, G_TOKEN, G_TRUTH_COUNT, HASH_EMPTY, OBJ_SHIFT,
                               _PAGE_PRESENT, TOKEN_ZERO)

# The oracle's truth: the last token written per object page, and per disk block.
FIELDS = (
    ("truth_keys", "int64", "oracle", "hash", "truth"),
    ("truth_vals", "int64", "oracle", 0, "truth"),
    ("disk_keys", "int64", "oracle", "hash", "disk"),
    ("disk_vals", "int64", "oracle", 0, "disk"),
)


@kernel
def object_truth(st, obj, pgoff):
    key = pc_key(obj, pgoff)
    t = ht_get(st.truth_keys, st.truth_vals, st.g[G_N_TRUTH], key)
    return t if t >= 0 else initial_token(st, obj, key)


@kernel
def expected_token(st, pte, frame):
    t = st.pt_tok[pte]
    if t != 0:
        return t
    obj = st.page_mapping[frame]
    if obj >= 0:
        return object_truth(st, obj, st.page_index[frame])
    return TOKEN_ZERO


@kernel
def note_write(st, pte, frame):
    """A write through pte: the page gets a fresh token and the oracle records it."""
    t = st.g[G_TOKEN]
    st.g[G_TOKEN] = t + 1
    st.page_token[frame] = t
    obj = st.page_mapping[frame]
    if obj >= 0:
        st.g[G_TRUTH_COUNT] += ht_put(st.truth_keys, st.truth_vals, st.g[G_N_TRUTH],
                                      pc_key(obj, st.page_index[frame]), t)
    else:
        st.pt_tok[pte] = t


@kernel
def final_sweep(st):
    """At the end of a run: every write still owed to some process or file must be somewhere --
    in its frame, its swap slot or its file block. Returns 0, or 1 with the frame/slot and the
    expected and found tokens in st.ctx[CTX_ERR_FRAME], st.ctx[CTX_ERR_A], st.ctx[CTX_ERR_B]."""
    g = st.g
    ptrs = g[G_PTRS]
    for slot in range(st.g[G_N_TBL]):
        if st.tbl_mm[slot] < 0 or st.tbl_level[slot] != 0:
            continue
        for p in range(slot * ptrs, (slot + 1) * ptrs):
            t = st.pt_tok[p]
            e = st.pt[p]
            if t == 0 or e == 0:
                continue
            if e & _PAGE_PRESENT:
                got = st.page_token[e >> 12]
                where = e >> 12
            elif st.swap_cache[e >> 12] >= 0:
                # the swap cache holds the slot's contents, dirty until written (2.4's
                # page_launder writes it after the ptes have gone)
                where = st.swap_cache[e >> 12]
                got = st.page_token[where]
            else:
                got = st.swap_token[e >> 12]
                where = -1
            if got != t:
                st.ctx[CTX_ERR_FRAME] = where
                st.ctx[CTX_ERR_A] = t
                st.ctx[CTX_ERR_B] = got
                return 1
    for i in range(st.g[G_N_TRUTH]):
        key = st.truth_keys[i]
        if key == HASH_EMPTY:
            continue
        t = st.truth_vals[i]
        f = ht_get(st.pc_keys, st.pc_vals, st.g[G_N_PC], key)
        where = f
        if f >= 0:
            got = st.page_token[f]
        else:
            s = ht_get(st.shmswap_keys, st.shmswap_vals, st.g[G_N_SHMSWAP], key)
            if s >= 0:
                got = st.swap_token[s]
            else:
                got = backing_token(st, key >> OBJ_SHIFT, key & ((np.int64(1) << OBJ_SHIFT) - 1))
        if got != t:
            st.ctx[CTX_ERR_FRAME] = where
            st.ctx[CTX_ERR_A] = t
            st.ctx[CTX_ERR_B] = got
            return 1
    return 0
