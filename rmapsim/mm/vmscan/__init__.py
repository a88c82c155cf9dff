"""Reclaim policies, one module each, behind one interface, and the registry that names them.

A policy module defines ``NAME``, ``KIND`` ("realistic": sees only what the kernel sees;
"reference": given per-reference information or the future), ``MODELS`` (the kernel or paper),
``PARAMS`` ({name: (default, help, (low, high))}, see ``policy_params``), optionally ``FUTURE =
True`` (needs next-use times, ``sim/future.py``) and ``FIELDS`` (its private arrays, rows as
``state.py`` describes), and the compiled hooks of ``hooks.py``; ``reclaim(st, ps, sc)`` is the
one a policy must have. It keeps what it knows about pages in ``nodes.py`` (lists, ghosts,
identities, a heap) and in its ``FIELDS`` (``ps``). Parameters reach compiled code as
``st.params[i]`` in the order of ``PARAMS``.

A built-in policy is one module plus its line in ``BUILT_IN`` below; its ID is its position
there. The modules are imported when the registry is first asked for (``POLICIES``,
``get_policy``), not with this package: the kernel imports ``vmscan.dispatch``, and a policy
imports the kernel. A user's policy is a file of the same shape (``load_policy_file``), given to ``rmapsim
run --policy ./mine.py`` or ``rmapsim.run(policy=...)`` as a path or a module; see
docs/writing-a-policy.md.
"""
import importlib
import importlib.util
import inspect
import math
import os
import sys
from types import ModuleType

from rmapsim.errors import ConfigError, did_you_mean, option
from rmapsim.mm.vmscan.hooks import HOOK_ARITY, HOOK_NAMES

# the kernel's lineage first (the seed's clock, then the virtual scans it replaced and the lists
# that followed), then the reference policies
BUILT_IN = ("clock", "fifo", "virtual20", "virtual22", "lists24", "lists26", "splitlru", "mglru",
            "clockpro", "lru", "opt", "arc", "lirs", "s3fifo", "sieve")
_REGISTRY = {}


def registry():
    """The built-in policies by NAME, in registry order (each with its ID set)."""
    if not _REGISTRY:
        for i, mod in enumerate(importlib.import_module(f"rmapsim.mm.vmscan.policies.{m}")
                                for m in BUILT_IN):
            mod.ID = i
            _REGISTRY[mod.NAME] = mod
    return _REGISTRY


def __getattr__(name):
    if name == "POLICIES":      # ``from rmapsim.mm.vmscan import POLICIES``
        return registry()
    raise AttributeError(name)

KINDS = ("realistic", "reference")


def sees_refs(module):
    return module.KIND == "reference"


def check_policy(module, where):
    """A one-line ConfigError naming ``where`` (a file) and the hook if ``module`` lacks what a
    policy must define, or a hook takes the wrong arguments."""
    for attr, typ in (("NAME", str), ("KIND", str), ("PARAMS", dict)):
        if not isinstance(getattr(module, attr, None), typ):
            raise ConfigError(f"{where}: a policy must define {attr} ({typ.__name__})")
    for pname, spec in module.PARAMS.items():
        if not (isinstance(spec, tuple) and len(spec) in (2, 3)
                and isinstance(spec[0], (int, float)) and isinstance(spec[1], str)
                and (len(spec) == 2 or (isinstance(spec[2], tuple) and len(spec[2]) == 2))):
            raise ConfigError(f"{where}: PARAMS[{pname!r}] must be (default, help) or (default, "
                              f"help, (low, high)), not {spec!r}")
    if module.KIND not in KINDS:
        raise ConfigError(f"{where}: KIND must be one of {', '.join(KINDS)}, not {module.KIND!r}")
    if getattr(module, "reclaim", None) is None:
        raise ConfigError(f"{where}: policy {module.NAME} has no reclaim hook "
                          f"(reclaim(st, ps, sc) -> pages freed)")
    for name in HOOK_NAMES:
        fn = getattr(module, name, None)
        if fn is None:
            continue
        py = getattr(fn, "py_func", fn)
        if not callable(py):
            raise ConfigError(f"{where}: hook {name} is not a function")
        try:
            params = inspect.signature(py).parameters
        except (TypeError, ValueError):
            continue
        want = 2 + HOOK_ARITY[name]
        if len(params) != want:
            raise ConfigError(f"{where}: hook {name} takes {len(params)} arguments, not {want} "
                              f"(st, ps{', ...' if want > 2 else ''}); see `rmapsim policies "
                              f"--template`")
        if not hasattr(fn, "py_func") and not hasattr(fn, "__numba__"):
            import numba
            if not numba.config.DISABLE_JIT:
                raise ConfigError(f"{where}: hook {name} is not compiled: decorate it with "
                                  f"@kernel (from rmapsim.jit import kernel)")
    if not hasattr(module, "ID"):
        module.ID = -1              # a user's policy: not in the registry


_LOADED = {}


def load_policy_file(path):
    """Import a user's policy file as a module (once per file and modification time)."""
    full = os.path.abspath(os.fspath(path))
    if not os.path.isfile(full):
        raise ConfigError(f"{option('policy', os.fspath(path))}: no such file")
    stamp = (full, os.stat(full).st_mtime_ns)
    if stamp in _LOADED:
        return _LOADED[stamp]
    name = "rmapsim_user_policy_" + os.path.splitext(os.path.basename(full))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, full)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except SyntaxError as e:
        raise ConfigError(f"{full}:{e.lineno}: {e.msg}") from None
    except Exception as e:
        tb = e.__traceback__
        line = "?"
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == full:
                line = tb.tb_lineno
            tb = tb.tb_next
        raise ConfigError(f"{full}:{line}: {type(e).__name__}: {e}") from None
    check_policy(mod, full)
    _LOADED[stamp] = mod
    return mod


# libCacheSim's names for the policies it has too (its -e/--eviction spellings), and Belady's
ALIASES = {"belady": "opt", "min": "opt"}


def _folded(name: str) -> str:
    return "".join(c for c in name.lower() if c not in "-_. ")


def policy_name(name):
    """The registered NAME for ``name``: exact, or ignoring case and '-', '_', '.' (``LRU``,
    ``ClockPro``, ``S3FIFO``, ``lists26``), or an alias (``Belady``); else a ConfigError with
    the closest name. A path or a module is returned as it is."""
    if isinstance(name, (ModuleType, os.PathLike)) or name in registry():
        return name
    if not isinstance(name, str):
        raise ConfigError(f"unknown policy {name!r} (known: {', '.join(registry())})")
    if name.endswith(".py"):
        return name
    spellings = dict({_folded(n): n for n in registry()}, **ALIASES)
    if _folded(name) in spellings:
        return spellings[_folded(name)]
    near = did_you_mean(name, registry(), spellings)
    raise ConfigError(f"unknown policy {name!r}{near} (known: {', '.join(registry())}; or a "
                      f"policy file, ./mine.py)")


def get_policy(name):
    """A policy module: a registered name (or a spelling ``policy_name`` knows), a path to a
    policy file, or a module object."""
    if isinstance(name, ModuleType):
        check_policy(name, getattr(name, "__file__", name.__name__))
        return name
    if isinstance(name, os.PathLike) or (isinstance(name, str) and name.endswith(".py")):
        return load_policy_file(name)
    return registry()[policy_name(name)]


def policy_params(module, given):
    """Values for the policy's parameters in PARAMS order, from ``given`` {name: value};
    returns (values, leftover) where leftover holds names the policy does not have.

    A parameter is ``name: (default, help)`` or ``(default, help, (low, high))``: an integer
    default makes it an integer parameter (its value is an int), and a value outside
    low..high (inclusive; None: no bound) is a ConfigError."""
    vals = []
    given = dict(given or {})
    for pname, spec in module.PARAMS.items():
        default, bounds = spec[0], (spec[2] if len(spec) > 2 else (None, None))
        v = given.pop(pname, default)
        try:
            x = float(v)
            if not math.isfinite(x):
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(f"policy {module.NAME}: parameter {pname}={v!r} is not a number") from None
        whole = isinstance(default, int) and not isinstance(default, bool)
        low, high = bounds
        if ((whole and x != int(x)) or (low is not None and x < low)
                or (high is not None and x > high)):
            raise ConfigError(f"policy {module.NAME}: parameter {pname}={v} must be "
                              f"{param_range(spec)}")
        vals.append(int(x) if whole else x)
    return vals, given


def param_range(spec) -> str:
    """What values a parameter takes, as ``rmapsim policies`` and the errors say it."""
    low, high = spec[2] if len(spec) > 2 else (None, None)
    kind = "an integer" if isinstance(spec[0], int) else "a number"
    if low is None and high is None:
        return kind
    if high is None:
        return f"{kind} >= {low:g}"
    if low is None:
        return f"{kind} <= {high:g}"
    if kind == "an integer" and (low, high) == (0, 1):
        return "0 or 1"
    return f"{kind} in {low:g}..{high:g}"
