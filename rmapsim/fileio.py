"""Small helpers for writing output files atomically (temporary file, then rename)."""
import os
import tempfile

from rmapsim.errors import ConfigError


def new_file_mode(path: str) -> int:
    """The mode a file written at ``path`` should get: that of the file it replaces, else what
    open() would give a new file under the current umask (mkstemp makes files 0600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def write_atomic(path: str, data) -> None:
    """Write ``data`` (str or bytes) to ``path`` through a temporary file in the same directory,
    renamed over ``path`` when complete; the mode is that of the file replaced, else the
    umask's. A failure is a ConfigError and leaves no file behind."""
    path = os.fspath(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                   dir=os.path.dirname(os.path.abspath(path)))
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, new_file_mode(path))
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
        raise
