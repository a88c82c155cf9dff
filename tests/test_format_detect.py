"""Format detection by content (issue 12, item 5): a file's name suggests a format, its content
decides when it plainly is another, and a one-line note says what was assumed."""
import gzip
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from rmapsim.errors import TraceError
from rmapsim.trace import open_trace
from rmapsim.trace.formats import FormatNote, detect, fits

REPO = Path(__file__).resolve().parent.parent
RW = b"R 1f\nW 2a\nR 1f\nW 3b\n"


def opened(path, **kw):
    """(the Trace, the FormatNote messages its opening gave)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = open_trace(path, **kw)
    return t, [str(w.message) for w in caught if issubclass(w.category, FormatNote)]


def test_rw_lines_named_like_lirs_are_rwpages(tmp_path):
    path = tmp_path / "x.trace.gz"
    path.write_bytes(gzip.compress(RW))
    t, notes = opened(path)
    assert t.format == "rwpages" and t.read_all()["op"].tolist() == [0, 1, 0, 1]
    assert notes == [f"{path}: its content is rwpages, not the lirs its name suggests: read as "
                     f"rwpages (give format= to choose)"]


def test_an_explicit_format_is_not_second_guessed(tmp_path):
    path = tmp_path / "x.trace.gz"
    path.write_bytes(gzip.compress(RW))
    with pytest.raises(TraceError, match=r"x.trace.gz:1: expected one unsigned decimal block"):
        opened(path, format="lirs")[0].read_all()


@pytest.mark.parametrize("name,data,fmt,noted", [
    # content that fits the name keeps it quietly
    ("a.trace", b"1\n2\n*\n3\n", "lirs", False),      # lirs, with its marker
    ("a.trc", b"1\n2\n3\n", "lirs", False),           # digits alone fit lirs: the name decides
    ("a.txt", b"1\n2\n3\n", "txt", False),
    ("a.pages", RW, "rwpages", False),
    ("a.vmsim", b"0x1f000 R\n0x2a000 W\n", "vmsim", False),
    ("a.csv", b"1,2\n3,4\n", "csv", False),
    # content of another format wins, with a note
    ("a.txt", b"1\n2\n*\n3\n", "lirs", True),        # '*' is no txt line
    ("a.vmsim", RW, "rwpages", True),
    ("a.pages", b"0x1f000 R\n0x2a000 W\n", "vmsim", True),
    ("a.lirs", b"1,2\n3,4\n", "csv", True),
])
def test_content_decides_when_it_is_plainly_another_format(tmp_path, name, data, fmt, noted):
    path = tmp_path / name
    path.write_bytes(data)
    t, notes = opened(path)
    assert t.format == fmt and len(notes) == noted
    assert all(f"its content is {fmt}, not the" in n for n in notes)


def test_a_magic_number_wins_over_the_name_with_a_note(tmp_path):
    from rmapsim.trace import from_pages, write_trace
    path = tmp_path / "really-native.txt"
    write_trace(path, from_pages([1, 2, 3]), "native")
    t, notes = opened(path)
    assert t.format == "native" and "its content is native, not the txt" in notes[0]


def test_a_damaged_file_keeps_its_names_format_and_the_reader_locates_the_fault(tmp_path):
    """Content that is no format at all is not guessed at: the name's reader says where."""
    path = tmp_path / "a.pages"
    path.write_bytes(RW + b"R zz\n" + RW)
    t, notes = opened(path)
    assert t.format == "rwpages" and notes == []
    with pytest.raises(TraceError, match=r"a.pages:5: "):
        t.read_all()


def test_fits():
    assert fits("lirs", b"1\n*\n") and not fits("lirs", RW)
    assert fits("rwpages", RW) and not fits("txt", RW)
    assert not fits("oracleGeneral", RW) and not fits("csv", b"\0" * 64)
    with pytest.warns(FormatNote):
        assert detect("x.trace", RW) == "rwpages"


def test_the_command_line_prints_the_note_as_one_line(tmp_path):
    path = tmp_path / "x.trace.gz"
    path.write_bytes(gzip.compress(RW))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    p = subprocess.run([sys.executable, "-m", "rmapsim", "trace", "info", str(path)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert p.stderr == (f"rmapsim: note: {path}: its content is rwpages, not the lirs its name "
                        f"suggests: read as rwpages (give --format to choose)\n")
    assert "(rwpages, bare)" in p.stdout
