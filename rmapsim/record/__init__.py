"""Recording real programs: ``rmapsim trace record -o TRACE -- CMD ARGS...``.

``record(output, command)`` runs the command under valgrind (lackey's memory trace and the
system call trace, following children) and writes a native multi-process event trace; see
``docs/recording.md``. ``add_parser(trace_subparsers)`` registers the ``record`` subcommand.
``python -m rmapsim.record.valgrind --install`` installs valgrind where it is missing.

The names are imported on first use, so that ``python -m rmapsim.record.valgrind`` runs its
module once.
"""
_NAMES = {"QUANTUM": "recorder", "Recording": "recorder", "add_parser": "recorder",
          "merge_logs": "recorder", "record": "recorder", "find_valgrind": "valgrind",
          "install_valgrind": "valgrind"}
__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        import importlib
        return getattr(importlib.import_module(f"rmapsim.record.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'rmapsim.record' has no attribute {name!r}")
