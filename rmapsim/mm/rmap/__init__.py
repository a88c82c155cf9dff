"""Reverse-mapping designs, one module each, behind one interface.

``page_add_rmap(st, pte, frame)``, ``page_remove_rmap(st, pte, frame)``,
``page_referenced(st, frame)``, ``page_test_dirty(st, frame)``, ``try_to_unmap(st, frame)``.
Today there is one design, the seed's pte chains (``ptechain``); per-page pools, object-based
rmap and anon_vma will dispatch on ``g[G_RMAP]`` here.
"""
from rmapsim.mm.rmap.ptechain import (page_referenced, page_test_dirty, pte_link, pte_unlink,
                                      try_to_unmap)

page_add_rmap = pte_link
page_remove_rmap = pte_unlink

DESIGNS = {"pte-chain": 0}

__all__ = ["page_add_rmap", "page_remove_rmap", "page_referenced", "page_test_dirty",
           "try_to_unmap", "DESIGNS"]
