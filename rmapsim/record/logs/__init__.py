"""Turn the per-process valgrind logs of one recording into per-process event streams.

A recording runs ``valgrind -d --tool=lackey --trace-mem=yes --trace-syscalls=yes
--trace-children=yes --log-file=DIR/log.%p.%n``, so every process image writes its own log:

- the *root* log of the first process, and one log per successful ``execve`` (valgrind starts
  afresh in the same pid, with a new log); these *exec logs* begin (``-d``) with aspacem's
  "Memory layout at client startup": the executable, ld.so, the stack and the initial brk page,
  which valgrind's own loader maps and no system call shows;
- one *fork log* per child of a ``clone``/``fork``/``vfork`` (valgrind turns vfork into fork): it
  continues the parent's image in the child's pid, until an ``execve`` or the end.

One module a job:

- ``state``: what the recorder keeps across the logs (``Files``, ``Proc``, ``Stats``);
- ``startup``: a process image's start, which no system call shows (``read_head``,
  ``Layouts``, ``common_layout``, ``layout_events``);
- ``reader``: one log as a stream of events (``LogReader``), its references parsed by
  compiled code;
- ``syscalls``: the system call lines of a log, their effect on the process (``Syscalls``,
  which ``LogReader`` is).

The merge of the streams is ``rmapsim.record.recorder``'s.
"""
from rmapsim.record.logs.reader import BLOCK, CHUNK, LogReader
from rmapsim.record.logs.startup import (DEFAULT_COMMON, VALGRIND_BASE, Layouts, common_layout,
                                         elf_segments, layout_events, read_head)
from rmapsim.record.logs.state import Files, Proc, Stats
from rmapsim.record.logs.syscalls import Syscalls

__all__ = ["BLOCK", "CHUNK", "DEFAULT_COMMON", "VALGRIND_BASE", "Files", "Layouts", "LogReader",
           "Proc", "Stats", "Syscalls", "common_layout", "elf_segments", "layout_events",
           "read_head"]
