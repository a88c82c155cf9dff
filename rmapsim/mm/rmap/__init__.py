"""Reverse mapping: finding every pte that maps a physical page, one design per module.

The kernel calls these functions; they call the running design's hooks through the addresses in
``st.rmap_hooks`` (``hooks.py``), so the kernel is compiled once for every design and a run
compiles only its own design. What is done to each pte found is written once, in
``ops.rmap_one``; what a design provides is how the ptes are found and what it keeps to find
them. Linux's interface has the same cut (mm/rmap.c): ``page_add_anon_rmap`` /
``page_add_file_rmap`` and ``page_remove_rmap`` per mapping, ``rmap_walk(folio, rwc)`` for
every walk, and ``anon_vma_prepare`` / ``anon_vma_fork`` / ``unlink_anon_vmas`` /
``vma_interval_tree_insert`` called from mmap, fork and munmap.

A design module (``ptechain.py`` is the seed's; ``docs/architecture.md`` has the recipe) defines
``NAME``, ``MODELS``, ``PTE_TABLE_ORDER`` (0, or 1 for the seed's parallel next-pte page),
``FIELDS`` (its arrays, part of the state; those of designs not running are allocated empty),
optionally ``USES`` (the modules of other designs whose arrays it uses too, as objrmap keeps
pte chains for anonymous pages) and the hooks:

- ``page_add(st, frame, pte, vma, addr)``, ``page_remove(st, frame, pte, vma) -> 1 if found``:
  a pte now maps / no longer maps the page; ``page_mapcount`` is kept here, not by the design;
- ``walk(st, frame, op, arg) -> n``: call ``ops.rmap_one(st, op, frame, pte, arg)`` on every pte
  mapping the page and return the sum; after RMAP_UNMAP nothing maps it;
- optional: ``init(st)``, ``page_moved(st, old, new)`` (its per-page metadata follows a migrated
  page), ``vma_link(st, vma)``, ``vma_unlink(st, vma)``, ``vma_adjust(st, vma)`` (its range or
  offset changed), ``vma_split(st, vma, new)``, ``vma_fork(st, parent, child)`` and
  ``check(st) -> 0 or a violation number`` (check mode).
"""
import importlib

from numba import config as numba_config

from rmapsim.errors import ConfigError, did_you_mean, option
from rmapsim.jit import kernel
from rmapsim.mm.layout import (G_NR_MAPPED, G_RMAP, PG_dirty, R_CHECK, R_INIT, R_PAGE_ADD,
                               R_PAGE_MOVED, R_PAGE_REMOVE, R_VMA_ADJUST, R_VMA_FORK, R_VMA_LINK,
                               R_VMA_SPLIT, R_VMA_UNLINK, R_WALK, RMAP_MIGRATE, RMAP_REFERENCED,
                               RMAP_REMOVE_MIGRATION, RMAP_TEST_DIRTY, RMAP_UNMAP)

# The registry: a design's ID (g[G_RMAP]) is its position; the first is the default.
DESIGNS = ("rmapsim.mm.rmap.ptechain", "rmapsim.mm.rmap.ptechain_direct",
           "rmapsim.mm.rmap.pools", "rmapsim.mm.rmap.objrmap", "rmapsim.mm.rmap.anon_vma",
           "rmapsim.mm.rmap.anon_vma_chain")
DEFAULT = "pte-chain"

# the running design's hook table (slots R_*), and its work per operation (RMAP_OPS rows of
# RMAP_METRICS)
FIELDS = (
    ("rmap_hooks", "int64", "rmap_hooks", 0, None),
    ("rmap_cost", "int64", "rmap_costs", 0, None),
)

from rmapsim.mm.rmap import ptechain as _seed
from rmapsim.mm.rmap.ops import walk_row

if numba_config.DISABLE_JIT:
    from rmapsim.mm.cfuncs import PY_CALLS

    def call_rmap(addr, st, a, b, c, d):
        return PY_CALLS[addr](st, a, b, c, d)
else:
    from rmapsim.mm.structs import call_rmap


def designs():
    """The design modules, in registry order."""
    return tuple(importlib.import_module(m) for m in DESIGNS)


def get_design(name):
    """The design module called ``name`` (a module is returned as it is)."""
    if not isinstance(name, str):
        return name
    for mod in designs():
        if mod.NAME == name:
            return mod
    known = ", ".join(m.NAME for m in designs())
    raise ConfigError(f"{option('rmap')}: unknown reverse-mapping design {name!r}"
                      f"{did_you_mean(name, [m.NAME for m in designs()])} (known: {known})")


def design_id(module) -> int:
    """The registry position (g[G_RMAP]); -1 for a design module given directly."""
    return DESIGNS.index(module.__name__) if module.__name__ in DESIGNS else -1


# ---- the kernel's calls ---------------------------------------------------------------------

@kernel(inline="always")
def _rcall(st, slot, a, b, c, d):
    h = st.rmap_hooks[slot]
    if h == 0:
        return 0
    return call_rmap(h, st, a, b, c, d)

# The three hooks on the hot path (every fault, every page a policy scans) call the default
# design directly, inlined, when it runs, as Linux's INDIRECT_CALL_1 (include/linux/
# indirect_call_wrapper.h, 5.0) avoids an indirect call for the likely target. Called directly
# but not inlined they cost 11% more instructions per reference than the seed's code inlined in
# the kernel (callgrind, clock, 100k-reference Zipf trace); inlined, 1.6%. The seed's hooks are
# a few lines; every other design is compiled alone and called through its pointer.


@kernel(inline="always")
def _page_add(st, frame, pte, vma, addr):
    if st.g[G_RMAP] == 0:
        _seed.page_add(st, frame, pte, vma, addr)       # no steps: a push at the chain's head
    else:
        _rcall(st, R_PAGE_ADD, frame, pte, vma, addr)


@kernel(inline="always")
def _page_remove(st, frame, pte, vma):
    if st.g[G_RMAP] == 0:
        return _seed.page_remove(st, frame, pte, vma)
    return _rcall(st, R_PAGE_REMOVE, frame, pte, vma, 0)


@kernel(inline="always")
def _walk(st, frame, op, arg):
    if st.g[G_RMAP] == 0:
        return _seed.walk(st, frame, op, arg)
    return _rcall(st, R_WALK, frame, op, arg, 0)


@kernel(inline="always")
def page_add_rmap(st, frame, pte, vma, addr):
    """The pte (of ``vma``, at ``addr``) now maps the page."""
    _page_add(st, frame, pte, vma, addr)
    st.page_mapcount[frame] += 1
    if st.page_mapcount[frame] == 1:
        st.g[G_NR_MAPPED] += 1


@kernel
def page_remove_rmap(st, frame, pte, vma):
    """The pte no longer maps the page; False if the design did not know it did."""
    if _page_remove(st, frame, pte, vma) == 0:
        return False
    st.page_mapcount[frame] -= 1
    if st.page_mapcount[frame] == 0:
        st.g[G_NR_MAPPED] -= 1
    return True


@kernel(inline="always")
def rmap_walk(st, frame, op, arg):
    """``op`` (RMAP_*) on every pte mapping the page: the sum of ``rmap_one``'s results."""
    mapped = st.page_mapcount[frame]
    if mapped == 0:
        return 0
    # every design's walk calls rmap_one on each pte mapping the page, mapcount of them (check
    # mode verifies it), so the ptes are counted for the operation here, once per walk
    st.rmap_cost[walk_row(op)] += mapped
    return _walk(st, frame, op, arg)


@kernel
def page_referenced(st, frame):
    """Test and clear the accessed bit of every pte mapping the page; how many were young."""
    return rmap_walk(st, frame, RMAP_REFERENCED, 0)


@kernel
def page_test_dirty(st, frame):
    """Move every pte's dirty bit into PG_dirty; whether the page is dirty."""
    rmap_walk(st, frame, RMAP_TEST_DIRTY, 0)
    return (st.page_flags[frame] & PG_dirty) != 0


@kernel
def try_to_unmap(st, frame):
    """Unmap the page from every mapping at once (2.5 try_to_unmap): swap entries for a page
    in the swap cache, empty ptes otherwise, dirty bits into PG_dirty. The number unmapped."""
    n = rmap_walk(st, frame, RMAP_UNMAP, 0)
    if st.page_mapcount[frame] > 0:
        st.g[G_NR_MAPPED] -= 1
    st.page_mapcount[frame] = 0
    st.page_count[frame] -= n
    return n


@kernel
def try_to_migrate(st, old, new):
    """Every pte of the page in ``old`` becomes a migration entry for ``new`` (the caller then
    copies the page and calls ``remove_migration_ptes``). The number of ptes."""
    return rmap_walk(st, old, RMAP_MIGRATE, new)


@kernel
def remove_migration_ptes(st, old, new):
    """After the copy: the design's metadata moves to ``new`` (whose struct page the caller has
    filled, mapcount included) and every migration entry becomes a present pte of ``new``."""
    _rcall(st, R_PAGE_MOVED, old, new, 0, 0)
    return rmap_walk(st, new, RMAP_REMOVE_MIGRATION, 0)


@kernel
def rmap_init(st):
    _rcall(st, R_INIT, 0, 0, 0, 0)


@kernel
def rmap_check(st):
    """The design's own invariants (0: none violated), in check mode."""
    return _rcall(st, R_CHECK, 0, 0, 0, 0)


@kernel
def rmap_vma_link(st, vma):
    _rcall(st, R_VMA_LINK, vma, 0, 0, 0)


@kernel
def rmap_vma_unlink(st, vma):
    _rcall(st, R_VMA_UNLINK, vma, 0, 0, 0)


@kernel
def rmap_vma_adjust(st, vma):
    _rcall(st, R_VMA_ADJUST, vma, 0, 0, 0)


@kernel
def rmap_vma_split(st, vma, new):
    _rcall(st, R_VMA_SPLIT, vma, new, 0, 0)


@kernel
def rmap_vma_fork(st, parent, child):
    _rcall(st, R_VMA_FORK, parent, child, 0, 0)


__all__ = ["page_add_rmap", "page_remove_rmap", "rmap_walk", "page_referenced",
           "page_test_dirty", "try_to_unmap", "try_to_migrate", "remove_migration_ptes",
           "rmap_init", "rmap_check", "rmap_vma_link", "rmap_vma_unlink", "rmap_vma_adjust",
           "rmap_vma_split", "rmap_vma_fork", "DESIGNS", "DEFAULT", "designs", "get_design",
           "design_id", "RMAP_REFERENCED", "RMAP_TEST_DIRTY", "RMAP_UNMAP", "RMAP_MIGRATE",
           "RMAP_REMOVE_MIGRATION"]
