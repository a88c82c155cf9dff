"""Small helpers for writing output files atomically (temporary file, then rename)."""
import os


def new_file_mode(path: str) -> int:
    """The mode a file written at ``path`` should get: that of the file it replaces, else what
    open() would give a new file under the current umask (mkstemp makes files 0600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
