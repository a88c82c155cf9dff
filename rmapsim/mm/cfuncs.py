"""Plug-in hooks compiled from their own module's file, to be called by address.

The kernel is compiled once and never imports a plug-in (a reclaim policy, ``vmscan/hooks.py``;
a reverse-mapping design, ``rmap/hooks.py``): it calls the running one's hooks through the
addresses in its state. Each hook is compiled on its own as a C-callable ``cfunc`` from a small
wrapper template whose code object is relabelled with the plug-in's file, so numba's cache keys
it by that file: a plug-in edited on disk is compiled anew, an unchanged one is loaded, and the
kernel is not recompiled either way. Why not call them directly: numba links every callee into
its caller, so a kernel calling fifteen policies re-optimised all of them in every function
above the call (a cold start of 113 s on a 2-core machine; 20 s with one routed).

Under NUMBA_DISABLE_JIT there are no addresses: a hook is then a plain-Python callable, found
by its index in ``PY_CALLS`` (which only grows; it matters only for long sessions in that mode).
"""
from __future__ import annotations

import inspect
import types as pytypes

from numba import cfunc

from rmapsim.errors import ConfigError
from rmapsim.mm.structs import view_from_voidptr

# index 0 means "no hook"; plain-Python hooks are found by their index in this table
PY_CALLS = [None]


def py_index(fn) -> int:
    """The index of a plain-Python hook in ``PY_CALLS`` (NUMBA_DISABLE_JIT)."""
    PY_CALLS.append(fn)
    return len(PY_CALLS) - 1


def source_file(module, kind):
    f = getattr(module, "__file__", None)
    if not f:
        raise ConfigError(f"{kind} {getattr(module, 'NAME', module)!r}: its module has no file, "
                          f"and compiled hooks are cached by their file")
    return f


def relabelled(template, module, kind, name, glb):
    """A copy of ``template`` whose code says it comes from ``module``'s file, with ``glb``
    (the hook and the view types) as its globals."""
    code = template.__code__
    qual = f"rmapsim_{kind.replace(' ', '_')}_{name}"
    kw = dict(co_filename=source_file(module, kind), co_name=qual)
    if hasattr(code, "co_qualname"):
        kw["co_qualname"] = qual
    glb = dict(glb, view_from_voidptr=view_from_voidptr, __name__=module.__name__)
    f = pytypes.FunctionType(code.replace(**kw), glb, qual)
    f.__qualname__ = qual
    f.__module__ = module.__name__
    return f


def compile_hook(sig, template, module, kind, name, glb):
    """The cfunc of one hook (compiled, or loaded from numba's cache); a compile error is a
    one-line ConfigError naming the file and hook."""
    wrapper = relabelled(template, module, kind, name, glb)
    try:
        return cfunc(sig, cache=True, error_model="numpy")(wrapper)
    except Exception as e:      # numba's typing and lowering errors
        raise ConfigError(hook_error(module, kind, name, e)) from None


def hook_error(module, kind, name, e) -> str:
    """One line naming the plug-in's file and hook for a compile error."""
    fn = getattr(module, name, None)
    where = source_file(module, kind)
    try:
        where += f":{inspect.getsourcelines(fn)[1]}"
    except (OSError, TypeError):
        pass
    msg = " ".join(str(e).split())
    for cut in ("During: ", "File \""):
        if cut in msg:
            msg = msg[:msg.index(cut)].strip()
    return (f"{where}: {kind} {getattr(module, 'NAME', '?')}: hook {name} does not compile: "
            f"{msg[:300]}")
