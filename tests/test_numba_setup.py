"""How rmapsim sets numba up: a cache per source version, old versions pruned."""
import os

from rmapsim._numba import prune, source_digest


def test_source_digest_is_stable():
    assert source_digest() == source_digest()
    assert len(source_digest()) == 16


def test_prune_keeps_the_current_and_the_newest_others(tmp_path):
    dirs = []
    for i in range(6):
        d = tmp_path / f"v{i}"
        d.mkdir()
        os.utime(d, (1000 + i, 1000 + i))
        dirs.append(d)
    current = dirs[0]                      # the oldest by time, but in use: must stay
    prune(tmp_path, keep=current, versions=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v0", "v4", "v5"]
