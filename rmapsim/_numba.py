"""How rmapsim sets numba up, before any compiled function is declared.

1. Where numba keeps compiled code: a directory per version of the source.

Numba's on-disk cache checks only the file that defines a function, not the files of the
functions it calls; after an edit or an upgrade a caller could run stale machine code of a
changed callee. So unless the user chose NUMBA_CACHE_DIR, the cache lives in
``~/.cache/rmapsim/<hash of the compiled modules>``: any change to compiled code (any module
that uses numba) starts a fresh cache; the caches of older versions beyond the last few are
removed.

2. Plain (not atomic) reference counts. Numba's runtime counts references to the StructRef
and to arrays with atomic instructions on every call; that was a quarter of the replay time
(11.7 against 16.2 M references/s, 2M-reference Zipf trace in cache mode). The simulator runs in
one thread, so it replaces the runtime's increment and decrement with plain ones. (Numba has a
switch for this, ``nrtdynmod._disable_atomicity``, but its decrement returns the old count, so
nothing is ever freed: a run leaked its whole state.) Set RMAPSIM_ATOMIC_REFCOUNT=1 when rmapsim
shares a process with multi-threaded numba code. It takes effect only if no numba code ran in
the process before rmapsim was imported.
"""
import hashlib
import os
from pathlib import Path


def source_digest() -> str:
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        text = p.read_bytes()
        if b"numba" in text or b"rmapsim.jit" in text:
            h.update(str(p.relative_to(root)).encode())
            h.update(text)
    return h.hexdigest()[:16]


def _define_plain_inc_dec(module, op, ordering):
    """nrtdynmod._define_atomic_inc_dec without the atomicity: ``nrt_atomic_add``/``_sub``
    returning the new count, as the atomic version does."""
    from llvmlite import ir
    from numba.core.runtime.nrtdynmod import _word_type
    fn = ir.Function(module, ir.FunctionType(_word_type, [_word_type.as_pointer()]),
                     name=f"nrt_atomic_{op}")
    [ptr] = fn.args
    builder = ir.IRBuilder(fn.append_basic_block())
    new = getattr(builder, op)(builder.load(ptr), ir.Constant(_word_type, 1))
    builder.store(new, ptr)
    builder.ret(new)
    return fn


def configure() -> None:
    import numba
    from numba.core.runtime import nrtdynmod
    if not os.environ.get("RMAPSIM_ATOMIC_REFCOUNT"):
        nrtdynmod._define_atomic_inc_dec = _define_plain_inc_dec
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    base = cache_base()
    here = base / source_digest()
    numba.config.CACHE_DIR = str(here)
    prune(base, keep=here)


def cache_base() -> Path:
    """``$XDG_CACHE_HOME/rmapsim``; an unset, empty or relative XDG_CACHE_HOME means
    ``~/.cache``, as the XDG base directory specification says (a relative one would put the
    cache, and the pruning below, under whatever directory the program runs in)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return root / "rmapsim"


def _is_version(d: Path) -> bool:
    """A cache directory of one source version: named by 16 hex digits (``source_digest``)."""
    return len(d.name) == 16 and all(c in "0123456789abcdef" for c in d.name)


def prune(base: Path, keep: Path, versions: int = 3) -> None:
    """Remove the caches of all but the ``versions`` most recently written source versions (an
    edit or an upgrade leaves the old one behind); never the current one, and nothing that is
    not a version's cache directory. Best effort."""
    import shutil
    try:
        old = sorted((d for d in base.iterdir() if d.is_dir() and d != keep and _is_version(d)),
                     key=lambda d: d.stat().st_mtime, reverse=True)
    except OSError:
        return
    for d in old[versions - 1:]:
        shutil.rmtree(d, ignore_errors=True)


def is_cold() -> bool:
    """No compiled replay loop in the cache yet: the next run compiles the kernel."""
    import numba
    d = Path(numba.config.CACHE_DIR or "")
    return not d.is_dir() or not any(d.rglob("replay.replay_*.nbi"))


def say_compiling(stream) -> None:
    """On a terminal, say once that a first run compiles (instead of sitting silent)."""
    if stream.isatty() and is_cold():
        print("rmapsim: compiling the simulated kernel and the policy (first run only; about "
              "20-45 s, then cached in " + str(cache_base()) + ")", file=stream, flush=True)
