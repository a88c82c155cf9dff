"""``kernel``: how every compiled function of the simulator is declared.

``njit(cache=True)`` with one change: a call from compiled code with a constant argument does
not compile a separate specialisation for that constant. Numba types a constant argument as a
literal (``Literal[int](0)``) and, by default, compiles the callee anew for each literal it
meets; across the kernel's call graph that multiplied compile time several times over. Here the
callee is compiled once per *unliteral* signature and the constant is converted at the call.

Integer division follows numpy's error model: a division by zero in the kernel would be a bug
of the simulator, not of its input, and the Python model's zero checks cost a branch and an
exception path at every ``//`` and ``%`` of the hot paths.
"""
from numba import njit, types


def kernel(fn=None, **opts):
    def wrap(f):
        d = njit(cache=True, error_model="numpy", **opts)(f)
        if not hasattr(d, "get_call_template"):     # NUMBA_DISABLE_JIT=1: plain Python
            return d
        plain = d.get_call_template

        def get_call_template(args, kws):
            return plain(tuple(types.unliteral(a) for a in args),
                         {k: types.unliteral(v) for k, v in kws.items()})

        d.get_call_template = get_call_template
        return d
    return wrap(fn) if fn is not None else wrap
