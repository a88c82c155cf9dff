"""A reverse-mapping design's hooks, compiled from its own file and called by address
(``mm/cfuncs.py`` says why), as a policy's are.

Every hook has the C signature ``int64 (void *st, int64 a, int64 b, int64 c, int64 d)``; a
design's arrays are fields of the state, so it needs no private view. The templates below adapt
each hook's Python signature (``rmap/__init__.py`` lists them) to it.
"""
from __future__ import annotations

import numpy as np
from numba import config as numba_config

from rmapsim.errors import ConfigError
from rmapsim.mm.cfuncs import compile_hook, py_index, source_file
from rmapsim.mm.layout import G_PTE_TABLE_ORDER, G_RMAP, N_RMAP_HOOKS, RMAP_HOOK_NAMES
from rmapsim.mm.structs import RMAP_SIG

REQUIRED = ("page_add", "page_remove", "walk")
# the number of arguments after st of each hook, and whether its result is used
ARITY = {"init": 0, "page_add": 4, "page_remove": 3, "walk": 3, "page_moved": 2, "vma_link": 1,
         "vma_unlink": 1, "vma_adjust": 1, "vma_split": 2, "vma_fork": 2, "check": 0}
RESULT = ("page_remove", "walk", "check")


# ---- wrapper templates: HOOK and STATE_T are the globals each copy is given ------------------

def _t0(p, a, b, c, d):
    HOOK(view_from_voidptr(p, STATE_T))  # noqa: F821
    return 0


def _t0r(p, a, b, c, d):
    return HOOK(view_from_voidptr(p, STATE_T))  # noqa: F821


def _t1(p, a, b, c, d):
    HOOK(view_from_voidptr(p, STATE_T), a)  # noqa: F821
    return 0


def _t2(p, a, b, c, d):
    HOOK(view_from_voidptr(p, STATE_T), a, b)  # noqa: F821
    return 0


def _t3r(p, a, b, c, d):
    return HOOK(view_from_voidptr(p, STATE_T), a, b, c)  # noqa: F821


def _t4(p, a, b, c, d):
    HOOK(view_from_voidptr(p, STATE_T), a, b, c, d)  # noqa: F821
    return 0


def _template(name):
    return {(0, False): _t0, (0, True): _t0r, (1, False): _t1, (2, False): _t2,
            (3, True): _t3r, (4, False): _t4}[(ARITY[name], name in RESULT)]


def _python_call(name, fn):
    """The same adaptation for plain Python (NUMBA_DISABLE_JIT)."""
    n = ARITY[name]
    if name in RESULT:
        return lambda st, *args: fn(st, *args[:n])
    return lambda st, *args: (fn(st, *args[:n]), 0)[1]


def check_design(module):
    """A one-line ConfigError if ``module`` lacks what a design must define."""
    where = source_file(module, "rmap design")
    for attr in ("NAME", "MODELS", "PTE_TABLE_ORDER") + REQUIRED:
        if not hasattr(module, attr):
            raise ConfigError(f"{where}: rmap design {getattr(module, 'NAME', '?')}: "
                              f"defines no {attr}")


_COMPILED = {}     # design module -> (hook table, the cfuncs kept alive)


def compiled_hooks(module):
    """The design's hook table (compiled, or loaded from numba's cache), once per process."""
    if module in _COMPILED:
        return _COMPILED[module][0]
    check_design(module)
    jit = not numba_config.DISABLE_JIT
    addrs = np.zeros(N_RMAP_HOOKS, np.int64)
    keep = []
    if jit:
        from rmapsim.mm.state import state_type
        state_t = state_type()
    for slot, name in enumerate(RMAP_HOOK_NAMES):
        fn = getattr(module, name, None)
        if fn is None:
            continue
        if jit:
            c = compile_hook(RMAP_SIG, _template(name), module, "rmap design", name,
                             {"HOOK": fn, "STATE_T": state_t})
            keep.append(c)
            addrs[slot] = c.address
        else:
            addrs[slot] = py_index(_python_call(name, fn))
    _COMPILED[module] = (addrs, keep)
    return addrs


def bind(module, st):
    """Install the design's hooks and its page-table order in a booted state."""
    from rmapsim.mm.rmap import design_id
    st.rmap_hooks[:] = compiled_hooks(module)
    st.g[G_RMAP] = design_id(module)
    st.g[G_PTE_TABLE_ORDER] = module.PTE_TABLE_ORDER
