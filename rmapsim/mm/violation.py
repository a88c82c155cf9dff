"""Check mode's violations: their numbers and words, and how a check reports one.

A check (``debug.check_invariants``, a design's or a policy's ``check``) returns 0 or a
violation number, with the page (or slot) in ``st.ctx[CTX_ERR_FRAME]`` and two details in
``st.ctx[CTX_ERR_A]``, ``st.ctx[CTX_ERR_B]``, which ``VIOLATIONS`` words.
"""
from rmapsim.jit import kernel
from rmapsim.mm.layout import CTX_ERR_A, CTX_ERR_B, CTX_ERR_FRAME

VIOLATIONS = {
    1: "free list corrupt (block {a} of order {b} is not a free block head of that order)",
    2: "page is on a free list but still in use (count {a}, mapcount {b})",
    3: "free-page count is {a} but the free lists hold {b} pages",
    4: "page count {a} differs from mappings + cache references {b}",
    5: "rmap chain has {a} entries but mapcount is {b}",
    6: "rmap chain holds pte {a} which does not map this page (it holds {b:#x})",
    7: "{a} ptes map the page but mapcount is {b}",
    8: "page table slot {a}: used count {b} differs from its non-empty entries",
    9: "process mm {a}: rss {b} differs from the pages its ptes map",
    10: "swap slot: count {a} differs from ptes + swap cache + shmem references {b}",
    11: "free swap slots: counted {a}, found {b}",
    12: "swap cache entry and page disagree (page flags {a:#x}, private {b})",
    13: "page cache entry {a:#x} and page disagree (page mapping/index {b:#x})",
    14: "a pte maps a free frame (pte {a})",
    15: "pte {a} is on two rmap chains or twice on one",
    16: "process mm {a}: swap-entry count {b} differs from its ptes holding swap entries",
    17: "pages mapped: counted {a}, found {b}",
    18: "reverse-mapping metadata: counted {a} bytes, the design's structures hold {b}",
    19: "rmap design's pool: {a} units in use or free, but it has {b}",
    20: "pte_chain block {a}: only a page's first block may have free slots (first used {b})",
    21: "vma {a} is not on the list of its anon_vma {b}",
    22: "anon_vma {a}: degree {b} differs from its vmas and child anon_vmas",
    23: "free_area nr_free {a} differs from the {b} blocks on its list",
}


@kernel
def bad(st, code, frame, a, b):
    st.ctx[CTX_ERR_FRAME] = frame
    st.ctx[CTX_ERR_A] = a
    st.ctx[CTX_ERR_B] = b
    return code
