"""A policy's hooks, compiled from its own file and called by address (``mm/cfuncs.py``
says why): ``dispatch.py`` calls the running policy's hooks through the addresses in
``st.hooks``, so a first run compiles the kernel and one policy, ``compare`` each policy once
more, and editing a policy file recompiles that policy alone.

Every hook has the C signature ``int64 (void *st, void *ps, int64 a, int64 b)``: the kernel's
state view, the policy's private view (its ``FIELDS``) and two integers; the templates below
adapt the policy's Python signature to it.

Hooks (the policy module's names; all but ``reclaim`` may be left out):

- ``init(st, ps)``: once at boot, before any page exists;
- ``page_added(st, ps, frame)``, ``page_removed(st, ps, frame)``, ``page_accessed(st, ps,
  frame)`` (reference policies: every reference to a page in memory);
- ``reclaim(st, ps, sc) -> freed``: free pages as the scan control ``sc`` asks (``SC_*``);
- ``page_migrated(st, ps, old, new)``: the page in frame old now lives in frame new (default:
  ``nodes.node_move``);
- ``check(st, ps) -> 0 or a violation number``: the policy's own invariants, in check mode.
"""
from __future__ import annotations

import weakref

import numpy as np
from numba import config as numba_config

from rmapsim.errors import ConfigError
from rmapsim.jit import kernel
from rmapsim.mm.cfuncs import compile_hook, py_index, source_file
from rmapsim.mm.structs import HOOK_SIG, struct_type, struct_view, view_address
from rmapsim.mm.vmscan.nodes import node_move

# slots of st.hooks: the private view's address, then one address per hook (0: none)
H_PRIVATE = 0
HOOK_NAMES = ("init", "page_added", "page_removed", "page_accessed", "reclaim", "page_migrated",
              "check")
(H_INIT, H_PAGE_ADDED, H_PAGE_REMOVED, H_PAGE_ACCESSED, H_RECLAIM, H_PAGE_MIGRATED,
 H_CHECK) = range(1, 1 + len(HOOK_NAMES))
HOOK_SLOTS = 1 + len(HOOK_NAMES)
# the number of arguments after (st, ps) of each hook's Python signature
HOOK_ARITY = {"init": 0, "page_added": 1, "page_removed": 1, "page_accessed": 1, "reclaim": 1,
              "page_migrated": 2, "check": 0}

# a policy that declares no private state gets one unused field (a struct needs one)
NO_FIELDS = (("unused", "int64", "1", 0, None),)


@kernel(inline="always")
def default_page_migrated(st, ps, old, new):
    node_move(st, old, new)


# ---- wrapper templates: HOOK, STATE_T and PRIV_T are the globals each copy is given ----------

def _t_state(p, q, a, b):
    return HOOK(view_from_voidptr(p, STATE_T), view_from_voidptr(q, PRIV_T))  # noqa: F821


def _t_state_none(p, q, a, b):
    HOOK(view_from_voidptr(p, STATE_T), view_from_voidptr(q, PRIV_T))  # noqa: F821
    return 0


def _t_frame(p, q, a, b):
    HOOK(view_from_voidptr(p, STATE_T), view_from_voidptr(q, PRIV_T), a)  # noqa: F821
    return 0


def _t_reclaim(p, q, a, b):
    st = view_from_voidptr(p, STATE_T)  # noqa: F821
    return HOOK(st, view_from_voidptr(q, PRIV_T), st.sc)  # noqa: F821


def _t_pair(p, q, a, b):
    HOOK(view_from_voidptr(p, STATE_T), view_from_voidptr(q, PRIV_T), a, b)  # noqa: F821
    return 0


TEMPLATES = {"init": _t_state_none, "page_added": _t_frame, "page_removed": _t_frame,
             "page_accessed": _t_frame, "reclaim": _t_reclaim, "page_migrated": _t_pair,
             "check": _t_state}


def _python_call(name, fn, ps):
    """The same adaptation for plain Python (NUMBA_DISABLE_JIT)."""
    if name in ("init",):
        return lambda st, a, b: (fn(st, ps), 0)[1]
    if name == "check":
        return lambda st, a, b: fn(st, ps)
    if name == "reclaim":
        return lambda st, a, b: fn(st, ps, st.sc)
    if name == "page_migrated":
        return lambda st, a, b: (fn(st, ps, a, b), 0)[1]
    return lambda st, a, b: (fn(st, ps, a), 0)[1]


def private_sizes(st):
    """The names a policy's FIELDS size expressions may use."""
    from rmapsim.mm.layout import G_MAX_ORDER, G_NR_FRAMES
    from rmapsim.mm.state import ghosts_for
    frames = int(st.g[G_NR_FRAMES])
    return dict(frames=frames, nodes=frames + ghosts_for(frames), max_order=int(st.g[G_MAX_ORDER]))


def private_arrays(module, st):
    """The policy's private arrays, made from its FIELDS rows, as a NamedTuple."""
    from collections import namedtuple

    from rmapsim.mm.state import make_array
    rows = tuple(getattr(module, "FIELDS", ())) or NO_FIELDS
    sizes = private_sizes(st)
    cls = namedtuple("PolicyState", [r[0] for r in rows])
    try:
        return cls(**{r[0]: make_array(r, sizes) for r in rows})
    except (NameError, SyntaxError, TypeError, ValueError) as e:
        raise ConfigError(f"policy {module.NAME} ({source_file(module, 'policy')}): FIELDS: {e}") from None


_COMPILED = {}     # policy module -> (hook table without the private view, its type, the cfuncs)


def compiled_hooks(module):
    """The policy's hooks compiled (or loaded from numba's cache), once per process: a hook
    table with slot H_PRIVATE still empty, and the type of the private view."""
    if module in _COMPILED:
        return _COMPILED[module][:2]
    jit = not numba_config.DISABLE_JIT
    rows = tuple(getattr(module, "FIELDS", ())) or NO_FIELDS
    priv_t = None
    if jit:
        from rmapsim.mm.state import state_type
        state_t = state_type()
        priv_t = struct_type(rows)
    addrs = np.zeros(HOOK_SLOTS, np.int64)
    keep = []
    for slot, name in enumerate(HOOK_NAMES, start=1):
        fn = getattr(module, name, None)
        if fn is None and name == "page_migrated":
            fn = default_page_migrated
        if fn is None:
            continue
        if jit:
            c = compile_hook(HOOK_SIG, TEMPLATES[name], module, "policy", name,
                             {"HOOK": fn, "STATE_T": state_t, "PRIV_T": priv_t})
            keep.append(c)
            addrs[slot] = c.address
        else:
            addrs[slot] = -slot         # plain Python: bound per state in ``bind``
    _COMPILED[module] = (addrs, priv_t, keep)
    return addrs, priv_t


class Bound:
    """A policy bound to one booted state: its private arrays ``ps`` and ``view``, what the
    hooks receive as ``ps`` (the compiled view of the arrays; under NUMBA_DISABLE_JIT the arrays
    themselves), and the hook table, for as long as the state runs (``bind``). A test calling a
    policy's own routine passes ``view``."""

    def __init__(self, module, st):
        self.module = module
        addrs, priv_t = compiled_hooks(module)
        self.ps = private_arrays(module, st)
        self.addrs = addrs.copy()
        if numba_config.DISABLE_JIT:
            self.view = self.ps
            for slot, name in enumerate(HOOK_NAMES, start=1):
                if addrs[slot]:
                    fn = getattr(module, name, None) or default_page_migrated
                    self.addrs[slot] = py_index(_python_call(name, fn, self.ps))
        else:
            self.view = struct_view(self.ps, priv_t)
            self.addrs[H_PRIVATE] = view_address(self.view)


# the Bound of each running state, by the id of its hook table (an array that no growth
# replaces), dropped when that array goes
_BOUND = {}


def bind(module, st):
    """Install ``module``'s hooks in ``st``; the Bound lives as long as the state's hook
    table."""
    b = Bound(module, st)
    st.hooks[:] = b.addrs
    key = id(st.hooks)
    _BOUND[key] = b
    weakref.finalize(st.hooks, _BOUND.pop, key, None)
    return b


def bound_of(st):
    """The Bound policy of a booted state (its private arrays are ``.ps``, the hooks' view of
    them ``.view``)."""
    return _BOUND[id(st.hooks)]
