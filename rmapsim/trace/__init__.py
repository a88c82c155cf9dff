from rmapsim.trace.events import EVENT_DTYPE  # noqa: F401
