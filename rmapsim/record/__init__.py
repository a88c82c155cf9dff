"""Recording real programs: ``rmapsim trace record -o TRACE -- CMD ARGS...``.

``record(output, command)`` runs the command under valgrind (lackey's memory trace and the
system call trace, following children) and writes a native multi-process event trace; see
``docs/recording.md``. ``add_parser(trace_subparsers)`` registers the ``record`` subcommand.
"""
from rmapsim.record.recorder import QUANTUM, Recording, add_parser, merge_logs, record  # noqa: F401
from rmapsim.record.valgrind import find_valgrind, install_valgrind  # noqa: F401

__all__ = ["QUANTUM", "Recording", "add_parser", "find_valgrind", "install_valgrind",
           "merge_logs", "record"]
