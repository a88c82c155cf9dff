"""The page cache of files and of shared anonymous memory (mm/filemap.c, mm/shmem.c).

A page of object ``obj`` at file offset ``pgoff`` (pages) is found through one hash keyed
``obj << 36 | pgoff``; the page carries ``page_mapping = obj`` and ``page_index = pgoff``.
Objects are dense slots: ``obj_slot`` maps a trace's file id to one; each shared anonymous
mapping gets a fresh slot with ``obj_shm`` set (its pages go to swap, as shmem's do, and their
slots are remembered per index in the ``shmswap`` table). ``obj_dev`` says which device a file
lives on (the cost model charges that device's latency on a miss or a write-back).

In check mode the oracle's view of the backing store lives here too: ``disk`` holds the token of
every block written back, and a block never written holds its initial content ``file_token``.
"""
import numpy as np
from numba import njit

from rmapsim.jit import kernel

from rmapsim.mm.hashtab import ht_del, ht_get, ht_put
from rmapsim.mm.layout import (C_FILE_READS, C_NFS_READS, C_NFS_WRITES, C_WRITEBACKS, G_CHECK,
                               G_DISK_COUNT, G_FID_COUNT, G_NR_OBJ, G_N_DISK, G_N_FID, G_N_PC,
                               G_PC_COUNT, OBJ_SHIFT, TOKEN_FILE_BIT, TOKEN_ZERO)
from rmapsim.trace.events import DEV_NFS

# Files and shared anonymous objects: file id -> slot, and per slot its device, the number of
# vmas mapping it and whether it is swap-backed; the page cache (obj<<36|pgoff -> frame).
FIELDS = (
    ("fid_keys", "int64", "64", "hash", "fid"),
    ("fid_vals", "int64", "64", 0, "fid"),
    ("obj_dev", "int8", "objs", 0, "obj"),
    ("obj_maps", "int64", "objs", 0, "obj"),
    ("obj_shm", "int8", "objs", 0, "obj"),
    ("pc_keys", "int64", "pc", "hash", None),
    ("pc_vals", "int64", "pc", 0, None),
)


@njit(cache=True, inline="always")
def pc_key(obj, pgoff):
    return (obj << OBJ_SHIFT) | pgoff


@kernel
def obj_slot(st, fid):
    """The object slot of a trace's file id, made on first use (device: disk)."""
    s = ht_get(st.fid_keys, st.fid_vals, st.g[G_N_FID], fid)
    if s >= 0:
        return s
    s = st.g[G_NR_OBJ]
    st.g[G_NR_OBJ] = s + 1
    st.obj_dev[s] = 0
    st.obj_shm[s] = 0
    st.g[G_FID_COUNT] += ht_put(st.fid_keys, st.fid_vals, st.g[G_N_FID], fid, s)
    return s


@kernel
def shm_obj_new(st):
    s = st.g[G_NR_OBJ]
    st.g[G_NR_OBJ] = s + 1
    st.obj_shm[s] = 1
    st.obj_dev[s] = 0
    return s


@kernel
def find_get_page(st, obj, pgoff):
    return ht_get(st.pc_keys, st.pc_vals, st.g[G_N_PC], pc_key(obj, pgoff))


@kernel
def add_to_page_cache(st, frame, obj, pgoff):
    st.page_mapping[frame] = obj
    st.page_index[frame] = pgoff
    st.page_count[frame] += 1
    st.g[G_PC_COUNT] += ht_put(st.pc_keys, st.pc_vals, st.g[G_N_PC], pc_key(obj, pgoff), frame)


@kernel
def remove_from_page_cache(st, frame):
    obj = st.page_mapping[frame]
    st.g[G_PC_COUNT] -= ht_del(st.pc_keys, st.pc_vals, st.g[G_N_PC], pc_key(obj, st.page_index[frame]))
    st.page_mapping[frame] = -1
    st.page_index[frame] = 0
    st.page_count[frame] -= 1


@kernel
def file_token(key):
    """Initial content of a file block never written back: a fixed mix of its key (splitmix64
    finaliser), with a high bit no written token ever has."""
    z = np.uint64(key) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z >> np.uint64(2)) | TOKEN_FILE_BIT


@kernel
def initial_token(st, obj, key):
    """A block's content before anyone wrote it: zeroes for shared anonymous memory."""
    return TOKEN_ZERO if st.obj_shm[obj] else file_token(key)


@kernel
def backing_token(st, obj, pgoff):
    """What the backing store holds for a block: the last write-back, else its initial content."""
    key = pc_key(obj, pgoff)
    t = ht_get(st.disk_keys, st.disk_vals, st.g[G_N_DISK], key)
    return t if t >= 0 else initial_token(st, obj, key)


@kernel
def readpage(st, frame, obj, pgoff):
    """A page-cache miss reads the block from the file's device."""
    st.cnt[C_FILE_READS] += 1
    if st.obj_dev[obj] == DEV_NFS:
        st.cnt[C_NFS_READS] += 1
    if st.g[G_CHECK]:
        st.page_token[frame] = backing_token(st, obj, pgoff)


@kernel
def writepage(st, frame):
    """Write a dirty page-cache page back to its file."""
    obj = st.page_mapping[frame]
    st.cnt[C_WRITEBACKS] += 1
    if st.obj_dev[obj] == DEV_NFS:
        st.cnt[C_NFS_WRITES] += 1
    if st.g[G_CHECK]:
        st.g[G_DISK_COUNT] += ht_put(st.disk_keys, st.disk_vals, st.g[G_N_DISK],
                                     pc_key(obj, st.page_index[frame]), st.page_token[frame])
