"""How rmapsim sets numba up: a cache per source version, old versions pruned."""
import os

from pathlib import Path

from rmapsim._numba import cache_base, prune, source_digest


def test_source_digest_is_stable():
    assert source_digest() == source_digest()
    assert len(source_digest()) == 16


def test_prune_keeps_the_current_and_the_newest_others(tmp_path):
    dirs = []
    for i in range(6):
        d = tmp_path / f"{i:016x}"
        d.mkdir()
        os.utime(d, (1000 + i, 1000 + i))
        dirs.append(d)
    (tmp_path / "mm").mkdir()               # not a version's cache: never touched
    os.utime(tmp_path / "mm", (1, 1))
    current = dirs[0]                      # the oldest by time, but in use: must stay
    prune(tmp_path, keep=current, versions=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{0:016x}", f"{4:016x}", f"{5:016x}", "mm"]


def test_an_empty_or_relative_xdg_cache_home_means_home(monkeypatch):
    """An empty XDG_CACHE_HOME once made the cache (and its pruning) ./rmapsim: run from a
    clone, that is the package itself."""
    for value in ("", ".", "relative/dir"):
        monkeypatch.setenv("XDG_CACHE_HOME", value)
        assert cache_base() == Path.home() / ".cache" / "rmapsim"
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/tmp/x")
    assert cache_base() == Path("/var/tmp/x/rmapsim")
