"""Struct-of-arrays views for compiled code, built from field declarations, and calls through
function pointers.

A subsystem declares its arrays as rows ``(name, dtype, size, fill, group)`` (``state.py``
assembles them; a policy's own rows make its private struct, ``vmscan/hooks.py``). Compiled
code sees such a set of arrays as a StructRef whose fields are raw data pointers: a StructRef
is passed by pointer, so a call costs one argument however many arrays it holds (a NamedTuple
is passed by value, and with sixty arrays that made every call, and its compilation, slow), and
raw pointers, unlike array fields, are not reference counted at every read, which was most of
the replay time. Python keeps the arrays alive for as long as the view is used.

``struct_view`` fills every field of the view from the tuple of arrays in one generic
intrinsic, so the view cannot miss a declared field and no per-struct code is written or
generated. ``call_hook`` calls a compiled function by its address: the kernel is compiled once,
without any policy in it, and a policy's hooks (C-callable ``cfunc``s compiled from its own
file) are found through addresses in the state at run time (``vmscan/hooks.py``).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import config as numba_config, typeof, types
from numba.core import cgutils
from numba.experimental import structref
from numba.extending import intrinsic

from rmapsim.jit import kernel


@structref.register
class ArraysType(types.StructRef):
    """A struct of raw array pointers; one numba type per list of (name, pointer type)."""
    def preprocess_fields(self, fields):
        return tuple((n, types.unliteral(t)) for n, t in fields)


class ArraysStruct(structref.StructRefProxy):
    pass


structref.define_boxing(ArraysType, ArraysStruct)


def struct_type(fields):
    """The view type of declared rows (name, dtype, ...)."""
    return ArraysType([(row[0], types.CPointer(typeof(np.dtype(row[1]).type(0))))
                       for row in fields])


_VOIDP = ir.IntType(8).as_pointer()


@intrinsic
def _fill_view(typingctx, view, arrays):
    """Set the i-th field of ``view`` to the data pointer of arrays[i], for every field."""
    names = [n for n, _ in view._fields]
    if not isinstance(arrays, types.BaseTuple) or len(arrays) != len(names):
        return None

    def codegen(context, builder, sig, args):
        from numba.experimental.structref import _Utils
        ds = _Utils(context, builder, sig.args[0]).get_data_struct(args[0])
        for i, name in enumerate(names):
            arr = context.make_array(sig.args[1][i])(context, builder,
                                                      builder.extract_value(args[1], i))
            setattr(ds, name, arr.data)
        return context.get_dummy_value()
    return types.none(view, arrays), codegen


@kernel
def _build(ty, arrays):
    view = structref.new(ty)
    _fill_view(view, arrays)
    return view


def struct_view(arrays, ty):
    """The compiled view of ``arrays`` (a NamedTuple or tuple in the order of ``ty``'s fields);
    under NUMBA_DISABLE_JIT the arrays themselves, which plain Python reads the same way."""
    if numba_config.DISABLE_JIT:
        return arrays
    return _build(ty, tuple(arrays))


# ---- calls through function pointers ------------------------------------------------------------
# Every hook has the C signature int64 (void *state, void *private, int64 a, int64 b): the
# meminfo pointers of the kernel's state view and of the policy's private view, and two integers.

HOOK_SIG = types.int64(types.voidptr, types.voidptr, types.int64, types.int64)


@intrinsic
def call_hook(typingctx, addr, st, priv, a, b):
    """Call the hook at ``addr`` with the views ``st`` and ``priv`` (their meminfo pointers)."""
    sig = types.int64(types.int64, st, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [_VOIDP, _VOIDP, ir.IntType(64), ir.IntType(64)])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        s = cgutils.create_struct_proxy(signature.args[1])(context, builder, value=args[1])
        return builder.call(fn, [builder.bitcast(s.meminfo, _VOIDP),
                                 builder.inttoptr(args[2], _VOIDP), args[3], args[4]])
    return sig, codegen


# A reverse-mapping design's hooks: int64 (void *state, int64 a, int64 b, int64 c, int64 d); the
# design's arrays are the state's own (mm/rmap/hooks.py).
RMAP_SIG = types.int64(types.voidptr, types.int64, types.int64, types.int64, types.int64)


@intrinsic
def call_rmap(typingctx, addr, st, a, b, c, d):
    """Call the rmap hook at ``addr`` with the state view ``st`` and four integers."""
    sig = types.int64(types.int64, st, types.int64, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(i64, [_VOIDP, i64, i64, i64, i64])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        s = cgutils.create_struct_proxy(signature.args[1])(context, builder, value=args[1])
        return builder.call(fn, [builder.bitcast(s.meminfo, _VOIDP)] + list(args[2:]))
    return sig, codegen


@intrinsic
def view_from_voidptr(typingctx, p, tyref):
    """The view whose meminfo pointer is ``p`` (a new reference: the caller's copy counts)."""
    ty = tyref.instance_type

    def codegen(context, builder, sig, args):
        s = cgutils.create_struct_proxy(ty)(context, builder)
        s.meminfo = builder.bitcast(args[0], s.meminfo.type)
        v = s._getvalue()
        context.nrt.incref(builder, ty, v)
        return v
    return ty(p, tyref), codegen


@intrinsic
def _view_address(typingctx, st):
    def codegen(context, builder, sig, args):
        s = cgutils.create_struct_proxy(sig.args[0])(context, builder, value=args[0])
        return builder.ptrtoint(s.meminfo, ir.IntType(64))
    return types.int64(st), codegen


@kernel
def _address_of(view):
    return _view_address(view)


def view_address(view) -> int:
    """The meminfo address of a compiled view, as an integer to store in a hook table."""
    return int(_address_of(view))
