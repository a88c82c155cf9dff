"""How rmapsim sets numba up, before any compiled function is declared.

1. Where numba keeps compiled code: a directory per version of the source.

Numba's on-disk cache checks only the file that defines a function, not the files of the
functions it calls; after an edit or an upgrade a caller could run stale machine code of a
changed callee. So unless the user chose NUMBA_CACHE_DIR, the cache lives in
``~/.cache/rmapsim/<hash of the compiled modules>``: any change to compiled code (any module
that uses numba) starts a fresh cache.

2. Plain (not atomic) reference counts. Compiled code reaches the kernel's arrays through one
StructRef, and numba's runtime counts a reference each time a field is read; with atomic
instructions that counting was half of the replay time (perf, 2M-reference Zipf trace). The
simulator runs in one thread, so it asks numba's runtime for the non-atomic variant numba keeps
for measuring exactly this (``nrtdynmod._disable_atomicity``). Set RMAPSIM_ATOMIC_REFCOUNT=1 when
rmapsim shares a process with multi-threaded numba code. It takes effect only if no numba code
ran in the process before rmapsim was imported.
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


def configure() -> None:
    import numba
    from numba.core.runtime import nrtdynmod
    if not os.environ.get("RMAPSIM_ATOMIC_REFCOUNT"):
        nrtdynmod._disable_atomicity = 1
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rmapsim"
    numba.config.CACHE_DIR = str(base / source_digest())
