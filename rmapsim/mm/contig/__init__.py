"""Contiguity strategies: how a high-order request the free lists cannot meet gets its block,
one module each, behind one hook (``--contig NAME``).

The seed's to-do list starts with ``steal_specific_page`` ("use to build free pages of orders
approaching max") and ``try_to_flip_page_to`` (move a page to another frame); Linux realised
them as lumpy reclaim (2.6.23 to 3.4), page migration (2.6.16) and memory compaction (2.6.35).
A strategy module defines ``NAME``, ``MODELS`` and ``alloc(st, order) -> frame * 8 + outcome``
(``layout.OUT_*``; -1 when it gives up), called from ``highorder.alloc_request`` after the
free lists failed at the low watermark. It is compiled from its own file and called by address,
as a reclaim policy or an rmap design is (``mm/cfuncs.py``), so a run compiles only its own.
The pieces the strategies share (direct reclaim, evicting one frame, the retry) are in
``base.py``.
"""
from __future__ import annotations

import importlib

import numpy as np
from numba import config as numba_config

from rmapsim.errors import ConfigError
from rmapsim.jit import kernel
from rmapsim.mm.layout import G_CONTIG

STRATEGIES = ("rmapsim.mm.contig.none", "rmapsim.mm.contig.steal", "rmapsim.mm.contig.lumpy",
              "rmapsim.mm.contig.compaction")
DEFAULT = "none"

FIELDS = (
    ("contig_hooks", "int64", "1", 0, None),
)

if numba_config.DISABLE_JIT:
    from rmapsim.mm.cfuncs import PY_CALLS

    def call_rmap(addr, st, a, b, c, d):
        return PY_CALLS[addr](st, a, b, c, d)
else:
    from rmapsim.mm.structs import call_rmap


@kernel
def contig_alloc(st, order):
    """The running strategy's attempt: frame * 8 + outcome, or -1."""
    h = st.contig_hooks[0]
    if h == 0:
        return -1
    return call_rmap(h, st, order, 0, 0, 0)


def strategies():
    return tuple(importlib.import_module(m) for m in STRATEGIES)


def get_strategy(name):
    if not isinstance(name, str):
        return name
    for mod in strategies():
        if mod.NAME == name:
            return mod
    known = ", ".join(m.NAME for m in strategies())
    raise ConfigError(f"--contig: unknown contiguity strategy {name!r} (known: {known})")


def _template(p, a, b, c, d):
    return HOOK(view_from_voidptr(p, STATE_T), a)  # noqa: F821


_COMPILED = {}


def bind(module, st):
    """Install the strategy's hook in a booted state (compiled once per process)."""
    if module not in _COMPILED:
        if numba_config.DISABLE_JIT:
            from rmapsim.mm.cfuncs import py_index
            fn = module.alloc
            _COMPILED[module] = (py_index(lambda s, a, b, c, d: fn(s, a)), None)
        else:
            from rmapsim.mm.cfuncs import compile_hook
            from rmapsim.mm.state import state_type
            from rmapsim.mm.structs import RMAP_SIG
            c = compile_hook(RMAP_SIG, _template, module, "contiguity strategy", "alloc",
                             {"HOOK": module.alloc, "STATE_T": state_type()})
            _COMPILED[module] = (c.address, c)
    st.contig_hooks[:] = np.int64(_COMPILED[module][0])
    st.g[G_CONTIG] = STRATEGIES.index(module.__name__) if module.__name__ in STRATEGIES else -1
