"""Reclaim policies, one module each, behind one interface.

A policy module defines ``NAME``, ``ID``, ``KIND`` ("realistic": sees only what the kernel sees;
"reference": given per-reference information or the future), ``MODELS`` (the kernel or paper),
``PARAMS`` ({name: (default, help)}), optionally ``FUTURE = True`` (needs next-use times,
``sim/future.py``), and compiled hooks:

- ``page_added(st, frame)``: a page entered memory (anonymous fault, page-cache fill, swap-in);
- ``page_removed(st, frame)``: it is being freed outside reclaim (munmap, exit, COW);
- ``reclaim(st, nr_to_free) -> freed``: free up to nr pages, using ``common.shrink_page``;
- ``page_accessed(st, frame)``, reference policies only: a reference to a page in memory.

A policy keeps what it knows about pages in ``nodes.py`` (lists, ghosts, identities, a heap).

Parameters reach compiled code as ``st.params[i]`` in the order of ``PARAMS``. ``dispatch.py``
routes the hooks by ``g[G_POLICY]``; add a policy there and in ``POLICIES`` below.
"""
from rmapsim.errors import ConfigError
from rmapsim.mm.vmscan import (arc, clock, clockpro, fifo, lirs, lists24, lists26, lru, mglru, opt,
                               s3fifo, sieve, splitlru, virtual20, virtual22)

# the kernel's lineage first (the seed's clock, then the virtual scans it replaced and the lists
# that followed), then the reference policies
POLICIES = {m.NAME: m for m in (clock, fifo, virtual20, virtual22, lists24, lists26, splitlru,
                                mglru, clockpro, lru, opt, arc, lirs, s3fifo, sieve)}


def sees_refs(module):
    return module.KIND == "reference"


def get_policy(name):
    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")
    return POLICIES[name]


def policy_params(module, given):
    """Values for the policy's parameters in PARAMS order, from ``given`` {name: value};
    returns (values, leftover) where leftover holds names the policy does not have."""
    vals = []
    given = dict(given or {})
    for pname, (default, _help) in module.PARAMS.items():
        v = given.pop(pname, default)
        try:
            vals.append(float(v))
        except (TypeError, ValueError):
            raise ConfigError(f"policy {module.NAME}: parameter {pname}={v!r} is not a number") from None
    return vals, given
