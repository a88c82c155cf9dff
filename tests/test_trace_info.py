"""`rmapsim trace info`: counts, distinct pages, processes, footprint, and Denning's working set
W(t, tau) sampled every tau references, as a table, JSON or a plot."""
import json
from pathlib import Path

import numpy as np
import pytest

from rmapsim.cli import main
from rmapsim.trace import EVENT_DTYPE, from_events, from_pages, open_trace, write_trace
from rmapsim.trace.events import OP_EXIT, OP_FORK, OP_READ, OP_WRITE
from rmapsim.trace.stats import format_table, trace_info

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_hand_computed_working_set():
    t = from_pages([1, 2, 1, 3, 4, 4, 4, 4, 5], [0, 1, 0, 0, 1, 1, 0, 0, 0])
    info = trace_info(t, window=4)
    assert (info["events"], info["references"], info["reads"], info["writes"]) == (9, 9, 6, 3)
    assert (info["distinct_pages"], info["processes"], info["footprint_bytes"]) == (5, 1, 5 * 4096)
    assert info["wss"]["t"] == [4, 8] and info["wss"]["pages"] == [3, 1]
    assert info["wss"]["last_window"] == {"t": 9, "refs": 1, "pages": 1}


def test_working_set_matches_brute_force_across_chunks():
    rng = np.random.default_rng(4)
    pages = rng.integers(0, 40, 1003)
    t = from_pages(pages)
    for window in (1, 5, 64, 1003, 5000):
        info = trace_info(t, window=window, chunk=7)
        full = len(pages) // window
        want = [len(set(pages[i * window:(i + 1) * window].tolist())) for i in range(full)]
        assert info["wss"]["pages"] == want
        assert info["wss"]["t"] == [(i + 1) * window for i in range(full)]
        rest = pages[full * window:]
        last = info["wss"]["last_window"]
        assert (last is None) == (len(rest) == 0)
        if last:
            assert last == {"t": len(pages), "refs": len(rest), "pages": len(set(rest.tolist()))}
    with pytest.raises(ValueError):
        trace_info(t, window=0)


def test_processes_and_pages_per_process():
    ev = np.zeros(6, EVENT_DTYPE)
    ev["op"] = [OP_READ, OP_FORK, OP_READ, OP_WRITE, OP_EXIT, OP_EXIT]
    ev["pid"] = [1, 1, 2, 2, 2, 1]
    ev["arg"] = [0, 2, 0, 0, 0, 0]
    ev["addr"] = [0x1000, 0, 0x1000, 0x1fff, 0, 0]
    info = trace_info(from_events(ev), window=2)
    assert (info["events"], info["references"], info["writes"]) == (6, 3, 1)
    assert info["distinct_pages"] == 2 and info["processes"] == 2     # (1, 1) and (2, 1)
    assert info["wss"]["pages"] == [2] and info["wss"]["last_window"]["pages"] == 1


def test_cloudphysics_counts():
    info = trace_info(open_trace(DATA / "libcachesim" / "cloudPhysicsIO.vscsi"), window=10_000)
    assert (info["references"], info["distinct_pages"], info["processes"]) == (113_872, 48_974, 1)
    assert info["writes"] == 66_898 and len(info["wss"]["t"]) == 11
    table = format_table(info, max_rows=5)
    assert "references       113,872  (reads 46,974, writes 66,898)" in table
    assert "(5 of 12 samples shown; --json for all)" in table
    assert "(the last 3,872 references)" in table


def test_info_cli_table_json_plot(tmp_path, capsys):
    trace = tmp_path / "t.pages.gz"
    write_trace(trace, from_pages(np.arange(100) % 7, np.arange(100) % 2 == 0), "rwpages")
    status, out, err = _run(capsys, "trace", "info", trace, "--window", "10")
    assert status == 0 and err == ""
    assert "distinct pages   7" in out and "W(t, tau=10)" in out and "footprint        0.03 MiB" in out
    status, out, _ = _run(capsys, "trace", "info", trace, "--window", "10", "--json",
                          "--plot", tmp_path / "w.png")
    info = json.loads(out)
    assert info["references"] == 100 and info["writes"] == 50 and info["wss"]["pages"] == [7] * 10
    assert (tmp_path / "w.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    status, _, _ = _run(capsys, "trace", "info", trace, "--plot", tmp_path / "w.svg",
                        "-o", tmp_path / "info.txt")
    assert status == 0 and b"<svg" in (tmp_path / "w.svg").read_bytes()[:2000]
    assert "references       100" in (tmp_path / "info.txt").read_text()


@pytest.mark.parametrize("args,message", [
    (["--window", "0"], "--window must be at least 1"),
    (["--plot", "w.gif"], "--plot writes PNG, SVG or PDF"),
    (["--format", "nosuch"], "unknown trace format 'nosuch'"),
    (["--format", "csv", "--csv-spec", "obj=x"], "csv spec"),
])
def test_info_cli_errors(tmp_path, capsys, args, message):
    trace = tmp_path / "t.txt"
    trace.write_text("1\n2\n")
    status, out, err = _run(capsys, "trace", "info", trace, *args)
    assert status == 2 and out == "" and err.count("\n") == 1 and message in err
    assert not (tmp_path / "w.gif").exists()


def test_info_cli_bad_trace_is_one_line_with_location(tmp_path, capsys):
    trace = tmp_path / "t.txt"
    trace.write_text("1\n2\nthree\n")
    status, out, err = _run(capsys, "trace", "info", trace)
    assert status == 2 and out == "" and err == f"rmapsim: error: {trace}:3: expected one unsigned " \
                                                 "decimal page number per line: 'three'\n"


def test_trace_group_takes_extra_subcommands(capsys):
    from rmapsim import cli, cli_trace

    def add_hello(sub):
        p = sub.add_parser("hello")
        p.set_defaults(func=lambda a: print("hi") or 0)

    cli_trace.register(add_hello)
    try:
        assert cli.main(["trace", "hello"]) == 0 and capsys.readouterr().out == "hi\n"
    finally:
        cli_trace.REGISTRARS.remove(add_hello)
