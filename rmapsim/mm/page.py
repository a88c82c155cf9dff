"""struct page: one entry per frame, as mem_map is an array of struct page (include/linux/mm_types.h).

``page_mapping`` is the object slot of a page-cache page (-1: anonymous); ``page_index`` its
offset in the object (for a page-table frame: its table slot); ``page_private`` the swap slot
of a page in the swap cache, or a free buddy block's order; ``page_token`` the oracle's content
token; ``page_age`` the 2.0/2.2/2.4 page age.
"""
FIELDS = (
    ("page_flags", "uint32", "frames", 0, None),
    ("page_count", "int32", "frames", 0, None),
    ("page_mapcount", "int32", "frames", 0, None),
    ("page_mapping", "int64", "frames", -1, None),
    ("page_index", "int64", "frames", 0, None),
    ("page_private", "int64", "frames", 0, None),
    ("page_token", "int64", "frames", 0, None),
    ("page_age", "int32", "frames", 0, None),
)
