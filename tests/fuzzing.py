"""Hypothesis helpers shared by the trace fuzz tests."""
from hypothesis import strategies as st


def mutate(draw, data: bytes, max_delete: int = 50, max_insert: int = 20) -> bytes:
    """``data`` with one to four random edits: a bit flipped, a byte set, a run deleted, bytes
    inserted, or the tail cut off."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "delete", "insert", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[at: at + draw(st.integers(1, max_delete))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=max_insert))
        else:
            del data[at:]
    return bytes(data)
