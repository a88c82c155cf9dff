"""Where numba keeps compiled code: a directory per version of the source.

Numba's on-disk cache checks only the file that defines a function, not the files of the
functions it calls; after an edit or an upgrade a caller could run stale machine code of a
changed callee. So unless the user chose NUMBA_CACHE_DIR, the cache lives in
``~/.cache/rmapsim/<hash of the compiled modules>``: any change to compiled code (any module
that uses numba) starts a fresh cache.
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
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    import numba
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rmapsim"
    numba.config.CACHE_DIR = str(base / source_digest())
